package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/config"
)

// loadConfig runs a command line and returns the configuration it loaded and its output.
func loadConfig(t *testing.T, envv map[string]string, args ...string) (config.Config, string) {
	t.Helper()
	var out, errb bytes.Buffer
	root, s := newRootSettings(env{stdout: &out, stderr: &errb, getenv: func(k string) string { return envv[k] }})
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%s: %v %s", strings.Join(args, " "), err, errb.String())
	}
	return s.cfg, out.String()
}

// TestConfigPrintReadsBack: what config print writes, given back with --config, is the same
// configuration, durations and all (they printed as nanoseconds once, which no flag takes).
func TestConfigPrintReadsBack(t *testing.T) {
	dir := t.TempDir()
	want, printed := loadConfig(t, nil, "config", "print", "--data", filepath.Join(dir, "data"), "--addr", "127.0.0.1:9090",
		"--default-region", "DE", "--email-mx-check", "--max-body", "2097152", "--log-level", "warn",
		"--dedup-window", "36h", "--export-ttl", "90m", "--retention-every", "6h", "--duplicate-scan-every", "0",
		"--cart-abandon-after", "45m30s", "--contact-inactive-after", "2160h", "--backup-every", "12h",
		"--duplicate-review-threshold", "0.6", "--duplicate-merge-threshold", "0.97", "--inactive-after", "3y",
		"--survivorship", "email=most_recent", "--request-deadlines", "gdpr=1m,ccpa=45d", "--ip-mode", "prefix",
		"--acme-domain", "crm.example.com,shop.example.com", "--acme-domain", "www.example.com", "--acme-email", "ops@example.com")
	if strings.Contains(printed, "000000000") {
		t.Fatalf("config print writes a duration as nanoseconds:\n%s", printed)
	}
	file := filepath.Join(dir, "steward.yaml")
	if err := os.WriteFile(file, []byte(printed), 0o600); err != nil {
		t.Fatal(err)
	}
	got, again := loadConfig(t, nil, "config", "print", "--config", file)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back:\n%+v\nwant\n%+v", got, want)
	}
	if again != printed {
		t.Fatalf("printed again:\n%s\nwant\n%s", again, printed)
	}
	if reflect.DeepEqual(want, config.Default()) {
		t.Fatal("the test set nothing")
	}
}

// TestConfigFileRefusals: a file straight from config print with a secret still redacted,
// and a duration without its unit, are refused naming the setting and what to write.
func TestConfigFileRefusals(t *testing.T) {
	dir := t.TempDir()
	_, printed := loadConfig(t, map[string]string{"STEWARD_DB": "postgres://u:pw@db/steward"}, "config", "print", "--data", dir)
	file := filepath.Join(dir, "steward.yaml")
	for _, tt := range []struct{ name, body, want string }{
		{"redacted secret", printed, `db is "[redacted]"`},
		{"nanoseconds", "dedup-window: 86400000000000\n", "invalid value for dedup-window: want a duration"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(file, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errs := runCLI(t, nil, "config", "print", "--config", file)
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d %q, want a refusal with %q", code, errs, tt.want)
			}
		})
	}
}

// TestACMEDomainSources: acme-domain is a list from every source (repeated flags, a comma
// list in the environment, a YAML list or a comma string in a file), and its refusals reach
// the command line naming the setting.
func TestACMEDomainSources(t *testing.T) {
	dir := t.TempDir()
	want := []string{"crm.example.com", "privacy.example.com"}
	file := func(body string) string {
		f := filepath.Join(dir, "steward.yaml")
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for name, got := range map[string]func() config.Config{
		"flags": func() config.Config {
			c, _ := loadConfig(t, nil, "config", "print", "--acme-domain", want[0], "--acme-domain", want[1])
			return c
		},
		"environment": func() config.Config {
			c, _ := loadConfig(t, map[string]string{"STEWARD_ACME_DOMAIN": strings.Join(want, ",")}, "config", "print")
			return c
		},
		"file list": func() config.Config {
			c, _ := loadConfig(t, nil, "config", "print", "--config", file("acme-domain: [crm.example.com, privacy.example.com]\n"))
			return c
		},
		"file string": func() config.Config {
			c, _ := loadConfig(t, nil, "config", "print", "--config", file("acme-domain: crm.example.com,privacy.example.com\n"))
			return c
		},
	} {
		if c := got(); !reflect.DeepEqual(c.ACMEDomains, want) {
			t.Errorf("%s: got %q, want %q", name, c.ACMEDomains, want)
		}
	}
	for args, msg := range map[string]string{
		"--acme-domain crm.example.com --tls-cert c.pem --tls-key k.pem": "acme-domain: cannot be combined with tls-cert and tls-key",
		"--acme-domain 203.0.113.7":                                      `acme-domain: "203.0.113.7" is an IP address`,
		"--acme-email ops@example.com":                                   "acme-email: only used with acme-domain",
	} {
		code, _, errs := runCLI(t, nil, append([]string{"config", "print"}, strings.Fields(args)...)...)
		if code == 0 || !strings.Contains(errs, msg) {
			t.Errorf("%s: exit %d %q, want a refusal with %q", args, code, errs, msg)
		}
	}
}
