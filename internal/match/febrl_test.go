package match

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sharedData(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("STEWARD_SHARED_DATA"); d != "" {
		return d
	}
	dir, _ := os.Getwd()
	for {
		cand := filepath.Join(dir, "shared", "data")
		if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no shared data")
		}
		dir = parent
	}
}

func loadFebrl(t testing.TB, name string, withSSN bool) ([]Record, []string) {
	f, err := os.Open(filepath.Join(sharedData(t), "febrl", name))
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	var recs []Record
	var groups []string
	for sc.Scan() {
		v := strings.Split(sc.Text(), ",")
		for i := range v {
			v[i] = strings.TrimSpace(v[i])
		}
		var r Record
		r.ID = v[0]
		r.Fields[FirstName] = v[1]
		r.Fields[LastName] = v[2]
		r.Fields[AddressLine1] = strings.TrimSpace(v[3] + " " + v[4])
		r.Fields[AddressLine2] = v[5]
		r.Fields[City] = v[6]
		r.Fields[PostalCode] = v[7]
		r.Fields[Region] = v[8]
		r.Fields[BirthDate] = v[9]
		if withSSN {
			r.Fields[NationalID] = v[10]
		}
		recs = append(recs, r)
		g := strings.Split(v[0], "-")[1]
		groups = append(groups, g)
	}
	return recs, groups
}

func TestFebrlScratch(t *testing.T) {
	for _, name := range []string{"dataset1.csv", "dataset2.csv"} {
		for _, ssn := range []bool{true, false} {
			recs, groups := loadFebrl(t, name, ssn)
			res, err := Run(context.Background(), recs, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			truth := 0
			size := map[string]int{}
			for _, g := range groups {
				size[g]++
			}
			for _, s := range size {
				truth += s * (s - 1) / 2
			}
			tp := 0
			for _, p := range res.Pairs {
				if groups[p.A] == groups[p.B] {
					tp++
				}
			}
			prec := float64(tp) / float64(len(res.Pairs))
			rec := float64(tp) / float64(truth)
			t.Logf("%s ssn=%v: pairs %d tp %d truth %d P %.4f R %.4f F1 %.4f  stats %+v iters %d lambda %.4f prior %.2f", name, ssn, len(res.Pairs), tp, truth, prec, rec, 2*prec*rec/(prec+rec), res.Stats, res.Model.Iterations, res.Model.Lambda, res.Model.PriorLog2Odds)
		}
	}
}

func TestFebrlMisses(t *testing.T) {
	recs, groups := loadFebrl(t, "dataset1.csv", false)
	cfg := DefaultConfig()
	cfg.ReviewThreshold = 0.0001
	res, err := Run(context.Background(), recs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	found := map[[2]int]float64{}
	for _, p := range res.Pairs {
		found[[2]int{p.A, p.B}] = p.Probability
		if groups[p.A] != groups[p.B] && p.Probability > 0.01 {
			t.Logf("FP %.4f %v | %v", p.Probability, recs[p.A], recs[p.B])
		}
	}
	byG := map[string][]int{}
	for i, g := range groups {
		byG[g] = append(byG[g], i)
	}
	recsP := make([]prepared, len(recs))
	for i := range recs {
		recsP[i] = prepare(Normalize(recs[i], ""))
	}
	idx := buildIndex(recsP, 100, 20)
	for _, m := range byG {
		for x := range m {
			for y := x + 1; y < len(m); y++ {
				a, b := m[x], m[y]
				if pr, ok := found[[2]int{a, b}]; !ok || pr < 0.5 {
					cand := false
					for _, j := range idx.candidates(uint32(a), nil) {
						if int(j) == b {
							cand = true
						}
					}
					p := comparePair(&recsP[a], &recsP[b])
					w := res.Model.weight(p)
					t.Logf("MISS cand=%v w=%.1f\n  %v\n  %v\n  %v", cand, w, recs[a], recs[b], res.Model.evidence(p))
				}
			}
		}
	}
}
