package store

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"sync"
)

// createBatcher gathers the creates of concurrent callers, on an engine without a single
// writer (PostgreSQL), into shared transactions, as SQLite's group commit does
// for every write. Each create appends to the audit chains, whose heads every transaction
// updates: sixteen callers each in a transaction of their own made the database give up most
// of them as not serialisable (four retries for every five creates), and paid a commit each.
// A commit serves every create it holds. Two such transactions are in flight per node
// (createLoops), each appending to an audit chain picked at random: with one, creates waited on the
// round trips of a single transaction while both the database and Steward sat half idle
// (1,376 creates/s on one node at 40,000 customers, 2,793 with two); with four, three nodes
// conflicted enough to lose more than they gained.
type createBatcher struct {
	db   *core
	reqs chan *createReq
	quit chan struct{}
	done chan struct{}
	once sync.Once
	// loops counts the loops still running; the last to stop closes done.
	loops sync.WaitGroup
}

type createReq struct {
	ctx  context.Context
	c    *Creation
	err  error
	done chan struct{}
}

// maxCreates bounds how many creates share one transaction, and so how long one waits on
// the others.
const maxCreates = 64

// createLoops is how many transactions of creates one node has in flight.
const createLoops = 2

var errCreatesClosed = errors.New("store closed")

func newCreateBatcher(db *core) *createBatcher {
	b := &createBatcher{db: db, reqs: make(chan *createReq, 4*maxCreates), quit: make(chan struct{}), done: make(chan struct{})}
	for range createLoops {
		b.loops.Add(1)
		go b.loop()
	}
	go func() {
		b.loops.Wait()
		close(b.done)
	}()
	return b
}

// create inserts c in a transaction it may share with other callers' creates, and returns
// once that transaction committed or failed.
func (b *createBatcher) create(ctx context.Context, c *Creation) error {
	r := &createReq{ctx: ctx, c: c, done: make(chan struct{})}
	select {
	case b.reqs <- r:
	case <-b.quit:
		return errCreatesClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the outcome is awaited: it may already be committed. Only a writer that
	// stopped without taking the create (the store closing) answers for it.
	select {
	case <-r.done:
		return r.err
	case <-b.done:
		select {
		case <-r.done:
			return r.err
		default:
			return errCreatesClosed
		}
	}
}

func (b *createBatcher) stop() error {
	b.once.Do(func() { close(b.quit) })
	<-b.done
	return nil
}

func (b *createBatcher) loop() {
	defer b.loops.Done()
	batch := make([]*createReq, 0, maxCreates)
	last := 0 // creates in this loop's last transaction
	for {
		select {
		case r := <-b.reqs:
			batch = append(batch[:0], r)
		case <-b.quit:
			// Creates queued as the store closes are refused, never left waiting.
			for {
				select {
				case r := <-b.reqs:
					r.err = errCreatesClosed
					close(r.done)
				default:
					return
				}
			}
		}
		batch = b.drain(batch)
		// As in SQLite's group commit: when the last transaction was shared, more creates are
		// likely on their way, and yielding a few times lets them join this one.
		for i := 0; i < 4 && last > 1 && len(batch) < min(last, maxCreates); i++ {
			runtime.Gosched()
			batch = b.drain(batch)
		}
		last = len(batch)
		b.run(batch)
	}
}

func (b *createBatcher) drain(batch []*createReq) []*createReq {
	for len(batch) < maxCreates {
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// run inserts the batch's creates in one transaction, retried like any write the database
// gives up on. Should it fail otherwise (one caller's e-mail claimed meanwhile),
// nobody can tell whose create it was: each then runs alone, as it would have unbatched, so
// that the failure is that caller's only.
func (b *createBatcher) run(batch []*createReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	// Claims are safe under the engine's claim locks (see lockClaims); without them, only
	// in a serializable transaction.
	var opts *sql.TxOptions
	if b.db.d.ClaimLocks == "" {
		opts = &sql.TxOptions{Isolation: sql.LevelSerializable}
	}
	insert := func(rs []*createReq) error {
		cs := make([]*Creation, len(rs))
		for i, r := range rs {
			cs[i] = r.c
		}
		// The transaction's own context is never cancelled: a caller who gives up must not
		// interrupt the others' commit. Its audit entries are chained through one Batch and
		// inserted many to a statement just before the commit, each chain's head written once.
		var shared *Batch
		err := b.db.retryWith(context.Background(), opts, func(ctx context.Context, tx *sql.Tx) error {
			shared = &Batch{}
			ctx = shared.Context(ctx)
			if err := b.db.InsertCreations(ctx, tx, cs); err != nil {
				return err
			}
			return b.db.FinishBatch(ctx, tx, shared)
		})
		if err == nil {
			b.db.Committed(shared)
		}
		return err
	}
	if len(live) == 0 {
		return
	}
	err := insert(live)
	if err != nil && len(live) > 1 {
		for _, r := range live {
			r.err = insert([]*createReq{r})
			close(r.done)
		}
		return
	}
	for _, r := range live {
		r.err = err
		close(r.done)
	}
}
