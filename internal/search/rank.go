package search

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/stewardhq/steward/internal/match"
)

// Selective is how many holders of a token a search reads at most, when nothing rarer is
// asked for: a very common name alone at millions of customers is answered from its first
// holders, any of whom answers it as well.
const Selective = 10_000

// readBudget bounds how many holders the tokens read whole may have together: the rarest
// tokens are read, rarest first, until the next would pass the budget, and the others (a
// common first name, a big town, the fuzzy tokens standing for many names) are only probed for
// the customers read. What a search costs then depends on how selective the query is, not on
// how many customers there are.
const readBudget = 3000

// fuzzyRead is how many holders a fuzzy token (a Soundex code, which stands for many names) may have and still be read: in a small customer base every fuzzy token is, so
// that a misspelt or half-typed name alone finds its customers; in a large one they only weigh
// the customers the exact tokens found.
const fuzzyRead = 500

// Weighed is a candidate with the evidence its tokens give.
type Weighed struct {
	ID     string
	Weight float64
}

// Weight is a token with the evidence it gives.
type Weight struct {
	Token  int64
	Weight float64
}

// Store is what finding candidates needs from an engine.
type Store interface {
	// SearchCounts returns how many customers hold each token, counting no further than
	// max+1.
	SearchCounts(ctx context.Context, tokens []int64, max int) ([]int, error)
	// SearchTop returns the n customers with the greatest sum of the weights of the tokens
	// they hold, heaviest first (ties by id), among the holders of the read tokens (at most
	// perToken of each): the probed tokens add their weight to those holders only.
	SearchTop(ctx context.Context, read, probe []Weight, perToken, n int) ([]Weighed, error)
}

// Candidates finds the n customers whose tokens give the most evidence for q: each shared token
// counts by its kind's weight and by how rare it is (a token few customers hold says more than
// one thousands hold), so a customer sharing a rare surname and the town outranks one sharing
// only a common first name. The candidates are the holders of the rarest tokens (see
// readBudget); the other tokens add their weight to them.
func Candidates(ctx context.Context, st Store, h Hasher, q Query, n int) ([]string, error) {
	tokens := Tokens(h, q.Terms())
	counts, err := st.SearchCounts(ctx, tokens, Selective)
	if err != nil {
		return nil, err
	}
	count := make(map[int64]int, len(tokens))
	for i, tok := range tokens {
		count[tok] = counts[i]
	}
	// A word found as a name needs no fuzzy expansion where that would be costly: its exact
	// token carries it, and a broad Soundex token would only add candidates.
	skip := map[int64]bool{}
	for _, w := range q.Words {
		if count[Token(h, Term{KindName, w})] == 0 {
			continue
		}
		if tok := Token(h, Term{KindNameSound, match.Soundex(w)}); count[tok] > fuzzyRead {
			skip[tok] = true
		}
	}
	order := make([]int, 0, len(tokens))
	for i, tok := range tokens {
		if counts[i] > 0 && !skip[tok] {
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(counts[a], counts[b]) })
	var read, probe []Weight
	budget := readBudget
	for _, i := range order {
		tok, c := tokens[i], counts[i]
		w := Weight{tok, weigh(tok, c)}
		if KindOf(tok) == KindPhone4 && q.Digits != "" {
			// Digits typed as a phone number are read as its ending first: the same digits
			// as a postal code or number share a bucket with unrelated values, whose rarity
			// would otherwise push the customers with that ending out of the candidates.
			w.Weight *= 4
		}
		fuzzy := KindOf(tok) == KindNameSound
		if len(read) == 0 && !fuzzy || c <= budget && (!fuzzy || c <= fuzzyRead) {
			read = append(read, w)
			budget -= c
		} else {
			probe = append(probe, w)
		}
	}
	if len(read) == 0 {
		// Only fuzzy tokens, all of them broad: the rarest stands in.
		read, probe = probe[:1], probe[1:]
	}
	top, err := st.SearchTop(ctx, read, probe, Selective, n)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(top))
	for i, c := range top {
		out[i] = c.ID
	}
	return out, nil
}

// weigh is the evidence a token held by df customers gives: its kind's weight, more the
// rarer it is.
func weigh(token int64, df int) float64 {
	return specs[KindOf(token)].weight * math.Log(1+float64(Selective)/float64(df))
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
