package app

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/browsertest"
	"github.com/stewardhq/steward/internal/config"
)

// virtualAuthenticator gives the browser a platform authenticator (like a laptop's
// fingerprint reader) through the DevTools protocol, so the page's real
// navigator.credentials calls run against it.
func virtualAuthenticator(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	err := chromedp.Do(b.Context(), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
		return err
	}))
	if err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}
}

// localhostEnv is Steward whose public address is http://localhost:PORT: browsers allow
// passkeys only on https or localhost, and a relying party is a host name, never an IP.
func localhostEnv(t *testing.T) (*portalEnv, string) {
	p := newPortalEnv(t, "", func(c *config.Config) { c.PublicURL = strings.Replace(c.PublicURL, "127.0.0.1", "localhost", 1) })
	return p, strings.Replace(p.public, "127.0.0.1", "localhost", 1)
}

// TestConsolePasskeysInChromium enrols a passkey from the console in a real browser, with
// Chromium's virtual authenticator answering the WebAuthn API, then signs in with it as the
// second factor, confirms a reveal with it ten minutes on, signs in with it alone, and
// removes it; each step is audited in the person's name.
func TestConsolePasskeysInChromium(t *testing.T) {
	b := browsertest.New(t)
	virtualAuthenticator(t, b)
	p, site := localhostEnv(t)
	acc, err := p.app.Staff.Add(authz.WithActor(context.Background(), authz.System), "pat@shop.example", "support", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	id := p.create(`{"email":"quinn@example.com","first_name":"Quinn","city":"York"}`)

	password := func() {
		t.Helper()
		b.Navigate(site + "/console/login")
		b.Fill("#email", "pat@shop.example")
		b.Fill("#password", "a long enough password")
		if status := b.Submit("button[type=submit]"); status != 200 || !strings.HasSuffix(b.URL(), "/console/mfa") {
			t.Fatalf("password: %d at %s", status, b.URL())
		}
	}
	password()
	code, _ := totp.GenerateCode(b.Text("code"), p.clock.Now())
	b.Fill("#code", code)
	b.Submit(`form[action="/console/mfa"] button`)

	b.Navigate(site + "/console/account")
	b.RequireAccessible("console-account")
	b.Fill("#passkey-name", "Laptop")
	b.Click("#add-passkey")
	b.WaitFor(`document.querySelector("table td") && document.querySelector("table td").innerText === "Laptop"`)
	b.Screenshot("console-account-passkey")
	if got := b.Text("#passkey-status"); got != "" && !strings.Contains(got, "Waiting") {
		t.Fatalf("enrolment: %q", got)
	}

	// Sign out, and in again with the password and the passkey.
	b.Submit("header button")
	password()
	b.RequireAccessible("console-mfa-passkey")
	b.Click("#use-passkey")
	b.WaitFor(`location.pathname === "/console" && document.querySelector("header") !== null`)
	if got := b.Text("header"); !strings.Contains(got, "pat@shop.example (support)") {
		t.Fatalf("after the passkey: %q", got)
	}

	// A reveal eleven minutes on is confirmed with the passkey.
	p.clock.Advance(11 * time.Minute)
	b.Navigate(site + "/console/customers/" + id)
	reveal(b, "support", "ticket 99")
	if !strings.Contains(b.URL(), "/console/reauth") {
		t.Fatalf("the reveal did not ask again: %s", b.URL())
	}
	b.Click("#use-passkey")
	b.WaitFor(`location.pathname === "/console/customers/` + id + `" && document.querySelector("#reason") !== null`)
	reveal(b, "support", "ticket 99")
	if got := b.Text("main"); !strings.Contains(got, "quinn@example.com") {
		t.Fatalf("revealed: %q", got)
	}

	// Sign out, and in with the passkey alone (it needs the device's own verification).
	b.Submit("header button")
	b.Navigate(site + "/console/login?next=%2Fconsole%2Faccount")
	b.RequireAccessible("console-login-passkey")
	b.Click("#passkey-sign-in")
	b.WaitFor(`location.pathname === "/console/account" && document.querySelector("header") !== null`)
	if got := b.Text("header"); !strings.Contains(got, "pat@shop.example (support)") {
		t.Fatalf("after signing in with the passkey alone: %q", got)
	}

	// Remove it.
	b.Navigate(site + "/console/account")
	b.Submit(`form[action$="/remove"] button`)
	if got := b.Text("main"); !strings.Contains(got, "You have no passkey") {
		t.Fatalf("after removing: %q", got)
	}
	es, _ := p.app.Store.Audit().ListAudit(context.Background(), audit.Filter{ActorID: "staff:" + acc.ID, Limit: 100})
	acts := map[string]bool{}
	for _, e := range es {
		acts[e.Action+":"+e.Outcome+":"+e.Target] = true
	}
	for _, want := range []string{"staff.passkey_add:ok:", "staff.sign_in:ok:passkey", "staff.reauthenticate:ok:", "staff.passkey_remove:ok:", "staff.sign_out:ok:", "staff.sign_in:ok:passkey, passwordless", "customer.reveal:ok:reason:ticket 99"} {
		if !acts[want] {
			t.Errorf("no %s entry naming the person: %v", want, acts)
		}
	}
	for _, e := range b.ConsoleErrors() {
		t.Errorf("browser reported: %s", e)
	}
}

// TestPasskeySignInRefusals: a passkey sign-in without its ceremony, with an answer that is
// not a passkey's, or from another site signs nobody in.
func TestPasskeySignInRefusals(t *testing.T) {
	_, site := localhostEnv(t)
	call := func(path, cookie, body string, header ...string) (int, []*http.Cookie) {
		t.Helper()
		req, _ := http.NewRequest("POST", site+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "steward_passkey", Value: cookie})
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Cookies()
	}
	if code, _ := call("/console/passkey/sign-in", "", `{}`); code != 401 {
		t.Errorf("without a ceremony: %d", code)
	}
	code, cookies := call("/console/passkey/sign-in/begin", "", "")
	var ceremony string
	for _, c := range cookies {
		if c.Name == "steward_passkey" {
			ceremony = c.Value
		}
	}
	if code != 200 || ceremony == "" {
		t.Fatalf("begin: %d", code)
	}
	forged := `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"authenticatorData":"AAAA","clientDataJSON":"e30","signature":"AAAA","userHandle":"AAAA"}}`
	if code, _ := call("/console/passkey/sign-in", ceremony, forged); code != 401 {
		t.Errorf("a forged answer: %d", code)
	}
	if code, _ := call("/console/passkey/sign-in/begin", "", "", "Sec-Fetch-Site", "cross-site"); code != 403 {
		t.Errorf("begun from another site: %d", code)
	}
}

// reveal asks, on the customer page the browser shows, to see the customer in clear for a
// purpose and a reason.
func reveal(b *browsertest.Browser, purpose, reason string) {
	b.Select("#purpose", purpose)
	b.Fill("#reason", reason)
	b.Submit(`form[action$="/reveal"] button`)
}
