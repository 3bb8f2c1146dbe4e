package store

import (
	"context"
	"database/sql"
	"sync"

	"github.com/stewardhq/steward/internal/audit"
)

// groupAccess is the AccessLog of an engine without one of its own (PostgreSQL): it appends
// the audit entries of concurrent reads and look-ups together, in one write transaction onto
// one main chain, and returns to each caller once the transaction holding its entries
// committed. One transaction per look-up made every look-up wait for an audit chain head that
// other look-ups held, so look-ups ran at a fraction of the rate of the reads they audit.
type groupAccess struct {
	db *core

	mu       sync.Mutex
	pending  []audit.Entry
	waiters  []chan error
	flushing bool
}

// Append implements AccessLog. The first caller to find no flush running starts one, which
// takes everything queued meanwhile and ends when the queue is empty.
func (g *groupAccess) Append(ctx context.Context, entries []audit.Entry) error {
	done := make(chan error, 1)
	g.mu.Lock()
	g.pending = append(g.pending, entries...)
	g.waiters = append(g.waiters, done)
	if !g.flushing {
		g.flushing = true
		go g.flush()
	}
	g.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The entries are still written with the others: the read they record happened.
		return ctx.Err()
	}
}

// flush writes what is queued, batch after batch, until nothing is.
func (g *groupAccess) flush() {
	ctx := context.Background()
	for {
		g.mu.Lock()
		entries, waiters := g.pending, g.waiters
		g.pending, g.waiters = nil, nil
		if len(waiters) == 0 {
			g.flushing = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		err := g.db.retry(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return g.db.appendAudit(ctx, tx, entries)
		})
		for _, w := range waiters {
			w <- err
		}
	}
}

// Sync implements AccessLog: every entry appended has been committed already.
func (g *groupAccess) Sync(context.Context) error { return nil }
