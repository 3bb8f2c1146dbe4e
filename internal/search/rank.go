package search

import (
	"cmp"
	"context"
	"math"
	"slices"
)

// Selective is how many customers a token may be held by and still make candidates: the
// engine weighs the holders of such tokens itself and hands back only the best. Tokens held by
// more (a common name or a big town at millions of customers) only add weight to those
// candidates, checked for them alone. This bounds what a search reads however large the
// customer base grows.
const Selective = 10_000

// Weighed is a candidate with the evidence its tokens give.
type Weighed struct {
	ID     string
	Weight float64
}

// Store is what finding candidates needs from an engine.
type Store interface {
	// SearchCounts returns how many customers hold each token, counting no further than
	// max+1.
	SearchCounts(ctx context.Context, tokens []int64, max int) ([]int, error)
	// SearchTop returns the n customers with the greatest sum of the weights of the tokens
	// they hold, heaviest first (ties by id), reading at most perToken holders of each token.
	SearchTop(ctx context.Context, tokens []int64, weights []float64, perToken, n int) ([]Weighed, error)
	// SearchHolders returns which of ids hold token.
	SearchHolders(ctx context.Context, token int64, ids []string) ([]string, error)
}

// Candidates finds the n customers whose tokens give the most evidence for q: each shared token
// counts by its kind's weight and by how rare it is (a token few customers hold says more than
// one thousands hold), so a customer sharing a rare surname and the town outranks one sharing
// only a common first name. Tokens held by at most Selective customers are weighed by the
// engine; commoner ones are checked for the best candidates only. When every token is common
// (one very common name alone), the first Selective holders of each stand in: any of them
// answers such a query as well.
func Candidates(ctx context.Context, st Store, h Hasher, q Query, n int) ([]string, error) {
	tokens := Tokens(h, q.Terms())
	counts, err := st.SearchCounts(ctx, tokens, Selective)
	if err != nil {
		return nil, err
	}
	var rare, common []int64
	var rareW, commonW []float64
	for i, tok := range tokens {
		switch c := counts[i]; {
		case c == 0:
		case c <= Selective:
			rare, rareW = append(rare, tok), append(rareW, weigh(tok, c))
		default:
			common, commonW = append(common, tok), append(commonW, weigh(tok, c))
		}
	}
	if len(rare) == 0 {
		rare, rareW, common = common, commonW, nil
	}
	if len(rare) == 0 {
		return nil, nil
	}
	top, err := st.SearchTop(ctx, rare, rareW, Selective, max(n, 4*n))
	if err != nil || len(common) == 0 {
		return ids(top, n), err
	}
	weight := make(map[string]float64, len(top))
	cands := make([]string, len(top))
	for i, c := range top {
		weight[c.ID], cands[i] = c.Weight, c.ID
	}
	for i, tok := range common {
		held, err := st.SearchHolders(ctx, tok, cands)
		if err != nil {
			return nil, err
		}
		for _, id := range held {
			weight[id] += commonW[i]
		}
	}
	for i := range top {
		top[i].Weight = weight[top[i].ID]
	}
	slices.SortStableFunc(top, func(a, b Weighed) int { return cmp.Compare(b.Weight, a.Weight) })
	return ids(top, n), nil
}

// weigh is the evidence a token held by df customers gives: its kind's weight, more the
// rarer it is.
func weigh(token int64, df int) float64 {
	return specs[KindOf(token)].weight * math.Log(1+float64(Selective)/float64(df))
}

// ids are the ids of the first n candidates.
func ids(cs []Weighed, n int) []string {
	out := make([]string, 0, min(n, len(cs)))
	for _, c := range cs[:min(n, len(cs))] {
		out = append(out, c.ID)
	}
	return out
}

// CandidatesFor is how many candidates a search for n results opens and scores: enough that
// the best-scoring customer is nearly always among them, few enough that opening them stays
// within a few milliseconds.
func CandidatesFor(n int) int { return min(max(3*n, 50), 200) }

// RankScored orders ids by score, best first, ties by their order in ids (the candidate
// ranking), and keeps the first n with a score above zero.
func RankScored(ids []string, scores map[string]float64, n int) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if scores[id] > 0 {
			out = append(out, id)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Compare(scores[b], scores[a]) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}
