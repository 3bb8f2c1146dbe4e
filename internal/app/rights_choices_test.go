package app

import (
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/store/pgtest"
)

// TestRestrictionObjectionOptOut: completing a restriction, objection or opt-out request
// records it in the consent ledger, and the one permission decision enforces it from the very
// next check: the permission route, reveals of the profile, its events and identifiers (refused, audited as
// denied) and look-ups (masked, saying why). Each scenario starts from a customer who consented to every consent purpose.
func TestRestrictionObjectionOptOut(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			e := newEnv(t, engineURL(t, engine))
			scenarios := []struct {
				name string
				// then, when set, completes a second request of the same kind after the first.
				typ, body, then string
				status          int
				result          []string          // in the completion's answer
				want            map[string]string // purpose → reason of the next decision
				audit           []string          // audit entries the completion must write
				reveal          string            // a purpose whose reveal must now be refused
			}{
				{name: "objection to every legitimate interest", typ: "objection", status: 200,
					result: []string{`"objected":["analytics","fraud_prevention"]`, `"withdrawn":[]`},
					want:   map[string]string{"analytics": "objected", "fraud_prevention": "objected", "marketing_email": "consent", "service": "contract"},
					audit:  []string{"customer.object:dpo:privacy_requests", "consent.record:dpo:analytics", "consent.record:dpo:fraud_prevention", "request.complete:dpo"},
					reveal: "analytics"},
				{name: "objection to direct marketing", typ: "objection", body: `{"purposes":["marketing_email"]}`, status: 200,
					result: []string{`"objected":["marketing_email"]`},
					want:   map[string]string{"marketing_email": "objected", "marketing_sms": "consent", "analytics": "legitimate_interest"},
					audit:  []string{"customer.object:dpo:privacy_requests", "consent.record:dpo:marketing_email"},
					reveal: "marketing_email"},
				{name: "objection to a purpose resting on consent withdraws it", typ: "objection", body: `{"purposes":["personalization"]}`, status: 200,
					result: []string{`"withdrawn":["personalization"]`, `"objected":[]`},
					want:   map[string]string{"personalization": "opted_out", "ads_sharing": "consent"},
					audit:  []string{"consent.record:dpo:personalization"}},
				{name: "objection to a contract purpose is refused", typ: "objection", body: `{"purposes":["service"]}`, status: 422,
					result: []string{`rests on contract`},
					want:   map[string]string{"service": "contract", "analytics": "legitimate_interest"}},
				{name: "opt-out of sale and sharing", typ: "opt_out", status: 200,
					result: []string{`"opted_out":["personalization","ads_sharing"]`},
					want:   map[string]string{"ads_sharing": "opted_out", "personalization": "opted_out", "marketing_email": "consent", "analytics": "legitimate_interest"},
					audit:  []string{"customer.opt_out:dpo:privacy_requests", "consent.record:dpo:ads_sharing", "consent.record:dpo:personalization"},
					reveal: "ads_sharing"},
				{name: "opt-out of a legitimate interest is refused", typ: "opt_out", body: `{"purposes":["analytics"]}`, status: 422,
					result: []string{`file an objection instead`},
					want:   map[string]string{"analytics": "legitimate_interest", "ads_sharing": "consent"}},
				{name: "restriction", typ: "restriction", status: 200,
					result: []string{`"restricted":true`, `"allowed_purposes":["legal_obligation","privacy_requests"]`},
					want: map[string]string{"service": "restricted", "support": "restricted", "marketing_email": "restricted", "analytics": "restricted",
						"fraud_prevention": "restricted", "legal_obligation": "legal_obligation", "privacy_requests": "legal_obligation"},
					audit:  []string{"customer.restrict:dpo:privacy_requests", "consent.record:dpo:"},
					reveal: "support"},
				{name: "restriction lifted", typ: "restriction", then: `{"lift":true}`, status: 200,
					result: []string{`"restricted":false`},
					want:   map[string]string{"service": "contract", "marketing_email": "consent", "legal_obligation": "legal_obligation"},
					audit:  []string{"customer.restrict:dpo:privacy_requests", "customer.unrestrict:dpo:privacy_requests"}},
			}
			for i, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					email := "person" + string(rune('a'+i)) + "@example.com"
					id := e.create(`{"email":"` + email + `","first_name":"Ada","national_id":"QQ123456C"}`)
					e.consentToAll(id)
					before := len(e.ledger(id))
					rid := e.request(`{"type":"` + sc.typ + `","customer_id":"` + id + `"}`)
					code, body := e.verifyAndComplete(rid, sc.body)
					if sc.then != "" && code == 200 {
						rid = e.request(`{"type":"` + sc.typ + `","customer_id":"` + id + `"}`)
						code, body = e.verifyAndComplete(rid, sc.then)
					}
					if code != sc.status {
						t.Fatalf("complete: got %d %s, want %d", code, body, sc.status)
					}
					for _, s := range sc.result {
						if !strings.Contains(body, s) {
							t.Errorf("answer lacks %s: %s", s, body)
						}
					}
					if strings.Contains(body, email) {
						t.Errorf("answer repeats the email address: %s", body)
					}
					for purpose, want := range sc.want {
						if got := e.reason(id, purpose, nil); got != want {
							t.Errorf("%s: got %q, want %q", purpose, got, want)
						}
					}
					recs := e.ledger(id)
					if sc.status != 200 {
						if len(recs) != before {
							t.Errorf("refused request wrote %d ledger records", len(recs)-before)
						}
						return
					}
					for _, r := range recs[before:] {
						if r.Source != "request" || !strings.HasPrefix(r.Evidence.FormID, "request:") || r.Receipt == "" {
							t.Errorf("ledger record %+v: want source request, the request as its form and a receipt", r)
						}
					}
					acts := strings.Join(e.auditActions(id), " ")
					for _, a := range sc.audit {
						if !strings.Contains(acts, a) {
							t.Errorf("audit lacks %s: %s", a, acts)
						}
					}
					if sc.reveal == "" {
						return
					}
					role := map[string]string{"analytics": "owner", "marketing_email": "marketer", "ads_sharing": "marketer", "support": "support"}[sc.reveal]
					reason := sc.want[sc.reveal]
					if code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: role, purpose: sc.reveal}); code != 403 || !strings.Contains(body, reason) {
						t.Errorf("reveal for %s: got %d %s, want 403 naming %s", sc.reveal, code, body, reason)
					}
					if code, body := e.do(call{method: "GET", path: "/v1/customers?email=" + email, role: role, purpose: sc.reveal}); code != 200 ||
						!strings.Contains(body, id) || strings.Contains(body, email) || !strings.Contains(body, `"denied":`) || !strings.Contains(body, reason) {
						t.Errorf("look-up for %s: got %d %s, want the match masked, saying why", sc.reveal, code, body)
					}
					for _, part := range []string{"/events", "/identities"} {
						if code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + part, role: role, purpose: sc.reveal}); code != 403 || !strings.Contains(body, reason) {
							t.Errorf("%s for %s: got %d %s, want 403 naming %s", part, sc.reveal, code, body, reason)
						}
					}
					if code, _ := e.do(call{method: "GET", path: "/v1/customers/" + id, role: role}); code != 200 {
						t.Errorf("masked read (storage): got %d", code)
					}
					if !strings.Contains(strings.Join(e.auditActions(id), " "), "customer.reveal:"+role+":"+sc.reveal+":denied") {
						t.Errorf("refused reveal not audited: %v", e.auditActions(id))
					}
				})
			}
			// The ledger's own API does not let anyone pose as a completed request.
			id := e.create(`{"email":"poser@example.com"}`)
			if code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
				body: `{"kind":"restriction","granted":false,"source":"request"}`}); code != 422 || !strings.Contains(body, "data-subject request") {
				t.Errorf("source request through the consents API: got %d %s", code, body)
			}
		})
	}
}

// engineURL is the database newEnv opens for engine: "" (a SQLite file) or a fresh
// PostgreSQL database.
func engineURL(t *testing.T, engine string) string {
	if engine == "postgres" {
		return pgtest.URL(t)
	}
	return ""
}
