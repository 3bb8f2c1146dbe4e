package source

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/ingest"
)

// Deliveries arrive one event per request, and a busy platform sends many at once. Storing
// each in a transaction of its own would spend the writer on per-transaction work (claiming
// ids, reading profiles, recomputing figures one customer at a time), so deliveries that
// arrive while an earlier one is being stored wait and are stored together: the first to
// arrive stores for everyone queued behind it until the queue is empty. Deliveries to one
// source make one ingest batch; those of several sources (a shop's orders, its card
// processor's charges and its e-mail service's events arrive together) are stored in one
// transaction as one part each, every part attributed to its own source (see
// ingest.Service.IngestAll). Each delivery is still answered only once its own messages are
// committed, and with its own counts. A batch that fails is retried delivery by delivery, so
// one bad delivery never fails another. When the previous batch merged several deliveries,
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
	// ctx is the delivery's, with its source as the actor; key is its source's subject.
	ctx  context.Context
	key  string
	msgs []ingest.Message
	res  ingest.Result
	err  error
	done chan struct{}
	// lead tells the waiter it is at the head of the queue and stores the next batch.
	lead chan struct{}
}

// merger merges concurrent deliveries.
type merger struct {
	mu      sync.Mutex
	waiting []*waiter
	running bool
	// last is how many deliveries the latest batch merged.
	last int
}

// ingestMerged stores msgs for source key, merged with the deliveries queued with it. The
// delivery at the head of the queue stores one batch (itself and those behind it), then hands
// the queue to the next delivery waiting, so that no request stays to serve others.
func (s *Service) ingestMerged(ctx context.Context, key string, msgs []ingest.Message, now time.Time) (ingest.Result, error) {
	w := &waiter{ctx: ctx, key: key, msgs: msgs, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	m := &s.merger
	m.mu.Lock()
	m.waiting = append(m.waiting, w)
	if !m.running {
		m.running = true
		w.lead <- struct{}{}
	}
	m.mu.Unlock()
	select {
	case <-w.done:
		return w.res, w.err
	case <-w.lead:
	}
	m.mu.Lock()
	for i := 0; i < lingerRounds && m.last > 1 && len(m.waiting) < m.last; i++ {
		m.mu.Unlock()
		runtime.Gosched()
		m.mu.Lock()
	}
	var take []*waiter
	n := 0
	for len(m.waiting) > 0 && (len(take) == 0 || n+len(m.waiting[0].msgs) <= maxMerged) {
		n += len(m.waiting[0].msgs)
		take = append(take, m.waiting[0])
		m.waiting = m.waiting[1:]
	}
	m.last = len(take)
	m.mu.Unlock()
	// The batch stores other requests' messages too: it must not end with this one.
	s.storeMerged(context.WithoutCancel(ctx), take, now)
	m.mu.Lock()
	if len(m.waiting) > 0 {
		m.waiting[0].lead <- struct{}{}
	} else {
		m.running = false
	}
	m.mu.Unlock()
	<-w.done
	return w.res, w.err
}

// storeMerged stores the waiters' messages, one part per source, and answers each waiter; if
// that fails, each is stored alone so that its own error is its own.
func (s *Service) storeMerged(ctx context.Context, take []*waiter, now time.Time) {
	if len(take) == 1 {
		s.storeAlone(take[0], now)
		return
	}
	// The waiters of each source in arrival order, the sources in order of first arrival.
	var keys []string
	bySource := map[string][]*waiter{}
	for _, w := range take {
		if _, ok := bySource[w.key]; !ok {
			keys = append(keys, w.key)
		}
		bySource[w.key] = append(bySource[w.key], w)
	}
	parts := make([]ingest.Part, len(keys))
	for i, k := range keys {
		var msgs []ingest.Message
		for _, w := range bySource[k] {
			msgs = append(msgs, w.msgs...)
		}
		// The part's context is its first delivery's: its source's actor.
		parts[i] = ingest.Part{Ctx: context.WithoutCancel(bySource[k][0].ctx),
			Batch: ingest.Batch{KeyID: k, Messages: msgs, ReceivedAt: now, Lasting: true}}
	}
	// On an error, res holds the results of the parts stored before it: the other parts'
	// deliveries are stored alone, so that an error is its own.
	res, _ := s.ingest.IngestAll(ctx, parts)
	res = res[:min(len(res), len(parts))]
	for i := range res {
		if len(res[i].Fresh) != len(parts[i].Batch.Messages) {
			res = res[:i]
			break
		}
	}
	for i, k := range keys {
		if i >= len(res) {
			for _, w := range bySource[k] {
				s.storeAlone(w, now)
			}
			continue
		}
		j := 0
		for _, w := range bySource[k] {
			for range w.msgs {
				if res[i].Fresh[j] {
					w.res.Stored++
				} else {
					w.res.Duplicates++
				}
				j++
			}
			close(w.done)
		}
	}
}

// storeAlone stores one delivery's messages as a batch of their own and answers it.
func (s *Service) storeAlone(w *waiter, now time.Time) {
	w.res, w.err = s.ingest.Ingest(context.WithoutCancel(w.ctx), ingest.Batch{KeyID: w.key, Messages: w.msgs, ReceivedAt: now, Lasting: true})
	close(w.done)
}
