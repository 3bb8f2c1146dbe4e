package config

import (
	"strings"
	"testing"
	"time"
)

func TestDumpRedactsSecrets(t *testing.T) {
	c := Default()
	c.DB = "postgres://steward:hunter2@db/steward"
	c.VaultToken = "s.supersecret"
	out := c.Dump()
	for _, secret := range []string{"hunter2", "supersecret"} {
		if strings.Contains(out, secret) {
			t.Errorf("dump contains %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "[redacted]") {
		t.Errorf("dump does not show that a secret is set:\n%s", out)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"default", func(*Config) {}, ""},
		{"bad addr", func(c *Config) { c.Addr = "8080" }, "addr"},
		{"bad db", func(c *Config) { c.DB = "mysql://x" }, "db"},
		{"bad sync", func(c *Config) { c.SQLiteSync = "OFF" }, "sqlite-sync"},
		{"transit without token", func(c *Config) { c.Root = "vault-transit"; c.VaultAddr = "http://v"; c.VaultKey = "k" }, "root"},
		{"index bits", func(c *Config) { c.IndexBits = 40 }, "index-bits"},
		{"tls half", func(c *Config) { c.TLSCert = "a.pem" }, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error about %s", err, tt.want)
			}
		})
	}
}

// TestDumpWritesDurationsAsFlagsTakeThem: JSON would write a time.Duration as nanoseconds,
// which no duration flag accepts, so a printed configuration could not be read back.
func TestDumpWritesDurationsAsFlagsTakeThem(t *testing.T) {
	c := Default()
	c.RetentionEvery = 90 * time.Minute
	c.CartAbandonAfter = 90 * time.Second
	out := c.Dump()
	for _, want := range []string{`"dedup-window": "24h"`, `"export-ttl": "168h"`, `"retention-every": "1h30m"`,
		`"cart-abandon-after": "1m30s"`, `"duplicate-scan-every": "24h"`, `"max-body": 1048576`, `"duplicate-review-threshold": 0.5`} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %s:\n%s", want, out)
		}
	}
	for _, d := range []time.Duration{0, time.Second, 90 * time.Second, time.Hour, 25*time.Hour + time.Minute, 1500 * time.Millisecond} {
		got, err := time.ParseDuration(formatDuration(d))
		if err != nil || got != d {
			t.Errorf("formatDuration(%v) = %q, which parses as %v (%v)", d, formatDuration(d), got, err)
		}
	}
}
