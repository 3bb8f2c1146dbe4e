package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSearchReindex: steward search reindex rebuilds the tokens of every customer an import
// stored, and says how many.
func TestSearchReindex(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errs := runCLI(t, nil, "init", "--data", dir); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errs)
	}
	csv := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(csv, []byte("E-mail,Name\nada@example.com,Ada Lovelace\ngrace@example.com,Grace Hopper\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, nil, "import", csv, "--data", dir, "--map", "E-mail=email", "--map", "Name=full_name"); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	code, out, errs := runCLI(t, nil, "search", "reindex", "--data", dir)
	if code != 0 || !strings.Contains(out, "reindexing search tokens of 2 customers") || !strings.Contains(out, "reindexed 2 customers") {
		t.Fatalf("reindex: exit %d: %s %s", code, out, errs)
	}
}
