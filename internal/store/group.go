package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// groupCommit runs writers' functions in shared transactions. Each function gets its own
// savepoint, so one writer's failure rolls back only its own work; every caller waits for the
// commit, so nothing is acknowledged before it is durable.
type groupCommit struct {
	db *sql.DB
	// stmt returns the prepared form of a savepoint statement bound to tx: parsing them anew
	// for every writer showed in profiles.
	stmt func(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt
	reqs chan *writeReq
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	err  error
	done chan struct{}
}

// maxGroup bounds how many writers share one commit, which bounds the latency one writer can
// add to the others.
const maxGroup = 64

var errClosed = errors.New("store closed")

func startGroupCommit(db *sql.DB, stmt func(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt) *groupCommit {
	g := &groupCommit{db: db, stmt: stmt, reqs: make(chan *writeReq, maxGroup*4), quit: make(chan struct{}), done: make(chan struct{})}
	go g.loop()
	return g
}

func (g *groupCommit) do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
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
	fill:
		for len(batch) < maxGroup {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		g.run(batch)
	}
}

const (
	savepoint  = "SAVEPOINT w"
	rollbackTo = "ROLLBACK TO w"
	release    = "RELEASE w"
)

func (g *groupCommit) exec(ctx context.Context, tx *sql.Tx, q string) (sql.Result, error) {
	if st := g.stmt(ctx, tx, q); st != nil {
		return st.ExecContext(ctx)
	}
	return tx.ExecContext(ctx, q)
}

func (g *groupCommit) run(batch []*writeReq) {
	finish := func(err error) {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
			close(r.done)
		}
	}
	// The transaction's own context is never cancelled: a caller that gives up must not
	// interrupt the others' commit.
	ctx := context.Background()
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		finish(err)
		return
	}
	ok := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if _, err := g.exec(ctx, tx, savepoint); err != nil {
			r.err = err
			continue
		}
		if err := r.fn(context.WithoutCancel(r.ctx), tx); err != nil {
			r.err = err
			if _, rerr := g.exec(ctx, tx, rollbackTo); rerr != nil {
				_ = tx.Rollback()
				finish(fmt.Errorf("rollback to savepoint: %w", rerr))
				return
			}
		} else {
			ok++
		}
		if _, err := g.exec(ctx, tx, release); err != nil {
			_ = tx.Rollback()
			finish(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if ok == 0 {
		_ = tx.Rollback()
		finish(nil)
		return
	}
	// A failed commit fails every writer in the batch, including those whose own work was
	// fine: none of it is durable.
	if err := tx.Commit(); err != nil {
		for _, r := range batch {
			r.err = err
		}
	}
	finish(nil)
}
