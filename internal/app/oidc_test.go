package app

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
)

// TestConsoleOIDC signs staff in through a real OpenID Connect provider (mockoidc, in the
// test process): the authorisation code flow with PKCE, the account made at the first
// sign-in with the role the person's groups map to, and the console as that person; a person
// whose groups map to no role, one without an e-mail address, and an answer that does not
// belong to a sign-in started here are refused.
func TestConsoleOIDC(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown()
	p := newPortalEnv(t, "", func(c *config.Config) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = m.Issuer(), m.ClientID, config.Secret(m.ClientSecret)
		c.OIDCRoles = "privacy-team=dpo,helpdesk=support"
	})
	signIn := func(u *mockoidc.MockUser) (*http.Response, string) {
		t.Helper()
		m.QueueUser(u)
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.Get(p.public + "/console/oidc/login")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, page := signIn(&mockoidc.MockUser{Subject: "1", Email: "Priya@Shop.example", EmailVerified: true, Groups: []string{"everyone", "privacy-team"}})
	if resp.StatusCode != 200 || !strings.HasSuffix(resp.Request.URL.Path, "/console") || !strings.Contains(page, "priya@shop.example (dpo)") {
		t.Fatalf("sign-in through the provider: %d at %s\n%.400s", resp.StatusCode, resp.Request.URL, page)
	}
	es, _ := p.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Action: "staff.sign_in", Limit: 10})
	if len(es) == 0 || !strings.HasPrefix(es[0].ActorID, "staff:") || es[0].Target != "via:oidc" || es[0].ActorRole != "dpo" {
		t.Errorf("audit of the sign-in: %+v", es)
	}

	if resp, page := signIn(&mockoidc.MockUser{Subject: "2", Email: "guest@shop.example", EmailVerified: true, Groups: []string{"everyone"}}); resp.StatusCode != 403 || !strings.Contains(page, "no role") {
		t.Errorf("a person whose groups map to no role: %d", resp.StatusCode)
	}
	if resp, page := signIn(&mockoidc.MockUser{Subject: "3", Groups: []string{"helpdesk"}}); resp.StatusCode != 401 || !strings.Contains(page, "no e-mail address") {
		t.Errorf("a person without an e-mail address: %d", resp.StatusCode)
	}
	// An answer that does not belong to a sign-in started here.
	resp2, err := http.Get(p.public + "/console/oidc/callback?code=forged&state=forged")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 401 {
		t.Errorf("a callback without its sign-in: %d", resp2.StatusCode)
	}
}
