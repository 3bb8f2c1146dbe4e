package match

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// simulate draws candidate-pair patterns from a known mixture: a share lambda of matches
// with level probabilities m, the rest non-matches with level probabilities u. Levels of
// comparisons not listed are Missing.
func simulate(rng *rand.Rand, pairs int, lambda float64, m, u map[int][]float64) []patternCount {
	counts := map[pattern]float64{}
	draw := func(probs []float64) Level {
		x := rng.Float64()
		for l, p := range probs {
			if x < p {
				return Level(l + 1)
			}
			x -= p
		}
		return Level(len(probs))
	}
	for range pairs {
		probs := u
		if rng.Float64() < lambda {
			probs = m
		}
		var p pattern
		for c, pr := range probs {
			p |= pattern(draw(pr)) << (c * levelBits)
		}
		counts[p]++
	}
	var out []patternCount
	for p, n := range counts {
		out = append(out, patternCount{p, n})
	}
	return out
}

// chanceFrom builds chance measurements that give u for the listed comparisons.
func chanceFrom(u map[int][]float64, allPairs float64) *chance {
	ch := &chance{allPairs: allPairs, present: make([]float64, len(comparisons)), agree: make([]float64, len(comparisons)), levels: make([][]float64, len(comparisons))}
	for c := range comparisons {
		ch.levels[c] = make([]float64, len(comparisons[c].levels)+1)
		probs, ok := u[c]
		if !ok {
			continue
		}
		ch.present[c] = allPairs
		ch.agree[c] = probs[0] * allPairs
		for l := 1; l < len(probs); l++ {
			ch.levels[c][l+1] = probs[l] * 1e6
		}
	}
	return ch
}

func TestEMRecoversParameters(t *testing.T) {
	// Three comparisons: first name (6 levels, transposed for last name is neutral and
	// unused here), birth date (5 levels), postal code (3 levels).
	const fn, bd, pc = 0, 2, 5
	m := map[int][]float64{
		fn: {0.70, 0.15, 0.00, 0.05, 0.00, 0.10},
		bd: {0.85, 0.08, 0.00, 0.02, 0.05},
		pc: {0.80, 0.12, 0.08},
	}
	// Non-matches among candidates agree more than strangers do (blocking chose them),
	// so the EM must not rely on the chance figures it starts from.
	uCand := map[int][]float64{
		fn: {0.10, 0.05, 0.00, 0.10, 0.00, 0.75},
		bd: {0.05, 0.05, 0.00, 0.10, 0.80},
		pc: {0.30, 0.20, 0.50},
	}
	uChance := map[int][]float64{
		fn: {0.004, 0.001, 0.00, 0.005, 0.00, 0.99},
		bd: {0.0001, 0.001, 0.00, 0.01, 0.9889},
		pc: {0.001, 0.01, 0.989},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const lambda, pairs = 0.2, 50_000
	counts := simulate(rng, pairs, lambda, m, uCand)
	mod := estimate(counts, chanceFrom(uChance, 1e8), 500, 1e-8, false)
	if !mod.Converged || mod.Iterations >= 500 {
		t.Fatalf("EM did not converge: %d iterations", mod.Iterations)
	}
	if math.Abs(mod.Lambda-lambda) > 0.01 {
		t.Errorf("lambda: got %.4f, want %.2f", mod.Lambda, lambda)
	}
	for c, probs := range m {
		for l, want := range probs {
			if comparisons[c].levels[l].neutral {
				continue
			}
			if got := mod.M[c][l+1]; math.Abs(got-want) > 0.02 {
				t.Errorf("m[%s][%s]: got %.3f, want %.2f", comparisons[c].name, comparisons[c].levels[l].name, got, want)
			}
		}
	}
	// The final weights use chance agreement, and the prior is the share of matches
	// among all pairs of the input.
	if w, _ := mod.LevelWeight("postal_code", "exact"); w < 9 || w > 10.5 {
		t.Errorf("postal_code exact weight %.2f, want about log2(0.8/0.001) = 9.6", w)
	}
	wantPrior := math.Log2(lambda * pairs / (1e8 - lambda*pairs))
	if math.Abs(mod.PriorLog2Odds-wantPrior) > 0.1 {
		t.Errorf("prior log2 odds %.2f, want %.2f", mod.PriorLog2Odds, wantPrior)
	}
}

func TestEMWithoutCandidates(t *testing.T) {
	mod := estimate(nil, chanceFrom(nil, 10), 10, 1e-6, true)
	if mod.Lambda != 0 || mod.Iterations != 0 {
		t.Fatalf("got %+v, want the priors and no matches", mod)
	}
	if w, ok := mod.LevelWeight("first_name", "exact"); !ok || w <= 0 {
		t.Errorf("first_name exact weighs %v (%v), want the prior's positive weight", w, ok)
	}
}

// TestChanceDiscountsMatches checks that exact agreement owed to the duplicates
// themselves is not taken for chance.
func TestChanceDiscountsMatches(t *testing.T) {
	ch := chanceFrom(map[int][]float64{2: {0.0002, 0.001, 0, 0.01, 0.9888}}, 1e7)
	m := make([][]float64, len(comparisons))
	for c := range m {
		m[c] = make([]float64, len(comparisons[c].levels)+1)
	}
	m[2][1] = 0.9
	raw, corrected := ch.u(0, nil)[2][1], ch.u(1000, m)[2][1]
	// 2,000 agreeing pairs, 900 of them expected from 1,000 matches: 1,100 by chance.
	if math.Abs(raw-2e-4) > 1e-6 || math.Abs(corrected-1.1e-4) > 1e-6 {
		t.Errorf("u exact: raw %.3g corrected %.3g, want 2e-4 and 1.1e-4", raw, corrected)
	}
}

// TestDisagreementIsNeverFree: however the fit goes, a true duplicate is not allowed to
// disagree outright on a birth date more than one time in ten, so a different birth date
// always costs at least log2(0.1/u) bits; what the capped level gives up goes to the
// other levels in proportion.
func TestDisagreementIsNeverFree(t *testing.T) {
	c := comparisonIndex("birth_date")
	different := len(comparisons[c].levels)
	m := []float64{0, 0.30, 0.10, 0.05, 0.05, 0.50}
	capM(c, m)
	if m[different] != 0.10 {
		t.Errorf("different: got %.3f, want the cap 0.10", m[different])
	}
	var sum float64
	for _, v := range m[1:] {
		sum += v
	}
	if math.Abs(sum-1) > 1e-12 || math.Abs(m[1]/m[2]-3) > 1e-12 {
		t.Errorf("after the cap: got %v (sum %.6f), want the rest scaled alike to sum to 1", m, sum)
	}
	// A level under its cap is left alone.
	m = []float64{0, 0.80, 0.07, 0.01, 0.08, 0.04}
	want := slices.Clone(m)
	capM(c, m)
	if !slices.Equal(m, want) {
		t.Errorf("under the cap: got %v, want %v", m, want)
	}
}
