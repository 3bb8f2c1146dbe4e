package config

import (
	"strings"
	"testing"
)

// TestValidateIdentity: SAML metadata from https or a file, with a public URL and a role map;
// a directory only over LDAPS or StartTLS, with a user base and a role map.
func TestValidateIdentity(t *testing.T) {
	ldap := func(c *Config) {
		c.LDAPURL, c.LDAPUserBase, c.LDAPRoles = "ldaps://ldap.example.com", "ou=people,dc=example,dc=com", "helpdesk=support"
	}
	saml := func(c *Config) {
		c.SAMLIdPMetadata, c.PublicURL, c.SAMLRoles = "https://idp.example.com/metadata", "https://steward.example.com", "staff=support"
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"saml", saml, ""},
		{"saml metadata file", func(c *Config) { saml(c); c.SAMLIdPMetadata = "/etc/steward/idp.xml" }, ""},
		{"saml metadata over http", func(c *Config) { saml(c); c.SAMLIdPMetadata = "http://idp.example.com/metadata" }, "saml-idp-metadata"},
		{"saml without public url", func(c *Config) { saml(c); c.PublicURL = "" }, "saml-idp-metadata"},
		{"saml without roles", func(c *Config) { saml(c); c.SAMLRoles = "" }, "saml-roles"},
		{"saml roles alone", func(c *Config) { c.SAMLRoles = "staff=support" }, "saml-roles"},
		{"ldaps", ldap, ""},
		{"ldap with starttls", func(c *Config) { ldap(c); c.LDAPURL = "ldap://ldap.example.com" }, ""},
		{"ldap over http", func(c *Config) { ldap(c); c.LDAPURL = "http://ldap.example.com" }, "ldap-url"},
		{"ldap without user base", func(c *Config) { ldap(c); c.LDAPUserBase = "" }, "ldap-user-base"},
		{"ldap without roles", func(c *Config) { ldap(c); c.LDAPRoles = "" }, "ldap-roles"},
		{"ldap roles not group=role", func(c *Config) { ldap(c); c.LDAPRoles = "helpdesk" }, "ldap-roles"},
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
