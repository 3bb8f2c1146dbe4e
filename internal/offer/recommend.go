package offer

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/segment"
)

// Recommendations are item-to-item: products bought in the same order as the offer's
// products, counted over the orders of customers who allow personalisation at the time the
// counts are built. For an offer bound to a segment only the segment's members count, so
// that a segment's customers are recommended what people like them bought. The counts are
// rebuilt at most every recommendRefresh, so the permission decision and the membership
// behind them are never older than that; a customer who withdraws or leaves the segment
// stops counting at the next rebuild.
const (
	recommendRefresh = 10 * time.Minute
	recommendTop     = 5
	// basketCap bounds the products of one order that are paired, so one huge order cannot
	// dominate the counts or the memory.
	basketCap = 50
	// buyerPage is how many buyers are decided at once (within consent.MaxCheck).
	buyerPage = 1000
	// ordersPerPage bounds the orders read for one page of buyers.
	ordersPerPage = 20_000
)

// MinSegmentBuyers is how many of a segment's members who allow personalisation must have
// bought something before the segment's own baskets are used. Below it the counts describe a
// handful of people — too few to say what the segment likes, and enough to tell one member
// what another bought — so recommendations come from everyone who allows personalisation
// instead. It is the segments' minimum cohort.
const MinSegmentBuyers = segment.DefaultMinCohort

// coPurchase is one set of counts: over everyone, or over one segment. pairs is nil for a
// segment found too small when they were built.
type coPurchase struct {
	mu    sync.Mutex
	built time.Time
	pairs map[string]map[string]int
}

// recommend returns the products most often bought with the offer's products, by the members
// of segmentID ("" for everyone), leaving out the offer's own products and those the
// customer (tree) already bought.
func (s *Service) recommend(ctx context.Context, products []string, segmentID string, tree []string) ([]Recommendation, error) {
	if len(products) == 0 {
		return []Recommendation{}, nil
	}
	pairs, err := s.pairs(ctx, segmentID)
	if err != nil {
		return nil, err
	}
	own := map[string]bool{}
	if err := s.d.Orders.Baskets(ctx, tree, 500, func(_ string, ps []string) {
		for _, p := range ps {
			own[p] = true
		}
	}); err != nil {
		return nil, err
	}
	score := map[string]int{}
	for _, p := range products {
		own[p] = true
	}
	for _, p := range products {
		for q, n := range pairs[p] {
			if !own[q] {
				score[q] += n
			}
		}
	}
	out := make([]Recommendation, 0, len(score))
	for q, n := range score {
		out = append(out, Recommendation{ProductID: q, Together: n})
	}
	slices.SortFunc(out, func(a, b Recommendation) int {
		if a.Together != b.Together {
			return b.Together - a.Together
		}
		if a.ProductID < b.ProductID {
			return -1
		}
		return 1
	})
	return out[:min(len(out), recommendTop)], nil
}

// pairs returns the co-purchase counts of the segment's members, or of everyone when
// segmentID is "" or the segment has fewer than MinSegmentBuyers buyers who allow
// personalisation.
func (s *Service) pairs(ctx context.Context, segmentID string) (map[string]map[string]int, error) {
	if segmentID != "" {
		pairs, err := s.cached(ctx, segmentID, func(after string) ([]string, error) {
			return s.d.Segments.Members(ctx, segmentID, after, buyerPage)
		}, MinSegmentBuyers)
		if err != nil || pairs != nil {
			return pairs, err
		}
	}
	return s.cached(ctx, "", func(after string) ([]string, error) { return s.d.Orders.Buyers(ctx, after, buyerPage) }, 0)
}

// cached returns the counts kept under key, rebuilding them when they are older than
// recommendRefresh from the customers page lists (by id, after after), and keeping nil when
// fewer than minBuyers of them who allow personalisation bought something.
func (s *Service) cached(ctx context.Context, key string, page func(after string) ([]string, error), minBuyers int) (map[string]map[string]int, error) {
	s.mu.Lock()
	c := s.recs[key]
	if c == nil {
		c = &coPurchase{}
		s.recs[key] = c
	}
	s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.d.Clock()
	if !c.built.IsZero() && now.Sub(c.built) < recommendRefresh && !now.Before(c.built) {
		return c.pairs, nil
	}
	pairs := map[string]map[string]int{}
	buyers := map[string]bool{}
	after := ""
	for {
		ids, err := page(after)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
		bulk, err := s.d.Permissions.Check(ctx, "personalization", ids)
		if err != nil {
			return nil, err
		}
		if len(bulk.Allowed) > 0 {
			if err := s.d.Orders.Baskets(ctx, bulk.Allowed, ordersPerPage, func(id string, ps []string) {
				buyers[id] = true
				addBasket(pairs, ps)
			}); err != nil {
				return nil, err
			}
		}
		if len(ids) < buyerPage {
			break
		}
	}
	if len(buyers) < minBuyers {
		pairs = nil
	}
	c.pairs, c.built = pairs, now
	return pairs, nil
}

func addBasket(pairs map[string]map[string]int, ps []string) {
	slices.Sort(ps)
	ps = slices.Compact(ps)
	if len(ps) > basketCap {
		ps = ps[:basketCap]
	}
	for i, a := range ps {
		for j, b := range ps {
			if i == j {
				continue
			}
			m := pairs[a]
			if m == nil {
				m = map[string]int{}
				pairs[a] = m
			}
			m[b]++
		}
	}
}

func itoa(n int) string     { return strconv.Itoa(n) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
