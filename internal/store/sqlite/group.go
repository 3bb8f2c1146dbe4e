package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/stewardhq/steward/internal/store"
)

// groupCommit is SQLite's store.Writer: it runs writers' functions in shared transactions.
// Each function gets its own savepoint, so one writer's failure rolls back only its own work;
// every caller waits for the commit, so nothing is acknowledged before it is durable. It pays
// off because one connection writes: the commit, not the statements, is the cost.
type groupCommit struct {
	db *sql.DB
	// core inserts combined creations and writes what a transaction's writers deferred.
	core store.Core
	// stmts are the prepared savepoint statements: parsing them anew for every writer showed
	// in profiles.
	stmts map[string]*sql.Stmt
	// constraint reports a violated constraint; nil if the engine checks nothing at commit.
	constraint func(error) bool
	reqs       chan *writeReq
	quit       chan struct{}
	done       chan struct{}
	once       sync.Once
	last       int // writers in the last commit; read and written by loop only
	// hooks, when set, is housekeeping paced by the writer (see checkpointer).
	hooks   atomic.Pointer[writerHooks]
	commits int
	// link, when set, runs first in every transaction and hears whether it committed (see
	// accessJournal.link).
	link atomic.Pointer[func(ctx context.Context, tx *sql.Tx) (func(committed bool), error)]
}

// writerHooks let the engine do housekeeping paced by the group-commit writer.
type writerHooks struct {
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
	// together (store.Core.InsertCreations), and fn runs alone only on the retry with
	// savepoints.
	create *store.Creation
}

// maxGroup bounds how many writers share one commit, which bounds the latency one writer can
// add to the others.
const maxGroup = 64

var errClosed = errors.New("store closed")

// startGroupCommit prepares the savepoint statements on db, the single writer connection,
// while no transaction holds it, and starts the writer.
func startGroupCommit(ctx context.Context, db *sql.DB, core store.Core, constraint func(error) bool) (*groupCommit, error) {
	g := &groupCommit{db: db, core: core, constraint: constraint, stmts: map[string]*sql.Stmt{},
		reqs: make(chan *writeReq, maxGroup*4), quit: make(chan struct{}), done: make(chan struct{})}
	for _, q := range []string{savepoint, rollbackTo, release} {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			g.closeStmts()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		g.stmts[q] = st
	}
	go g.loop()
	return g, nil
}

// Update implements store.Writer.
func (g *groupCommit) Update(ctx context.Context, create *store.Creation, fn store.TxFunc) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{}), create: create}
	select {
	case g.reqs <- r:
	case <-g.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the outcome is always awaited: it may already be committed. Only a writer
	// that stopped without taking the write (the store closing) answers for it.
	select {
	case <-r.done:
		return r.err
	case <-g.done:
		select {
		case <-r.done:
			return r.err
		default:
			return errClosed
		}
	}
}

func (g *groupCommit) closeStmts() {
	for _, st := range g.stmts {
		st.Close()
	}
}

func (g *groupCommit) stop() error {
	g.once.Do(func() { close(g.quit) })
	<-g.done
	g.closeStmts()
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
			// Writes queued as the store closes are refused, never left waiting.
			for {
				select {
				case r := <-g.reqs:
					r.err = errClosed
					close(r.done)
				default:
					return
				}
			}
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

func (g *groupCommit) exec(ctx context.Context, tx *sql.Tx, q string) (sql.Result, error) {
	return tx.StmtContext(ctx, g.stmts[q]).ExecContext(ctx)
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
	shared := &store.Batch{}
	committed := false
	if link := g.link.Load(); link != nil {
		done, err := (*link)(shared.Context(ctx), tx)
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
	var creates []*store.Creation
	if !savepoints {
		for _, r := range writers {
			if r.create != nil {
				creates = append(creates, r.create)
			}
		}
		if len(creates) > 0 {
			if err := g.core.InsertCreations(shared.Context(ctx), tx, creates); err != nil {
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
		var before store.Batch
		if savepoints {
			before = shared.Snapshot()
		}
		if savepoints {
			if _, err := g.exec(ctx, tx, savepoint); err != nil {
				r.err = err
				failed = true
				continue
			}
		}
		wctx := shared.Context(context.WithoutCancel(r.ctx))
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
	if err := g.core.FinishBatch(ctx, tx, shared); err != nil {
		_ = tx.Rollback()
		return err
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
	g.core.Committed(shared)
	if failed {
		return errWriterFailed
	}
	return nil
}
