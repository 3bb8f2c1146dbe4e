package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/browsertest"
)

// TestConsoleInviteInChromium: an owner invites a person from the console; the person opens
// the one-time link in their own browser, chooses a password, and must set up a second factor
// before any page opens (their role may reveal personal data); the link then works no more.
func TestConsoleInviteInChromium(t *testing.T) {
	b := browsertest.New(t)
	p := newPortalEnv(t, "")
	p.signInConsole(t, b, "olive@shop.example", "owner")
	b.Navigate(p.public + "/console/account")
	b.Fill("#invite-email", "Nia@Shop.example")
	b.Select("#invite-role", "support")
	b.Submit(`form[action="/console/invites"] button`)
	link := b.Text("#invite-link")
	if !strings.HasPrefix(link, p.public+"/console/invite/si_") {
		t.Fatalf("invitation link: %q", link)
	}
	b.RequireAccessible("console-invite-made")

	nia := browsertest.New(t)
	nia.Navigate(link)
	if got := nia.Text("main"); !strings.Contains(got, "nia@shop.example") || !strings.Contains(got, "support") {
		t.Fatalf("invitation page: %q", got)
	}
	nia.RequireAccessible("console-invite")
	nia.Fill("#password", "a long enough password")
	nia.Fill("#password2", "a long enough password")
	if status := nia.Submit("button[type=submit]"); status != 200 || !strings.HasSuffix(nia.URL(), "/console/mfa") {
		t.Fatalf("accept: %d at %s", status, nia.URL())
	}
	secret := nia.Text("code")
	// No page opens before the second factor.
	nia.Navigate(p.public + "/console")
	if !strings.Contains(nia.URL(), "/console/login") {
		t.Fatalf("a page opened before the second factor: %s", nia.URL())
	}
	nia.Navigate(p.public + "/console/mfa")
	code, _ := totp.GenerateCode(secret, p.clock.Now())
	nia.Fill("#code", code)
	if status := nia.Submit(`form[action="/console/mfa"] button`); status != 200 || !strings.Contains(nia.Text("header"), "nia@shop.example (support)") {
		t.Fatalf("second factor: %d %q", status, nia.Text("header"))
	}
	// The link works once.
	if status := nia.Navigate(link); status != http.StatusGone {
		t.Errorf("the link again: %d", status)
	}
	es, _ := p.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 100})
	acts := map[string]bool{}
	for _, e := range es {
		acts[e.Action+":"+e.ActorRole] = true
	}
	for _, want := range []string{"staff.invite:owner", "staff.add:support", "staff.mfa_enrol:support", "staff.sign_in:support"} {
		if !acts[want] {
			t.Errorf("no %s entry: %v", want, acts)
		}
	}
	for _, e := range append(b.ConsoleErrors(), nia.ConsoleErrors()...) {
		if !strings.Contains(e, "status of 410") {
			t.Errorf("browser reported: %s", e)
		}
	}
}

// TestInviteRules: only people who may manage staff invite, never to more than they hold;
// an expired invitation and a second use are refused; a form posted from another site to a
// sign-in form is refused.
func TestInviteRules(t *testing.T) {
	p := newPortalEnv(t, "")
	sys := authz.WithActor(context.Background(), authz.System)
	if _, _, err := p.app.Staff.Invite(authz.WithActor(context.Background(), staffActor("x", "s@shop.example", "support")), "a@shop.example", "support"); err == nil {
		t.Error("a support person invited someone")
	}
	if _, _, err := p.app.Staff.Invite(authz.WithActor(context.Background(), staffActor("x", "a@shop.example", "admin")), "b@shop.example", "owner"); err == nil {
		t.Error("an admin invited an owner")
	}
	if _, _, err := p.app.Staff.Invite(sys, "c@shop.example", "collect"); err == nil {
		t.Error("an invitation with a write key's role")
	}
	secret, _, err := p.app.Staff.Invite(sys, "d@shop.example", "auditor")
	if err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(73 * time.Hour)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"password": {"a long enough password"}, "password2": {"a long enough password"}}
	resp, err := client.PostForm(p.public+"/console/invite/"+secret, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("an expired invitation: %d", resp.StatusCode)
	}
	secret, _, _ = p.app.Staff.Invite(sys, "e@shop.example", "auditor")
	req, _ := http.NewRequest("POST", p.public+"/console/invite/"+secret, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("an invitation accepted from another site: %v %v", err, resp.StatusCode)
	}
	if resp, err := client.PostForm(p.public+"/console/invite/"+secret, url.Values{"password": {"short"}, "password2": {"short"}}); err != nil || resp.StatusCode != 422 {
		t.Errorf("a short password: %v %v", err, resp.StatusCode)
	}
	if resp, err := client.PostForm(p.public+"/console/invite/"+secret, form); err != nil || resp.StatusCode != 303 {
		t.Errorf("accept: %v %v", err, resp.StatusCode)
	}
	if resp, err := client.PostForm(p.public+"/console/invite/"+secret, form); err != nil || resp.StatusCode != http.StatusGone {
		t.Errorf("a second use: %v %v", err, resp.StatusCode)
	}
}
