package search

import (
	"cmp"
	"context"
	"math"
	"slices"
)

// Selective is how many customers a token may be held by and still be read whole: tokens held
// by more (a common first name, a big town, at a million customers) only add weight to the
// candidates the selective ones found, checked for those candidates alone. This bounds what a
// search reads however large the customer base grows.
const Selective = 2000

// Posting is the customers an engine holds under one token: all of them, or, when there are
// more than the reader asked for, More and (for a partial read) the first of them.
type Posting struct {
	Token int64
	IDs   []string
	More  bool
}

// Store is what finding candidates needs from an engine.
type Store interface {
	// SearchPostings returns a Posting per token: all holders when there are at most max,
	// otherwise More, with the first max holders if partial and none if not.
	SearchPostings(ctx context.Context, tokens []int64, max int, partial bool) ([]Posting, error)
	// SearchHolders returns which of ids hold token.
	SearchHolders(ctx context.Context, token int64, ids []string) ([]string, error)
}

// Candidates finds the n customers whose tokens give the most evidence for q: each shared token
// counts by its kind's weight and by how rare it is (a token few customers hold says more than
// one thousands hold), so a customer sharing a rare surname and the town outranks one sharing
// only a common first name. Selective tokens are read whole; common ones are checked for the
// best candidates only. When no token is selective (one very common name alone), the first
// holders of the common tokens stand in: any of them answers such a query as well.
func Candidates(ctx context.Context, ix Store, h Hasher, q Query, n int) ([]string, error) {
	tokens := Tokens(h, q.Terms())
	ps, err := ix.SearchPostings(ctx, tokens, Selective, false)
	if err != nil {
		return nil, err
	}
	weight := map[string]float64{}
	var common []int64
	for _, p := range ps {
		if p.More {
			common = append(common, p.Token)
			continue
		}
		add(weight, p.Token, p.IDs, len(p.IDs))
	}
	if len(weight) == 0 && len(common) > 0 {
		if ps, err = ix.SearchPostings(ctx, common, Selective, true); err != nil {
			return nil, err
		}
		for _, p := range ps {
			add(weight, p.Token, p.IDs, Selective+1)
		}
		return best(weight, n), nil
	}
	if len(common) > 0 {
		top := best(weight, 2*n)
		for _, tok := range common {
			held, err := ix.SearchHolders(ctx, tok, top)
			if err != nil {
				return nil, err
			}
			add(weight, tok, held, Selective+1)
		}
	}
	return best(weight, n), nil
}

// add credits each of ids with token's weight, for a token held by df customers.
func add(weight map[string]float64, token int64, ids []string, df int) {
	if df == 0 {
		return
	}
	w := specs[KindOf(token)].weight * math.Log(1+float64(10*Selective)/float64(df))
	for _, id := range ids {
		weight[id] += w
	}
}

type weighed struct {
	id string
	w  float64
}

// best returns the n ids of most weight, heaviest first, ties by id.
func best(weight map[string]float64, n int) []string {
	all := make([]weighed, 0, len(weight))
	for id, w := range weight {
		all = append(all, weighed{id, w})
	}
	order := func(a, b weighed) int {
		if c := cmp.Compare(b.w, a.w); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	}
	if len(all) > 4*n {
		// Keep the candidates above the n-th weight without sorting them all: a common
		// token can bring thousands.
		ws := make([]float64, len(all))
		for i, c := range all {
			ws[i] = c.w
		}
		slices.Sort(ws)
		cut := ws[len(ws)-n]
		all = slices.DeleteFunc(all, func(c weighed) bool { return c.w < cut })
	}
	slices.SortFunc(all, order)
	out := make([]string, 0, min(n, len(all)))
	for _, c := range all[:min(n, len(all))] {
		out = append(out, c.id)
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
