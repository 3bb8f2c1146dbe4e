package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupVerifyRestore runs the commands as an operator would: backup, verify (0 intact, 2
// tampered), restore (2 and nothing changed for a tampered file), retention plan.
func TestBackupVerifyRestore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errs := runCLI(t, nil, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	out := filepath.Join(t.TempDir(), "b.stwbak")
	if code, _, errs := runCLI(t, nil, "backup", "--data", dir); code == 0 || !strings.Contains(errs, "--out") {
		t.Fatalf("backup without --out: exit %d %q", code, errs)
	}
	code, stdout, errs := runCLI(t, nil, "backup", "--data", dir, "--out", out)
	if code != 0 || !strings.Contains(stdout, "backup written") {
		t.Fatalf("backup: exit %d %s %s", code, stdout, errs)
	}
	if code, stdout, errs := runCLI(t, nil, "backup", "verify", "--data", dir, out); code != 0 || !strings.Contains(stdout, "intact") {
		t.Fatalf("verify: exit %d %s %s", code, stdout, errs)
	}
	b, _ := os.ReadFile(out)
	b[len(b)/2] ^= 1
	bad := out + ".bad"
	_ = os.WriteFile(bad, b, 0o600)
	if code, _, errs := runCLI(t, nil, "backup", "verify", "--data", dir, bad); code != 2 || !strings.Contains(errs, "corrupt") {
		t.Fatalf("verify tampered: exit %d %q", code, errs)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "steward.db"))
	if code, _, errs := runCLI(t, nil, "restore", "--data", dir, bad); code != 2 || !strings.Contains(errs, "nothing was changed") {
		t.Fatalf("restore tampered: exit %d %q", code, errs)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "steward.db"))
	if len(before) != len(after) {
		t.Fatal("a refused restore changed the database")
	}
	code, stdout, errs = runCLI(t, nil, "restore", "--data", dir, out)
	if code != 0 || !strings.Contains(stdout, "audit trail intact") {
		t.Fatalf("restore: exit %d %s %s", code, stdout, errs)
	}
	if code, stdout, errs := runCLI(t, nil, "retention", "plan", "--data", dir); code != 0 || !strings.Contains(stdout, "retention plan") {
		t.Fatalf("retention plan: exit %d %s %s", code, stdout, errs)
	}
	if code, _, errs := runCLI(t, nil, "audit", "verify", "--data", dir); code != 0 {
		t.Fatalf("audit verify after restore: %s", errs)
	}
}

// TestRestoreRefusesMissingLedger: with the erasure ledger file deleted, restore exits 3
// naming the problem and changes nothing; --accept-incomplete-ledger goes ahead with a
// warning, and --keep-previous writes the replaced database as an encrypted backup.
func TestRestoreRefusesMissingLedger(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errs := runCLI(t, nil, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	out := filepath.Join(t.TempDir(), "b.stwbak")
	if code, _, errs := runCLI(t, nil, "backup", "--data", dir, "--out", out); code != 0 {
		t.Fatalf("backup: %s", errs)
	}
	if err := os.Remove(filepath.Join(dir, "erasure-ledger.jsonl")); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, nil, "restore", "--data", dir, out)
	if code != 3 || !strings.Contains(errs, "erasure ledger file") || !strings.Contains(errs, "missing") || !strings.Contains(errs, "Nothing was changed") {
		t.Fatalf("restore without the ledger file: exit %d %q, want 3 naming the missing file", code, errs)
	}
	if code, _, errs := runCLI(t, map[string]string{"STEWARD_ACCEPT_INCOMPLETE_LEDGER": "true"}, "restore", "--data", dir, out); code == 0 || !strings.Contains(errs, "command line only") {
		t.Fatalf("accepting from the environment: exit %d %q, want a refusal", code, errs)
	}
	kept := filepath.Join(t.TempDir(), "replaced.stwbak")
	code, stdout, errs := runCLI(t, nil, "restore", "--data", dir, "--accept-incomplete-ledger", "--keep-previous", kept, out)
	if code != 0 || !strings.Contains(errs, "warning") || !strings.Contains(stdout, kept) {
		t.Fatalf("accepted restore: exit %d %s %s", code, stdout, errs)
	}
	if code, stdout, errs := runCLI(t, nil, "backup", "verify", "--data", dir, kept); code != 0 || !strings.Contains(stdout, "intact") {
		t.Fatalf("kept copy: exit %d %s %s", code, stdout, errs)
	}
	if code, _, errs := runCLI(t, nil, "restore", "--data", dir, out); code != 0 {
		t.Fatalf("restore over the rebuilt ledger: exit %d %s", code, errs)
	}
	// ledger check tells beforehand; ledger rebuild repairs a running installation.
	if err := os.Remove(filepath.Join(dir, "erasure-ledger.jsonl")); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, nil, "ledger", "check", "--data", dir); code != 3 || !strings.Contains(errs, "missing") {
		t.Fatalf("ledger check without the file: exit %d %q, want 3", code, errs)
	}
	if code, stdout, errs := runCLI(t, nil, "ledger", "rebuild", "--data", dir); code != 0 || !strings.Contains(stdout, "rebuilt") {
		t.Fatalf("ledger rebuild: exit %d %s %s", code, stdout, errs)
	}
	if code, stdout, errs := runCLI(t, nil, "ledger", "check", "--data", dir); code != 0 || !strings.Contains(stdout, "intact") {
		t.Fatalf("ledger check after rebuild: exit %d %s %s", code, stdout, errs)
	}
	if code, _, errs := runCLI(t, nil, "restore", "--data", dir, out); code != 0 {
		t.Fatalf("restore after rebuild: exit %d %s", code, errs)
	}
}
