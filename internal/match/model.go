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
// may describe a household, not one person, however strongly it agrees. Unless
// Config.RequireIdentity is off, EM treats such pairs as non-matches (otherwise, in a
// customer base with many households, the "match" class it learns is the household), and
// scoring holds them to the household odds learnt from the data (see Model.score and
// householdOdds), below the merge threshold: merging two members of a family would show
// one person's data to the other, a worse error for a data vault than a missed duplicate.
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
		for _, c := range householdComparisons {
			if l := p.level(c); l == 1 || l == 2 { // exact, or one slip away
				p = p.with(c, Level(len(comparisons[c].levels)))
			}
		}
	}
	return p
}

// termComparisons are the comparisons whose exact agreement is weighed by how common the
// agreed value is in the input (term-frequency adjustment): two records that share a name
// held by one customer in a hundred thousand are far likelier to be one person than two
// that share the commonest name in the country, though both "agree exactly". Names,
// street address and town are the values whose frequencies are skewed enough for it to
// matter; a birth date is spread nearly evenly over the days of some eighty years.
var termComparisons = [numTerms]string{"first_name", "last_name", "address", "city"}

const numTerms = 4

// termIndex maps a comparison to its position in termComparisons, or -1.
var termIndex = func() []int {
	idx := make([]int, len(comparisons))
	for c := range idx {
		idx[c] = -1
	}
	for t, name := range termComparisons {
		idx[comparisonIndex(name)] = t
	}
	return idx
}()

// personalComparisons are the comparisons over what is personal to an individual rather
// than shared by a household: given name, birth date, identifier, e-mail address.
var personalComparisons = func() []int {
	var cs []int
	for c, cmp := range comparisons {
		if slices.ContainsFunc(cmp.levels, func(l levelSpec) bool { return l.identifies }) {
			cs = append(cs, c)
		}
	}
	return cs
}()

// sharesNothingPersonal reports whether no personal comparison of a pattern agrees at a
// level that identifies (see pattern.identifies): the pattern of two relatives. A given
// name or birth date with a typo (close, one edit) still identifies; one that is merely
// alike (similar, two edits) does not, because so are many siblings'.
func (p pattern) sharesNothingPersonal() bool { return !p.identifies() }

// atOneAddress reports whether a pattern's street addresses agree, at least partly.
func (p pattern) atOneAddress() bool {
	l := p.level(addressComparison)
	return l >= 1 && l <= 4 // exact, same words, similar, partial
}

// Positions in comparisons of the address and of what agrees with it in every household:
// the places it implies, the family name and the phone (see impliedByAddress and
// sharedByHousehold). Each ends with the neutral level that comparePair moves it to.
var (
	addressComparison    = comparisonIndex("address")
	householdComparisons = []int{comparisonIndex("city"), comparisonIndex("postal_code"), comparisonIndex("region"),
		comparisonIndex("last_name"), comparisonIndex("phone")}
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
	// HouseholdLog2Odds is the household rule's ceiling: the log2 odds, learnt from the
	// input, that two records at one address that share nothing personal (see
	// householdOdds) are the same person. Such a pair scores at most this much, whatever
	// its address and family name add up to. Guard says whether the rule applies
	// (Config.RequireIdentity).
	HouseholdLog2Odds float64
	Guard             bool

	weights [][]float64
	// termTypical is, per comparison, the typical count of a value (chance.typical), 0
	// for comparisons that are not term-adjusted.
	termTypical []float64
}

// Evidence is the contribution of one comparison to a pair's score, for a reviewer.
type Evidence struct {
	Comparison string
	Level      string
	Weight     float64 // bits; 0 when missing
	// TermFrequency is the part of Weight that comes from how common the agreed value is
	// in the data: negative for a common name, positive for a rare one, 0 when the
	// comparison is not adjusted. It says how rare a value is, never which.
	TermFrequency float64
}

// HouseholdComparison names the evidence line of the household rule: two records at one
// address that share nothing personal are held down to the household odds.
const HouseholdComparison = "household"

// HouseholdLevel is the level of that line.
const HouseholdLevel = "shares_nothing_personal"

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

// Weight returns the posterior log2 odds of a pattern: prior plus evidence, before term
// frequencies and the household rule.
func (m *Model) weight(p pattern) float64 {
	w := m.PriorLog2Odds
	for c := range comparisons {
		w += m.weights[c][p.level(c)]
	}
	return w
}

// termAdjustment is how many bits the term frequencies of a and b add to the weight of
// their pattern p: for every term comparison where they agree exactly on a value that
// count records hold, log2(typical / count). Two strangers agree on a value held by a
// share f of records with probability f², and one person's records agree on it with
// probability m·f, so the evidence of agreeing on it is m / f: it shrinks as the value
// grows common. The exact level's weight is that evidence for a typical value, one whose
// count is the typical count of the input (see chance.typical), so the adjustment is the
// ratio of the two (as Splink's term-frequency adjustment does). Counts include a
// person's own duplicates, which is why the typical count, which includes them too, is
// the reference and not the chance of agreement corrected for matches.
func (m *Model) termAdjustment(a *prepared, p pattern, adj *[numTerms]float64) float64 {
	var sum float64
	for t, c := range termComparisonIndex {
		adj[t] = 0
		if p.level(c) != 1 || a.terms[t] == 0 || m.termTypical[c] == 0 {
			continue
		}
		adj[t] = math.Log2(m.termTypical[c] / float64(a.terms[t]))
		sum += adj[t]
	}
	return sum
}

// termComparisonIndex is termComparisons as positions in comparisons.
var termComparisonIndex = func() (idx [numTerms]int) {
	for t, name := range termComparisons {
		idx[t] = comparisonIndex(name)
	}
	return idx
}()

// score is a pair's final weight: pattern weight, term adjustment, and the household rule
// (see householdOdds), which lowers the weight by household bits (≤ 0). ok is false for a
// pair the guard never reports: nothing personal agrees and they do not even share an
// address, so nothing but a family name or a town says they are one person.
func (m *Model) score(p pattern, terms float64) (w, household float64, ok bool) {
	w = m.weight(p) + terms
	if !m.Guard || !p.sharesNothingPersonal() {
		return w, 0, true
	}
	if !p.atOneAddress() {
		return w, 0, false
	}
	if w > m.HouseholdLog2Odds {
		return m.HouseholdLog2Odds, m.HouseholdLog2Odds - w, true
	}
	return w, 0, true
}

// evidence lists a pair's evidence, comparison by comparison, with the term adjustments
// of its exact agreements and, when the household rule lowered it, one more line that
// says by how much; the weights add up to the pair's weight less the prior.
func (m *Model) evidence(p pattern, adj *[numTerms]float64, household float64) []Evidence {
	ev := make([]Evidence, 0, len(comparisons)+1)
	for c, cmp := range comparisons {
		l := p.level(c)
		e := Evidence{Comparison: cmp.name, Level: cmp.levelName(l), Weight: m.weights[c][l]}
		if t := termIndex[c]; t >= 0 && adj != nil {
			e.TermFrequency = adj[t]
			e.Weight += adj[t]
		}
		ev = append(ev, e)
	}
	if household != 0 {
		ev = append(ev, Evidence{Comparison: HouseholdComparison, Level: HouseholdLevel, Weight: household})
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

// capM holds the m probabilities of comparison c to their caps (levelSpec.maxM), giving
// what a capped level loses to the other evidential levels in proportion, so that they
// still sum to one.
func capM(c int, m []float64) {
	var excess, free float64
	for l := 1; l < len(m); l++ {
		if !evidential(c, Level(l)) {
			continue
		}
		if cp := comparisons[c].levels[l-1].maxM; cp > 0 && m[l] > cp {
			excess += m[l] - cp
			m[l] = cp
		} else if cp == 0 {
			free += m[l]
		}
	}
	if excess == 0 || free == 0 {
		return
	}
	for l := 1; l < len(m); l++ {
		if evidential(c, Level(l)) && comparisons[c].levels[l-1].maxM == 0 {
			m[l] += excess * m[l] / free
		}
	}
}

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
				if evidential(c, Level(l)) {
					mNum[c][l] /= sm
				}
			}
			capM(c, mNum[c])
			for l := 1; l < len(mNum[c]); l++ {
				if !evidential(c, Level(l)) {
					continue
				}
				nm, nu := mNum[c][l], uNum[c][l]/su
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
	mod.termTypical = make([]float64, nc)
	for _, c := range termComparisonIndex {
		if c < len(ch.typical) {
			mod.termTypical[c] = ch.typical[c]
		}
	}
	mod.Guard = requireIdentity
	var relatives float64
	mod.HouseholdLog2Odds, relatives = householdOdds(counts, mod.M)
	mod.finish()
	mod.weighShared(relatives)
	return mod
}

// weighShared gives the shared_by_household levels of family name and phone their weight:
// what agreeing on them says about two records at one address. Two strangers agree on a
// family name by chance with probability u; two relatives almost always do. Among the
// pairs at one address that are not one person, relatives (estimated by householdOdds)
// stand beside the rare unrelated co-residents, counted as one pair, so the chance of
// agreement there is (relatives + u) / (relatives + 1). In a file with no families (Febrl)
// that is u, and the family name counts in full; in a customer base with families it is
// nearly one, and the family name counts for nothing beyond the address.
func (m *Model) weighShared(relatives float64) {
	for _, c := range householdComparisons {
		spec := comparisons[c].levels
		if spec[len(spec)-1].name != sharedByHousehold {
			continue
		}
		// exact and its one-slip neighbour (close, one edit) are what comparePair moves.
		mAgree, uAgree := m.M[c][1]+m.M[c][2], m.U[c][1]+m.U[c][2]
		uShared := (relatives + uAgree) / (relatives + 1)
		m.weights[c][len(spec)] = math.Log2(min(mAgree, 1) / uShared)
	}
}

// householdOdds learns from the candidates how many pairs of relatives live at one
// address, and the household rule's ceiling: how likely two records at one address that
// share nothing personal (no given name, birth date, identifier or e-mail that
// identifies) are to be one person rather than two relatives. Such a pair's address,
// family name and phone agree whether it is one person or a family, so they cannot tell.
//
// Among candidate pairs at one address there are duplicates and relatives. Duplicates
// share nothing personal with probability q, which the fitted m gives: for each personal
// comparison, how often it is missing at these addresses or at a level that does not
// identify; q is the largest of these, because a record typed carelessly is careless in
// several fields at once, so the errors are far from independent. Relatives almost always
// share nothing personal. So from the pairs at one address (total) and those sharing
// nothing personal (none): duplicates ≈ (total − none) / (1 − q), of which q·duplicates
// share nothing personal, and relatives ≈ none − q·duplicates. The odds are q·duplicates
// to relatives. In a file with one record per address apart from duplicates (Febrl),
// relatives ≈ 0 and the odds are high; in a customer base of families they are low. Half
// a pair and one pair of smoothing keep a file where nobody shares an address from saying
// anything: with no pairs the odds are 1 to 2.
func householdOdds(counts []patternCount, m [][]float64) (log2Odds, relatives float64) {
	var total, none float64
	missing := make([]float64, len(comparisons))
	for _, pc := range counts {
		if !pc.p.atOneAddress() {
			continue
		}
		total += pc.n
		if pc.p.sharesNothingPersonal() {
			none += pc.n
		}
		for _, c := range personalComparisons {
			if pc.p.level(c) == Missing {
				missing[c] += pc.n
			}
		}
	}
	q := 1.0
	for _, c := range personalComparisons {
		miss := 1.0
		if total > 0 {
			miss = missing[c] / total
		}
		var off float64 // m of the levels that do not identify
		for l, spec := range comparisons[c].levels {
			if !spec.identifies && !spec.neutral {
				off += m[c][l+1]
			}
		}
		q = min(q, miss+(1-miss)*off)
	}
	duplicates := (total - none) / max(1-q, 1e-9)
	relatives = max(none-q*duplicates, 0)
	return math.Log2((q*duplicates + 0.5) / (relatives + 1)), relatives
}
