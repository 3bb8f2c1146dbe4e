package match

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Febrl record-linkage sets are external data (see shared/data/README.md): they are
// read where they live and never copied into the repository.

// sharedData finds the project's shared/data folder: STEWARD_SHARED_DATA if set,
// otherwise the first ancestor of the package directory with a shared/data child. It skips
// the test, saying so, only when the data is truly absent.
func sharedData(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("STEWARD_SHARED_DATA"); d != "" {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("STEWARD_SHARED_DATA is set but unusable: %v", err)
		}
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cand := filepath.Join(dir, "shared", "data")
		if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("external test data not found: no shared/data beside the repository and STEWARD_SHARED_DATA unset")
		}
		dir = parent
	}
}

// febrlColumns maps Febrl's columns onto fields the way docs/matching.md tells people to:
// street number and street share the first address line, in that order.
var febrlColumns = []struct {
	column string
	field  Field
}{
	{"given_name", FirstName}, {"surname", LastName}, {"street_number", AddressLine1},
	{"address_1", AddressLine1}, {"address_2", AddressLine2}, {"suburb", City},
	{"postcode", PostalCode}, {"state", Region}, {"date_of_birth", BirthDate},
	{"soc_sec_id", NationalID},
}

var febrlID = regexp.MustCompile(`^rec-(\d+)-(org|dup-\d+)$`)

// loadFebrl reads a Febrl file and returns its records and, for each, the person it
// describes: rec-N-org and rec-N-dup-K are all person N.
func loadFebrl(t testing.TB, file string, withSSN bool) ([]Record, []string) {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedData(t), "febrl", file))
	if err != nil {
		t.Skipf("Febrl set not present: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimSpace(h)] = i
	}
	var recs []Record
	var person []string
	for n, row := range rows[1:] {
		id := strings.TrimSpace(row[col["rec_id"]])
		m := febrlID.FindStringSubmatch(id)
		if m == nil {
			t.Fatalf("%s row %d: rec_id not of the form rec-N-org or rec-N-dup-K", file, n+2)
		}
		r := Record{ID: id}
		for _, c := range febrlColumns {
			if c.field == NationalID && !withSSN {
				continue
			}
			if v := strings.TrimSpace(row[col[c.column]]); v != "" {
				r.Fields[c.field] = strings.TrimSpace(r.Fields[c.field] + " " + v)
			}
		}
		recs = append(recs, r)
		person = append(person, m[1])
	}
	return recs, person
}

// truePairsOf counts the pairs of records that describe the same person.
func truePairsOf(person []string) int {
	size := map[string]int{}
	for _, p := range person {
		size[p]++
	}
	n := 0
	for _, k := range size {
		n += k * (k - 1) / 2
	}
	return n
}

// measure returns precision, recall and F1 of reported pairs against the truth.
func measure(pairs []Pair, person []string) (precision, recall, f1 float64) {
	tp := 0
	for _, p := range pairs {
		if person[p.A] == person[p.B] {
			tp++
		}
	}
	if len(pairs) == 0 || tp == 0 {
		return 0, 0, 0
	}
	precision = float64(tp) / float64(len(pairs))
	recall = float64(tp) / float64(truePairsOf(person))
	return precision, recall, 2 * precision * recall / (precision + recall)
}

// TestFebrl measures the matcher, with its default settings, on the two Febrl sets: with
// every column, and without soc_sec_id, an almost perfect key that a customer base does not
// have. The targets (issue 23) are F1 ≥ 0.999 with it, and without it F1 ≥ 0.995 with
// precision ≥ 0.999 at the default review threshold. For comparison, on Febrl sets kept
// outside the repository Splink (all columns) reached 0.993–0.999 and the recordlinkage
// toolkit's ECM 0.993–0.996 without soc_sec_id.
func TestFebrl(t *testing.T) {
	cases := []struct {
		file      string
		withSSN   bool
		f1        float64
		precision float64
	}{
		{"dataset1.csv", true, 0.999, 0.999},
		{"dataset1.csv", false, 0.995, 0.999},
		{"dataset2.csv", true, 0.999, 0.999},
		{"dataset2.csv", false, 0.995, 0.999},
	}
	for _, c := range cases {
		name := strings.TrimSuffix(c.file, ".csv") + "/all_columns"
		if !c.withSSN {
			name = strings.TrimSuffix(c.file, ".csv") + "/without_soc_sec_id"
		}
		t.Run(name, func(t *testing.T) {
			recs, person := loadFebrl(t, c.file, c.withSSN)
			res, err := Run(context.Background(), recs, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			p, r, f1 := measure(res.Pairs, person)
			bands := measureBands(res.Pairs, func(a, b int) bool { return person[a] == person[b] }, truePairsOf(person))
			t.Logf("%s: precision %.4f recall %.4f F1 %.4f (%d pairs reported, %d true pairs; %d candidate pairs, %.2f a record, blocking covers %.4f of the true pairs; EM %d iterations; household odds %.2f bits); %v",
				name, p, r, f1, len(res.Pairs), truePairsOf(person), res.Stats.CandidatePairs, float64(res.Stats.CandidatePairs)/float64(len(recs)),
				blockingRecall(recs, person), res.Model.Iterations, res.Model.HouseholdLog2Odds, bands)
			if f1 < c.f1 || p < c.precision {
				t.Errorf("F1 %.4f precision %.4f, want at least %.3f and %.3f", f1, p, c.f1, c.precision)
			}
			if !res.Model.Converged {
				t.Errorf("EM did not converge in %d iterations", res.Model.Iterations)
			}
		})
	}
}

// blockingRecall is the share of true pairs that share a blocking key: the ceiling of
// recall before clusters recover more.
func blockingRecall(recs []Record, person []string) float64 {
	ps := make([]prepared, len(recs))
	for i := range recs {
		ps[i] = prepare(Normalize(recs[i], ""))
	}
	cfg := DefaultConfig()
	idx := buildIndex(ps, cfg.MaxBlockSize, cfg.Window, 2)
	found := 0
	var js []uint32
	for i := range ps {
		js = idx.candidates(uint32(i), js)
		for _, j := range js {
			if person[i] == person[j] {
				found++
			}
		}
	}
	return float64(found) / float64(truePairsOf(person))
}
