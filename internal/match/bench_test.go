package match

import (
	"context"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkComparePair measures the cost of grading one candidate pair on every
// comparison: the unit of work of both passes over the candidates.
func BenchmarkComparePair(b *testing.B) {
	s := synthPeople(2000, 0.2, 0.1, 3)
	recs := make([]prepared, len(s.recs))
	for i := range recs {
		recs[i] = prepare(Normalize(s.recs[i], ""))
	}
	idx := buildIndex(recs, 100, 20, 2)
	var pairs [][2]uint32
	for i := range recs {
		for _, j := range idx.candidates(uint32(i), nil) {
			pairs = append(pairs, [2]uint32{uint32(i), j})
		}
	}
	b.ResetTimer()
	n := 0
	for b.Loop() {
		p := pairs[n%len(pairs)]
		comparePair(&recs[p[0]], &recs[p[1]])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkBlocking builds the block index over a synthetic population and enumerates
// every candidate pair, reporting how many there are: the figures that decide whether a
// million customers fit the time and memory budget. STEWARD_BENCH_MATCH_RECORDS sets the
// population (200,000 by default).
func BenchmarkBlocking(b *testing.B) {
	n := benchRecords(b)
	s := synthPeople(n, 0.1, 0.05, 5)
	recs := make([]prepared, len(s.recs))
	for i := range recs {
		recs[i] = prepare(Normalize(s.recs[i], ""))
	}
	b.ResetTimer()
	var pairs int
	for b.Loop() {
		idx := buildIndex(recs, DefaultConfig().MaxBlockSize, DefaultConfig().Window, runtime.GOMAXPROCS(0))
		pairs = 0
		var js []uint32
		for i := range recs {
			js = idx.candidates(uint32(i), js)
			pairs += len(js)
		}
	}
	b.StopTimer()
	// What the address key costs: the same index without it, built in the same run.
	idx := buildIndexOf(recs, DefaultConfig().MaxBlockSize, DefaultConfig().Window, runtime.GOMAXPROCS(0),
		func(rule string) bool { return rule != RuleStreetName })
	without := 0
	var js []uint32
	for i := range recs {
		js = idx.candidates(uint32(i), js)
		without += len(js)
	}
	b.ReportMetric(float64(n), "records")
	b.ReportMetric(float64(pairs), "candidate_pairs")
	b.ReportMetric(float64(pairs)/float64(n), "pairs/record")
	b.ReportMetric(float64(without)/float64(n), "pairs/record_without_street_name")
}

// BenchmarkMatch runs the whole matcher (normalise, block, compare, fit, score, cluster)
// over a synthetic population with seeded duplicates and households, and reports its
// precision and recall and the peak memory of the process (generated data included),
// under the same soft memory limit steward match sets.
func BenchmarkMatch(b *testing.B) {
	if debug.SetMemoryLimit(-1) == math.MaxInt64 {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(1536 << 20))
	}
	n := benchRecords(b)
	s := synthPeople(n, 0.1, 0.05, 5)
	b.ResetTimer()
	cpu := processorTime()
	var res *Result
	for b.Loop() {
		var err error
		if res, err = Run(context.Background(), s.recs, DefaultConfig()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu = processorTime() - cpu
	bands := measureBands(res.Pairs, func(a, b int) bool { return s.group[a] == s.group[b] }, s.truePairs())
	b.Logf("%d records: %v", n, bands)
	b.ReportMetric(float64(n), "records")
	b.ReportMetric(float64(res.Stats.CandidatePairs), "candidate_pairs")
	b.ReportMetric(float64(res.Stats.CandidatePairs)/float64(n), "candidates/record")
	b.ReportMetric(bands.reviewPrecision, "precision")
	b.ReportMetric(bands.reviewRecall, "recall")
	b.ReportMetric(bands.bandPrecision, "band_precision")
	b.ReportMetric(bands.mergePrecision, "merge_precision")
	b.ReportMetric(bands.mergeRecall, "merge_recall")
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(rss/(1<<20), "MiB_peak_rss")
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e6/float64(n)/60, "min/1M_records")
	// Processor time over the cores: what the run would take on two idle cores, which
	// a shared machine's wall clock does not show.
	b.ReportMetric(cpu.Seconds()/float64(b.N)*1e6/float64(n)/60/float64(runtime.GOMAXPROCS(0)), "cpu_min/1M_records")
}

// processorTime is the user and system time the process has used so far.
func processorTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchRecords(b *testing.B) int {
	if v := os.Getenv("STEWARD_BENCH_MATCH_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("STEWARD_BENCH_MATCH_RECORDS=%q: want a number of at least 1000", v)
		}
		return n
	}
	return 200_000
}

// peakRSS reads the process's peak resident set size from Linux's /proc, or 0 elsewhere.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
