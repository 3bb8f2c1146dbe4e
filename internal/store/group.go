package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/stewardhq/steward/internal/audit"
)

// groupCommit runs writers' functions in shared transactions. Each function gets its own
// savepoint, so one writer's failure rolls back only its own work; every caller waits for the
// commit, so nothing is acknowledged before it is durable.
type groupCommit struct {
	db *sql.DB
	// stmt returns the prepared form of a savepoint statement bound to tx: parsing them anew
	// for every writer showed in profiles.
	stmt func(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt
	// flush inserts the audit rows the writers of a transaction deferred.
	flush func(ctx context.Context, tx *sql.Tx, rows []auditRow) error
	// combine inserts the creations of several writers at once.
	combine func(ctx context.Context, tx *sql.Tx, cs []*creation) error
	// constraint reports a violated constraint (Dialect.IsConstraint); nil if the engine
	// checks nothing at commit.
	constraint func(error) bool
	reqs       chan *writeReq
	quit       chan struct{}
	done       chan struct{}
	once       sync.Once
	last       int // writers in the last commit; read and written by loop only
	// hooks, when set, is engine housekeeping paced by the writer (see DB.SetWriterHooks).
	hooks   atomic.Pointer[WriterHooks]
	commits int
	// link, when set, runs first in every transaction and hears whether it committed (see
	// accessJournal.link).
	link atomic.Pointer[func(ctx context.Context, tx *sql.Tx) (func(committed bool), error)]
}

// WriterHooks let an engine do housekeeping paced by the group-commit writer.
type WriterHooks struct {
	// Every so many commits the writer calls OnCommits, which must not block.
	Every     int
	OnCommits func()
	// When Between is set, the writer clears it and runs BetweenSQL before its next
	// transaction, while no write is in flight. Errors are ignored: it is best effort.
	Between    *atomic.Bool
	BetweenSQL string
}

type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	err  error
	done chan struct{}
	// create, when set, is what fn inserts; the creates of one transaction are inserted
	// together by combine, and fn runs alone only on the retry with savepoints.
	create *creation
}

// maxGroup bounds how many writers share one commit, which bounds the latency one writer can
// add to the others.
const maxGroup = 64

var errClosed = errors.New("store closed")

func startGroupCommit(db *sql.DB, stmt func(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt,
	flush func(ctx context.Context, tx *sql.Tx, rows []auditRow) error,
	combine func(ctx context.Context, tx *sql.Tx, cs []*creation) error, constraint func(error) bool) *groupCommit {
	g := &groupCommit{db: db, stmt: stmt, flush: flush, combine: combine, constraint: constraint, reqs: make(chan *writeReq, maxGroup*4), quit: make(chan struct{}), done: make(chan struct{})}
	go g.loop()
	return g
}

func (g *groupCommit) do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return g.doCreate(ctx, nil, fn)
}

// doCreate is do for a writer that only creates customers (c); see writeReq.create.
func (g *groupCommit) doCreate(ctx context.Context, c *creation, fn func(ctx context.Context, tx *sql.Tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{}), create: c}
	select {
	case g.reqs <- r:
	case <-g.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-r.done // once queued, the outcome is always awaited: it may already be committed
	return r.err
}

func (g *groupCommit) stop() error {
	g.once.Do(func() { close(g.quit) })
	<-g.done
	return nil
}

func (g *groupCommit) loop() {
	defer close(g.done)
	batch := make([]*writeReq, 0, maxGroup)
	for {
		select {
		case r := <-g.reqs:
			batch = append(batch[:0], r)
		case <-g.quit:
			return
		}
		batch = g.drain(batch)
		// When the last commit was shared, other writers are active and more are likely on
		// their way: yielding the processor a few times lets them queue up for this commit
		// rather than each paying for one of its own. A writer alone never waits, because
		// nothing else is runnable and Gosched returns at once.
		for i := 0; i < lingerRounds && g.last > 1 && len(batch) < min(g.last, maxGroup); i++ {
			runtime.Gosched()
			batch = g.drain(batch)
		}
		g.last = len(batch)
		g.run(batch)
		if h := g.hooks.Load(); h != nil {
			if g.commits++; h.Every > 0 && g.commits%h.Every == 0 {
				h.OnCommits()
			}
			if h.Between != nil && h.Between.CompareAndSwap(true, false) {
				_, _ = g.db.Exec(h.BetweenSQL)
			}
		}
	}
}

// lingerRounds bounds how many times the writer yields for stragglers before committing.
const lingerRounds = 4

// drain adds what is already queued to batch, up to maxGroup.
func (g *groupCommit) drain(batch []*writeReq) []*writeReq {
	for len(batch) < maxGroup {
		select {
		case r := <-g.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

const (
	savepoint  = "SAVEPOINT w"
	rollbackTo = "ROLLBACK TO w"
	release    = "RELEASE w"
)

func (g *groupCommit) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := g.stmt(ctx, tx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// sharedTx is what the writers of one group transaction share: the audit chain heads, each
// read once and written once per transaction rather than once per writer, and the next audit
// entry id.
type sharedTx struct {
	heads  map[int]sharedHead
	nextID int64 // 0 until read in this transaction
	// rows are audit entries linked in this transaction but not yet inserted: the writer
	// inserts them all just before commit, many to a statement (see DB.flushAudit).
	rows []auditRow
}

// auditRow is one audit entry's insert arguments, for the chain statements c.
type auditRow struct {
	c    *chainSQL
	args []any
}

type sharedHead struct {
	head   audit.Head
	update string // the statement that writes it back
}

// head returns chain's head as of this point in the transaction, if it has been read.
func (s *sharedTx) head(chain int) (audit.Head, bool) {
	if s == nil {
		return audit.Head{}, false
	}
	h, ok := s.heads[chain]
	return h.head, ok
}

// setHead records a chain's new head, to be written before commit.
func (s *sharedTx) setHead(h audit.Head, update string) {
	if s.heads == nil {
		s.heads = map[int]sharedHead{}
	}
	s.heads[h.Chain] = sharedHead{h, update}
}

// snapshot copies the state so that a writer rolled back to its savepoint can be undone.
func (s *sharedTx) snapshot() sharedTx {
	c := sharedTx{nextID: s.nextID, heads: make(map[int]sharedHead, len(s.heads)), rows: s.rows[:len(s.rows):len(s.rows)]}
	for k, v := range s.heads {
		c.heads[k] = v
	}
	return c
}

type sharedTxKey struct{}

// sharedFrom returns the transaction's shared state, or nil outside group commit.
func sharedFrom(ctx context.Context) *sharedTx {
	st, _ := ctx.Value(sharedTxKey{}).(*sharedTx)
	return st
}

// run commits a batch. It first runs every writer's function straight into one transaction;
// only if one of them fails does it roll back and run the batch again with a savepoint per
// writer, so that the failure is that writer's alone. Failures are rare (conflicts, bad
// references), and two statements fewer per writer is a third of a create's statements.
// Functions must therefore be safe to run twice: they touch only the transaction.
func (g *groupCommit) run(batch []*writeReq) {
	finish := func(err error) {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
			close(r.done)
		}
	}
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		finish(nil)
		return
	}
	err := g.attempt(live, false)
	if errors.Is(err, errWriterFailed) {
		for _, r := range live {
			r.err = nil
		}
		err = g.attempt(live, true)
	}
	if errors.Is(err, errCommitConstraint) {
		// A reference checked at commit does not say whose write broke it: each writer
		// commits on its own, so that only that writer fails.
		for _, r := range live {
			r.err = nil
			if err := g.attempt([]*writeReq{r}, false); err != nil && !errors.Is(err, errWriterFailed) {
				r.err = err
			}
		}
		err = nil
	}
	if errors.Is(err, errWriterFailed) {
		err = nil // each writer's own error is set
	}
	finish(err)
}

// errWriterFailed reports that at least one writer's function failed (its own error is set).
var errWriterFailed = errors.New("a writer failed")

// errCommitConstraint reports that a transaction of several writers failed to commit on a
// constraint checked at commit (a deferred reference), which none of them can be told apart by.
var errCommitConstraint = errors.New("a constraint failed at commit")

// attempt runs writers in one transaction and commits what succeeded. Without savepoints the
// first failure abandons the transaction and reports errWriterFailed; with them, failures roll
// back to their savepoint and the rest commits.
func (g *groupCommit) attempt(writers []*writeReq, savepoints bool) error {
	// The transaction's own context is never cancelled: a caller that gives up must not
	// interrupt the others' commit.
	ctx := context.Background()
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	shared := &sharedTx{}
	committed := false
	if link := g.link.Load(); link != nil {
		done, err := (*link)(context.WithValue(ctx, sharedTxKey{}, shared), tx)
		if done != nil {
			defer func() { done(committed) }()
		}
		if err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	ok, failed := 0, false
	// Without savepoints, the creates go in first and together. Should they fail, nobody
	// can tell whose row it was: the batch is retried with savepoints, where each runs alone.
	var creates []*creation
	if !savepoints {
		for _, r := range writers {
			if r.create != nil {
				r.create.ctx = context.WithValue(context.WithoutCancel(r.ctx), sharedTxKey{}, shared)
				creates = append(creates, r.create)
			}
		}
		if len(creates) > 0 {
			if err := g.combine(ctx, tx, creates); err != nil {
				_ = tx.Rollback()
				return errWriterFailed
			}
			ok += len(creates)
		}
	}
	for _, r := range writers {
		if len(creates) > 0 && r.create != nil {
			continue // inserted above
		}
		var before sharedTx
		if savepoints {
			before = shared.snapshot()
		}
		if savepoints {
			if _, err := g.exec(ctx, tx, savepoint); err != nil {
				r.err = err
				failed = true
				continue
			}
		}
		wctx := context.WithValue(context.WithoutCancel(r.ctx), sharedTxKey{}, shared)
		if err := r.fn(wctx, tx); err != nil {
			r.err = err
			failed = true
			*shared = before
			if !savepoints {
				_ = tx.Rollback()
				return errWriterFailed
			}
			if _, rerr := g.exec(ctx, tx, rollbackTo); rerr != nil {
				_ = tx.Rollback()
				return fmt.Errorf("rollback to savepoint: %w", rerr)
			}
		} else {
			ok++
		}
		if savepoints {
			if _, err := g.exec(ctx, tx, release); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("release savepoint: %w", err)
			}
		}
	}
	if ok == 0 {
		_ = tx.Rollback()
		return errWriterFailed
	}
	if err := g.flush(ctx, tx, shared.rows); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("insert audit entries: %w", err)
	}
	for _, h := range shared.heads {
		if _, err := g.exec(ctx, tx, h.update, h.head.Seq, h.head.Hash, h.head.Chain); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("update audit head: %w", err)
		}
	}
	// A failed commit fails every writer in the batch, including those whose own work was
	// fine: none of it is durable. Only a constraint checked at commit is worth running the
	// writers again for, one by one (see run).
	if err := tx.Commit(); err != nil {
		if len(writers) > 1 && g.constraint != nil && g.constraint(err) {
			return errCommitConstraint
		}
		return err
	}
	committed = true
	if failed {
		return errWriterFailed
	}
	return nil
}
