package store

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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

	// heads are the heads this process last wrote and sealed, by chain, with the sealer that
	// sealed them; only the one flush running touches them (see extend).
	heads  map[int]audit.Head
	sealer *audit.Sealer
	// home is the chain flushes append to while homed (see append).
	home  int
	homed bool
	// extended counts the flushes extend stored, for tests.
	extended atomic.Int64
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
		err := g.append(ctx, entries)
		for _, w := range waiters {
			w <- err
		}
	}
}

// append links entries onto the chain of the last flush, or one picked at random when there
// was none or another process moved its head since: by extending the head this process
// wrote, in one statement, or else in a transaction that reads the head first. Sticking to a
// chain while no other node writes to it is what lets extend succeed; with several nodes,
// each moves on from the chains they collide on until they write to different ones.
func (g *groupAccess) append(ctx context.Context, entries []audit.Entry) error {
	if !g.homed {
		g.home, g.homed = rand.IntN(max(g.db.d.AuditChains, 1)), true
	}
	chain := g.home
	done, moved, err := g.extend(ctx, chain, entries)
	if done || err != nil {
		return err
	}
	if moved {
		// Another process moved this chain's head: the next flush tries another chain.
		g.homed = false
	}
	var head audit.Head
	var sealer *audit.Sealer
	err = g.db.retry(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		head, sealer, err = g.db.appendChainHead(ctx, tx, chain, entries)
		return err
	})
	g.remember(chain, head, sealer, err == nil && sealer != nil)
	return err
}

// remember keeps head as chain's head this process wrote and sealed with sealer, or forgets
// the chain's.
func (g *groupAccess) remember(chain int, head audit.Head, sealer *audit.Sealer, keep bool) {
	if !keep {
		delete(g.heads, chain)
		return
	}
	if g.heads == nil || g.sealer != sealer {
		g.heads, g.sealer = map[int]audit.Head{}, sealer
	}
	g.heads[chain] = head
}

// maxExtend bounds the entries one extending statement carries; larger batches take the
// transaction.
const maxExtend = 64

// extend appends entries to chain in one statement, without a transaction around it, when
// the chain's stored head is still the one this process last wrote and sealed: the statement
// moves the head only if it is still there (same position, same hash), and inserts the
// entries only if it moved it, so a head another process moved meanwhile leaves everything
// as it was, and done false; the entries' positions, unique in their chain, would refuse
// them besides. Reading the head first took four round trips to the database
// more (begin, the locked read, the head's update, commit) for the handful of entries a
// flush carries. A checkpoint due among the entries, a sealer changed since, or a chain this
// process has not written also leave it to the transaction; moved reports a head found moved.
// A failure that may have come after the commit is returned, never retried.
func (g *groupAccess) extend(ctx context.Context, chain int, entries []audit.Entry) (done, moved bool, err error) {
	sealer := g.db.sealer.Load()
	prev, ok := g.heads[chain]
	if !ok || sealer == nil || sealer != g.sealer || len(entries) > maxExtend {
		return false, false, nil
	}
	head := prev
	args := make([]any, 6, 6+14*len(entries))
	for i := range entries {
		if sealer.Due(head.Seq + 1) {
			return false, false, nil
		}
		head, _ = sealer.Append(head, &entries[i], audit.Head{})
		args = append(args, auditValues(&entries[i])...)
	}
	mac := sealer.Seal(audit.SealedHead{Head: head})
	copy(args, []any{head.Seq, head.Hash, bytesOrEmpty(mac), chain, prev.Seq, prev.Hash})
	res, err := g.db.write.ExecContext(ctx, extendSQL(len(entries)), args...)
	switch {
	case err != nil && (g.db.d.IsRetryable(err) || g.db.d.IsUnique(err)):
		// Refused as a whole (another process's entries took those positions, or the
		// database gave up on it): the transaction tries.
		return false, true, nil
	case err != nil:
		// Whether it committed cannot be told (the answer may be what was lost): linking the
		// entries again could record them twice, so the callers hear of the failure, as they
		// would of a commit whose answer was lost.
		delete(g.heads, chain)
		return false, false, g.db.translate(err)
	}
	if n, _ := res.RowsAffected(); n != int64(len(entries)) {
		return false, true, nil
	}
	g.heads[chain] = head
	g.extended.Add(1)
	return true, false, nil
}

var extendSQLs sync.Map // rows → statement

// extendSQL moves a main chain's head ($1–$3 the new position, hash and seal, $4 the chain,
// $5–$6 the position and hash it must still have) and inserts n entries after it, only if
// it moved it. A data-modifying WITH is PostgreSQL's; so is groupAccess.
func extendSQL(n int) string {
	if q, ok := extendSQLs.Load(n); ok {
		return q.(string)
	}
	// The types of chainColumns, which VALUES cannot take from the table.
	types := []string{"BIGINT", "BIGINT", "BIGINT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BYTEA", "BYTEA"}
	var b strings.Builder
	b.WriteString(`WITH h AS (UPDATE audit_heads SET seq = $1, hash = $2, mac = $3, anchor_chain = 0, anchor_seq = 0, anchor_hash = ''::BYTEA
		WHERE chain = $4 AND seq = $5 AND hash = $6 RETURNING chain)
	INSERT INTO audit_log (` + chainColumns + `)
	SELECT v.* FROM (VALUES `)
	p := 7
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, t := range types {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("CAST($" + strconv.Itoa(p) + " AS " + t + ")")
			p++
		}
		b.WriteByte(')')
	}
	b.WriteString(`) AS v, h`)
	q := b.String()
	extendSQLs.Store(n, q)
	return q
}

// Sync implements AccessLog: every entry appended has been committed already.
func (g *groupAccess) Sync(context.Context) error { return nil }
