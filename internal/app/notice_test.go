package app

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/notice"
)

// The privacy notice is public and says what the catalog declares under the policy in force;
// the records of processing are for staff, as JSON and CSV.
func TestPrivacyNoticeAndRecords(t *testing.T) {
	e := newEnv(t, "")
	code, page := e.do(call{method: "GET", path: "/privacy"})
	if code != 200 || !strings.Contains(page, "No privacy policy version is in force yet") || !strings.Contains(page, `<html lang="en">`) {
		t.Fatalf("privacy page before a policy: %d %.300s", code, page)
	}
	e.publish(policyV1)
	code, page = e.do(call{method: "GET", path: "/privacy"})
	for _, want := range []string{"Example Shop Ltd", "privacy@shop.example", "version 2026-01", "marketing email", "Your consent",
		"Global Privacy Control", "until your data is erased", "/portal", "Nobody outside our business"} {
		if !strings.Contains(page, want) {
			t.Errorf("privacy page lacks %q", want)
		}
	}
	if code != 200 || strings.Contains(page, "<script") || strings.Contains(page, "http://") && !strings.Contains(page, "http://127.0.0.1") {
		t.Errorf("privacy page: %d, scripts or outside links", code)
	}
	code, body := e.do(call{method: "GET", path: "/privacy.json"})
	var n notice.Notice
	if err := json.Unmarshal([]byte(body), &n); code != 200 || err != nil || n.Policy == nil || n.Policy.Version != "2026-01" || len(n.Purposes) < 5 {
		t.Fatalf("privacy.json: %d %v %.300s", code, err, body)
	}
	// A connected platform is named as a source, and in the records of processing.
	if code, out := e.do(call{method: "POST", path: "/v1/sources", role: "owner", body: `{"kind":"shopify","name":"our shop","secret":"a shared secret of the shop"}`}); code != 201 {
		t.Fatalf("add a source: %d %s", code, out)
	}
	if _, body := e.do(call{method: "GET", path: "/privacy.json"}); !strings.Contains(body, "Our online shop (Shopify)") || strings.Contains(body, "our shop") {
		t.Errorf("the notice's sources: %s", body)
	}
	if _, body := e.do(call{method: "GET", path: "/v1/processing-records", role: "dpo"}); !strings.Contains(body, "Our online shop (Shopify)") {
		t.Errorf("the records' sources: %.300s", body)
	}
	for role, want := range map[string]int{"dpo": 200, "auditor": 200, "ingest": 403, "collect": 403, "": 401} {
		if code, out := e.do(call{method: "GET", path: "/v1/processing-records", role: role}); code != want {
			t.Errorf("records as %q: got %d %.200s, want %d", role, code, out, want)
		}
	}
	code, body = e.do(call{method: "GET", path: "/v1/processing-records?format=csv", role: "dpo"})
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(rows) != len(n.Purposes)+1 || rows[0][2] != "purpose" {
		t.Fatalf("records csv: %d %v %d rows", code, err, len(rows))
	}
	if code, out := e.do(call{method: "GET", path: "/v1/processing-records?format=xml", role: "dpo"}); code != 422 || !strings.Contains(out, "format") {
		t.Errorf("bad format: %d %s", code, out)
	}
}

// The banner's script is public and offers what the policy in force lets a browser choose;
// the message it sends with a collect key records those choices in the ledger under that
// version, as banner choices.
func TestConsentBanner(t *testing.T) {
	e := newEnv(t, "")
	e.publish(policyV1)
	code, js := e.do(call{method: "GET", path: "/consent.js"})
	if code != 200 || !strings.Contains(js, `"policy":"2026-01"`) || !strings.Contains(js, `"name":"Advertising"`) || strings.Contains(js, `"name":"Marketing"`) {
		t.Fatalf("consent.js: %d %.200s", code, js)
	}
	id := e.identified("banner-visitor")
	// What consent.js sends on "Customise" → save, from the visitor's page.
	msg := `{"type":"track","event":"Consent Updated","userId":"banner-visitor","messageId":"consent-1",` +
		`"context":{"consent":{"categoryPreferences":{"Personalization":true,"Advertising":false,"Analytics":true}},"page":{"path":"/"}}}`
	e.mustCollect("/v1/t", msg)
	got := e.bySource(id)
	if got["banner:personalization"] != 1 || got["banner:ads_sharing"] != 1 {
		t.Fatalf("banner choices in the ledger: %v", got)
	}
	for _, r := range e.ledger(id) {
		if r.Source == "banner" && r.Purpose == "personalization" && (r.PolicyVersion != "2026-01" || !r.Granted) {
			t.Errorf("personalization: %+v", r)
		}
	}
}
