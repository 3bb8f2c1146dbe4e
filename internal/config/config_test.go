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
		{"acme", func(c *Config) {
			c.ACMEDomains = []string{"crm.example.com", "Bücher.example"}
			c.ACMEEmail = "ops@example.com"
		}, ""},
		{"acme with cert files", func(c *Config) { c.ACMEDomains = []string{"crm.example.com"}; c.TLSCert, c.TLSKey = "a.pem", "b.pem" }, "acme-domain: cannot be combined"},
		{"acme single label", func(c *Config) { c.ACMEDomains = []string{"localhost"} }, "acme-domain"},
		{"acme IP", func(c *Config) { c.ACMEDomains = []string{"192.0.2.1"} }, "acme-domain"},
		{"acme URL", func(c *Config) { c.ACMEDomains = []string{"https://crm.example.com"} }, "acme-domain"},
		{"acme wildcard", func(c *Config) { c.ACMEDomains = []string{"*.example.com"} }, "acme-domain"},
		{"acme underscore", func(c *Config) { c.ACMEDomains = []string{"my_shop.example.com"} }, "acme-domain"},
		{"acme dash label", func(c *Config) { c.ACMEDomains = []string{"-shop.example.com"} }, "acme-domain"},
		{"acme twice", func(c *Config) { c.ACMEDomains = []string{"crm.example.com", "CRM.example.com."} }, "acme-domain"},
		{"acme http directory", func(c *Config) { c.ACMEDomains = []string{"crm.example.com"}; c.ACMEDirectory = "http://ca/dir" }, "acme-directory"},
		{"acme email", func(c *Config) { c.ACMEDomains = []string{"crm.example.com"}; c.ACMEEmail = "Ops <ops@example.com>" }, "acme-email"},
		{"acme email alone", func(c *Config) { c.ACMEEmail = "ops@example.com" }, "acme-email"},
		{"acme http addr", func(c *Config) { c.ACMEDomains = []string{"crm.example.com"}; c.ACMEHTTPAddr = "80" }, "acme-http-addr"},
		{"acme missing root", func(c *Config) { c.ACMEDomains = []string{"crm.example.com"}; c.ACMECARoot = "/nonexistent.pem" }, "acme-ca-root"},
		{"saml", withSAML, ""},
		{"saml metadata file", func(c *Config) { withSAML(c); c.SAMLIdPMetadata = "/etc/steward/idp.xml" }, ""},
		{"saml metadata over http", func(c *Config) { withSAML(c); c.SAMLIdPMetadata = "http://idp.example.com/metadata" }, "saml-idp-metadata"},
		{"saml without public url", func(c *Config) { withSAML(c); c.PublicURL = "" }, "saml-idp-metadata"},
		{"saml without roles", func(c *Config) { withSAML(c); c.SAMLRoles = "" }, "saml-roles"},
		{"saml key without certificate", func(c *Config) { withSAML(c); c.SAMLKeyFile = "key.pem" }, "saml-key-file"},
		{"saml roles alone", func(c *Config) { c.SAMLRoles = "staff=support" }, "saml-roles"},
		{"ldaps", withLDAP, ""},
		{"ldap with starttls", func(c *Config) { withLDAP(c); c.LDAPURL = "ldap://ldap.example.com" }, ""},
		{"ldap over http", func(c *Config) { withLDAP(c); c.LDAPURL = "http://ldap.example.com" }, "ldap-url"},
		{"ldap without user base", func(c *Config) { withLDAP(c); c.LDAPUserBase = "" }, "ldap-user-base"},
		{"ldap without roles", func(c *Config) { withLDAP(c); c.LDAPRoles = "" }, "ldap-roles"},
		{"ldap roles not group=role", func(c *Config) { withLDAP(c); c.LDAPRoles = "helpdesk" }, "ldap-roles"},
		{"ldap roles alone", func(c *Config) { c.LDAPRoles = "helpdesk=support" }, "ldap-roles"},
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
// TestACMEHosts: names are checked as written and used as TLS clients send them.
func TestACMEHosts(t *testing.T) {
	c := Default()
	c.ACMEDomains = []string{"CRM.Example.com.", "bücher.example"}
	got := strings.Join(c.ACMEHosts(), " ")
	if want := "crm.example.com xn--bcher-kva.example"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

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

// withSAML and withLDAP configure the SAML and LDAP sign-ins of staff as docs/console.md shows.
func withSAML(c *Config) {
	c.SAMLIdPMetadata, c.PublicURL, c.SAMLRoles = "https://idp.example.com/metadata", "https://steward.example.com", "staff=support"
}

func withLDAP(c *Config) {
	c.LDAPURL, c.LDAPUserBase, c.LDAPRoles = "ldaps://ldap.example.com", "ou=people,dc=example,dc=com", "helpdesk=support"
}
