package app

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	daily "github.com/stewardhq/steward/internal/activity"
	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/browsertest"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// key presses one key in the page, as a person at the keyboard does.
func key(t *testing.T, b *browsertest.Browser, k string) {
	t.Helper()
	if _, err := chromedp.Run(b.Context(), chromedp.KeyEvent(k)); err != nil {
		t.Fatalf("key %q: %v", k, err)
	}
}

// page opens path and checks that the page is there for the person (status 200), passes axe
// and is kept as a screenshot.
func (p *portalEnv) page(t *testing.T, b *browsertest.Browser, path, name string) string {
	t.Helper()
	if status := b.Navigate(p.public + path); status != http.StatusOK {
		t.Fatalf("%s: got %d, want 200", path, status)
	}
	b.RequireAccessible(name)
	b.Screenshot(name)
	return b.Text("main")
}

// TestConsolePagesInChromium works every page of the console in a real browser as the owner:
// the dashboard's charts, search as you type with the keyboard, the customer's sections, an
// edit refused field by field and then made, a policy version published and compared, the
// audit trail filtered and verified, the quality report, and administration (a key made once
// and revoked, a person disabled). Then a person of another role sees only what their role
// allows, and search works with JavaScript off. Every page passes axe.
func TestConsolePagesInChromium(t *testing.T) {
	b := browsertest.New(t)
	p := newPortalEnv(t, "")
	p.publish(policyV1)
	id := p.create(`{"email":"quinn@example.com","first_name":"Quinn","last_name":"Avery","city":"York","loyalty_points":120}`)
	p.create(`{"email":"quentin@example.com","first_name":"Quentin","last_name":"Avery","city":"Leeds"}`)
	p.mustTrack("/v1/identify", `{"userId":"u-quinn","traits":{"email":"quinn@example.com"}}`)
	p.mustTrack("/v1/track", `{"event":"Order Completed","userId":"u-quinn","properties":{"order_id":"W-7","total":42.5,"currency":"GBP"}}`)
	p.mustTrack("/v1/track", `{"event":"Order Refunded","userId":"u-quinn","properties":{"order_id":"W-7","total":10,"reason":"return"}}`)
	p.mustTrack("/v1/track", `{"event":"Product Reviewed","userId":"u-quinn","properties":{"product_id":"p-1","rating":4}}`)
	for _, c := range []string{`"marketing_email","granted":true`, `"marketing_sms","granted":false`} {
		if code, out := p.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
			body: `{"purpose":` + c + `,"policy_version":"2026-01","source":"signup_form","channel":"web"}`}); code != 201 {
			t.Fatalf("consent: %d %s", code, out)
		}
	}
	p.request(`{"type":"access","customer_id":"` + id + `"}`)
	sys := authz.WithActor(context.Background(), authz.System)
	if _, err := p.app.Staff.Add(sys, "leaver@shop.example", "support", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	owner := p.signInConsole(t, b, "olive@shop.example", "owner")

	// The dashboard: a chart per series, each an image with a name and a table beside it.
	main := p.page(t, b, "/console", "console-dashboard")
	for _, want := range []string{"New customers per day", "Events per day", "Consent choices per day", "Data-subject requests per day"} {
		if !strings.Contains(main, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	var charts int
	b.Eval(`document.querySelectorAll("svg.chart[role=img] title").length`, &charts)
	if charts != 4 {
		t.Errorf("dashboard charts: got %d, want 4", charts)
	}

	// Search as you type: the list fills, the arrow keys choose, Enter opens.
	b.Fill("#q", "Avery")
	b.WaitFor(`document.querySelectorAll("#live [data-href]").length === 2 && !document.getElementById("live").hidden`)
	if got := b.Text("#live-status"); !strings.Contains(got, "2 matches") {
		t.Errorf("live status: %q", got)
	}
	key(t, b, kb.ArrowDown)
	key(t, b, kb.ArrowDown)
	key(t, b, kb.ArrowUp)
	var active string
	b.Eval(`document.getElementById("q").getAttribute("aria-activedescendant")`, &active)
	if active != "live-0" {
		t.Errorf("after down, down, up: active %q, want live-0", active)
	}
	b.RequireAccessible("console-live-search")
	b.Screenshot("console-live-search")
	var href string
	b.Eval(`document.getElementById("live-0").dataset.href`, &href)
	key(t, b, kb.Enter)
	b.WaitFor(`location.pathname === ` + strconv.Quote(href))

	if main := p.page(t, b, "/console/search?q=Avery+York", "console-search"); !strings.Contains(main, "Matched") {
		t.Errorf("search page: %q", main)
	}

	// The customer page's sections.
	b.Navigate(p.public + "/console/customers/" + id)
	main = b.Text("main")
	for _, want := range []string{"Loyalty", "loyalty points", "Contact status and quality flags", "The consent ledger", "2026-01", "Signed receipt",
		"W-7", "42.50 GBP", "return 10.00", "a product review, rated 4", "Event timeline", "Order Completed", "Open requests", "access: received",
		"Who processed this customer's data"} {
		if !strings.Contains(main, want) {
			t.Errorf("customer page lacks %q", want)
		}
	}
	if strings.Contains(main, "quinn@example.com") {
		t.Error("the customer page shows the e-mail address in clear before a reveal")
	}
	b.RequireAccessible("console-customer-sections")
	b.Screenshot("console-customer-sections")

	// An edit with bad values: each named next to its field, nothing written.
	b.Submit(`a[href$="/edit"]`)
	b.Fill("#f-email", "not an address")
	b.Fill("#f-loyalty_points", "lots")
	b.Fill("#f-last_name", "Avery-Jones")
	if status := b.Submit(`form[action$="/edit"] button`); status != http.StatusUnprocessableEntity {
		t.Fatalf("bad edit: got %d, want 422", status)
	}
	if got := b.Text("#m-email"); !strings.Contains(got, "email") {
		t.Errorf("e-mail message: %q", got)
	}
	if got := b.Text("#m-loyalty_points"); !strings.Contains(got, "must be an integer") {
		t.Errorf("points message: %q", got)
	}
	if code, out := p.do(call{method: "GET", path: "/v1/customers/" + id, role: "owner", header: map[string]string{"Steward-Purpose": "support"}}); code != 200 ||
		!strings.Contains(out, `"last_name":"Avery"`) || !strings.Contains(out, `"loyalty_points":120`) {
		t.Fatalf("a refused edit changed the customer: %d %s", code, out)
	}
	b.RequireAccessible("console-edit-errors")
	b.Screenshot("console-edit-errors")
	b.Fill("#f-email", "quinn.avery@example.com")
	b.Fill("#f-loyalty_points", "150")
	if status := b.Submit(`form[action$="/edit"] button`); status != 200 || !strings.HasSuffix(b.URL(), "/console/customers/"+id) {
		t.Fatalf("good edit: %d at %s", status, b.URL())
	}
	if code, out := p.do(call{method: "GET", path: "/v1/customers/" + id, role: "owner", header: map[string]string{"Steward-Purpose": "support"}}); code != 200 ||
		!strings.Contains(out, `"last_name":"Avery-Jones"`) || !strings.Contains(out, `"email":"quinn.avery@example.com"`) || !strings.Contains(out, `"loyalty_points":150`) {
		t.Errorf("after the edit: %d %s", code, out)
	}

	// Publish the next policy version: compared with the one before, the material change marked.
	b.Navigate(p.public + "/console/policies")
	b.Fill("#p-version", "2026-02")
	b.Fill("#p-text", "We email offers to those who ask.\nWe text offers to those who ask.")
	b.Click(`input[name="m.marketing_email"]`)
	if status := b.Submit(`form[action="/console/policies"] button`); status != 200 || !strings.Contains(b.URL(), "published=2026-02") {
		t.Fatalf("publish: %d at %s", status, b.URL())
	}
	main = b.Text("main")
	for _, want := range []string{"Published version 2026-02", "What version 2026-02 changed from 2026-01", "Material change for marketing email",
		"added: + We text offers to those who ask.", "removed: - We email offers to those who ask, and share", "Consent rates"} {
		if !strings.Contains(main, want) {
			t.Errorf("policy page lacks %q", want)
		}
	}
	b.RequireAccessible("console-policies")
	b.Screenshot("console-policies")
	if code, out := p.do(call{method: "GET", path: "/v1/policies/2026-02", role: "owner"}); code != 200 || !strings.Contains(out, `"material_change":["marketing_email"]`) {
		t.Errorf("the published version: %d %s", code, out)
	}
	// A version that exists already is refused, with the reason, and nothing is published.
	b.Fill("#p-version", "2026-02")
	if status := b.Submit(`form[action="/console/policies"] button`); status != http.StatusUnprocessableEntity {
		t.Errorf("the same version again: got %d, want 422", status)
	}

	// The audit trail: filtered to this person, then verified.
	main = p.page(t, b, "/console/audit?actor=olive%40shop.example", "console-audit")
	for _, want := range []string{"customer.update", "policy.publish", "customer.read"} {
		if !strings.Contains(main, want) {
			t.Errorf("the person's audit entries lack %s", want)
		}
	}
	if strings.Contains(main, "system") {
		t.Error("the filter by person let another actor's entries through")
	}
	if main := b.Text("main"); !strings.Contains(main, "staff:"+owner) {
		t.Errorf("filtering by the person's address: %q", main)
	}
	if status := b.Navigate(p.public + "/console/audit?actor=nobody%40shop.example"); status != http.StatusUnprocessableEntity {
		t.Errorf("an unknown person: got %d", status)
	}
	if status := b.Navigate(p.public + "/console/audit?since=yesterday"); status != http.StatusUnprocessableEntity || !strings.Contains(b.Text("main"), "since") {
		t.Errorf("a bad day: got %d", status)
	}
	b.Navigate(p.public + "/console/audit")
	b.Submit(`form[action="/console/audit/verify"] button`)
	if got := b.Text("main"); !strings.Contains(got, "The trail is intact") {
		t.Errorf("verify: %q", got)
	}
	b.Screenshot("console-audit-verified")

	// Quality.
	main = p.page(t, b, "/console/quality", "console-quality")
	for _, want := range []string{"Customers", "Duplicates waiting for review", "Stale contacts", "Contact status", "Completeness", "first name"} {
		if !strings.Contains(main, want) {
			t.Errorf("quality page lacks %q", want)
		}
	}

	// Administration: a key made with an expiry, shown once, working, then revoked; a person disabled.
	main = p.page(t, b, "/console/admin", "console-admin")
	for _, want := range []string{"olive@shop.example", "leaver@shop.example", "OpenID Connect", "not configured", "The catalog in force", "marketing email"} {
		if !strings.Contains(main, want) {
			t.Errorf("admin page lacks %q", want)
		}
	}
	b.Fill("#k-name", "auditor script")
	b.Select("#k-role", "auditor")
	b.Eval(`document.getElementById("k-expires").value = "2030-01-01"`, nil)
	b.Submit(`form[action="/console/admin/keys"] button`)
	secret := regexp.MustCompile(`stw_[A-Za-z0-9_]+`).FindString(b.Text(".newkey"))
	if secret == "" {
		t.Fatalf("no key shown: %q", b.Text("main"))
	}
	b.Screenshot("console-admin-key")
	if code, _ := p.do(call{method: "GET", path: "/v1/audit?limit=1", role: secret}); code != 200 {
		t.Errorf("the new key: %d", code)
	}
	b.Navigate(p.public + "/console/admin")
	if strings.Contains(b.Text("main"), secret) {
		t.Error("the key is shown a second time")
	}
	b.Submit(`form[action$="/revoke"] button`)
	if code, _ := p.do(call{method: "GET", path: "/v1/audit?limit=1", role: secret}); code != 401 {
		t.Errorf("the revoked key: %d", code)
	}
	b.Submit(`form[action="/console/admin/staff/disable"] input[value="leaver@shop.example"] ~ button`)
	if acc, err := p.app.Store.Staff().AccountByEmail(context.Background(), "leaver@shop.example"); err != nil || !acc.Disabled {
		t.Errorf("the person is not disabled: %v", err)
	}
	if got := b.Text("main"); strings.Count(got, "Disable") != 0 || !strings.Contains(got, "you") {
		t.Errorf("after disabling the only other person, a Disable button is left: %q", got)
	}
	var status int
	b.Eval(`fetch("/console/admin/staff/disable", {method: "POST", body: new URLSearchParams({csrf: document.querySelector("input[name=csrf]").value, email: "Olive@shop.example"})}).then(r => r.status)`, &status)
	if acc, err := p.app.Store.Staff().AccountByEmail(context.Background(), "olive@shop.example"); status != http.StatusUnprocessableEntity || err != nil || acc.Disabled {
		t.Errorf("disabling oneself: got %d (disabled: %v)", status, acc.Disabled)
	}
	es, _ := p.app.Store.Audit().ListAudit(context.Background(), audit.Filter{ActorID: "staff:" + owner, Limit: 200})
	done := map[string]bool{}
	for _, e := range es {
		done[e.Action] = true
	}
	for _, want := range []string{"apikey.create", "apikey.revoke", "staff.disable", "policy.publish", "customer.update", "audit.read"} {
		if !done[want] {
			t.Errorf("no %s entry naming the person", want)
		}
	}
	// A form posted without its token (another site making the browser post it) does nothing.
	for _, path := range []string{"/console/customers/" + id + "/edit", "/console/policies", "/console/admin/keys", "/console/admin/staff/disable"} {
		var status int
		b.Eval(`fetch(`+strconv.Quote(path)+`, {method: "POST", body: new URLSearchParams({"f.first_name": "Eve", version: "evil", name: "evil", role: "owner", email: "olive@shop.example"})}).then(r => r.status)`, &status)
		if status != http.StatusForbidden {
			t.Errorf("POST %s without the form token: got %d, want 403", path, status)
		}
	}
	if code, out := p.do(call{method: "GET", path: "/v1/policies/evil", role: "owner"}); code != 404 {
		t.Errorf("a policy published without the form token: %d %s", code, out)
	}
	b.Submit("header button")

	// An auditor: the audit pages only; the rest is out of the navigation and refused.
	p.signInConsole(t, b, "audra@shop.example", "auditor")
	nav := b.Text("header nav")
	if !strings.Contains(nav, "Audit") || strings.Contains(nav, "Find") || strings.Contains(nav, "Administration") || strings.Contains(nav, "Quality") {
		t.Errorf("an auditor's navigation: %q", nav)
	}
	for _, path := range []string{"/console/search?q=Avery", "/console/admin", "/console/quality", "/console/customers/" + id + "/edit"} {
		if status := b.Navigate(p.public + path); status != http.StatusForbidden {
			t.Errorf("an auditor opened %s: %d", path, status)
		}
	}
	if main := p.page(t, b, "/console", "console-dashboard-auditor"); strings.Contains(main, "per day") {
		t.Errorf("an auditor sees figures of customers: %q", main)
	}
	for _, e := range b.ConsoleErrors() {
		if !strings.Contains(e, "status of 422") && !strings.Contains(e, "status of 403") && !strings.Contains(e, "status of 404") {
			t.Errorf("browser reported: %s", e)
		}
	}

	// Without JavaScript, search is the form it always was (a browser of its own, whose
	// pictures go to a directory of their own).
	t.Run("without JavaScript", func(t *testing.T) {
		nojs := browsertest.New(t)
		if _, err := chromedp.Call(nojs.Context(), emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		p.signInConsole(t, nojs, "sam@shop.example", "support")
		nojs.Navigate(p.public + "/console/search")
		nojs.Fill("#q", "Quentin Leeds")
		if status := nojs.Submit("form[role=search] button"); status != 200 || !strings.Contains(nojs.Text("main"), "Quentin") {
			t.Fatalf("search without JavaScript: %d %q", status, nojs.Text("main"))
		}
		nojs.Screenshot("console-search-nojs") // axe needs script; the page passed it above with script on
	})
}

func TestConsoleFiguresSQLite(t *testing.T)   { consoleFigures(t, "") }
func TestConsoleFiguresPostgres(t *testing.T) { consoleFigures(t, pgtest.URL(t)) }

// consoleFigures: the dashboard's series and the consent rates count what happened, per day
// and per week, on each engine; a role without the permission gets none; the staff list
// names people without their secrets.
func consoleFigures(t *testing.T, db string) {
	e := newEnv(t, db)
	e.publish(policyV1)
	a := e.create(`{"email":"a@example.com"}`)
	b := e.create(`{"email":"b@example.com"}`)
	for _, c := range []struct{ id, purpose, granted string }{{a, "marketing_email", "true"}, {b, "marketing_email", "false"}, {a, "marketing_sms", "true"}} {
		if code, out := e.do(call{method: "POST", path: "/v1/customers/" + c.id + "/consents", role: "owner",
			body: `{"purpose":"` + c.purpose + `","granted":` + c.granted + `,"policy_version":"2026-01","source":"signup_form"}`}); code != 201 {
			t.Fatalf("consent: %d %s", code, out)
		}
	}
	e.mustTrack("/v1/identify", `{"userId":"u-a","traits":{"email":"a@example.com"}}`)
	e.mustTrack("/v1/track", `{"event":"Page Viewed","userId":"u-a"}`)
	e.clock.Advance(2 * daily.Day)
	e.create(`{"email":"c@example.com"}`)
	if code, out := e.do(call{method: "POST", path: "/v1/requests", role: "owner", body: `{"type":"access","customer_id":"` + a + `"}`}); code != 201 {
		t.Fatalf("request: %d %s", code, out)
	}

	owner := authz.WithActor(context.Background(), authz.Actor{ID: "test", Role: "owner"})
	last := func(m daily.Metric) []int64 {
		rows, err := e.app.Activity.Series(owner, m, 7)
		if err != nil || len(rows) != 7 {
			t.Fatalf("%s: %d rows, %v", m, len(rows), err)
		}
		out := make([]int64, len(rows))
		for i, r := range rows {
			out[i] = r.N
		}
		return out[4:]
	}
	for m, want := range map[daily.Metric][]int64{daily.Customers: {2, 0, 1}, daily.Consents: {3, 0, 0}, daily.Requests: {0, 0, 1}} {
		if got := last(m); !slices.Equal(got, want) {
			t.Errorf("%s over the last three days: got %v, want %v", m, got, want)
		}
	}
	if got := last(daily.Events); got[0] < 1 || got[2] != 0 {
		t.Errorf("events over the last three days: got %v", got)
	}
	// Counts are read again once they are a minute old, not on every view.
	e.create(`{"email":"d@example.com"}`)
	if got := last(daily.Customers); got[2] != 1 {
		t.Errorf("within the minute: today %d, want the count read before, 1", got[2])
	}
	e.clock.Advance(daily.FreshFor)
	if got := last(daily.Customers); got[2] != 2 {
		t.Errorf("a minute later: today %d, want 2", got[2])
	}
	rates, err := e.app.Activity.ConsentRates(owner, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	byPurpose := map[string]daily.Rate{}
	for _, pr := range rates {
		byPurpose[pr.Purpose] = pr.Rates[1]
	}
	if r := byPurpose["marketing_email"]; r.Granted != 1 || r.Total != 2 || r.Share() != 0.5 {
		t.Errorf("marketing e-mail this week: %+v", r)
	}
	if r := byPurpose["marketing_sms"]; r.Granted != 1 || r.Total != 1 {
		t.Errorf("marketing SMS this week: %+v", r)
	}
	if _, ok := byPurpose["service"]; ok {
		t.Error("a purpose that needs no consent has a consent rate")
	}
	auditor := authz.WithActor(context.Background(), authz.Actor{ID: "test", Role: "auditor"})
	if _, err := e.app.Activity.Series(auditor, daily.Customers, 7); err == nil {
		t.Error("an auditor counted customers")
	}
	if _, err := e.app.Activity.Series(owner, daily.Customers, daily.MaxDays+1); err == nil {
		t.Error("a series longer than allowed")
	}

	sys := authz.WithActor(context.Background(), authz.System)
	if _, err := e.app.Staff.Add(sys, "kim@shop.example", "dpo", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	people, err := e.app.Staff.List(sys)
	if err != nil || len(people) != 1 || people[0].Email != "kim@shop.example" || people[0].Role != "dpo" || people[0].SecondFactor {
		t.Errorf("staff list: %+v %v", people, err)
	}
	if _, err := e.app.Staff.List(auditor); err == nil {
		t.Error("an auditor listed the staff")
	}
}
