package app

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/httpapi"
	"github.com/stewardhq/steward/internal/sso"
)

// samlLabel keys the sealing of SAML sign-ins in flight.
const samlLabel = "saml flight v1"

// newWebAuthn configures passkeys for the console's public address: the relying party is its
// host name, and only its origin may use them. Browsers allow passkeys on https:// origins
// and on http://localhost; without --public-url, or on an IP address (which cannot name a
// relying party), passkeys are off.
func newWebAuthn(cfg config.Config) (*webauthn.WebAuthn, error) {
	if cfg.PublicURL == "" {
		return nil, nil
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || u.Hostname() == "" || net.ParseIP(u.Hostname()) != nil {
		return nil, nil
	}
	if u.Scheme != "https" && u.Hostname() != "localhost" {
		return nil, nil
	}
	return webauthn.New(&webauthn.Config{RPID: u.Hostname(), RPDisplayName: "Steward", RPOrigins: []string{u.Scheme + "://" + u.Host},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: 2 * time.Minute},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute},
		}})
}

// openIdentity builds the SAML and LDAP sign-ins that are configured, checking that their
// role maps name catalog roles for people.
func (a *App) openIdentity(cfg config.Config, cat *catalog.Catalog) (httpapi.Identity, error) {
	var id httpapi.Identity
	samlRoles, _ := cfg.SAMLRoleMap()
	ldapRoles, _ := cfg.LDAPRoleMap()
	for _, gr := range append(append(config.RoleMap{}, samlRoles...), ldapRoles...) {
		if _, ok := cat.Role(gr[1]); !ok || cat.BrowserSafe(gr[1]) || gr[1] == "ingest" {
			return id, fmt.Errorf("saml-roles, ldap-roles: %q is not a catalog role for people", gr[1])
		}
	}
	id.SAMLRoles, id.LDAPRoles = samlRoles, ldapRoles
	if cfg.SAMLIdPMetadata != "" {
		key, cert, err := samlKeyPair(cfg)
		if err != nil {
			return id, err
		}
		id.SAML = a.saml(cfg, key, cert)
	}
	if cfg.LDAPURL != "" {
		t := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.LDAPCAFile != "" {
			pem, err := os.ReadFile(cfg.LDAPCAFile)
			if err != nil {
				return id, fmt.Errorf("ldap-ca-file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return id, fmt.Errorf("ldap-ca-file: no PEM certificate in %s", cfg.LDAPCAFile)
			}
			t.RootCAs = pool
		}
		l, err := sso.NewLDAP(sso.LDAPSettings{URL: cfg.LDAPURL, BindDN: cfg.LDAPBindDN, BindPassword: cfg.LDAPBindPassword.Reveal(),
			UserBase: cfg.LDAPUserBase, UserFilter: cfg.LDAPUserFilter, GroupBase: cfg.LDAPGroupBase, GroupFilter: cfg.LDAPGroupFilter,
			GroupAttribute: cfg.LDAPGroupAttribute, TLS: t})
		if err != nil {
			return id, fmt.Errorf("ldap-url: %w", err)
		}
		id.LDAP = l
	}
	return id, nil
}

// saml returns the SAML service provider, reading the identity provider's metadata at the
// first sign-in (and again after a failure), so that Steward starts while the provider is
// down.
func (a *App) saml(cfg config.Config, key *rsa.PrivateKey, cert *x509.Certificate) func(ctx context.Context) (*sso.SAML, error) {
	var mu sync.Mutex
	var p *sso.SAML
	base := strings.TrimSuffix(cfg.PublicURL, "/") + "/console/saml"
	return func(ctx context.Context) (*sso.SAML, error) {
		mu.Lock()
		defer mu.Unlock()
		if p != nil {
			return p, nil
		}
		meta, err := readMetadata(ctx, cfg.SAMLIdPMetadata)
		if err != nil {
			return nil, err
		}
		sp, err := sso.NewSAML(sso.SAMLSettings{IdPMetadata: meta, EntityID: cfg.SAMLEntityID, MetadataURL: base + "/metadata", ACSURL: base + "/acs",
			EmailAttribute: cfg.SAMLEmail, GroupsAttribute: cfg.SAMLGroups, Key: key, Cert: cert, Secret: a.Keys.KeyedHash(samlLabel, nil),
			Consumed: a.Store.Staff().ConsumeOnce, Now: a.Clock})
		if err != nil {
			return nil, err
		}
		p = sp
		return p, nil
	}
}

// readMetadata reads an identity provider's metadata from a URL or a file.
func readMetadata(ctx context.Context, where string) ([]byte, error) {
	if !strings.Contains(where, "://") {
		b, err := os.ReadFile(where)
		if err != nil {
			return nil, fmt.Errorf("saml-idp-metadata: %w", err)
		}
		return b, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("saml-idp-metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("saml-idp-metadata: %s answered %d", where, resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// samlKeyPair reads Steward's SAML key and certificate, when configured.
func samlKeyPair(cfg config.Config) (*rsa.PrivateKey, *x509.Certificate, error) {
	if cfg.SAMLKeyFile == "" {
		return nil, nil, nil
	}
	pair, err := tls.LoadX509KeyPair(cfg.SAMLCertFile, cfg.SAMLKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("saml-key-file, saml-cert-file: %w", err)
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("saml-key-file: must be an RSA key (SAML encryption needs one)")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("saml-cert-file: %w", err)
	}
	return key, cert, nil
}
