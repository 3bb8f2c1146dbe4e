package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/net/idna"
)

// LetsEncrypt is the production directory of Let's Encrypt, the ACME server used unless
// acme-directory names another.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// ACME reports whether certificates are obtained automatically (acme-domain is set).
func (c Config) ACME() bool { return len(c.ACMEDomains) > 0 }

// ACMECacheDir is where the ACME account key and the certificates are kept: inside the data
// directory, so they share its permissions (0700, files 0600) and its backups of the host,
// and a restart does not ask the CA again (Let's Encrypt limits how often it may be asked).
func (c Config) ACMECacheDir() string { return filepath.Join(c.Data, "acme") }

// ACMEHosts is acme-domain as the names TLS clients send: IDNA A-labels, lower case.
func (c Config) ACMEHosts() []string {
	var out []string
	for _, d := range c.ACMEDomains {
		if h, err := acmeHost(d); err == nil {
			out = append(out, h)
		}
	}
	return out
}

// validateACME checks the acme-* settings. They are refused together with certificate files,
// since Steward would otherwise have to choose silently which certificate a client sees.
func (c Config) validateACME() error {
	if !c.ACME() {
		switch {
		case c.ACMEEmail != "":
			return fmt.Errorf("acme-email: only used with acme-domain")
		case c.ACMEHTTPAddr != "":
			return fmt.Errorf("acme-http-addr: only used with acme-domain")
		case c.ACMECARoot != "":
			return fmt.Errorf("acme-ca-root: only used with acme-domain")
		}
		return nil
	}
	if c.TLSCert != "" || c.TLSKey != "" {
		return fmt.Errorf("acme-domain: cannot be combined with tls-cert and tls-key; use one or the other")
	}
	seen := map[string]bool{}
	for _, d := range c.ACMEDomains {
		h, err := acmeHost(d)
		if err != nil {
			return fmt.Errorf("acme-domain: %w", err)
		}
		if seen[h] {
			return fmt.Errorf("acme-domain: %q is given twice", d)
		}
		seen[h] = true
	}
	u, err := url.Parse(c.ACMEDirectory)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("acme-directory: must be an https:// URL, such as %s", LetsEncrypt)
	}
	if c.ACMEEmail != "" {
		a, err := mail.ParseAddress(c.ACMEEmail)
		if err != nil || a.Address != c.ACMEEmail || a.Name != "" {
			return fmt.Errorf("acme-email: %q is not a plain e-mail address", c.ACMEEmail)
		}
	}
	if c.ACMEHTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.ACMEHTTPAddr); err != nil {
			return fmt.Errorf("acme-http-addr: must be host:port, such as :80")
		}
		if c.ACMEHTTPAddr == c.Addr {
			return fmt.Errorf("acme-http-addr: must differ from addr, which serves HTTPS")
		}
	}
	if c.ACMECARoot != "" {
		if _, err := c.ACMERoots(); err != nil {
			return fmt.Errorf("acme-ca-root: %w", err)
		}
	}
	return nil
}

// ACMERoots is the certificate pool acme-ca-root names, or nil (the system's roots) when it
// is empty. A private ACME server (step-ca, an internal Boulder or Pebble) usually has a
// certificate no system trusts.
func (c Config) ACMERoots() (*x509.CertPool, error) {
	if c.ACMECARoot == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.ACMECARoot)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", c.ACMECARoot)
	}
	return pool, nil
}

// acmeHost checks that d is a DNS name a public CA can issue a certificate for over HTTP-01 or
// TLS-ALPN-01, and returns it in the form TLS clients send it.
func acmeHost(d string) (string, error) {
	d = strings.TrimSpace(d)
	switch {
	case d == "":
		return "", fmt.Errorf("a domain is empty")
	case strings.HasPrefix(d, "*."):
		return "", fmt.Errorf("%q: wildcard certificates need the DNS-01 challenge, which Steward does not answer; list each name", d)
	case strings.Contains(d, "://") || strings.ContainsAny(d, "/:@"):
		return "", fmt.Errorf("%q is not a DNS name: give the bare host name, such as crm.example.com", d)
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return "", fmt.Errorf("%q is an IP address: ACME certificates are issued here for DNS names only", d)
	}
	h, err := idna.Lookup.ToASCII(strings.TrimSuffix(d, "."))
	if err != nil {
		return "", fmt.Errorf("%q is not a DNS name: %v", d, err)
	}
	h = strings.ToLower(h)
	if len(h) > 253 {
		return "", fmt.Errorf("%q is not a DNS name: longer than 253 characters", d)
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%q is not a DNS name a CA can issue for: it needs at least two labels, such as crm.example.com", d)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("%q is not a DNS name: each label has 1 to 63 characters and neither starts nor ends with a dash", d)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return "", fmt.Errorf("%q is not a DNS name: %q is not allowed in a host name", d, r)
			}
		}
	}
	return h, nil
}
