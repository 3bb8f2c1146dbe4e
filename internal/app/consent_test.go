package app

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/demo"
	"github.com/stewardhq/steward/internal/httpapi/apitest"
)

// publish publishes a policy version through the API as the owner.
func (e *env) publish(body string) {
	e.t.Helper()
	if code, resp := e.do(call{method: "POST", path: "/v1/policies", role: "owner", body: body}); code != 201 {
		e.t.Fatalf("publish: got %d %s", code, resp)
	}
}

// consentToAll publishes a policy covering every consent purpose (unless one is in force)
// and records the customer's consent to each.
func (e *env) consentToAll(id string) {
	e.t.Helper()
	sys := authz.WithActor(context.Background(), authz.System)
	var purposes []string
	for _, p := range e.app.Catalog.Purposes {
		if p.LegalBasis == catalog.Consent {
			purposes = append(purposes, p.Name)
		}
	}
	list, err := e.app.Consents.Policies(sys)
	if err != nil {
		e.t.Fatal(err)
	}
	if list.InForce == "" {
		if _, err := e.app.Consents.PublishPolicy(sys, consent.PolicyInput{Version: "all", Text: "Everything we do.", Purposes: purposes}); err != nil {
			e.t.Fatal(err)
		}
		list.InForce = "all"
	}
	yes := true
	for _, p := range purposes {
		if _, err := e.app.Consents.Record(sys, id, consent.Input{Purpose: p, Granted: &yes, PolicyVersion: list.InForce, Source: consent.SourceAPI}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// ledger returns the customer's records, oldest first.
func (e *env) ledger(id string) []consent.Record {
	e.t.Helper()
	recs, err := e.app.Store.Consents().CustomerRecords(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

const policyV1 = `{"version":"2026-01","text":"We email offers to those who ask, and share device ids with ad partners if you let us.","purposes":["service","marketing_email","marketing_sms","personalization","ads_sharing"],"controller":{"name":"Example Shop Ltd","contact":"privacy@shop.example"},"language":"en"}`

func TestConsentScenarios(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"ada@example.com","first_name":"Ada","phone":"+44 20 7946 0958"}`)
	other := e.create(`{"email":"other@example.com"}`)
	e.publish(policyV1)
	const cpath = "/v1/customers/"
	grant := func(purpose string) string {
		return `{"purpose":"` + purpose + `","granted":true,"policy_version":"2026-01","source":"signup_form","channel":"web","evidence":{"form_id":"footer","user_agent":"Mozilla/5.0","ip":"203.0.113.7"}}`
	}
	tests := []struct {
		name      string
		call      call
		status    int
		want      []string
		notWant   []string
		wantAudit string // action:role:purpose entries newly written for the customer, newest first
	}{
		{"policies listed", call{method: "GET", path: "/v1/policies", role: "analyst"}, 200, []string{`"2026-01"`, `"in_force":"2026-01"`, `"content_hash":"sha256:`}, []string{"We email offers"}, ""},
		{"policy text", call{method: "GET", path: "/v1/policies/2026-01", role: "analyst"}, 200, []string{"We email offers"}, nil, ""},
		{"no consent yet", call{method: "GET", path: cpath + id + "/permissions/marketing_email", role: "marketer"}, 200, []string{`"allowed":false`, `"reason":"no_consent"`}, nil, "permission.read:marketer:marketing_email"},
		{"contract needs no consent", call{method: "GET", path: cpath + id + "/permissions/service", role: "support"}, 200, []string{`"allowed":true`, `"reason":"contract"`}, nil, "permission.read:support:service"},
		{"marketer may not reveal without consent", call{method: "GET", path: cpath + id, role: "marketer", purpose: "marketing_email"}, 403,
			[]string{"no_consent"}, []string{"ada@example.com"}, "customer.reveal:marketer:marketing_email:denied"},
		{"support records a consent from a form", call{method: "POST", path: cpath + id + "/consents", role: "support", body: grant("marketing_email")}, 201,
			[]string{`"granted":true`, `"policy_version":"2026-01"`, `"receipt":"ey`, `"ip_hash":"`}, []string{"203.0.113.7"}, "consent.record:support:marketing_email"},
		{"now allowed", call{method: "GET", path: cpath + id + "/permissions/marketing_email", role: "marketer"}, 200, []string{`"allowed":true`, `"reason":"consent"`, `"policy_version":"2026-01"`}, nil, "permission.read:marketer:marketing_email"},
		{"marketer reveals for the consented purpose", call{method: "GET", path: cpath + id, role: "marketer", purpose: "marketing_email"}, 200,
			[]string{`"ada@example.com"`, `"revealed"`}, []string{"+442079460958"}, "customer.reveal:marketer:marketing_email"},
		{"not for another purpose", call{method: "GET", path: cpath + id, role: "marketer", purpose: "marketing_sms"}, 403,
			[]string{"no_consent"}, []string{"2079460958"}, "customer.reveal:marketer:marketing_sms:denied"},
		{"withdrawn from the portal", call{method: "POST", path: cpath + id + "/consents", role: "support", body: `{"purpose":"marketing_email","granted":false,"source":"portal"}`}, 201,
			[]string{`"granted":false`, `"policy_version":"2026-01"`}, nil, "consent.record:support:marketing_email"},
		{"the very next check is denied", call{method: "GET", path: cpath + id + "/permissions/marketing_email", role: "marketer"}, 200, []string{`"allowed":false`, `"reason":"withdrawn"`}, nil, "permission.read:marketer:marketing_email"},
		{"and the very next reveal", call{method: "GET", path: cpath + id, role: "marketer", purpose: "marketing_email"}, 403,
			[]string{"withdrawn"}, []string{"ada@example.com"}, "customer.reveal:marketer:marketing_email:denied"},
		{"look-up shows the match masked, saying why", call{method: "GET", path: "/v1/customers?email=ada@example.com", role: "marketer", purpose: "marketing_email"}, 200,
			[]string{`"denied":`, `withdrawn`, id}, []string{"ada@example.com"},
			"customer.reveal:marketer:marketing_email:denied,customer.lookup:marketer:marketing_email"},
		{"history and state", call{method: "GET", path: cpath + id + "/consents", role: "support"}, 200,
			[]string{`"state":[`, `"reason":"withdrawn"`, `"history":[`, `"source":"signup_form"`, `"source":"portal"`}, []string{"203.0.113.7"}, "consent.read:support:"},
		{"legitimate interest objected", call{method: "POST", path: cpath + id + "/consents", role: "dpo", body: `{"kind":"objection","purpose":"fraud_prevention","granted":false,"source":"portal"}`}, 201,
			[]string{`"kind":"objection"`}, nil, "consent.record:dpo:fraud_prevention"},
		{"objection decided", call{method: "GET", path: cpath + id + "/permissions/fraud_prevention", role: "support"}, 200, []string{`"reason":"objected"`}, nil, "permission.read:support:fraud_prevention"},
		{"restricted", call{method: "POST", path: cpath + id + "/consents", role: "dpo", body: `{"kind":"restriction","granted":false,"source":"api"}`}, 201, []string{`"kind":"restriction"`}, nil, "consent.record:dpo:"},
		{"restriction stops contract reveals", call{method: "GET", path: cpath + id, role: "support", purpose: "support"}, 403,
			[]string{"restricted"}, []string{"ada@example.com"}, "customer.reveal:support:support:denied"},
		{"but not legal obligations", call{method: "GET", path: cpath + id + "/permissions/legal_obligation", role: "dpo"}, 200, []string{`"allowed":true`}, nil, "permission.read:dpo:legal_obligation"},
		{"unknown customer is a denial", call{method: "GET", path: cpath + "0190a000-0000-7000-8000-000000000001/permissions/service", role: "support"}, 200, []string{`"reason":"unknown_customer"`}, nil, ""},
		{"ingest may not record consent", call{method: "POST", path: cpath + other + "/consents", role: "ingest", body: grant("marketing_email")}, 403, []string{"consents.write"}, nil, ""},
		{"marketer may not record consent", call{method: "POST", path: cpath + other + "/consents", role: "marketer", body: grant("marketing_email")}, 403, []string{"consents.write"}, nil, ""},
		{"support may not publish policies", call{method: "POST", path: "/v1/policies", role: "support", body: policyV1}, 403, []string{"policies.write"}, nil, ""},
		{"ingest may not ask", call{method: "GET", path: cpath + id + "/permissions/service", role: "ingest"}, 403, []string{"customers.read"}, nil, ""},
		{"key set is public", call{method: "GET", path: "/.well-known/jwks.json"}, 200, []string{`"kty":"OKP"`, `"crv":"Ed25519"`, `"alg":"EdDSA"`}, nil, ""},
		{"GPC support resource", call{method: "GET", path: "/.well-known/gpc.json"}, 200, []string{`"gpc":true`, `"lastUpdate":"` + time.Now().UTC().Format("2006-01-02")}, nil, ""},
	}
	var scenarios []apitest.Scenario
	for _, tt := range tests {
		scenarios = append(scenarios, apitest.Scenario{Name: tt.name, Request: tt.call.request(), Status: tt.status,
			Want: tt.want, NotWant: tt.notWant, Audit: entries(tt.wantAudit)})
	}
	e.runner(id).Run(t, scenarios)
	// The policy publication is audited too, and no entry anywhere holds a value.
	entries, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Action: consent.ActionPolicyPublish, Limit: 10})
	if len(entries) != 1 || entries[0].Target != "policy:2026-01" || entries[0].ActorRole != "owner" {
		t.Fatalf("got %+v, want one policy.publish entry", entries)
	}
	all, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 1000})
	for _, en := range all {
		b, _ := json.Marshal(en)
		if strings.Contains(string(b), "ada@example.com") || strings.Contains(string(b), "203.0.113.7") || strings.Contains(string(b), "Mozilla") {
			t.Fatalf("an audit entry holds a value: %s", b)
		}
	}
}

// TestMaterialChangeNeedsReconsent: a version that changes a purpose materially turns the
// consents given under earlier versions into "needs re-consent" from the day it takes effect,
// not before, and a grant under the new version counts again.
func TestMaterialChangeNeedsReconsent(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"mat@example.com"}`)
	now := time.Now()
	e.publish(policyV1)
	e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
		body: `{"purpose":"marketing_sms","granted":true,"policy_version":"2026-01","source":"banner"}`})
	eff := now.Add(48 * time.Hour).UTC().Format(time.RFC3339)
	e.publish(`{"version":"2026-02","effective_at":"` + eff + `","text":"We now text you about partners too.","purposes":["service","marketing_email","marketing_sms"],"material_change":["marketing_sms"]}`)
	check := func(want string) {
		t.Helper()
		_, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/permissions/marketing_sms", role: "owner"})
		if !strings.Contains(body, `"reason":"`+want+`"`) {
			t.Fatalf("got %s, want %s", body, want)
		}
	}
	check("consent")
	// Consent cannot be given under a version that is not in force yet.
	code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
		body: `{"purpose":"marketing_sms","granted":true,"policy_version":"2026-02","source":"banner"}`})
	if code != 422 || !strings.Contains(body, "takes effect") {
		t.Fatalf("got %d %s, want a refusal of the future version", code, body)
	}
	e.clock.Set(49 * time.Hour)
	check("needs_reconsent")
	code, body = e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
		body: `{"purpose":"marketing_sms","granted":true,"policy_version":"2026-01","source":"banner"}`})
	if code != 422 || !strings.Contains(body, "superseded") {
		t.Fatalf("got %d %s, want a refusal of the superseded version", code, body)
	}
	e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
		body: `{"purpose":"marketing_sms","granted":true,"policy_version":"2026-02","source":"banner"}`})
	check("consent")
	// Other purposes were not changed materially: nothing to ask again.
	_, body = e.do(call{method: "GET", path: "/v1/customers/" + id + "/consents", role: "owner"})
	if !strings.Contains(body, `"purpose":"marketing_email","legal_basis":"consent","allowed":false,"reason":"no_consent"`) {
		t.Fatalf("got %s", body)
	}
}

// TestReceiptsVerify: every record's receipt verifies against the published key, independently
// of Steward's own code, and a changed receipt does not.
func TestReceiptsVerify(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"rc@example.com"}`)
	e.publish(policyV1)
	code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
		body: `{"purpose":"ads_sharing","granted":true,"policy_version":"2026-01","source":"banner","evidence":{"form_id":"cookie-banner","tcf":"CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"}}`})
	if code != 201 {
		t.Fatalf("got %d %s", code, body)
	}
	var rec consent.Record
	if err := json.Unmarshal([]byte(body), &rec); err != nil {
		t.Fatal(err)
	}
	_, jwks := e.do(call{method: "GET", path: "/.well-known/jwks.json"})
	var ks struct {
		Keys []struct{ Kty, Crv, X, Kid, Alg string }
	}
	if err := json.Unmarshal([]byte(jwks), &ks); err != nil || len(ks.Keys) != 1 {
		t.Fatalf("key set: %s", jwks)
	}
	pub, err := base64.RawURLEncoding.DecodeString(ks.Keys[0].X)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("key: %v", err)
	}
	// An independent check: split the JWS, verify with the standard library, read the claims.
	parts := strings.Split(rec.Receipt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %s", rec.Receipt)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("the receipt does not verify with the published key")
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var hdr struct{ Alg, Kid string }
	var claims map[string]any
	_ = json.Unmarshal(hb, &hdr)
	if err := json.Unmarshal(pb, &claims); err != nil {
		t.Fatal(err)
	}
	if hdr.Alg != "EdDSA" || hdr.Kid != ks.Keys[0].Kid {
		t.Fatalf("header %s", hb)
	}
	notice, _ := claims["notice"].(map[string]any)
	controller, _ := claims["controller"].(map[string]any)
	if claims["pii_principal_id"] != id || claims["event"] != "given" || claims["collection_method"] != "banner" || claims["receipt_id"] != rec.ID ||
		notice["version"] != "2026-01" || !strings.HasPrefix(fmt.Sprint(notice["content_hash"]), "sha256:") || controller["name"] != "Example Shop Ltd" {
		t.Fatalf("claims %s", pb)
	}
	if strings.Contains(string(pb), "rc@example.com") {
		t.Fatal("the receipt holds contact data")
	}
	// Steward's own verification agrees, and refuses a changed receipt.
	_, body = e.do(call{method: "POST", path: "/v1/consent-receipts/verify", body: `{"receipt":"` + rec.Receipt + `"}`})
	if !strings.Contains(body, `"valid":true`) || !strings.Contains(body, `"event":"given"`) {
		t.Fatalf("got %s", body)
	}
	forged := strings.Replace(string(pb), `"given"`, `"withdrawn"`, 1)
	changed := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
	if ed25519.Verify(pub, []byte(parts[0]+"."+strings.Split(changed, ".")[1]), sig) {
		t.Fatal("a changed receipt verifies")
	}
	_, body = e.do(call{method: "POST", path: "/v1/consent-receipts/verify", body: `{"receipt":"` + changed + `"}`})
	if !strings.Contains(body, `"valid":false`) || !strings.Contains(body, "signature") {
		t.Fatalf("got %s, want the changed receipt refused", body)
	}
}

// TestDemoConsents: the demo publishes its policy and records seeded, valid consent histories
// once, through the ledger.
func TestDemoConsents(t *testing.T) {
	e := newEnv(t, "")
	var ids []string
	for i := 0; i < 40; i++ {
		ids = append(ids, e.create(fmt.Sprintf(`{"email":"demo%d@example.com"}`, i)))
	}
	sys := authz.WithActor(context.Background(), authz.System)
	n, err := demo.Consents(sys, e.app.Consents, ids, 42)
	if err != nil || n == 0 {
		t.Fatalf("got %d records, %v", n, err)
	}
	list, _ := e.app.Consents.Policies(sys)
	if list.InForce != demo.DemoPolicy {
		t.Fatalf("got policy in force %q", list.InForce)
	}
	res, err := e.app.Consents.Check(sys, "marketing_email", ids)
	if err != nil || len(res.Allowed) == 0 || len(res.Denied) == 0 {
		t.Fatalf("got %d allowed, %d denied (%v), want some of each", len(res.Allowed), len(res.Denied), err)
	}
	if again, err := demo.Consents(sys, e.app.Consents, ids, 42); err != nil || again != 0 {
		t.Fatalf("a second run wrote %d records (%v), want none", again, err)
	}
}
