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
