package cli

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// febrlFile finds a Febrl set in the project's shared/data folder (STEWARD_SHARED_DATA, or
// the first ancestor with a shared/data child), skipping the test only when it is absent.
func febrlFile(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("STEWARD_SHARED_DATA")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			if fi, err := os.Stat(filepath.Join(d, "shared", "data")); err == nil && fi.IsDir() {
				dir = filepath.Join(d, "shared", "data")
				break
			}
			if filepath.Dir(d) == d {
				t.Skip("external test data not found: no shared/data beside the repository and STEWARD_SHARED_DATA unset")
			}
		}
	}
	path := filepath.Join(dir, "febrl", name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("Febrl set not present: %v", err)
	}
	return path
}

// febrlMaps is the mapping docs/matching.md gives for Febrl.
var febrlMaps = []string{
	"--map", "given_name=first_name", "--map", "surname=last_name",
	"--map", "street_number=address_line1", "--map", "address_1=address_line1",
	"--map", "address_2=address_line2", "--map", "suburb=city", "--map", "postcode=postal_code",
	"--map", "state=region", "--map", "date_of_birth=birth_date",
}

func readPairs(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], []string{"id_a", "id_b", "score"}) {
		t.Fatalf("header %v, want id_a,id_b,score", rows[:min(1, len(rows))])
	}
	for i, r := range rows[1:] {
		if r[0] >= r[1] {
			t.Fatalf("row %d: id_a %q does not sort before id_b %q", i+2, r[0], r[1])
		}
		if i > 0 && (rows[i][0] > r[0] || rows[i][0] == r[0] && rows[i][1] >= r[1]) {
			t.Fatalf("row %d out of order", i+2)
		}
		if s, err := strconv.ParseFloat(r[2], 64); err != nil || s < 0 || s > 1 {
			t.Fatalf("row %d: score %q is not a probability", i+2, r[2])
		}
	}
	return rows[1:]
}

// TestMatchFebrl runs steward match end to end on the Febrl sets and scores the pairs it
// writes against the truth in the record ids.
func TestMatchFebrl(t *testing.T) {
	person := regexp.MustCompile(`^rec-(\d+)-`)
	for _, c := range []struct {
		file    string
		withSSN bool
		target  float64
	}{{"dataset1.csv", true, 0.999}, {"dataset2.csv", false, 0.995}} {
		in := febrlFile(t, c.file)
		out := filepath.Join(t.TempDir(), "pairs.csv")
		args := append([]string{"match", "--input", in, "--id-column", "rec_id", "--out", out}, febrlMaps...)
		if c.withSSN {
			args = append(args, "--map", "soc_sec_id=national_id")
		}
		code, stdout, stderr := runCLI(t, nil, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.file, code, stderr)
		}
		if stdout != "" {
			t.Errorf("%s: stdout %q, want nothing (the pairs go to --out)", c.file, stdout)
		}
		rows := readPairs(t, out)

		// The truth: records sharing N in rec-N-… are the same person.
		f, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		size := map[string]int{}
		for _, line := range strings.Split(string(f), "\n")[1:] {
			if m := person.FindStringSubmatch(line); m != nil {
				size[m[1]]++
			}
		}
		truth := 0
		for _, n := range size {
			truth += n * (n - 1) / 2
		}
		tp := 0
		for _, r := range rows {
			if person.FindStringSubmatch(r[0])[1] == person.FindStringSubmatch(r[1])[1] {
				tp++
			}
		}
		p, r := float64(tp)/float64(len(rows)), float64(tp)/float64(truth)
		f1 := 2 * p * r / (p + r)
		t.Logf("steward match %s (soc_sec_id %v): precision %.4f recall %.4f F1 %.4f; %s", c.file, c.withSSN, p, r, f1, strings.TrimSpace(stderr))
		if f1 < c.target {
			t.Errorf("%s: F1 %.4f, want at least %.2f", c.file, f1, c.target)
		}
	}
}

func TestMatchCSV(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "people.csv")
	// A BOM, ", " separators, a quoted value with a comma, a Latin-1 byte, a row with a
	// field too many, an empty id and a repeated id.
	data := "\ufeffid, first, last, dob, house, street\n" +
		"c1, Kayla, Harrington, 1915-06-12, 38, Maltby Circuit\n" +
		"c2, kayla, harrington, 19150612, 38, \"Maltby Circuit, Coolaroo\"\n" +
		"c3, Jos\xe9, Oyelaran, 1990-09-30, 7, Giblin Street\n" +
		"c4, Secretname, Oyelaran, 1990-09-30, 7, Giblin Street, extra\n" +
		", Nobody, Here, 1990-01-01, 1, A Street\n" +
		"c1, Kayla, Harrington, 1915-06-12, 38, Maltby Circuit\n" +
		"c5, José, Oyelaran, 30/09/1990, 7, Giblin St\n"
	if err := os.WriteFile(in, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "pairs.csv")
	code, _, stderr := runCLI(t, nil, "match", "--input", in, "--id-column", "id", "--out", out,
		"--map", "first=given_name", "--map", "last=surname", "--map", "dob=birth_date",
		"--map", "house=address_line1", "--map", "street=address_line1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"skipped 3 of 7 rows", "row 5: has 7 columns, the header has 6", "row 6: empty id", "row 7: repeats an earlier id"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "Secretname") || strings.Contains(stderr, "Nobody") {
		t.Errorf("stderr quotes personal data:\n%s", stderr)
	}
	rows := readPairs(t, out)
	got := map[string]bool{}
	for _, r := range rows {
		got[r[0]+" "+r[1]] = true
	}
	if !got["c1 c2"] || !got["c3 c5"] || len(rows) != 2 {
		t.Errorf("pairs %v, want c1–c2 and c3–c5", rows)
	}
	if info, err := os.Stat(out); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("output mode %v (%v), want 0600: it holds customer identifiers", info.Mode().Perm(), err)
	}

	// --out - writes to stdout; --explain adds the decision and the evidence.
	code, stdout, stderr := runCLI(t, nil, "match", "--input", in, "--id-column", "id", "--out", "-", "--explain",
		"--map", "first=first_name", "--map", "last=last_name", "--map", "dob=birth_date")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if lines[0] != "id_a,id_b,score,decision,evidence" || !strings.Contains(stdout, "first_name=exact(") || !strings.Contains(stdout, "birth_date=exact(") {
		t.Errorf("explained output:\n%s", stdout)
	}
}

func TestMatchErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte("id,first\n1,Ann\n2,Ann\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(dir, "one.csv")
	if err := os.WriteFile(one, []byte("id,first\n1,Ann\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.csv")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.csv")
	base := func(extra ...string) []string {
		return append([]string{"match", "--input", in, "--id-column", "id", "--out", out}, extra...)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing column", base("--map", "surname=last_name"), `no column "surname"`},
		{"missing id column", []string{"match", "--input", in, "--id-column", "key", "--out", out, "--map", "first=first_name"}, `--id-column: no column "key"`},
		{"unknown field", base("--map", "first=shoe_size"), `unknown field "shoe_size"`},
		{"malformed map", base("--map", "first"), "want COLUMN=FIELD"},
		{"column mapped twice", base("--map", "first=first_name", "--map", "first=last_name"), "mapped twice"},
		{"no map", base(), "--map is required"},
		{"no input", []string{"match", "--id-column", "id", "--out", out, "--map", "first=first_name"}, "--input is required"},
		{"bad flag", base("--map", "first=first_name", "--frobnicate"), "unknown flag"},
		{"bad threshold", base("--map", "first=first_name", "--threshold", "1.5"), "--threshold must be"},
		{"threshold not a number", base("--map", "first=first_name", "--threshold", "high"), "threshold"},
		{"unreadable file", []string{"match", "--input", filepath.Join(dir, "absent.csv"), "--id-column", "id", "--out", out, "--map", "first=first_name"}, "input: open"},
		{"empty file", []string{"match", "--input", empty, "--id-column", "id", "--out", out, "--map", "first=first_name"}, "header row"},
		{"one record", []string{"match", "--input", one, "--id-column", "id", "--out", out, "--map", "first=first_name"}, "fewer than two"},
		{"unwritable output", base("--map", "first=first_name", "--out", filepath.Join(dir, "no", "such", "dir", "out.csv")), "out:"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, nil, tt.args...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want failure mentioning %q", tt.name, code, stderr, tt.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed run left %s behind", out)
	}
}

// FuzzReadMatchCSV feeds arbitrary bytes to the CSV reader of steward match: it must never
// panic, and every record it returns has an id of its own and only values from the file.
func FuzzReadMatchCSV(f *testing.F) {
	f.Add([]byte("id, first, last\n1, Ann, Lee\n2, \"Ann, B\", Lee\n"))
	f.Add([]byte("\ufeffid,first,last\n1,a\"b,c\n,x,y\n1,x,y\n3,x\n"))
	f.Add([]byte("id,first,last\n1,\"unterminated\n2,x,y\n"))
	f.Add([]byte("id,first,last\r\n1,J\xf6rg,M\xfcller\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		maps := []columnMap{{"first", 0}, {"last", 1}}
		recs, rep, err := readMatchCSV(strings.NewReader(string(data)), "id", maps)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, r := range recs {
			if r.ID == "" || seen[r.ID] {
				t.Fatalf("record id %q empty or repeated", r.ID)
			}
			seen[r.ID] = true
		}
		if rep.rows != len(recs)+rep.rejected {
			t.Fatalf("%d rows, %d records, %d rejected", rep.rows, len(recs), rep.rejected)
		}
	})
}
