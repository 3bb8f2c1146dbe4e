package app

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/browsertest"
	"github.com/stewardhq/steward/internal/config"
)

// mailLink returns the first link to path in the newest of want e-mails.
func (p *portalEnv) mailLink(path string, want int) string {
	p.t.Helper()
	msg := p.lastMessage(".eml", want)
	m := regexp.MustCompile(regexp.QuoteMeta(p.public+path) + `\?token=[A-Za-z0-9_-]+`).FindString(strings.ReplaceAll(msg, "=\r\n", ""))
	if m == "" {
		p.t.Fatalf("no %s link in the mail", path)
	}
	return m
}

// TestSignUpFormInChromium fills the hosted sign-up form in a real browser: a refused
// submission and its messages, a good one with both boxes ticked, the thank-you page, the
// confirmation link from the e-mail and its button. Every page passes axe-core.
func TestSignUpFormInChromium(t *testing.T) {
	b := browsertest.New(t)
	p := newPortalEnv(t, "")
	p.publish(policyV1)

	b.Navigate(p.public + "/forms/signup")
	b.RequireAccessible("signup")
	b.Screenshot("signup")
	// With JavaScript, a mistyped address is pointed out as soon as the field is left.
	b.Fill("#f-email", "sam@gmial.com")
	b.Click("#f-phone")
	b.WaitFor(`document.getElementById("m-email").textContent.includes("sam@gmail.com")`)
	b.RequireAccessible("signup-hint")
	b.Screenshot("signup-hint")
	p.clock.Advance(5 * time.Second)
	b.Fill("#f-email", "sam@example.com")
	if status := b.Submit("button[type=submit]"); status != http.StatusUnprocessableEntity {
		t.Fatalf("missing names: got %d", status)
	}
	if got := b.Text("#errors"); !strings.Contains(got, "First name is required") || !strings.Contains(got, "Last name is required") {
		t.Fatalf("errors: %q", got)
	}
	b.RequireAccessible("signup-errors")
	b.Screenshot("signup-errors")

	p.clock.Advance(5 * time.Second)
	b.Fill("#f-first_name", "Sam")
	b.Fill("#f-last_name", "Lee")
	b.Click("#c-marketing_email")
	b.Click("#c-marketing_sms")
	if status := b.Submit("button[type=submit]"); status != 200 || !strings.Contains(b.URL(), "/forms/signup/thanks") {
		t.Fatalf("submit: got %d at %s", status, b.URL())
	}
	if got := b.Text("main"); !strings.Contains(got, "follow the link") {
		t.Fatalf("thanks page: %q", got)
	}
	b.RequireAccessible("signup-thanks")
	id := p.customerOf("sam@example.com")
	if got := p.bySource(id); got["signup_form:marketing_sms"] != 1 || got["signup_form:marketing_email"] != 0 {
		t.Fatalf("before confirming: %v", got)
	}
	b.Navigate(p.mailLink("/forms/confirm", 1))
	b.RequireAccessible("signup-confirm")
	if status := b.Submit("button[type=submit]"); status != 200 || !strings.Contains(b.Text("main"), "confirmed") {
		t.Fatalf("confirm: got %d, %q", status, b.Text("main"))
	}
	b.RequireAccessible("signup-confirmed")
	if got := p.bySource(id); got["signup_form:marketing_email"] != 1 {
		t.Fatalf("after confirming: %v", got)
	}
	for _, e := range b.ConsoleErrors() {
		if !strings.Contains(e, "status of 422") {
			t.Errorf("browser reported: %s", e)
		}
	}

	// Without JavaScript the newsletter form works the same.
	nojs := browsertest.New(t)
	if _, err := chromedp.Call(nojs.Context(), emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	nojs.Navigate(p.public + "/forms/newsletter")
	p.clock.Advance(5 * time.Second)
	nojs.Fill("#f-email", "kim@example.com")
	nojs.Click("#c-marketing_email")
	if status := nojs.Submit("button[type=submit]"); status != 200 || !strings.Contains(nojs.URL(), "/forms/newsletter/thanks") {
		t.Fatalf("without JavaScript: %d at %s", status, nojs.URL())
	}
	if ids := p.findable("email", "kim@example.com"); len(ids) != 1 {
		t.Errorf("without JavaScript the customer was not stored: %v", ids)
	}
}

// bannerPage is a shop's page with the consent banner, as docs/consent.md says to add it; gpc
// makes the page's browser send a Global Privacy Control signal.
func bannerPage(steward, key, visitor string, gpc bool) string {
	pre := ""
	if gpc {
		pre = `<script>Object.defineProperty(navigator, "globalPrivacyControl", {value: true});</script>`
	}
	return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<script>localStorage.setItem("ajs_anonymous_id", JSON.stringify("` + visitor + `"));</script>` + pre + `
<script src="` + steward + `/consent.js" data-key="` + key + `" defer></script></head>
<body><main><h1>Our shop</h1><p>Welcome.</p></main>
<script type="text/plain" data-steward-category="Advertising">window.adsRan = true;</script></body></html>`
}

// TestConsentBannerInChromium uses the banner in a real browser: it opens on the shop's page,
// passes axe, Customise shows one box per category, the choice saved reaches the ledger under
// the visitor's anonymous id, and a tag waits for its category. With GPC on, the categories
// it covers are refused and cannot be ticked.
func TestConsentBannerInChromium(t *testing.T) {
	b := browsertest.New(t)
	p := newPortalEnv(t, "")
	p.publish(policyV1)
	p.mustTrack("/v1/identify", `{"type":"identify","anonymousId":"visitor-banner","userId":"u-banner","traits":{"email":"banner@example.com"}}`)
	id := p.customerOf("banner@example.com")
	gpc, visitor := false, "visitor-banner"
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, bannerPage(p.public, p.keys["collect"], visitor, gpc))
	}))
	defer shop.Close()

	b.Navigate(shop.URL)
	b.WaitFor(`document.querySelector(".stw-banner") !== null`)
	if got := b.Text("#stw-title"); got != "Your choices" {
		t.Fatalf("banner heading: %q", got)
	}
	b.RequireAccessible("banner")
	b.Screenshot("banner")
	b.Click("#stw-customise")
	b.WaitFor(`document.querySelectorAll("#stw-choices input[type=checkbox]").length === 3`)
	b.RequireAccessible("banner-customise")
	b.Screenshot("banner-customise")
	b.Click("#stw-c-Personalization")
	b.Click("#stw-save")
	b.WaitFor(`document.querySelector(".stw-banner") === null`)
	deadline := time.Now().Add(5 * time.Second)
	for p.bySource(id)["banner:personalization"] == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := p.bySource(id); got["banner:personalization"] != 1 || got["banner:ads_sharing"] != 1 {
		t.Fatalf("ledger after saving: %v", got)
	}
	var ran bool
	b.Eval(`window.adsRan === true`, &ran)
	if ran {
		t.Error("an advertising tag ran though Advertising was refused")
	}
	var choices map[string]bool
	b.Eval(`window.stewardConsent.get()`, &choices)
	if !choices["Personalization"] || choices["Advertising"] || choices["Analytics"] {
		t.Errorf("choices on the page: %v", choices)
	}
	// A reload remembers the choice: no banner.
	b.Navigate(shop.URL)
	time.Sleep(300 * time.Millisecond)
	var open bool
	b.Eval(`document.querySelector(".stw-banner") !== null`, &open)
	if open {
		t.Error("the banner asks again after a choice")
	}

	// A new visitor whose browser sends GPC.
	gpc = true
	b2 := browsertest.New(t)
	b2.Navigate(shop.URL)
	b2.WaitFor(`document.querySelector(".stw-banner") !== null`)
	if !strings.Contains(b2.Text(".stw-banner"), "Global Privacy Control") {
		t.Error("the banner does not say it honours GPC")
	}
	b2.Click("#stw-customise")
	b2.WaitFor(`document.querySelector("#stw-c-Advertising") !== null`)
	var disabled bool
	b2.Eval(`document.querySelector("#stw-c-Advertising").disabled && !document.querySelector("#stw-c-Advertising").checked`, &disabled)
	if !disabled {
		t.Error("with GPC, Advertising can be ticked")
	}
	b2.RequireAccessible("banner-gpc")
	b2.Screenshot("banner-gpc")

	// Accept all and Reject all, each one click, each recorded.
	gpc = false
	for _, c := range []struct {
		button string
		want   map[string]int
	}{
		{"#stw-accept", map[string]int{"banner:personalization": 1, "banner:ads_sharing": 1}},
		{"#stw-reject", map[string]int{"banner:personalization": 1, "banner:ads_sharing": 1, "banner:analytics": 1}},
	} {
		visitor = "visitor" + c.button[4:]
		p.mustTrack("/v1/identify", `{"type":"identify","anonymousId":"`+visitor+`","userId":"u`+c.button[4:]+`","traits":{"email":"`+c.button[5:]+`@example.com"}}`)
		vid := p.customerOf(c.button[5:] + "@example.com")
		bc := browsertest.New(t)
		bc.Navigate(shop.URL)
		bc.WaitFor(`document.querySelector(".stw-banner") !== null`)
		bc.Click(c.button)
		bc.WaitFor(`document.querySelector(".stw-banner") === null`)
		deadline := time.Now().Add(5 * time.Second)
		for len(p.bySource(vid)) < len(c.want) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		got := p.bySource(vid)
		for k, n := range c.want {
			if got[k] != n {
				t.Errorf("%s: ledger %v, want %v", c.button, got, c.want)
				break
			}
		}
		var adsRan bool
		bc.Eval(`window.adsRan === true`, &adsRan)
		if adsRan != (c.button == "#stw-accept") {
			t.Errorf("%s: the advertising tag ran: %v", c.button, adsRan)
		}
	}
	for _, br := range []*browsertest.Browser{b, b2} {
		for _, e := range br.ConsoleErrors() {
			t.Errorf("browser reported: %s", e)
		}
	}
}

// TestPortalAndNoticeInChromium walks the privacy portal in a real browser — the sign-in
// page, the link from the e-mail and its button, the customer's page, a consent given — and
// reads the privacy notice; every page passes axe.
func TestPortalAndNoticeInChromium(t *testing.T) {
	b := browsertest.New(t)
	p := newPortalEnv(t, "")
	p.publish(policyV1)
	id := p.create(`{"email":"robin@example.com","first_name":"Robin","city":"Leeds"}`)
	// Robin is a loyalty member, so the page carries the member card and its QR code too.
	if code, body := p.do(call{method: "POST", path: "/v1/customers/" + id + "/loyalty", role: "support"}); code != 200 {
		t.Fatalf("enrol: %d %s", code, body)
	}

	b.Navigate(p.public + "/privacy")
	if got := b.Text("h1"); got != "Privacy notice" {
		t.Fatalf("notice heading: %q", got)
	}
	b.RequireAccessible("notice")
	b.Screenshot("notice")

	b.Navigate(p.public + "/portal")
	b.RequireAccessible("portal-sign-in")
	b.Fill("#email", "robin@example.com")
	if status := b.Submit("button[type=submit]"); status != 200 || !strings.Contains(b.Text("main"), "we have e-mailed it a link") {
		t.Fatalf("ask for a link: %d %q", status, b.Text("main"))
	}
	b.Navigate(p.mailLink("/portal/enter", 1))
	b.RequireAccessible("portal-enter")
	if status := b.Submit("button[type=submit]"); status != 200 || !strings.HasSuffix(b.URL(), "/portal") {
		t.Fatalf("sign in: %d at %s", status, b.URL())
	}
	if got := b.Text("main"); !strings.Contains(got, "robin@example.com") || !strings.Contains(got, "Leeds") || !strings.Contains(got, "Your member card") {
		t.Fatalf("portal page: %q", got)
	}
	b.RequireAccessible("portal")
	b.Screenshot("portal")
	if status := b.Submit(`form[action="/portal/choices"]:has(input[value="marketing_email"]) button`); status != 200 {
		t.Fatalf("give consent: %d", status)
	}
	if d := p.decision(id, "marketing_email"); !d.Allowed {
		t.Errorf("marketing e-mail after the portal: %+v", d)
	}
	b.RequireAccessible("portal-after-choice")
	for _, e := range b.ConsoleErrors() {
		t.Errorf("browser reported: %s", e)
	}
}

// contestForms is a forms file with a proof of work and a shop allowed to frame the forms.
const contestForms = `
embed_origins: [https://shop.example]
forms:
  - name: contest
    title: {en: Win a hamper}
    fields: [{field: email, required: true}]
    purposes: [{purpose: marketing_sms}]
    proof_of_work: 12
`

// TestProofOfWorkFormInChromium: a form asking for a proof of work is sent normally by a
// browser (the page computes it), refused when posted without one, and may be framed only by
// the shop's origin.
func TestProofOfWorkFormInChromium(t *testing.T) {
	file := filepath.Join(t.TempDir(), "forms.yaml")
	if err := os.WriteFile(file, []byte(contestForms), 0o600); err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	p := newPortalEnv(t, "", func(c *config.Config) { c.Forms = file })
	p.publish(policyV1)

	resp, err := http.Get(p.public + "/forms/contest")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors https://shop.example") {
		t.Errorf("CSP: %s", csp)
	}
	// Posted by a script that does no work: refused, nothing stored.
	fc := p.env.browser()
	v := fc.fill("/forms/contest", map[string]string{"email": "lazy@example.com"})
	if code, _, page := fc.post("/forms/contest", v); code != 422 || !strings.Contains(page, "quicker than a person") {
		t.Errorf("without the proof: %d", code)
	}
	b.Navigate(p.public + "/forms/contest")
	p.clock.Advance(5 * time.Second)
	b.Fill("#f-email", "worker@example.com")
	b.WaitFor(`document.querySelector("input[name=pow]").value !== ""`)
	if status := b.Submit("button[type=submit]"); status != 200 || !strings.Contains(b.URL(), "/forms/contest/thanks") {
		t.Fatalf("with the proof: %d at %s", status, b.URL())
	}
	if ids := p.findable("email", "worker@example.com"); len(ids) != 1 {
		t.Errorf("the customer was not stored: %v", ids)
	}
}

// TestConsoleInChromium signs a person in to the console in a real browser — password, then
// setting up their authenticator with a code from a real TOTP library — finds a customer,
// opens them masked, reveals them for a purpose and signs out; every page passes axe.
func TestConsoleInChromium(t *testing.T) {
	b := browsertest.New(t)
	p := newPortalEnv(t, "")
	if _, err := p.app.Staff.Add(authz.WithActor(context.Background(), authz.System), "dana@shop.example", "support", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	p.create(`{"email":"quinn@example.com","first_name":"Quinn","city":"York"}`)

	b.Navigate(p.public + "/console/login")
	b.RequireAccessible("console-login")
	b.Fill("#email", "dana@shop.example")
	b.Fill("#password", "a long enough password")
	if status := b.Submit("button[type=submit]"); status != 200 || !strings.HasSuffix(b.URL(), "/console/mfa") {
		t.Fatalf("password: %d at %s", status, b.URL())
	}
	b.RequireAccessible("console-enrol")
	b.Screenshot("console-enrol")
	secret := b.Text("code")
	code, err := totp.GenerateCode(secret, p.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.Fill("#code", code)
	if status := b.Submit("button[type=submit]"); status != 200 || !strings.HasSuffix(b.URL(), "/console") {
		t.Fatalf("code: %d at %s", status, b.URL())
	}
	b.RequireAccessible("console-home")
	b.Fill("#q", "Quin York")
	b.Submit("form[role=search] button")
	b.Screenshot("console-results")
	b.Submit("td a")
	if got := b.Text("main"); strings.Contains(got, "quinn@example.com") || !strings.Contains(got, "masked") {
		t.Fatalf("customer page: %q", got)
	}
	b.RequireAccessible("console-customer")
	reveal(b, "support", "ticket 4711")
	if got := b.Text("main"); !strings.Contains(got, "quinn@example.com") || !strings.Contains(got, "York") {
		t.Fatalf("revealed: %q", got)
	}
	b.RequireAccessible("console-revealed")
	b.Screenshot("console-revealed")
	b.Submit("header button")
	if !strings.HasSuffix(b.URL(), "/console/login") {
		t.Errorf("after signing out: %s", b.URL())
	}
	for _, e := range b.ConsoleErrors() {
		t.Errorf("browser reported: %s", e)
	}
}

// signInConsole signs a new staff member in through the browser (password, authenticator).
func (p *portalEnv) signInConsole(t *testing.T, b *browsertest.Browser, email, role string) string {
	t.Helper()
	acc, err := p.app.Staff.Add(authz.WithActor(context.Background(), authz.System), email, role, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	b.Navigate(p.public + "/console/login")
	b.Fill("#email", email)
	b.Fill("#password", "a long enough password")
	b.Submit("button[type=submit]")
	code, err := totp.GenerateCode(b.Text("code"), p.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.Fill("#code", code)
	if status := b.Submit("button[type=submit]"); status != 200 || !strings.HasSuffix(b.URL(), "/console") {
		t.Fatalf("sign in: %d at %s", status, b.URL())
	}
	return acc.ID
}

// TestConsoleWorkInChromium works the queues in a real browser: a DPO verifies and completes
// an erasure request, and reviews a duplicate pair, merging it; the audit trail names them.
func TestConsoleWorkInChromium(t *testing.T) {
	b := browsertest.New(t)
	p := newPortalEnv(t, "")
	gone := p.create(`{"email":"leaving@example.com","first_name":"Lee"}`)
	rid := p.request(`{"type":"erasure","customer_id":"` + gone + `"}`)
	a := p.create(`{"email":"one@example.com","first_name":"Sam"}`)
	p.create(`{"email":"two@example.com","first_name":"Sam"}`)
	p.mustCollect("/v1/i", `{"type":"identify","userId":"u-pair","traits":{"email":"one@example.com"}}`)
	p.mustCollect("/v1/i", `{"type":"identify","userId":"u-pair","traits":{"email":"two@example.com"}}`)
	person := p.signInConsole(t, b, "olive@shop.example", "owner")

	b.Navigate(p.public + "/console/requests")
	if got := b.Text("main"); !strings.Contains(got, "erasure") || !strings.Contains(got, gone) {
		t.Fatalf("requests page: %q", got)
	}
	b.RequireAccessible("console-requests")
	b.Screenshot("console-requests")
	b.Submit(`form[action="/console/requests/` + rid + `/verify"] button`)
	b.Submit(`form[action="/console/requests/` + rid + `/complete"] button`)
	if code, _ := p.do(call{method: "GET", path: "/v1/customers/" + gone, role: "owner"}); code != 410 {
		t.Errorf("after completing the erasure in the console: %d", code)
	}

	b.Navigate(p.public + "/console/duplicates")
	if got := b.Text("main"); !strings.Contains(got, "shared identifier") {
		t.Fatalf("duplicates page: %q", got)
	}
	b.RequireAccessible("console-duplicates")
	b.Screenshot("console-duplicates")
	b.Submit(`form[action$="/merge"] button`)
	if code, out := p.do(call{method: "GET", path: "/v1/customers/" + a + "/merges", role: "owner"}); code != 200 || !strings.Contains(out, "winner_id") {
		t.Errorf("after merging in the console: %d %s", code, out)
	}
	es, _ := p.app.Store.Audit().ListAudit(context.Background(), audit.Filter{ActorID: "staff:" + person, Limit: 100})
	named := map[string]bool{}
	for _, en := range es {
		named[en.Action] = true
	}
	for _, want := range []string{"request.verify", "customer.erase", "duplicates.list", "customer.merge"} {
		if !named[want] {
			t.Errorf("no %s entry naming the person: %v", want, named)
		}
	}
	for _, e := range b.ConsoleErrors() {
		t.Errorf("browser reported: %s", e)
	}
}
