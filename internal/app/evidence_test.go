package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// TestConsentEvidenceSealed records a choice whose user agent and form id are canaries and
// checks that they are nowhere in the data directory, that an analyst sees them masked while
// the DPO sees them, that the receipt does not carry them, and that erasure leaves nothing of
// them in the ledger.
func TestConsentEvidenceSealed(t *testing.T) { testConsentEvidenceSealed(t, "") }

// TestConsentEvidenceSealedPostgres is the same on PostgreSQL, whose files are not inspected.
func TestConsentEvidenceSealedPostgres(t *testing.T) { testConsentEvidenceSealed(t, pgtest.URL(t)) }

func testConsentEvidenceSealed(t *testing.T, db string) {
	e := newEnv(t, db)
	const agent, form = "ZqAgentCanary/7.1 (Evidence)", "zq-form-canary-footer"
	id := e.create(`{"email":"evidence.zq@example.com"}`)
	code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
		body: `{"purpose":"marketing_email","granted":false,"source":"signup_form","evidence":{"user_agent":"` + agent + `","form_id":"` + form + `","ip":"203.0.113.9"}}`})
	if code != 201 {
		t.Fatalf("record: got %d %s", code, body)
	}
	var rec struct{ Receipt string }
	_ = json.Unmarshal([]byte(body), &rec)
	parts := strings.Split(rec.Receipt, ".")
	if len(parts) != 3 {
		t.Fatalf("no receipt in %s", body)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if strings.Contains(string(payload), agent) || strings.Contains(string(payload), form) {
		t.Fatalf("the receipt carries evidence in clear: %s", payload)
	}

	code, body = e.do(call{method: "GET", path: "/v1/customers/" + id + "/consents", role: "analyst"})
	if code != 200 || strings.Contains(body, agent) || strings.Contains(body, form) || !strings.Contains(body, `"user_agent":"********"`) {
		t.Fatalf("analyst history: got %d %s", code, body)
	}
	code, body = e.do(call{method: "GET", path: "/v1/customers/" + id + "/consents", role: "dpo"})
	if code != 200 || !strings.Contains(body, agent) || !strings.Contains(body, form) {
		t.Fatalf("dpo history: got %d %s", code, body)
	}

	if db == "" {
		canaries := []string{agent, form, "ZqAgentCanary"}
		assertNoCanary(t, e.dir, canaries)
		if err := sqlite.Checkpoint(context.Background(), e.app.Store); err != nil {
			t.Fatal(err)
		}
		assertNoCanary(t, e.dir, canaries)
	}

	rid := e.request(`{"type":"erasure","customer_id":"` + id + `"}`)
	if code, body := e.verifyAndComplete(rid, ""); code != 200 {
		t.Fatalf("erase: %d %s", code, body)
	}
	recs, err := e.app.Store.Consents().CustomerRecords(context.Background(), id)
	if err != nil || len(recs) == 0 {
		t.Fatalf("ledger after erasure: %v, %d records", err, len(recs))
	}
	for _, r := range recs {
		if len(r.SealedEvidence) != 0 || r.Evidence.UserAgent != "" || r.Evidence.FormID != "" {
			t.Fatalf("evidence survived erasure: %+v", r)
		}
	}
}
