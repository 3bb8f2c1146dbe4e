package offer

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Recommendations are item-to-item: products bought in the same order as the offer's
// products, counted over the orders of customers who allow personalisation at the time the
// counts are built. The counts are rebuilt at most every recommendRefresh, so the permission
// decision behind them is never older than that; a customer who withdraws stops counting at
// the next rebuild.
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

type coPurchase struct {
	mu    sync.Mutex
	built time.Time
	pairs map[string]map[string]int
}

// recommend returns the products most often bought with the offer's products, leaving out
// the offer's own products and those the customer (tree) already bought.
func (s *Service) recommend(ctx context.Context, products []string, tree []string) ([]Recommendation, error) {
	if len(products) == 0 {
		return []Recommendation{}, nil
	}
	pairs, err := s.pairs(ctx)
	if err != nil {
		return nil, err
	}
	own := map[string]bool{}
	if err := s.d.Orders.Baskets(ctx, tree, 500, func(ps []string) {
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

// pairs returns the co-purchase counts, rebuilding them when they are older than
// recommendRefresh.
func (s *Service) pairs(ctx context.Context) (map[string]map[string]int, error) {
	c := s.recs
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.d.Clock()
	if c.pairs != nil && now.Sub(c.built) < recommendRefresh && !now.Before(c.built) {
		return c.pairs, nil
	}
	pairs := map[string]map[string]int{}
	after := ""
	for {
		buyers, err := s.d.Orders.Buyers(ctx, after, buyerPage)
		if err != nil {
			return nil, err
		}
		if len(buyers) == 0 {
			break
		}
		after = buyers[len(buyers)-1]
		bulk, err := s.d.Permissions.Check(ctx, "personalization", buyers)
		if err != nil {
			return nil, err
		}
		if len(bulk.Allowed) > 0 {
			if err := s.d.Orders.Baskets(ctx, bulk.Allowed, ordersPerPage, func(ps []string) { addBasket(pairs, ps) }); err != nil {
				return nil, err
			}
		}
		if len(buyers) < buyerPage {
			break
		}
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
