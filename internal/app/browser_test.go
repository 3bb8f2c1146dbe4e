package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/browsertest"
)

// shopRequestForm is a privacy request form as a shop puts it on its own site
// (docs/requests.md): a plain HTML form that posts to Steward, with no script.
const shopRequestForm = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your privacy</title></head>
<body><main><h1>Your privacy</h1>
<form method="post" action="{{steward}}/v1/privacy/requests">
  <label for="type">What would you like?</label>
  <select id="type" name="type"><option value="access">See my data</option><option value="erasure">Delete my data</option></select>
  <label for="email">Your e-mail address</label>
  <input type="email" id="email" name="email" required autocomplete="email">
  <button>Send</button>
</form></main></body></html>`

// TestPrivacyPagesInChromium makes a privacy request in a real browser, as a customer does:
// the form on the shop's site, the page Steward answers with, the confirmation link from the
// e-mail and its button, and the error page a refused address gets. Every page Steward shows
// must render, raise no script or policy errors and pass axe-core with no serious or critical
// violation.
func TestPrivacyPagesInChromium(t *testing.T) {
	b := browsertest.New(t)
	p := newPortalEnv(t, "")
	p.create(ada)
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, strings.ReplaceAll(shopRequestForm, "{{steward}}", p.public))
	}))
	defer shop.Close()

	b.Navigate(shop.URL)
	b.Select("#type", "access")
	b.Fill("#email", "Ada.Lovelace@Example.com")
	if status := b.Submit("button"); status != 200 || b.URL() != p.public+"/v1/privacy/received" {
		t.Fatalf("after the form: got %d at %s, want 200 at the received page", status, b.URL())
	}
	if got := b.Text("h1"); got != "Check your messages" {
		t.Fatalf("received page: got heading %q", got)
	}
	b.RequireAccessible("received")
	b.Screenshot("received")

	b.Navigate(linkIn(t, p.lastMessage(".eml", 1)))
	if got := b.Text("h1"); got != "Confirm your privacy request" {
		t.Fatalf("confirmation page: got heading %q", got)
	}
	b.RequireAccessible("confirm")
	if status := b.Submit("button"); status != 200 {
		t.Fatalf("confirm: got %d", status)
	}
	if got := b.Text("main"); !strings.HasPrefix(got, "Your request is confirmed Thank you. We have your access request and will answer it by ") {
		t.Fatalf("confirmed page: got %q", got)
	}
	b.RequireAccessible("confirmed")
	b.Screenshot("confirmed")

	// The browser's own check lets "ada@example" through; Steward's does not.
	b.Navigate(shop.URL)
	b.Fill("#email", "ada@example")
	if status := b.Submit("button"); status != http.StatusUnprocessableEntity {
		t.Fatalf("refused address: got %d, want 422", status)
	}
	if got := b.Text("main"); !strings.Contains(got, "Something is missing or not right") || !strings.Contains(got, "email") || !strings.Contains(got, "Reference:") {
		t.Fatalf("error page: got %q", got)
	}
	b.RequireAccessible("error")
	b.Screenshot("error")

	for _, e := range b.ConsoleErrors() {
		if !strings.Contains(e, "status of 422") { // the refused form, answered as it should be
			t.Errorf("browser reported: %s", e)
		}
	}
}

// analyticsPage is a shop's page loading Segment's browser library (@segment/analytics-next,
// served by the shop itself from the npm package) as docs/ingest.md says: Steward as the CDN,
// which answers the library's settings request, and as the API host. It identifies a customer,
// tracks an event and records a page view, and reports each delivery in window.sent.
const analyticsPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<script src="/lib/index.js"></script>
<script>
window.sent = [];
window.failed = [];
const analytics = AnalyticsNext.AnalyticsBrowser.load(
  { writeKey: "{{key}}", cdnURL: "{{steward}}" },
  { integrations: { "Segment.io": { apiHost: "{{host}}/v1", protocol: "http" } } });
const note = (p) => p.then((ctx) => window.sent.push(ctx.event.type), (err) => window.failed.push(String(err)));
note(analytics.identify("browser-user-1", { email: "Browser.Buyer@Example.com", first_name: "Bea" }));
note(analytics.track("Product Viewed", { product_id: "sku-42", price: 19.5 }));
note(analytics.page("Catalog", "Shoes"));
</script></head>
<body><main><h1>Shop</h1></main></body></html>`

// TestAnalyticsNextInChromium runs Segment's own browser library in Chromium against Steward
// with a collect key: the library loads its settings from Steward, sends identify, track and
// page to the short paths with text/plain bodies and an Origin, as on a real shop's site, and
// each message is stored once, stitched to the customer the identify names.
func TestAnalyticsNextInChromium(t *testing.T) {
	b := browsertest.New(t)
	lib := filepath.Dir(browsertest.Asset(t, "@segment/analytics-next/dist/umd/index.js"))
	e := newEnv(t, "")
	steward := httptest.NewServer(e.app.HTTP().Handler())
	defer steward.Close()
	page := strings.NewReplacer("{{key}}", e.keys["collect"], "{{steward}}", steward.URL,
		"{{host}}", strings.TrimPrefix(steward.URL, "http://")).Replace(analyticsPage)
	mux := http.NewServeMux()
	mux.Handle("GET /lib/", http.StripPrefix("/lib/", http.FileServer(http.Dir(lib))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	shop := httptest.NewServer(mux)
	defer shop.Close()

	b.Navigate(shop.URL + "/")
	b.WaitFor(`window.sent.length + window.failed.length === 3`)
	var sent, failed []string
	b.Eval(`window.sent`, &sent)
	b.Eval(`window.failed`, &failed)
	slices.Sort(sent)
	if len(failed) != 0 || !slices.Equal(sent, []string{"identify", "page", "track"}) {
		t.Fatalf("the library delivered %v and failed %v, want identify, page and track delivered", sent, failed)
	}
	for _, m := range b.ConsoleErrors() {
		t.Errorf("browser reported: %s", m)
	}

	id := e.customerOf("browser.buyer@example.com")
	events := e.events(id, "?limit=100", "")
	var got []string
	for _, ev := range events.Data {
		got = append(got, ev.Type+":"+ev.Name)
	}
	slices.Sort(got)
	if want := []string{"identify:", "page:Shoes", "track:Product Viewed"}; !slices.Equal(got, want) {
		t.Fatalf("stored events %q, want %q", got, want)
	}
	var n int
	if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("got %d events stored (%v), want each message once", n, err)
	}
}
