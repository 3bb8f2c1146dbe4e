package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stewardhq/steward/internal/audit"
)

// Batch is what the writers of one transaction share when an engine's Writer runs several
// callers' functions in one transaction (SQLite's group commit): the audit chain heads, each
// read once and written once per transaction rather than once per writer, the next audit
// entry id, and the audit rows linked but not yet inserted. The core keeps it because the
// audit chain is the core's; the Writer only creates one per transaction, puts it in each
// writer's context (Context), undoes a failed writer's share (Snapshot) and hands it back to
// be written before the commit (Core.FinishBatch).
type Batch struct {
	heads map[int]batchHead
	// bases are the chain heads as read at their first use in this transaction: what the
	// previous transactions committed (see core.accessAnchor).
	bases  map[int]audit.Head
	nextID int64 // 0 until read in this transaction
	// rows are audit entries linked in this transaction but not yet inserted: they are all
	// inserted just before commit, many to a statement (see core.flushAudit).
	rows []auditRow
	// chain is one more than the audit chain the transaction's writers append to, once one
	// did (see core.appendAudit).
	chain int
}

// auditRow is one audit entry's insert arguments, for the chain statements c.
type auditRow struct {
	c    *chainSQL
	args []any
}

type batchHead struct {
	head    audit.Head
	update  string // the statement that writes it back
	tainted bool   // read unsealed: written back unsealed (see core.appendChain)
}

// head returns chain's head as of this point in the transaction and whether it is tainted,
// if it has been read.
func (s *Batch) head(chain int) (audit.Head, bool, bool) {
	if s == nil {
		return audit.Head{}, false, false
	}
	h, ok := s.heads[chain]
	return h.head, h.tainted, ok
}

// setBase records a chain's head as first read in this transaction.
func (s *Batch) setBase(h audit.Head) {
	if s == nil {
		return
	}
	if s.bases == nil {
		s.bases = map[int]audit.Head{}
	}
	if _, ok := s.bases[h.Chain]; !ok {
		s.bases[h.Chain] = h
	}
}

// base returns chain's head as first read in this transaction, if it was.
func (s *Batch) base(chain int) (audit.Head, bool) {
	if s == nil {
		return audit.Head{}, false
	}
	h, ok := s.bases[chain]
	return h, ok
}

// setHead records a chain's new head, to be written before commit.
func (s *Batch) setHead(h audit.Head, update string, tainted bool) {
	if s.heads == nil {
		s.heads = map[int]batchHead{}
	}
	s.heads[h.Chain] = batchHead{h, update, tainted}
}

// Snapshot copies the state so that a writer rolled back to its savepoint can be undone by
// assigning the copy back.
func (s *Batch) Snapshot() Batch {
	// Bases are what was committed before the transaction, whoever read them: they are shared.
	c := Batch{nextID: s.nextID, heads: make(map[int]batchHead, len(s.heads)), bases: s.bases, rows: s.rows[:len(s.rows):len(s.rows)]}
	for k, v := range s.heads {
		c.heads[k] = v
	}
	return c
}

type batchKey struct{}

// Context returns ctx carrying the batch: writers' functions and the core's audit appends
// find it there.
func (s *Batch) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchKey{}, s)
}

// sharedFrom returns the transaction's batch, or nil when the transaction is a caller's own.
func sharedFrom(ctx context.Context) *Batch {
	st, _ := ctx.Value(batchKey{}).(*Batch)
	return st
}

// FinishBatch inserts the audit entries the batch's writers linked and writes the chain heads
// they moved: the last statements before the commit.
func (db *core) FinishBatch(ctx context.Context, tx *sql.Tx, b *Batch) error {
	if err := db.flushAudit(ctx, tx, b.rows); err != nil {
		return fmt.Errorf("insert audit entries: %w", err)
	}
	for _, h := range b.heads {
		anchor, err := db.accessAnchor(ctx, tx, h.head.Chain, b)
		if err != nil {
			return err
		}
		if err := db.writeHead(ctx, tx, h.update, audit.SealedHead{Head: h.head, Anchor: anchor}, h.tainted); err != nil {
			return err
		}
	}
	return nil
}
