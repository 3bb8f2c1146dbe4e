package source

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
)

// Deliveries arrive one event per request, and a busy platform sends many at once. Storing
// each in a transaction of its own would spend the writer on per-transaction work (claiming
// ids, reading profiles, recomputing figures one customer at a time), so deliveries to the same
// source that arrive while an earlier one is being stored wait and are stored together, as
// one ingest batch: the first to arrive stores for everyone queued behind it until the queue
// is empty. Each delivery is still answered only once its own messages are committed, and
// with its own counts. A batch that fails is retried delivery by delivery, so one bad
// delivery never fails another. When a source's previous batch merged several deliveries,
// more are likely on their way: the head of the queue yields the processor a few times
// before it takes the queue, as the group-commit writer does, so that they join its batch
// rather than pay for a transaction and a commit of their own (on a busy shop's mix, a sixth
// fewer transactions). A delivery alone never waits: nothing else is runnable.

// maxMerged bounds the messages merged into one batch.
const maxMerged = ingest.MaxBatchEvents

// lingerRounds bounds how often the head of a queue yields the processor for deliveries on
// their way before it stores the batch.
const lingerRounds = 4

// waiter is one delivery waiting to be stored.
type waiter struct {
	msgs []ingest.Message
	res  ingest.Result
	err  error
	done chan struct{}
	// lead tells the waiter it is at the head of the queue and stores the next batch.
	lead chan struct{}
}

// queue holds the deliveries waiting for one source.
type queue struct {
	waiting []*waiter
	running bool
}

// merger merges concurrent deliveries per source.
type merger struct {
	mu     sync.Mutex
	queues map[string]*queue
	// last is how many deliveries each source's latest batch merged.
	last map[string]int
}

// ingestMerged stores msgs for source key, merged with the deliveries queued with it. The
// delivery at the head of the queue stores one batch (itself and those behind it), then hands
// the queue to the next delivery waiting, so that no request stays to serve others.
func (s *Service) ingestMerged(ctx context.Context, key string, msgs []ingest.Message, now time.Time) (ingest.Result, error) {
	w := &waiter{msgs: msgs, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	m := &s.merger
	m.mu.Lock()
	if m.queues == nil {
		m.queues = map[string]*queue{}
	}
	q := m.queues[key]
	if q == nil {
		q = &queue{}
		m.queues[key] = q
	}
	q.waiting = append(q.waiting, w)
	if !q.running {
		q.running = true
		w.lead <- struct{}{}
	}
	m.mu.Unlock()
	select {
	case <-w.done:
		return w.res, w.err
	case <-w.lead:
	}
	m.mu.Lock()
	last := m.last[key]
	for i := 0; i < lingerRounds && last > 1 && len(q.waiting) < last; i++ {
		m.mu.Unlock()
		runtime.Gosched()
		m.mu.Lock()
	}
	var take []*waiter
	n := 0
	for len(q.waiting) > 0 && (len(take) == 0 || n+len(q.waiting[0].msgs) <= maxMerged) {
		n += len(q.waiting[0].msgs)
		take = append(take, q.waiting[0])
		q.waiting = q.waiting[1:]
	}
	if m.last == nil {
		m.last = map[string]int{}
	}
	m.last[key] = len(take)
	m.mu.Unlock()
	// The batch stores other requests' messages too: it must not end with this one.
	s.storeMerged(context.WithoutCancel(ctx), key, take, now)
	m.mu.Lock()
	if len(q.waiting) > 0 {
		q.waiting[0].lead <- struct{}{}
	} else {
		q.running = false
		delete(m.queues, key)
	}
	m.mu.Unlock()
	<-w.done
	return w.res, w.err
}

// storeMerged stores the waiters' messages as one batch and answers each waiter; if the batch
// fails, each is stored alone so that its own error is its own.
func (s *Service) storeMerged(ctx context.Context, key string, take []*waiter, now time.Time) {
	if len(take) == 1 {
		w := take[0]
		w.res, w.err = s.ingest.Ingest(ctx, ingest.Batch{KeyID: key, Messages: w.msgs, ReceivedAt: now, Lasting: true})
		close(w.done)
		return
	}
	var all []ingest.Message
	for _, w := range take {
		all = append(all, w.msgs...)
	}
	res, err := s.ingest.Ingest(ctx, ingest.Batch{KeyID: key, Messages: all, ReceivedAt: now, Lasting: true})
	if err == nil && len(res.Fresh) != len(all) {
		err = problem.New(problem.Internal, "ingest answered %d messages of %d", len(res.Fresh), len(all))
	}
	if err != nil {
		for _, w := range take {
			w.res, w.err = s.ingest.Ingest(ctx, ingest.Batch{KeyID: key, Messages: w.msgs, ReceivedAt: now, Lasting: true})
			close(w.done)
		}
		return
	}
	i := 0
	for _, w := range take {
		for range w.msgs {
			if res.Fresh[i] {
				w.res.Stored++
			} else {
				w.res.Duplicates++
			}
			i++
		}
		close(w.done)
	}
}
