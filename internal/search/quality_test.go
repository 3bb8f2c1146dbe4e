package search

import (
	"cmp"
	"context"
	"encoding/csv"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The quality test measures search on the Febrl record-linkage sets (external data, read
// where it lives, see shared/data/README.md): the originals are the customers, and each
// duplicate's given name, surname and suburb is a query whose right answer is its original.

// fnvHasher stands in for the vault's keyed hash: ranking only needs a fixed hash.
type fnvHasher struct{}

func (fnvHasher) SearchHash(kind string, b []byte) uint64 {
	h := fnv.New64a()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write(b)
	return h.Sum64()
}

// FebrlCase is one labelled query: the text typed and the record expected first.
type FebrlCase struct {
	Query, Want string
}

// FebrlSet reads a Febrl file from shared/data (STEWARD_SHARED_DATA, or the first ancestor
// directory holding shared/data) and returns its originals as profile values by record id,
// and one query per duplicate.
func FebrlSet(t testing.TB, file string) (map[string]map[string]any, []FebrlCase) {
	t.Helper()
	dir := os.Getenv("STEWARD_SHARED_DATA")
	if dir == "" {
		wd, _ := os.Getwd()
		for d := wd; ; d = filepath.Dir(d) {
			if fi, err := os.Stat(filepath.Join(d, "shared", "data")); err == nil && fi.IsDir() {
				dir = filepath.Join(d, "shared", "data")
				break
			}
			if filepath.Dir(d) == d {
				t.Skip("external test data not found (shared/data or STEWARD_SHARED_DATA)")
			}
		}
	}
	f, err := os.Open(filepath.Join(dir, "febrl", file))
	if err != nil {
		t.Skipf("Febrl set not present: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimSpace(h)] = i
	}
	get := func(row []string, name string) string { return strings.TrimSpace(row[col[name]]) }
	orgs := map[string]map[string]any{}
	var cases []FebrlCase
	for _, row := range rows[1:] {
		id := get(row, "rec_id")
		parts := strings.Split(id, "-")
		if len(parts) < 3 {
			t.Fatalf("unexpected record id %q", id)
		}
		org := "rec-" + parts[1] + "-org"
		if parts[2] == "org" {
			orgs[id] = map[string]any{"first_name": get(row, "given_name"), "last_name": get(row, "surname"),
				"city": get(row, "suburb"), "postal_code": get(row, "postcode")}
			continue
		}
		q := strings.Join(strings.Fields(get(row, "given_name")+" "+get(row, "surname")+" "+get(row, "suburb")), " ")
		cases = append(cases, FebrlCase{Query: q, Want: org})
	}
	return orgs, cases
}

// memoryIndex holds postings in memory, as an engine holds them.
type memoryIndex map[int64][]string

func (m memoryIndex) SearchCounts(_ context.Context, tokens []int64, max int) ([]int, error) {
	out := make([]int, len(tokens))
	for i, tok := range tokens {
		out[i] = min(len(m[tok]), max+1)
	}
	return out, nil
}

func (m memoryIndex) SearchTop(_ context.Context, read, probe []Weight, perToken, n int) ([]Weighed, error) {
	sum := map[string]float64{}
	for _, w := range read {
		ids := m[w.Token]
		for _, id := range ids[:min(len(ids), perToken)] {
			sum[id] += w.Weight
		}
	}
	for _, w := range probe {
		for _, id := range m[w.Token] {
			if _, ok := sum[id]; ok {
				sum[id] += w.Weight
			}
		}
	}
	out := make([]Weighed, 0, len(sum))
	for id, w := range sum {
		out = append(out, Weighed{id, w})
	}
	slices.SortFunc(out, func(a, b Weighed) int {
		if a.Weight != b.Weight {
			return cmp.Compare(b.Weight, a.Weight)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out[:min(n, len(out))], nil
}

// memorySearch is the search pipeline over postings held in memory.
func memorySearch(t testing.TB, orgs map[string]map[string]any) func(q string, n int) []string {
	h := fnvHasher{}
	ix := memoryIndex{}
	ids := make([]string, 0, len(orgs))
	for id := range orgs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, tok := range Tokens(h, Index(orgs[id])) {
			ix[tok] = append(ix[tok], id)
		}
	}
	return func(text string, n int) []string {
		q, err := Parse(text)
		if err != nil {
			return nil
		}
		cands, err := Candidates(context.Background(), ix, h, q, CandidatesFor(n))
		if err != nil {
			t.Fatal(err)
		}
		scores := map[string]float64{}
		for _, id := range cands {
			scores[id], _ = Score(q, orgs[id])
		}
		return RankScored(cands, scores, n)
	}
}

// Recall is recall@1, recall@10 and the mean reciprocal rank (rank past 10 counts 0).
type Recall struct{ At1, At10, MRR float64 }

// MeasureRecall runs every case through search (which returns ids best first).
func MeasureRecall(cases []FebrlCase, search func(q string, n int) []string) Recall {
	var r Recall
	for _, c := range cases {
		for i, id := range search(c.Query, 10) {
			if id == c.Want {
				if i == 0 {
					r.At1++
				}
				r.At10++
				r.MRR += 1 / float64(i+1)
				break
			}
		}
	}
	n := float64(len(cases))
	return Recall{r.At1 / n, r.At10 / n, r.MRR / n}
}

func TestFebrlRecall(t *testing.T) {
	for _, file := range []string{"dataset1.csv", "dataset2.csv"} {
		orgs, cases := FebrlSet(t, file)
		r := MeasureRecall(cases, memorySearch(t, orgs))
		t.Logf("%s: %d customers, %d queries: recall@1 %.3f, recall@10 %.3f, MRR %.3f", file, len(orgs), len(cases), r.At1, r.At10, r.MRR)
		if r.At1 < 0.85 || r.At10 < 0.95 {
			t.Errorf("%s: recall@1 %.3f, recall@10 %.3f; want at least 0.85 and 0.95", file, r.At1, r.At10)
		}
	}
}
