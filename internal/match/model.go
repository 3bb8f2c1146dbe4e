package match

import (
	"cmp"
	"math"
	"slices"
)

// pattern packs the levels of every comparison of one pair, four bits each. Pairs with
// the same pattern are indistinguishable to the model, so estimation runs over distinct
// patterns and their counts (a few thousand) instead of over every candidate pair.
type pattern uint64

const levelBits = 4

func init() {
	if len(comparisons)*levelBits > 64 {
		panic("match: too many comparisons for a pattern")
	}
	for _, c := range comparisons {
		if len(c.levels) >= 1<<levelBits {
			panic("match: too many levels in comparison " + c.name)
		}
	}
}

const levelMask = 1<<levelBits - 1

func (p pattern) level(c int) Level {
	return Level(p >> (c * levelBits) & levelMask)
}

func (p pattern) with(c int, l Level) pattern {
	return p&^(levelMask<<(c*levelBits)) | pattern(l)<<(c*levelBits)
}

// identifies reports whether a pattern agrees on anything personal to the individual:
// given name, birth date, identifier or email address. Relatives living together share
// family name, address, phone and often a landline; a pair that agrees on those alone
// describes a household, not one person, however strongly it agrees. Unless
// Config.RequireIdentity is off, such pairs are never matches: EM treats them as
// non-matches (otherwise, in a customer base with many households, the "match" class it
// learns is the household) and they are never reported. Merging two members of a family
// would show one person's data to the other, a worse error for a data vault than a
// missed duplicate.
func (p pattern) identifies() bool {
	for c, cmp := range comparisons {
		if l := p.level(c); l != Missing && cmp.levels[l-1].identifies {
			return true
		}
	}
	return false
}

// evidential reports whether level l of comparison c carries evidence: it is neither
// missing nor neutral.
func evidential(c int, l Level) bool {
	return l != Missing && !comparisons[c].levels[l-1].neutral
}

func comparePair(a, b *prepared) pattern {
	var p pattern
	for c, cmp := range comparisons {
		p |= pattern(cmp.compare(a, b)) << (c * levelBits)
	}
	if l := p.level(addressComparison); l >= 1 && l <= 3 { // exact, same words or similar
		for _, c := range placeComparisons {
			if l := p.level(c); l == 1 || l == 2 { // exact, or one slip away
				p = p.with(c, Level(len(comparisons[c].levels)))
			}
		}
	}
	return p
}

// Positions in comparisons of the address and of the places it implies.
var (
	addressComparison = comparisonIndex("address")
	placeComparisons  = []int{comparisonIndex("city"), comparisonIndex("postal_code"), comparisonIndex("region")}
)

func comparisonIndex(name string) int {
	for c, cmp := range comparisons {
		if cmp.name == name {
			return c
		}
	}
	panic("match: no comparison " + name)
}

// Model holds the Fellegi–Sunter parameters: for every comparison and level, m (the
// chance of that level when the two records are the same person) and u (the chance when
// they are not). A level's weight is log2(m/u): how many times more likely, in bits, the
// observation is under "same person". A pair's score adds the weights of its levels to
// the prior odds, assuming the comparisons independent given the match status.
type Model struct {
	// M and U are indexed by comparison and then by level; index 0 (missing) is unused.
	M, U [][]float64
	// Lambda is the estimated share of true matches among the candidate pairs.
	Lambda float64
	// PriorLog2Odds is log2 of the odds that two records drawn at random are the same
	// person: the estimated number of matching pairs over the number of all pairs.
	PriorLog2Odds float64
	// Iterations and Converged report the EM run.
	Iterations int
	Converged  bool

	weights [][]float64
}

// Evidence is the contribution of one comparison to a pair's score, for a reviewer.
type Evidence struct {
	Comparison string
	Level      string
	Weight     float64 // log2(m/u) in bits; 0 when missing
}

func (m *Model) finish() {
	m.weights = make([][]float64, len(comparisons))
	for c := range comparisons {
		m.weights[c] = make([]float64, len(m.M[c]))
		for l := 1; l < len(m.M[c]); l++ {
			if evidential(c, Level(l)) {
				m.weights[c][l] = math.Log2(m.M[c][l] / m.U[c][l])
			}
		}
	}
}

// Weight returns the posterior log2 odds of a pattern: prior plus evidence.
func (m *Model) weight(p pattern) float64 {
	w := m.PriorLog2Odds
	for c := range comparisons {
		w += m.weights[c][p.level(c)]
	}
	return w
}

func (m *Model) evidence(p pattern) []Evidence {
	ev := make([]Evidence, 0, len(comparisons))
	for c, cmp := range comparisons {
		l := p.level(c)
		ev = append(ev, Evidence{Comparison: cmp.name, Level: cmp.levelName(l), Weight: m.weights[c][l]})
	}
	return ev
}

// LevelWeight returns the weight in bits of one level of a named comparison, and false
// when there is no such comparison or level. It lets tools print the model.
func (m *Model) LevelWeight(comparison, level string) (float64, bool) {
	for c, cmp := range comparisons {
		if cmp.name != comparison {
			continue
		}
		for l := range cmp.levels {
			if cmp.levels[l].name == level {
				return m.weights[c][l+1], true
			}
		}
	}
	return 0, false
}

// Probability turns posterior log2 odds into a probability.
func Probability(log2Odds float64) float64 {
	return 1 / (1 + math.Exp2(-log2Odds))
}

// patternCount is one distinct pattern and how many candidate pairs showed it.
type patternCount struct {
	p pattern
	n float64
}

// emPrior is the strength, in pseudo-pairs per comparison, of the level priors in the
// EM updates. It is small next to any real input (thousands of candidate pairs), so the
// data decide; it only keeps a level that almost no pair visits from taking an extreme
// probability.
const emPrior = 10.0

// estimate fits the model by expectation–maximisation over the candidate pairs' patterns.
//
// The candidates are a mixture of matches and non-matches; EM alternates between the
// chance that each pattern is a match (E step) and the m, u and λ that best explain those
// chances (M step), and never needs labelled pairs. It starts from the level priors for m
// and from randomU, the level frequencies among random pairs of the input, for u.
//
// Only m and λ are kept from EM. The non-matches among candidates agree far more than
// random pairs do, because blocking picked them for sharing a key, so their u describes
// the blocking and not the population. Final weights use the chance agreement of random
// pairs instead (corrected for the matches EM found), with the prior odds of a random
// pair, so that a pair's score does not depend on which block found it.
func estimate(counts []patternCount, ch *chance, maxIter int, tol float64, requireIdentity bool) *Model {
	randomU := ch.u(0, nil)
	slices.SortFunc(counts, func(a, b patternCount) int { return cmp.Compare(a.p, b.p) })
	nc := len(comparisons)
	mod := &Model{M: make([][]float64, nc), U: make([][]float64, nc)}
	uc := make([][]float64, nc) // u among candidates: a nuisance parameter of the fit
	for c, cmp := range comparisons {
		mod.M[c] = make([]float64, len(cmp.levels)+1)
		uc[c] = slices.Clone(randomU[c])
		var sum float64
		for _, spec := range cmp.levels {
			if !spec.neutral {
				sum += spec.prior
			}
		}
		for l, spec := range cmp.levels {
			if !spec.neutral {
				mod.M[c][l+1] = spec.prior / sum
			}
		}
	}
	var total float64
	for _, pc := range counts {
		total += pc.n
	}
	lambda := 0.1
	if total == 0 {
		// Nothing shares a blocking key, so nothing can be reported: the priors stand,
		// which still lets a pair be scored and explained.
		maxIter, lambda = 0, 0
		mod.Converged = true
	}
	mNum := make([][]float64, nc)
	uNum := make([][]float64, nc)
	for c := range comparisons {
		mNum[c] = make([]float64, len(mod.M[c]))
		uNum[c] = make([]float64, len(mod.M[c]))
	}
	lm := make([][]float64, nc)
	lu := make([][]float64, nc)
	for c := range comparisons {
		lm[c] = make([]float64, len(mod.M[c]))
		lu[c] = make([]float64, len(mod.M[c]))
	}
	for it := 1; it <= maxIter; it++ {
		for c := range comparisons {
			clear(mNum[c])
			clear(uNum[c])
			for l := 1; l < len(lm[c]); l++ {
				lm[c][l] = math.Log(mod.M[c][l])
				lu[c][l] = math.Log(uc[c][l])
			}
		}
		var sumG float64
		for _, pc := range counts {
			a, b := math.Log(lambda), math.Log(1-lambda)
			for c := range comparisons {
				if l := pc.p.level(c); evidential(c, l) {
					a += lm[c][l]
					b += lu[c][l]
				}
			}
			g := 1 / (1 + math.Exp(b-a))
			if requireIdentity && !pc.p.identifies() {
				g = 0
			}
			sumG += pc.n * g
			for c := range comparisons {
				if l := pc.p.level(c); evidential(c, l) {
					mNum[c][l] += pc.n * g
					uNum[c][l] += pc.n * (1 - g)
				}
			}
		}
		change := math.Abs(sumG/total - lambda)
		lambda = min(max(sumG/total, 1e-9), 1-1e-9)
		for c, cmp := range comparisons {
			var sm, su float64
			for l := 1; l < len(mNum[c]); l++ {
				if !evidential(c, Level(l)) {
					continue
				}
				mNum[c][l] += emPrior * cmp.levels[l-1].prior
				uNum[c][l] += emPrior * randomU[c][l]
				sm += mNum[c][l]
				su += uNum[c][l]
			}
			for l := 1; l < len(mNum[c]); l++ {
				if !evidential(c, Level(l)) {
					continue
				}
				nm, nu := mNum[c][l]/sm, uNum[c][l]/su
				change = max(change, math.Abs(nm-mod.M[c][l]), math.Abs(nu-uc[c][l]))
				mod.M[c][l], uc[c][l] = nm, nu
			}
		}
		mod.Iterations = it
		if change < tol {
			mod.Converged = true
			break
		}
	}
	mod.Lambda = lambda
	matches := lambda * total
	mod.U = ch.u(matches, mod.M)
	mod.PriorLog2Odds = math.Log2(max(matches, 1) / max(ch.allPairs-matches, 1))
	mod.finish()
	return mod
}
