package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImportCSV(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errs := runCLI(t, nil, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	file := filepath.Join(t.TempDir(), "till export.csv")
	// BOM, semicolons, a quoted field with the delimiter and a doubled quote, a name split in
	// two columns, a bad e-mail, a row without an identifier, a short row.
	data := "\xef\xbb\xbfEmail;Given;Family;Town;Points\n" +
		"ada@example.com;Ada;Lovelace;\"London; UK\";10\n" +
		"grace@example.com;Grace;\"Hopper \"\"Amazing\"\"\";Arlington;x\n" +
		"not-an-email;Alan;Turing;Wilmslow;3\n" +
		";Nobody;Here;Nowhere;1\n" +
		"short@example.com;Short\n" +
		"edsger@example.com;Edsger;Dijkstra;;7\n"
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"import", file, "--data", dir, "--map", "Email=email", "--map", "Given=full_name", "--map", "Family=full_name", "--map", "Town=city", "--map", "Points=loyalty_points"}
	code, out, errs := runCLI(t, nil, args...)
	if code != 0 || !strings.Contains(out, "created 2") || !strings.Contains(out, "rejected 4") {
		t.Fatalf("import: exit %d %s %s", code, out, errs)
	}
	rej, err := os.ReadFile(file + ".rejects.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"row,reason", "3,column Points: loyalty_points: must be an integer", "4,column Email: email:", `5,"needs an identifier`, `6,"has 2 columns, the header has 5"`} {
		if !strings.Contains(string(rej), want) {
			t.Errorf("rejects file lacks %q:\n%s", want, rej)
		}
	}
	for _, leak := range []string{"not-an-email", "Turing", "short@example.com"} {
		if strings.Contains(string(rej), leak) {
			t.Errorf("rejects file repeats the value %q", leak)
		}
	}
	// Running the same file again changes nothing.
	code, out, errs = runCLI(t, nil, args...)
	if code != 0 || !strings.Contains(out, "created 0, updated 0, unchanged 2") {
		t.Fatalf("second import: exit %d %s %s", code, out, errs)
	}
	// Bad mappings and files are refused with a reason.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"import", file, "--data", dir, "--map", "Nope=email"}, `no column "Nope"`},
		{[]string{"import", file, "--data", dir, "--map", "Email=shoe_size"}, "not a field of the data catalog"},
		{[]string{"import", file, "--data", dir}, "--map"},
		{[]string{"import", filepath.Join(t.TempDir(), "missing.csv"), "--data", dir, "--map", "Email=email"}, "open"},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--consent", "Points=newsletter", "--policy-version", "v1"}, `unknown purpose "newsletter"`},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--consent", "Points=service", "--policy-version", "v1"}, "not consent"},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--consent", "Points=marketing_email"}, "policy_version: is required"},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--consent", "Points=marketing_email", "--policy-version", "v1"}, `unknown policy version "v1"`},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--consent", "Nope=marketing_email", "--policy-version", "v1"}, `no column "Nope"`},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--policy-version", "v1"}, "only meaningful with --consent"},
	} {
		if code, _, errs := runCLI(t, nil, tt.args...); code == 0 || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d %q, want %q", tt.args, code, errs, tt.want)
		}
	}
	broken := filepath.Join(t.TempDir(), "broken.csv")
	if err := os.WriteFile(broken, []byte("email,first_name\nx1@example.com,A\nx2@example.com,\"B\nx3@example.com,C\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runCLI(t, nil, "import", broken, "--data", dir, "--map", "email=email", "--map", "first_name=first_name")
	if code == 0 || !strings.Contains(errs, "quot") || !strings.Contains(errs, "--resume") {
		t.Fatalf("broken quoting: exit %d %q", code, errs)
	}
}
