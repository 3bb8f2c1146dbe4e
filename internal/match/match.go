package match

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Config holds the matcher's settings. The defaults are meant to be used as they are on
// any input: the model learns its weights from the data, so nothing here is tuned to a
// particular data set.
type Config struct {
	// ReviewThreshold is the match probability from which a pair is reported at all: from
	// here to MergeThreshold a person should look at it. 0.5 is where "same person"
	// becomes more likely than not.
	ReviewThreshold float64
	// MergeThreshold is the match probability from which a pair is safe to merge without
	// review.
	MergeThreshold float64
	// MaxBlockSize is the largest block whose records are all paired with each other.
	// Larger blocks pair each record only with its Window neighbours in name order.
	MaxBlockSize int
	Window       int
	// RandomPairs is how many random pairs are compared to learn how often unrelated
	// people agree by chance (the u probabilities). Inputs with fewer pairs in all are
	// compared exhaustively.
	RandomPairs int
	// MaxIterations and Tolerance bound the EM fit.
	MaxIterations int
	Tolerance     float64
	// DefaultRegion reads phone numbers written without a country code (ISO 3166 code).
	DefaultRegion string
	// Workers is the number of goroutines comparing pairs; 0 means one per CPU.
	Workers int
	// Seed makes the random pair sample, and so the whole run, reproducible.
	Seed uint64
	// RequireIdentity turns on the household rule: a pair that shares nothing personal to
	// an individual (given name, birth date, identifier or email address all missing or
	// different) scores at most the household odds learnt from the input when the two
	// live at one address, and is never reported otherwise; and such pairs do not teach
	// the model what a match looks like. See householdOdds.
	RequireIdentity bool
	// LinkClusters compares the pairs inside merge-grade clusters that blocking missed:
	// when a–b and b–c are both at or above MergeThreshold, a–c is compared directly and
	// reported if it scores at or above ReviewThreshold (see linkClusters). Clusters
	// larger than MaxClusterSize are left as they are, for a person to look at.
	LinkClusters   bool
	MaxClusterSize int
	// Terms, when set, gives the term frequencies of a population larger than the records
	// a run is given. The server scores only the customers that share a blocking key with
	// someone, and how common a surname is must be counted over every customer, not over
	// those; nil counts them over the records given.
	Terms TermFrequencies
}

// TermFrequencies is how common the values of the term-adjusted comparisons (given name,
// family name, address, town) are in a population. A value is named as TermKeys names it.
type TermFrequencies interface {
	// Count returns how many records of the population hold the value; 0 when unknown.
	Count(k Key) int
	// Typical returns, for a comparison named as Key.Rule, how many records share the
	// value of a record drawn at random: Σ count² / Σ count over its values.
	Typical(comparison string) float64
}

// DefaultConfig returns the settings Steward uses unless told otherwise.
func DefaultConfig() Config {
	return Config{
		ReviewThreshold: 0.5,
		MergeThreshold:  0.99,
		MaxBlockSize:    100,
		Window:          20,
		RandomPairs:     200_000,
		MaxIterations:   200,
		Tolerance:       1e-6,
		Seed:            1,
		RequireIdentity: true,
		LinkClusters:    true,
		MaxClusterSize:  20,
	}
}

// Validate reports the first setting that makes no sense.
func (c Config) Validate() error {
	switch {
	case !(c.ReviewThreshold > 0 && c.ReviewThreshold < 1):
		return fmt.Errorf("review threshold must be between 0 and 1 (exclusive)")
	case !(c.MergeThreshold > 0 && c.MergeThreshold < 1):
		return fmt.Errorf("merge threshold must be between 0 and 1 (exclusive)")
	case c.MaxBlockSize < 2:
		return fmt.Errorf("max block size must be at least 2")
	case c.Window < 1:
		return fmt.Errorf("window must be at least 1")
	case c.RandomPairs < 1000:
		return fmt.Errorf("random pairs must be at least 1000")
	case c.MaxIterations < 1:
		return fmt.Errorf("max iterations must be at least 1")
	case c.LinkClusters && c.MaxClusterSize < 3:
		return fmt.Errorf("max cluster size must be at least 3")
	case c.Workers < 0:
		return fmt.Errorf("workers must not be negative")
	}
	return nil
}

// Decision is what the matcher advises for a pair.
type Decision string

// The two decisions a reported pair can carry.
const (
	Merge  Decision = "merge"
	Review Decision = "review"
)

// Pair is two records judged likely to be the same person, A before B in input order.
type Pair struct {
	A, B int // positions in the input
	// Weight is the posterior log2 odds of a match; Probability the same as a probability.
	Weight      float64
	Probability float64
	Decision    Decision
	// FromCluster marks a pair that blocking did not propose but that was compared
	// because both records belong to one merge-grade cluster (see linkClusters).
	FromCluster bool
	Evidence    []Evidence
}

// Stats describes a run, for progress reports and capacity planning.
type Stats struct {
	Records         int
	Blocks          int
	OversizedBlocks int // blocks windowed because they exceeded MaxBlockSize
	LargestBlock    int
	CandidatePairs  int64
	Patterns        int // distinct agreement patterns among candidates
	RandomPairs     int
}

// Result is the outcome of a run: the pairs at or above the review threshold, sorted by
// A then B, and the model that scored them.
type Result struct {
	Pairs []Pair
	Model *Model
	Stats Stats
}

// ErrTooFewRecords is returned when there is nothing to match.
var ErrTooFewRecords = errors.New("at least two records are needed to match")

// Run finds the duplicates among records: normalise, block, compare every candidate pair,
// fit the model to the candidates, score them and keep those at or above the review
// threshold. It is deterministic for a given input and Config.
func Run(ctx context.Context, records []Record, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(records) < 2 {
		return nil, ErrTooFewRecords
	}
	if uint64(len(records)) >= math.MaxUint32 {
		return nil, fmt.Errorf("too many records: at most %d", math.MaxUint32-1)
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	recs := make([]prepared, len(records))
	parallelWorkers(workers, len(records), recordChunk, func(next func() (int, int, bool)) {
		for lo, hi, ok := next(); ok; lo, hi, ok = next() {
			for i := lo; i < hi; i++ {
				recs[i] = prepare(Normalize(records[i], cfg.DefaultRegion))
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return runPrepared(ctx, recs, cfg, workers)
}

func runPrepared(ctx context.Context, recs []prepared, cfg Config, workers int) (*Result, error) {
	res := &Result{Stats: Stats{Records: len(recs)}}
	idx := buildIndex(recs, cfg.MaxBlockSize, cfg.Window, workers)
	res.Stats.Blocks, res.Stats.OversizedBlocks, res.Stats.LargestBlock = idx.blockStats()

	counts, stored, candidates, err := countPatterns(ctx, recs, idx, workers)
	if err != nil {
		return nil, err
	}
	res.Stats.CandidatePairs = candidates
	res.Stats.Patterns = len(counts)

	ch := measureChance(recs, cfg.RandomPairs, cfg.Seed, workers)
	if cfg.Terms != nil {
		useTerms(recs, ch, cfg.Terms, workers)
	}
	res.Stats.RandomPairs = ch.sampled
	model := estimate(counts, ch, cfg.MaxIterations, cfg.Tolerance, cfg.RequireIdentity)
	// A pair that shares nothing personal is never merged without a person, however
	// sure the household odds are: its ceiling stays a bit below the merge threshold.
	model.HouseholdLog2Odds = min(model.HouseholdLog2Odds, math.Log2(cfg.MergeThreshold/(1-cfg.MergeThreshold))-1)
	res.Model = model

	pairs, err := scorePairs(ctx, recs, idx, stored, model, cfg, workers)
	if err != nil {
		return nil, err
	}
	if cfg.LinkClusters {
		pairs = linkClusters(recs, model, pairs, cfg)
	} else {
		pairs = slices.DeleteFunc(pairs, func(p Pair) bool { return p.Probability < cfg.ReviewThreshold })
	}
	res.Pairs = pairs
	return res, nil
}

// recordChunk is how many records a worker takes at a time: enough to make the hand-off
// negligible, few enough to keep both cores busy to the end.
const recordChunk = 256

// countPatterns compares every candidate pair once and counts the distinct patterns. It
// also keeps each pair's pattern, chunk by chunk in candidate order, so that scoring can
// walk the candidates again without comparing anything: 8 bytes a pair is cheaper than
// comparing twice, and at a million records fits the memory budget with room to spare.
func countPatterns(ctx context.Context, recs []prepared, idx *blockIndex, workers int) ([]patternCount, [][]pattern, int64, error) {
	var mu sync.Mutex
	total := map[pattern]float64{}
	stored := make([][]pattern, (len(recs)+recordChunk-1)/recordChunk)
	var candidates atomic.Int64
	parallelWorkers(workers, len(recs), recordChunk, func(next func() (int, int, bool)) {
		local := map[pattern]float64{}
		var js []uint32
		var n int64
		for lo, hi, ok := next(); ok && ctx.Err() == nil; lo, hi, ok = next() {
			var ps []pattern
			for i := lo; i < hi; i++ {
				js = idx.candidates(uint32(i), js)
				for _, j := range js {
					p := comparePair(&recs[i], &recs[j])
					local[p]++
					ps = append(ps, p)
				}
				n += int64(len(js))
			}
			stored[lo/recordChunk] = slices.Clip(ps)
		}
		candidates.Add(n)
		mu.Lock()
		for p, c := range local {
			total[p] += c
		}
		mu.Unlock()
	})
	if err := ctx.Err(); err != nil {
		return nil, nil, 0, err
	}
	counts := make([]patternCount, 0, len(total))
	for p, c := range total {
		counts = append(counts, patternCount{p, c})
	}
	return counts, stored, candidates.Load(), nil
}

// parallelWorkers runs workers goroutines that each pull chunks of [0, n) through next
// until none are left, so each worker can keep its own state across chunks.
func parallelWorkers(workers, n, chunk int, work func(next func() (lo, hi int, ok bool))) {
	var cursor atomic.Int64
	next := func() (int, int, bool) {
		lo := int(cursor.Add(int64(chunk))) - chunk
		if lo >= n {
			return 0, 0, false
		}
		return lo, min(lo+chunk, n), true
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { work(next) })
	}
	wg.Wait()
}

// chance measures how often unrelated records agree by chance, the raw material of the u
// probabilities. Random pairs of a real customer base are almost never the same person, so
// their level frequencies are the chance agreement the model must discount.
//
// Exact agreement is counted, not sampled: from the frequency of every value, the number
// of pairs that share one is exact, and it is the level whose weight matters most (a
// shared birth date among thousands of records is rare, and a sample would see it a
// handful of times). The other levels are measured on a sample of pairs that do not agree
// exactly.
type chance struct {
	allPairs float64
	present  []float64   // per comparison: pairs where both records have a value
	agree    []float64   // per comparison: pairs whose values are equal
	levels   [][]float64 // per comparison and level: sampled pairs, exact level excluded
	// typical is, per comparison, how many records share the value of a record drawn at
	// random (Σ count² / Σ count): the frequency at which agreement weighs what the
	// model's exact level says, below which it weighs more and above which less.
	typical []float64
	sampled int
}

func measureChance(recs []prepared, samples int, seed uint64, workers int) *chance {
	n := len(recs)
	nc := len(comparisons)
	ch := &chance{
		allPairs: float64(n) * float64(n-1) / 2,
		present:  make([]float64, nc),
		agree:    make([]float64, nc),
		levels:   make([][]float64, nc),
		typical:  make([]float64, nc),
	}
	parallelWorkers(workers, nc, 1, func(next func() (int, int, bool)) {
		type valueOf struct {
			hash uint64
			rec  uint32
		}
		var values []valueOf
		for lo, hi, ok := next(); ok; lo, hi, ok = next() {
			for c := lo; c < hi; c++ {
				values = values[:0]
				for i := range recs {
					if v := comparisons[c].value(&recs[i]); v != "" {
						values = append(values, valueOf{keyHash(Key{Value: v}), uint32(i)})
					}
				}
				slices.SortFunc(values, func(a, b valueOf) int { return cmp.Compare(a.hash, b.hash) })
				term := termIndex[c]
				var agree, sizeBiased float64
				for i := 0; i < len(values); {
					j := i + 1
					for j < len(values) && values[j].hash == values[i].hash {
						j++
					}
					run := float64(j - i)
					agree += run * (run - 1) / 2
					sizeBiased += run * run
					if term >= 0 {
						// Each comparison writes its own slot of every record, so
						// workers never write the same word.
						for _, v := range values[i:j] {
							recs[v.rec].terms[term] = uint32(j - i)
						}
					}
					i = j
				}
				k := float64(len(values))
				ch.present[c], ch.agree[c] = k*(k-1)/2, agree
				if k > 0 {
					ch.typical[c] = sizeBiased / k
				}
			}
		}
	})

	allPairs := n * (n - 1) / 2
	exhaustive := n < 1<<20 && allPairs <= samples
	if exhaustive {
		samples = allPairs
	}
	ch.sampled = samples
	for c := range comparisons {
		ch.levels[c] = make([]float64, len(comparisons[c].levels)+1)
	}
	var mu sync.Mutex
	const chunk = 4096
	chunks := (samples + chunk - 1) / chunk
	parallelWorkers(workers, chunks, 1, func(next func() (int, int, bool)) {
		local := make([][]float64, nc)
		for c := range comparisons {
			local[c] = make([]float64, len(comparisons[c].levels)+1)
		}
		for lo, hi, ok := next(); ok; lo, hi, ok = next() {
			for k := lo; k < hi; k++ {
				// Each chunk has its own stream, so the sample does not depend on how
				// chunks are shared among workers.
				rng := rand.New(rand.NewPCG(seed, uint64(k)))
				for s := k * chunk; s < min((k+1)*chunk, samples); s++ {
					var i, j int
					if exhaustive {
						i, j = unrank(s, n)
					} else {
						i = rng.IntN(n)
						j = rng.IntN(n - 1)
						if j >= i {
							j++
						}
					}
					p := comparePair(&recs[i], &recs[j])
					for c := range comparisons {
						local[c][p.level(c)]++
					}
				}
			}
		}
		mu.Lock()
		for c := range local {
			for l := range local[c] {
				ch.levels[c][l] += local[c][l]
			}
		}
		mu.Unlock()
	})
	return ch
}

// u turns the measurements into u probabilities. matches is the estimated number of true
// matching pairs in the input and m their level probabilities: true duplicates agree far
// more often than chance, and left in they would make agreement look common (in a
// customer base with many duplicates, most pairs sharing a birth date are duplicates).
// Counts are smoothed by half a pair per level, so a level never seen by chance (two
// people with the same national identifier) gets a large but finite weight.
func (ch *chance) u(matches float64, m [][]float64) [][]float64 {
	u := make([][]float64, len(comparisons))
	for c := range comparisons {
		u[c] = make([]float64, len(comparisons[c].levels)+1)
		present := ch.present[c]
		matchesPresent := matches * present / ch.allPairs
		agree := ch.agree[c]
		if m != nil {
			agree = max(agree-matchesPresent*m[c][1], 0)
		}
		exact := (agree + 0.5) / (max(present-matchesPresent, 0) + 1)
		var rest float64
		for l := 2; l < len(u[c]); l++ {
			if evidential(c, Level(l)) {
				rest += ch.levels[c][l] + 0.5
			}
		}
		u[c][1] = exact
		for l := 2; l < len(u[c]); l++ {
			if evidential(c, Level(l)) {
				u[c][l] = (1 - exact) * (ch.levels[c][l] + 0.5) / rest
			}
		}
	}
	return u
}

// useTerms replaces the term frequencies counted over the records with a population's. A
// value the population does not know (added since it was counted) counts once, its own.
func useTerms(recs []prepared, ch *chance, terms TermFrequencies, workers int) {
	for t, c := range termComparisonIndex {
		ch.typical[c] = terms.Typical(termComparisons[t])
	}
	parallelWorkers(workers, len(recs), recordChunk, func(next func() (int, int, bool)) {
		for lo, hi, ok := next(); ok; lo, hi, ok = next() {
			for i := lo; i < hi; i++ {
				for t, c := range termComparisonIndex {
					if v := comparisons[c].value(&recs[i]); v != "" {
						recs[i].terms[t] = uint32(max(terms.Count(Key{Rule: termComparisons[t], Value: v}), 1))
					}
				}
			}
		}
	})
}

// TermKeys returns the values of a normalised record whose frequencies the matcher weighs
// (see termComparisons), each as a Key whose Rule names the comparison. Like blocking
// keys they are pure functions of normalised values, so a server can count them as keyed
// hashes over all its customers without keeping a value in clear.
func TermKeys(n *Normalized) []Key {
	p := prepare(*n)
	var keys []Key
	for t, c := range termComparisonIndex {
		if v := comparisons[c].value(&p); v != "" {
			keys = append(keys, Key{Rule: termComparisons[t], Value: v})
		}
	}
	return keys
}

// unrank maps k in [0, n(n-1)/2) to the k-th pair (i < j) in row order.
func unrank(k, n int) (int, int) {
	i := 0
	for row := n - 1; k >= row; row-- {
		k -= row
		i++
	}
	return i, i + 1 + k
}

// scorePairs walks the candidates again with the patterns countPatterns kept, and keeps
// the pairs at or above the review threshold (or the merge threshold, which clustering
// needs, if that is lower).
func scorePairs(ctx context.Context, recs []prepared, idx *blockIndex, stored [][]pattern, model *Model, cfg Config, workers int) ([]Pair, error) {
	minWeight := math.Log2(cfg.ReviewThreshold / (1 - cfg.ReviewThreshold))
	if cfg.LinkClusters {
		minWeight = min(minWeight, math.Log2(cfg.MergeThreshold/(1-cfg.MergeThreshold)))
	}
	var mu sync.Mutex
	var pairs []Pair
	n := len(idx.recOff) - 1
	parallelWorkers(workers, n, recordChunk, func(next func() (int, int, bool)) {
		var local []Pair
		var js []uint32
		var adj [numTerms]float64
		for lo, hi, ok := next(); ok && ctx.Err() == nil; lo, hi, ok = next() {
			ps := stored[lo/recordChunk]
			for i := lo; i < hi; i++ {
				js = idx.candidates(uint32(i), js)
				for _, j := range js {
					p := ps[0]
					ps = ps[1:]
					terms := model.termAdjustment(&recs[i], p, &adj)
					if w, household, ok := model.score(p, terms); ok && w >= minWeight {
						local = append(local, newPair(i, int(j), p, w, household, &adj, model, cfg))
					}
				}
			}
		}
		mu.Lock()
		pairs = append(pairs, local...)
		mu.Unlock()
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sortPairs(pairs)
	return pairs, nil
}

func newPair(i, j int, p pattern, w, household float64, adj *[numTerms]float64, model *Model, cfg Config) Pair {
	pr := Pair{A: i, B: j, Weight: w, Probability: Probability(w), Evidence: model.evidence(p, adj, household)}
	pr.Decision = Review
	if pr.Probability >= cfg.MergeThreshold {
		pr.Decision = Merge
	}
	return pr
}

// scoredPair scores records i and j, whose pattern is p, as scorePairs does; false for a
// pair the household rule never reports.
func scoredPair(recs []prepared, i, j int, p pattern, model *Model, cfg Config) (Pair, bool) {
	var adj [numTerms]float64
	w, household, ok := model.score(p, model.termAdjustment(&recs[i], p, &adj))
	if !ok {
		return Pair{}, false
	}
	return newPair(i, j, p, w, household, &adj, model, cfg), true
}

func sortPairs(pairs []Pair) {
	slices.SortFunc(pairs, func(a, b Pair) int { return cmp.Or(cmp.Compare(a.A, b.A), cmp.Compare(a.B, b.B)) })
}

// linkClusters completes merge-grade clusters. Records joined by links at or above the
// MergeThreshold form a cluster (transitive closure), and merging the cluster would merge
// every pair in it; so every pair inside that blocking did not propose is compared
// directly and reported if it scores at or above the review threshold on its own. That
// recovers duplicates that share no blocking key with each other but each share one with
// a third record (two copies of one person, each mistyped differently). Closure never
// reports a pair on the strength of the chain alone: one wrong link would otherwise drag
// two strangers together. A cluster larger than MaxClusterSize is left as it is; real
// people have a handful of duplicates, not dozens, and such a cluster needs a person.
func linkClusters(recs []prepared, model *Model, pairs []Pair, cfg Config) []Pair {
	parent := map[int]int{}
	var find func(int) int
	find = func(x int) int {
		p, ok := parent[x]
		if !ok || p == x {
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	have := make(map[[2]int]bool, len(pairs))
	for _, p := range pairs {
		have[[2]int{p.A, p.B}] = true
		if p.Decision != Merge {
			continue
		}
		a, b := find(p.A), find(p.B)
		parent[p.A], parent[p.B] = a, b
		if a != b {
			parent[max(a, b)] = min(a, b)
		}
	}
	members := map[int][]int{}
	for x := range parent {
		r := find(x)
		members[r] = append(members[r], x)
	}
	for _, ms := range members {
		if len(ms) < 3 || len(ms) > cfg.MaxClusterSize {
			continue
		}
		slices.Sort(ms)
		for x := range ms {
			for y := x + 1; y < len(ms); y++ {
				a, b := ms[x], ms[y]
				if have[[2]int{a, b}] {
					continue
				}
				pr, ok := scoredPair(recs, a, b, comparePair(&recs[a], &recs[b]), model, cfg)
				if !ok {
					continue
				}
				pr.FromCluster = true
				pairs = append(pairs, pr)
			}
		}
	}
	pairs = slices.DeleteFunc(pairs, func(p Pair) bool { return p.Probability < cfg.ReviewThreshold })
	sortPairs(pairs)
	return pairs
}
