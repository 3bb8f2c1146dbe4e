package app

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/browsertest"
	"github.com/stewardhq/steward/internal/config"
)

// TestConsoleOIDCAndCASInChromium signs people in through an OpenID Connect provider
// (mockoidc) and a CAS 3.0 server, both in the test process, in a real browser: from the
// console's sign-in page to the provider and back, to the page asked for before signing in.
func TestConsoleOIDCAndCASInChromium(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown()
	cas := newCASServer(t)
	p := newPortalEnv(t, "", func(c *config.Config) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = m.Issuer(), m.ClientID, config.Secret(m.ClientSecret)
		c.OIDCRoles = "privacy-team=dpo"
		c.CASURL, c.CASRoles = cas.URL+"/cas", "helpdesk=support"
	})

	b := browsertest.New(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "1", Email: "priya@shop.example", EmailVerified: true, Groups: []string{"privacy-team"}})
	b.Navigate(p.public + "/console/requests")
	if !strings.Contains(b.URL(), "/console/login?next=") {
		t.Fatalf("a signed-out page: %s", b.URL())
	}
	b.Submit(`a[href^="/console/oidc/login"]`)
	if !strings.HasSuffix(b.URL(), "/console/requests") || !strings.Contains(b.Text("header"), "priya@shop.example (dpo)") {
		t.Fatalf("after OIDC: %s %q", b.URL(), b.Text("header"))
	}

	c := browsertest.New(t)
	cas.next = `<cas:mail>casey@shop.example</cas:mail><cas:memberOf>helpdesk</cas:memberOf>`
	c.Navigate(p.public + "/console/login")
	c.Submit(`a[href^="/console/cas/login"]`)
	if !strings.Contains(c.Text("header"), "casey@shop.example (support)") {
		t.Fatalf("after CAS: %s %q", c.URL(), c.Text("header"))
	}
	c.RequireAccessible("console-cas-home")
	for _, e := range append(b.ConsoleErrors(), c.ConsoleErrors()...) {
		t.Errorf("browser reported: %s", e)
	}
}

// TestConsoleCookieOverHTTPS: over HTTPS the session cookie is __Host-: Secure, the whole
// host, no Domain, HttpOnly and SameSite=Strict, so no other site or subdomain can set or
// read it; pages may not be framed.
func TestConsoleCookieOverHTTPS(t *testing.T) {
	e := newEnv(t, "")
	if _, err := e.app.Staff.Add(authz.WithActor(context.Background(), authz.System), "tls@shop.example", "auditor", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(e.app.HTTP().Handler())
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test's own server
	resp, err := client.PostForm(srv.URL+"/console/login", url.Values{"email": {"tls@shop.example"}, "password": {"a long enough password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var got *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "__Host-") {
			got = c
		}
	}
	if resp.StatusCode != 303 || got == nil || !got.Secure || !got.HttpOnly || got.Path != "/" || got.Domain != "" || got.SameSite != http.SameSiteStrictMode {
		t.Fatalf("the session cookie over HTTPS: %d %+v", resp.StatusCode, got)
	}
	resp, err = client.Get(srv.URL + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("the sign-in page may be framed: %q", csp)
	}
}
