package search

import (
	"math"
	"sort"
)

// MaxPostings bounds how many customers one token brings to a search. A token shared by
// more (a very common name at a million customers) still counts, weakly, for the customers
// read; the other words of the query find the rest.
const MaxPostings = 10_000

// Posting is the customers an engine holds under one token, up to MaxPostings.
type Posting struct {
	Token int64
	IDs   []string
}

// Candidates ranks the customers of postings by the evidence their tokens give and returns
// the best n ids: each token counts by its kind's weight and by how rare it is (a token few
// customers hold says more than one thousands hold), so a customer sharing a rare surname and
// the town outranks one sharing only a common first name.
func Candidates(postings []Posting, n int) []string {
	weight := map[string]float64{}
	for _, p := range postings {
		if len(p.IDs) == 0 {
			continue
		}
		w := specs[KindOf(p.Token)].weight * math.Log(1+float64(MaxPostings)/float64(len(p.IDs)))
		for _, id := range p.IDs {
			weight[id] += w
		}
	}
	ids := make([]string, 0, len(weight))
	for id := range weight {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if weight[ids[i]] != weight[ids[j]] {
			return weight[ids[i]] > weight[ids[j]]
		}
		return ids[i] < ids[j]
	})
	if len(ids) > n {
		ids = ids[:n]
	}
	return ids
}

// CandidatesFor is how many candidates a search for n results opens and scores: enough that
// the best-scoring customer is nearly always among them, few enough that opening them stays
// within a few milliseconds.
func CandidatesFor(n int) int { return min(max(4*n, 100), 400) }

// RankScored orders ids by score, best first, ties by their order in ids (the candidate
// ranking), and keeps the first n with a score above zero.
func RankScored(ids []string, scores map[string]float64, n int) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if scores[id] > 0 {
			out = append(out, id)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return scores[out[i]] > scores[out[j]] })
	if len(out) > n {
		out = out[:n]
	}
	return out
}
