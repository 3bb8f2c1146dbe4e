package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func TestPolicyPublishSQLite(t *testing.T) { testPolicyPublish(t, "") }

func TestPolicyPublishPostgres(t *testing.T) { testPolicyPublish(t, pgtest.URL(t)) }

// testPolicyPublish walks the README's path: a fresh installation knows no policy, so an
// import with consent columns is refused until steward policy publish has published the
// version it names; bad flags are refused naming the flag, and publish nothing.
func testPolicyPublish(t *testing.T, db string) {
	with := initialized(t, db)
	csv := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(csv, []byte("E-mail,Newsletter\nada@example.com,yes\ngrace@example.com,no\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	imp := with("import", csv, "--map", "E-mail=email", "--consent", "Newsletter=marketing_email", "--policy-version", "2025-03")
	if code, _, errs := runCLI(t, nil, imp...); code == 0 || !strings.Contains(errs, `unknown policy version "2025-03"`) {
		t.Fatalf("import before publishing: exit %d %q", code, errs)
	}
	text := filepath.Join(t.TempDir(), "privacy.md")
	if err := os.WriteFile(text, []byte("# Privacy\n\nWe email offers to customers who ask for them.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.md")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no version", []string{"--file", text, "--purposes", "service"}, "--version is required"},
		{"bad version", []string{"--version", "2025 03", "--file", text, "--purposes", "service"}, "--version: must be 1 to 64"},
		{"no file", []string{"--version", "2025-03", "--purposes", "service"}, "--file is required"},
		{"missing file", []string{"--version", "2025-03", "--file", text + ".nope", "--purposes", "service"}, "--file: "},
		{"empty file", []string{"--version", "2025-03", "--file", empty, "--purposes", "service"}, "is empty"},
		{"no purposes", []string{"--version", "2025-03", "--file", text}, "--purposes is required"},
		{"unknown purpose", []string{"--version", "2025-03", "--file", text, "--purposes", "service,newsletter"}, `--purposes: purposes[1]: unknown purpose "newsletter"`},
		{"material change not covered", []string{"--version", "2025-03", "--file", text, "--purposes", "service", "--material-change", "marketing_sms"},
			`--material-change: purpose "marketing_sms" is not among`},
		{"material change without consent", []string{"--version", "2025-03", "--file", text, "--purposes", "service", "--material-change", "service"},
			"--material-change: purpose \"service\" rests on contract"},
		{"effective in the past", []string{"--version", "2025-03", "--file", text, "--purposes", "service", "--effective-at", "2001-01-01T00:00:00Z"},
			"--effective-at: must not be in the past"},
		{"effective not a time", []string{"--version", "2025-03", "--file", text, "--purposes", "service", "--effective-at", "tomorrow"},
			"--effective-at: must be an RFC 3339 time"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCLI(t, nil, with(append([]string{"policy", "publish"}, tt.args...)...)...)
			if code == 0 || !strings.Contains(errs, tt.want) || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want a refusal with %q", code, out, errs, tt.want)
			}
		})
	}
	code, out, errs := runCLI(t, nil, with("policy", "publish", "--version", "2025-03", "--file", text,
		"--purposes", "service, marketing_email", "--material-change", "marketing_email", "--language", "en")...)
	if code != 0 || !strings.Contains(out, "published privacy policy 2025-03") || !strings.Contains(out, "service, marketing_email") {
		t.Fatalf("publish: exit %d %q %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, nil, with("policy", "publish", "--version", "2025-03", "--file", text, "--purposes", "service")...); code == 0 ||
		!strings.Contains(errs, `--version: "2025-03" is already published`) {
		t.Fatalf("publishing again: exit %d %q", code, errs)
	}
	code, out, errs = runCLI(t, nil, imp...)
	if code != 0 || !strings.Contains(out, "created 2") || !strings.Contains(out, "consents recorded 2") {
		t.Fatalf("import after publishing: exit %d %q %s", code, out, errs)
	}
	if code, out, errs := runCLI(t, nil, with("audit", "verify")...); code != 0 {
		t.Fatalf("audit verify: exit %d %s %s", code, out, errs)
	}
}
