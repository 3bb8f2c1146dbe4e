package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
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
	// A re-authentication asks the provider to authenticate afresh, and refuses an answer that
	// does not say it did (mockoidc sends no auth_time).
	m.QueueUser(&mockoidc.MockUser{Subject: "1", Email: "priya@shop.example", EmailVerified: true, Groups: []string{"privacy-team"}})
	jar, _ := cookiejar.New(nil)
	var asked string
	fc := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), m.Issuer()) && asked == "" {
			asked = req.URL.RawQuery
		}
		return nil
	}}
	resp3, err := fc.Get(p.public + "/console/oidc/login?force=1&next=/console/account")
	if err != nil {
		t.Fatal(err)
	}
	body3, _ := io.ReadAll(resp3.Body)
	resp3.Body.Close()
	if !strings.Contains(asked, "prompt=login") || !strings.Contains(asked, "max_age=0") || resp3.StatusCode != 401 || !strings.Contains(string(body3), "fresh sign-in") {
		t.Errorf("a forced sign-in: asked %q, got %d", asked, resp3.StatusCode)
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

// casServer is a CAS 3.0 server for tests: its login page signs in whoever the test says and
// redirects to the service with a ticket; /p3/serviceValidate answers for a ticket once, and
// only for the service it was issued to, as the protocol says.
type casServer struct {
	*httptest.Server
	mu      sync.Mutex
	next    string // the XML attributes of the next person to sign in
	tickets map[string][2]string
	// validations are the queries of the validation requests, in order.
	validations []string
}

func newCASServer(t *testing.T) *casServer {
	c := &casServer{tickets: map[string][2]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cas/login", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		service := r.URL.Query().Get("service")
		ticket := fmt.Sprintf("ST-%d-test", len(c.tickets)+1)
		c.tickets[ticket] = [2]string{service, c.next}
		sep := "?"
		if strings.Contains(service, "?") {
			sep = "&"
		}
		http.Redirect(w, r, service+sep+"ticket="+ticket, http.StatusFound)
	})
	mux.HandleFunc("GET /cas/p3/serviceValidate", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.validations = append(c.validations, r.URL.RawQuery)
		t, ok := c.tickets[r.URL.Query().Get("ticket")]
		delete(c.tickets, r.URL.Query().Get("ticket"))
		w.Header().Set("Content-Type", "application/xml")
		if !ok || t[0] != r.URL.Query().Get("service") {
			io.WriteString(w, `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationFailure code="INVALID_TICKET">no</cas:authenticationFailure></cas:serviceResponse>`)
			return
		}
		io.WriteString(w, `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess><cas:user>person</cas:user><cas:attributes>`+
			t[1]+`</cas:attributes></cas:authenticationSuccess></cas:serviceResponse>`)
	})
	c.Server = httptest.NewServer(mux)
	t.Cleanup(c.Close)
	return c
}

// TestConsoleCAS signs staff in through a CAS 3.0 server: the ticket validated for the
// service it was issued to, once; the groups mapped to a role; a ticket replayed or used
// without the sign-in's cookie refused.
func TestConsoleCAS(t *testing.T) {
	cas := newCASServer(t)
	p := newPortalEnv(t, "", func(c *config.Config) {
		c.CASURL, c.CASRoles = cas.URL+"/cas", "helpdesk=support"
	})
	cas.next = `<cas:mail>Casey@Shop.example</cas:mail><cas:memberOf>staff</cas:memberOf><cas:memberOf>helpdesk</cas:memberOf>`
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	var last string
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.Contains(req.URL.Path, "/console/cas/callback") {
			last = req.URL.String()
		}
		return nil
	}
	resp, err := c.Get(p.public + "/console/cas/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "casey@shop.example (support)") {
		t.Fatalf("sign-in through CAS: %d %.300s", resp.StatusCode, page)
	}
	// The same ticket again, in the same browser: the server answers for a ticket once.
	if resp, err := c.Get(last); err != nil || resp.StatusCode != 401 {
		t.Errorf("a replayed ticket: %v %v", err, resp.StatusCode)
	}
	// A re-authentication asks the server for fresh credentials, at login and validation.
	var loginQuery string
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == "/cas/login" {
			loginQuery = req.URL.RawQuery
		}
		return nil
	}
	if resp, err := c.Get(p.public + "/console/cas/login?force=1"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a renewed CAS sign-in: %v %v", err, resp)
	}
	if !strings.HasSuffix(loginQuery, "&renew=true") || !strings.HasSuffix(cas.validations[len(cas.validations)-1], "&renew=true") {
		t.Errorf("renew not asked for: login %q, validation %q", loginQuery, cas.validations[len(cas.validations)-1])
	}

	// A fresh ticket brought by a browser that did not start the sign-in.
	cas.next = `<cas:mail>mallory@shop.example</cas:mail><cas:memberOf>helpdesk</cas:memberOf>`
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ = plain.Get(p.public + "/console/cas/login")
	loc := resp.Header.Get("Location")
	resp, _ = plain.Get(loc)
	resp, err = plain.Get(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != 401 {
		t.Errorf("a ticket without the sign-in's cookie: %v %d", err, resp.StatusCode)
	}
}
