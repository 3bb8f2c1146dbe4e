package ingest

import (
	"strings"
	"sync"
)

// Stats counts, per write key, the messages stored and skipped as duplicates, and what was
// dropped at the door by reason. Write key ids name a key, never a customer, and reasons are
// fixed words, so the counts carry no personal data; the metrics endpoint reads them at each
// scrape, and the service never needs to know who is watching.
type Stats struct {
	mu sync.Mutex
	n  map[StatKey]int64
	// together and apart count the transactions that stored several callers' batches (see
	// Service.IngestAll): as one batch, or one after the other.
	together, apart int64
}

// shared counts one transaction of several parts.
func (s *Stats) shared(asOne bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if asOne {
		s.together++
	} else {
		s.apart++
	}
}

// Shared returns how many transactions storing several callers' batches stored them as one
// batch (together) and how many one after the other (apart: two touched one customer or
// order, or one merged customers, proposed a pair or recorded consent).
func (s *Stats) Shared() (together, apart int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.together, s.apart
}

// StatKey names one counter: a write key id, the kind of count (outcome or dropped) and its
// label (stored, duplicate, or a drop reason).
type StatKey struct {
	KeyID, Kind, Label string
}

// Kinds of count.
const (
	StatOutcome = "outcome"
	StatDropped = "dropped"
)

func (s *Stats) batch(keyID string, stored, duplicates int, dropped drops) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[StatKey]int64{}
	}
	s.n[StatKey{keyID, StatOutcome, "stored"}] += int64(stored)
	s.n[StatKey{keyID, StatOutcome, "duplicate"}] += int64(duplicates)
	for name, k := range dropped {
		reason, _, _ := strings.Cut(name, ":")
		s.n[StatKey{keyID, StatDropped, reason}] += k
	}
}

// Each calls fn for every counter.
func (s *Stats) Each(fn func(k StatKey, n int64)) {
	s.mu.Lock()
	snapshot := make(map[StatKey]int64, len(s.n))
	for k, v := range s.n {
		snapshot[k] = v
	}
	s.mu.Unlock()
	for k, v := range snapshot {
		fn(k, v)
	}
}
