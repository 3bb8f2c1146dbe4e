package match

import (
	"context"
	"fmt"
	"os"
	"testing"
)

func TestDiagSynth(t *testing.T) {
	if os.Getenv("DIAG") == "" {
		t.Skip()
	}
	s := synthPeople(50000, 0.10, 0.05, 21)
	res, err := Run(context.Background(), s.recs, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range res.Pairs {
		if s.group[p.A] != s.group[p.B] && (p.Decision == Merge || os.Getenv("DIAG") == "all") {
			n++
			if n > 40 {
				continue
			}
			var evs string
			for _, e := range p.Evidence {
				if e.Level != "missing" {
					evs += fmt.Sprintf("%s=%s(%.1f/%.1f) ", e.Comparison, e.Level, e.Weight, e.TermFrequency)
				}
			}
			fmt.Printf("FP %s w=%.2f\n  %q\n  %q\n  %s\n", p.Decision, p.Weight, s.recs[p.A].Fields[:11], s.recs[p.B].Fields[:11], evs)
		}
	}
	fmt.Printf("prior %.2f household %.2f FPs %d\n", res.Model.PriorLog2Odds, res.Model.HouseholdLog2Odds, n)
	for c, cmp := range comparisons {
		fmt.Printf("%s: ", cmp.name)
		for l := 1; l < len(res.Model.M[c]); l++ {
			fmt.Printf("%s %.2f ", cmp.levels[l-1].name, res.Model.weights[c][l])
		}
		fmt.Println()
	}
}

func TestDiagFebrl(t *testing.T) {
	if os.Getenv("DIAG") == "" {
		t.Skip()
	}
	for _, file := range []string{"dataset1.csv", "dataset2.csv"} {
		recs, person := loadFebrl(t, file, false)
		res, err := Run(context.Background(), recs, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		got := map[[2]int]bool{}
		for _, p := range res.Pairs {
			got[[2]int{p.A, p.B}] = true
		}
		ps := make([]prepared, len(recs))
		for i := range recs {
			ps[i] = prepare(Normalize(recs[i], ""))
		}
		for i := range recs {
			for j := i + 1; j < len(recs); j++ {
				if person[i] != person[j] || got[[2]int{i, j}] {
					continue
				}
				p := comparePair(&ps[i], &ps[j])
				w, h, ok := res.Model.score(p, 0)
				var evs string
				for _, e := range res.Model.evidence(p, nil, h) {
					if e.Level != "missing" {
						evs += fmt.Sprintf("%s=%s(%.1f) ", e.Comparison, e.Level, e.Weight)
					}
				}
				fmt.Printf("MISS %s w=%.2f ok=%v\n  %q\n  %q\n  %s\n", file, w, ok, recs[i].Fields[:10], recs[j].Fields[:10], evs)
			}
		}
		fmt.Printf("prior %.2f household %.2f\n", res.Model.PriorLog2Odds, res.Model.HouseholdLog2Odds)
	}
}

func TestDiagRules(t *testing.T) {
	if os.Getenv("DIAG") == "" {
		t.Skip()
	}
	s := synthPeople(500000, 0.10, 0.05, 5)
	recs := make([]prepared, len(s.recs))
	for i := range recs {
		recs[i] = prepare(Normalize(s.recs[i], ""))
	}
	for _, rule := range []string{"", RuleCityName, RuleStreetName} {
		idx := buildIndexOf(recs, 100, 20, 2, func(r string) bool { return r != rule })
		var js []uint32
		pairs, truth := 0, 0
		for i := range recs {
			js = idx.candidates(uint32(i), js)
			pairs += len(js)
			for _, j := range js {
				if s.group[i] == s.group[j] {
					truth++
				}
			}
		}
		b, o, l := idx.blockStats()
		fmt.Printf("%-12s pairs/rec %.2f true %d blocks %d oversized %d largest %d\n", rule, float64(pairs)/float64(len(recs)), truth, b, o, l)
	}
	fmt.Println("true pairs", s.truePairs())
}

func TestDiagFebrlRules(t *testing.T) {
	if os.Getenv("DIAG") == "" {
		t.Skip()
	}
	for _, file := range []string{"dataset1.csv", "dataset2.csv"} {
		recs, person := loadFebrl(t, file, false)
		ps := make([]prepared, len(recs))
		for i := range recs {
			ps[i] = prepare(Normalize(recs[i], ""))
		}
		for _, rule := range []string{"", RuleCityName, RuleStreetName} {
			idx := buildIndexOf(ps, 100, 20, 2, func(r string) bool { return r != rule })
			var js []uint32
			pairs, truth := 0, 0
			for i := range ps {
				js = idx.candidates(uint32(i), js)
				pairs += len(js)
				for _, j := range js {
					if person[i] == person[j] {
						truth++
					}
				}
			}
			fmt.Printf("%s without %-12s pairs/rec %.2f true %d of %d\n", file, rule, float64(pairs)/float64(len(ps)), truth, truePairsOf(person))
		}
	}
}
