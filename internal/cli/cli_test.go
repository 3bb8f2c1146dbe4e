package cli

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

func runCLI(t *testing.T, envv map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, env{stdout: &out, stderr: &errb, getenv: func(k string) string { return envv[k] }})
	return code, out.String(), errb.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestInitAPIKeyAndAuditVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, out, errs := runCLI(t, nil, "init", "--data", dir)
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, errs)
	}
	if key := lastLine(out); !strings.HasPrefix(key, "stw_") {
		t.Fatalf("got last line %q, want the owner key", key)
	}
	info, err := os.Stat(filepath.Join(dir, "root.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("root key mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	if code, _, errs := runCLI(t, nil, "init", "--data", dir); code == 0 || !strings.Contains(errs, "root key") {
		t.Fatalf("second init: exit %d %q, want a refusal", code, errs)
	}

	// Flags also come from STEWARD_* variables.
	code, out, errs = runCLI(t, map[string]string{"STEWARD_DATA": dir}, "apikey", "create", "--role", "support", "--name", "desk")
	if code != 0 {
		t.Fatalf("apikey create: exit %d: %s", code, errs)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "stw_") {
		t.Fatalf("apikey create printed %q, want only the key", out)
	}
	if code, _, errs := runCLI(t, nil, "apikey", "create", "--data", dir, "--role", "wizard", "--name", "x"); code == 0 || !strings.Contains(errs, "role") {
		t.Fatalf("unknown role: exit %d %q", code, errs)
	}
	code, out, _ = runCLI(t, nil, "apikey", "list", "--data", dir)
	if code != 0 || !strings.Contains(out, "support") || strings.Contains(out, lastLine(out)+"_") {
		t.Fatalf("apikey list: exit %d %s", code, out)
	}

	if code, out, errs := runCLI(t, nil, "audit", "verify", "--data", dir); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify: exit %d %s %s", code, out, errs)
	}
	// Edit one entry behind Steward's back: verify must fail and name it.
	db, err := sql.Open("sqlite", filepath.Join(dir, "steward.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_log SET actor_role = 'auditor' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, _, errs = runCLI(t, nil, "audit", "verify", "--data", dir)
	if code == 0 || !strings.Contains(errs, "entry 2") {
		t.Fatalf("verify after tampering: exit %d %q, want failure naming entry 2", code, errs)
	}
}

func TestConfigLayers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "steward.yaml")
	if err := os.WriteFile(file, []byte("addr: 127.0.0.1:9999\ndefault-region: US\ndb: postgres://u:filesecret@h/db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s.tokensecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	envv := map[string]string{"STEWARD_DEFAULT_REGION": "DE", "STEWARD_VAULT_TOKEN_FILE": tokenFile}
	code, out, errs := runCLI(t, envv, "config", "print", "--config", file, "--addr", "127.0.0.1:7000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{`"addr": "127.0.0.1:7000"`, `"default-region": "DE"`, `"db": "[redacted]"`, `"vault-token": "[redacted]"`} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "filesecret") || strings.Contains(out, "tokensecret") {
		t.Errorf("config print leaks a secret:\n%s", out)
	}
	if err := os.WriteFile(file, []byte("adress: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, nil, "config", "print", "--config", file); code == 0 || !strings.Contains(errs, "adress") {
		t.Fatalf("unknown config key: exit %d %q", code, errs)
	}
}

func TestMigrateStatusAndKeysRotate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errs := runCLI(t, nil, "init", "--data", dir); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := runCLI(t, nil, "migrate", "status", "--data", dir)
	if code != 0 || !strings.Contains(out, "access_trail") || !strings.Contains(out, "steward-access.db") || !strings.Contains(out, "initial") || strings.Contains(out, "pending") {
		t.Fatalf("migrate status: exit %d %s %s", code, out, errs)
	}
	code, out, errs = runCLI(t, nil, "keys", "rotate", "--data", dir)
	if code != 0 || !strings.Contains(out, "v2") {
		t.Fatalf("keys rotate: exit %d %s %s", code, out, errs)
	}
	if code, out, _ := runCLI(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "steward ") {
		t.Fatalf("version: %d %s", code, out)
	}
}
