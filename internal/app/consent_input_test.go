package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
)

// counts is everything a refused consent request must leave as it was.
type counts struct {
	records, policies, suppressions int
	lastAudit                       int64
}

func (e *env) counts(customerID string) counts {
	e.t.Helper()
	var c counts
	c.records = len(e.ledger(customerID))
	db := e.app.Store.Write()
	if err := db.QueryRow(`SELECT COUNT(*) FROM policies`).Scan(&c.policies); err != nil {
		e.t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM suppressions`).Scan(&c.suppressions); err != nil {
		e.t.Fatal(err)
	}
	last, err := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(last) > 0 {
		c.lastAudit = last[0].ID
	}
	return c
}

// TestConsentBadInput proves that every kind of bad consent, policy, suppression and check
// input gets a 4xx naming the problem and writes nothing: no record, policy, suppression entry
// or audit entry.
func TestConsentBadInput(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"bad@example.com","phone":"+44 20 7946 0958"}`)
	e.publish(`{"version":"2026-01","text":"Email only.","purposes":["service","marketing_email","ads_sharing"]}`)
	next := time.Now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339)
	e.publish(`{"version":"2026-02","effective_at":"` + next + `","text":"Text too.","purposes":["service","marketing_email","marketing_sms"]}`)
	later := `"effective_at":"` + time.Now().Add(30*24*time.Hour).UTC().Format(time.RFC3339) + `",`
	cons := "/v1/customers/" + id + "/consents"
	ok := `"granted":true,"policy_version":"2026-01","source":"signup_form"`
	many := make([]string, 100_001)
	for i := range many {
		many[i] = "0190a000-0000-7000-8000-000000000001"
	}
	tooMany, _ := json.Marshal(map[string]any{"purpose": "marketing_email", "customer_ids": many})
	tests := []struct {
		name   string
		call   call
		status int
		detail string
	}{
		{"unknown purpose", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"mind_reading",` + ok + `}`}, 422, `purpose: unknown purpose "mind_reading"`},
		{"consent for a contract purpose", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"service",` + ok + `}`}, 422, "rests on contract, not consent"},
		{"consent for a legitimate-interest purpose", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"analytics",` + ok + `}`}, 422, "rests on legitimate_interest"},
		{"grant without a policy version", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email","granted":true,"source":"api"}`}, 422, "policy_version: is required"},
		{"unknown policy version", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email","granted":true,"policy_version":"1999","source":"api"}`}, 422, `unknown policy version "1999"`},
		{"future policy version", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email","granted":true,"policy_version":"2026-02","source":"api"}`}, 422, "takes effect"},
		{"policy does not cover the purpose", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_sms",` + ok + `}`}, 422, `does not cover purpose "marketing_sms"`},
		{"withdrawal under a future version", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email","granted":false,"policy_version":"2026-02","source":"api"}`}, 422, "takes effect"},
		{"granted missing", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email","policy_version":"2026-01","source":"api"}`}, 422, "granted: is required"},
		{"granted not a boolean", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email","granted":"yes","source":"api"}`}, 400, "granted"},
		{"source missing", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email","granted":true,"policy_version":"2026-01"}`}, 422, "source: is required"},
		{"unknown source", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email","granted":true,"policy_version":"2026-01","source":"carrier_pigeon"}`}, 422, `unknown source "carrier_pigeon"`},
		{"GPC cannot grant", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"ads_sharing","granted":true,"policy_version":"2026-01","source":"gpc"}`}, 422, "only ever opts out"},
		{"bad channel", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email",` + ok + `,"channel":"Web Site"}`}, 422, "channel"},
		{"unknown kind", call{method: "POST", path: cons, role: "owner", body: `{"kind":"vote","purpose":"marketing_email",` + ok + `}`}, 422, "kind"},
		{"restriction naming a purpose", call{method: "POST", path: cons, role: "owner", body: `{"kind":"restriction","purpose":"service","granted":false,"source":"api"}`}, 422, "covers every purpose"},
		{"objection to a contract purpose", call{method: "POST", path: cons, role: "owner", body: `{"kind":"objection","purpose":"service","granted":false,"source":"api"}`}, 422, "cannot object"},
		{"objection to a consent purpose", call{method: "POST", path: cons, role: "owner", body: `{"kind":"objection","purpose":"personalization","granted":false,"source":"api"}`}, 422, "withdrawal instead"},
		{"evidence: not an IP", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email",` + ok + `,"evidence":{"ip":"300.1.2.3"}}`}, 422, "evidence.ip"},
		{"evidence: not a TC string", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email",` + ok + `,"evidence":{"tcf":"hello world"}}`}, 422, "evidence.tcf"},
		{"evidence: not a GPP string", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email",` + ok + `,"evidence":{"gpp":"XBA~abc"}}`}, 422, "evidence.gpp"},
		{"evidence: control characters", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email",` + ok + `,"evidence":{"user_agent":"Mozilla\u0000"}}`}, 422, "evidence.user_agent"},
		{"evidence: unknown property", call{method: "POST", path: cons, role: "owner", body: `{"purpose":"marketing_email",` + ok + `,"evidence":{"ip_address":"1.2.3.4"}}`}, 400, "ip_address"},
		{"unknown customer", call{method: "POST", path: "/v1/customers/0190a000-0000-7000-8000-000000000009/consents", role: "owner", body: `{"purpose":"marketing_email",` + ok + `}`}, 404, "customer not found"},
		{"malformed customer id", call{method: "POST", path: "/v1/customers/nope/consents", role: "owner", body: `{"purpose":"marketing_email",` + ok + `}`}, 422, "id"},
		{"malformed JSON", call{method: "POST", path: cons, role: "owner", body: `{"purpose":`}, 400, "body"},
		{"history of a malformed id", call{method: "GET", path: "/v1/customers/nope/consents", role: "owner"}, 422, "id"},
		{"history of an unknown customer", call{method: "GET", path: "/v1/customers/0190a000-0000-7000-8000-000000000009/consents", role: "owner"}, 404, "customer not found"},
		{"permission for an unknown purpose", call{method: "GET", path: "/v1/customers/" + id + "/permissions/mind_reading", role: "owner"}, 422, `unknown purpose "mind_reading"`},

		{"republished version", call{method: "POST", path: "/v1/policies", role: "owner", body: `{"version":"2026-01","text":"Changed.","purposes":["service"]}`}, 409, "already published"},
		{"bad version", call{method: "POST", path: "/v1/policies", role: "owner", body: `{"version":"v 1","text":"x","purposes":["service"]}`}, 422, "version"},
		{"backdated policy", call{method: "POST", path: "/v1/policies", role: "owner", body: `{"version":"old","effective_at":"2020-01-01T00:00:00Z","text":"x","purposes":["service"]}`}, 422, "effective_at"},
		{"policy without text or url", call{method: "POST", path: "/v1/policies", role: "owner", body: `{` + later + `"version":"v9","purposes":["service"]}`}, 422, "text"},
		{"policy url without hash", call{method: "POST", path: "/v1/policies", role: "owner", body: `{` + later + `"version":"v9","url":"https://shop.example/p","purposes":["service"]}`}, 422, "content_hash"},
		{"policy with an unknown purpose", call{method: "POST", path: "/v1/policies", role: "owner", body: `{` + later + `"version":"v9","text":"x","purposes":["mind_reading"]}`}, 422, `unknown purpose "mind_reading"`},
		{"material change to a contract purpose", call{method: "POST", path: "/v1/policies", role: "owner", body: `{` + later + `"version":"v9","text":"x","purposes":["service"],"material_change":["service"]}`}, 422, "material_change"},
		{"policy before the newest one", call{method: "POST", path: "/v1/policies", role: "owner", body: `{"version":"v9","text":"x","purposes":["service"]}`}, 422, "effective_at"},

		{"suppression: bad email", call{method: "POST", path: "/v1/suppressions", role: "owner", body: `{"email":"not-an-email"}`}, 422, "email"},
		{"suppression: nothing to suppress", call{method: "POST", path: "/v1/suppressions", role: "owner", body: `{}`}, 422, "give an email address"},
		{"suppression: not a marketing purpose", call{method: "POST", path: "/v1/suppressions", role: "owner", body: `{"email":"x@example.com","purposes":["service"]}`}, 422, "not a marketing purpose"},
		{"suppression: marketer may not", call{method: "POST", path: "/v1/suppressions", role: "marketer", body: `{"email":"x@example.com"}`}, 403, "consents.write"},

		{"check: unknown purpose", call{method: "POST", path: "/v1/permissions/check", role: "marketer", body: `{"purpose":"mind_reading","customer_ids":["` + id + `"]}`}, 422, "purpose"},
		{"check: no ids", call{method: "POST", path: "/v1/permissions/check", role: "marketer", body: `{"purpose":"marketing_email","customer_ids":[]}`}, 422, "customer_ids"},
		{"check: malformed id", call{method: "POST", path: "/v1/permissions/check", role: "marketer", body: `{"purpose":"marketing_email","customer_ids":["` + id + `","nope"]}`}, 422, "customer_ids[1]"},
		{"check: more than 100,000 ids", call{method: "POST", path: "/v1/permissions/check", role: "marketer", body: string(tooMany)}, 413, "at most 100000"},
		{"check: body beyond its limit", call{method: "POST", path: "/v1/permissions/check", role: "marketer", body: `{"purpose":"marketing_email","customer_ids":["` + strings.Repeat("a", 9<<20) + `"]}`}, 413, "larger than 8388608"},
		{"check: ingest may not", call{method: "POST", path: "/v1/permissions/check", role: "ingest", body: `{"purpose":"marketing_email","customer_ids":["` + id + `"]}`}, 403, "customers.read"},
		{"receipt: malformed body", call{method: "POST", path: "/v1/consent-receipts/verify", body: `{"token":"x"}`}, 400, "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.counts(id)
			code, body := e.do(tt.call)
			if code != tt.status {
				t.Fatalf("got %d %.300s, want %d", code, body, tt.status)
			}
			var p struct{ Detail, Type string }
			if err := json.Unmarshal([]byte(body), &p); err != nil || !strings.HasPrefix(p.Type, "urn:steward:problem:") {
				t.Fatalf("not problem+json: %.300s", body)
			}
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("got detail %q, want it to name %q", p.Detail, tt.detail)
			}
			for _, leak := range []string{"300.1.2.3", "not-an-email", "hello world"} {
				if strings.Contains(body, leak) {
					t.Errorf("problem repeats the input: %s", body)
				}
			}
			after := e.counts(id)
			if tt.status == 404 && tt.call.method == "GET" {
				// A read that finds nothing is audited (read.missing), and changes nothing else.
				if after.lastAudit == before.lastAudit {
					t.Errorf("a read answered 404 left no audit entry")
				}
				after.lastAudit = before.lastAudit
			}
			if after != before {
				t.Errorf("a refused request changed the store: %+v → %+v", before, after)
			}
		})
	}
}
