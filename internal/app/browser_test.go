package app

import (
	"io"
	"net/http"
	"net/http/httptest"
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
