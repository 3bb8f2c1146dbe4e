package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
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

	// Through tracking: a GPC signal and an unsubscribe, each with the browser's user agent.
	const gpcAgent, unsubAgent = "ZqGPCAgentCanary/2.0", "ZqUnsubAgentCanary/4.0"
	tid := e.identified("zq-evidence-user")
	if code, out := e.trackWith("/v1/track", `{"type":"track","event":"Product Viewed","messageId":"zq-ev-1","userId":"zq-evidence-user",`+
		`"context":{"userAgent":"`+gpcAgent+`","ip":"203.0.113.10"}}`, map[string]string{"Sec-GPC": "1"}); code != 200 {
		t.Fatalf("track with GPC: %d %s", code, out)
	}
	e.mustTrack("/v1/track", `{"type":"track","event":"Unsubscribed","messageId":"zq-ev-2","userId":"zq-evidence-user","properties":{"campaign_id":"spring"},`+
		`"context":{"userAgent":"`+unsubAgent+`"}}`)
	code, body = e.do(call{method: "GET", path: "/v1/customers/" + tid + "/consents", role: "analyst"})
	if code != 200 || strings.Contains(body, gpcAgent) || strings.Contains(body, unsubAgent) || !strings.Contains(body, `"source":"gpc"`) ||
		!strings.Contains(body, `"source":"event"`) {
		t.Fatalf("analyst history of tracked choices: got %d %s", code, body)
	}
	code, body = e.do(call{method: "GET", path: "/v1/customers/" + tid + "/consents", role: "dpo"})
	if code != 200 || !strings.Contains(body, gpcAgent) || !strings.Contains(body, unsubAgent) {
		t.Fatalf("dpo history of tracked choices: got %d %s", code, body)
	}

	if db == "" {
		canaries := []string{agent, form, "ZqAgentCanary", gpcAgent, unsubAgent}
		assertNoCanary(t, e.dir, canaries)
		if err := sqlite.Checkpoint(context.Background(), e.app.Store); err != nil {
			t.Fatal(err)
		}
		assertNoCanary(t, e.dir, canaries)
	}

	// The customer's own access export shows the evidence in clear.
	arid := e.request(`{"type":"access","customer_id":"` + id + `"}`)
	code, body = e.verifyAndComplete(arid, "")
	var done struct {
		Result struct {
			DownloadURL string `json:"download_url"`
		}
	}
	_ = json.Unmarshal([]byte(body), &done)
	resp, err := http.Get(e.srv.URL + done.Result.DownloadURL)
	if code != 200 || err != nil {
		t.Fatalf("access export: %d %s %v", code, body, err)
	}
	zipped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	files := unzip(t, zipped)
	if js := files["export.json"]; !strings.Contains(js, agent) || !strings.Contains(js, form) {
		t.Fatalf("the access export lacks the evidence: %s", js)
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

// TestStoredEvidenceSealedAtStart writes records the way versions before sealed evidence did,
// with the user agent and form id in clear, and checks that the start-up pass seals them:
// gone from the clear columns, still readable by the DPO, masked to an analyst; and that the
// evidence of a customer already gone is blanked.
func TestStoredEvidenceSealedAtStart(t *testing.T) { testStoredEvidenceSealedAtStart(t, "") }

// TestStoredEvidenceSealedAtStartPostgres is the same on PostgreSQL.
func TestStoredEvidenceSealedAtStartPostgres(t *testing.T) {
	testStoredEvidenceSealedAtStart(t, pgtest.URL(t))
}

func testStoredEvidenceSealedAtStart(t *testing.T, db string) {
	e := newEnv(t, db)
	ctx := context.Background()
	const agent, form = "ZqLegacyAgent/3.0", "zq-legacy-form"
	id := e.create(`{"email":"legacy.zq@example.com"}`)
	insert := func(recID, customerID string) {
		t.Helper()
		if _, err := e.app.Store.Write().Exec(`INSERT INTO consent_records (id, customer_id, kind, purpose, granted, policy_version, source, channel, at,
			form_id, user_agent, ip_hash, tcf, gpp, actor_id, request_id, receipt) VALUES ($1, $2, 'consent', 'marketing_email', false, '', 'signup_form', '', 1,
			$3, $4, '', '', '', 'key:old', '', '')`, recID, customerID, form, agent); err != nil {
			t.Fatal(err)
		}
	}
	insert("legacy-1", id)
	// A customer that no longer exists (erased by an older version) left its evidence behind.
	gone := "01a24bd6-0000-7000-8000-00000000dead"
	if _, err := e.app.Store.Write().Exec(`INSERT INTO erasure_ledger (customer_id, erased_at, request_id, reason, hashes, marketing, state, report, completed_at)
		VALUES ($1, 1, '', 'test', '[]', '[]', 'erased', '{}', 1)`, gone); err != nil {
		t.Logf("no erasure ledger row: %v", err)
	}
	insertGone := func() error {
		_, err := e.app.Store.Write().Exec(`INSERT INTO consent_records (id, customer_id, kind, purpose, granted, policy_version, source, channel, at,
			form_id, user_agent, ip_hash, tcf, gpp, actor_id, request_id, receipt) VALUES ('legacy-2', $1, 'consent', 'marketing_email', false, '', 'signup_form', '', 1,
			$2, $3, '', '', '', 'key:old', '', '')`, gone, form, agent)
		return err
	}
	goneInserted := insertGone() == nil // a foreign key may refuse a record without its customer

	sealed, skipped, err := e.app.Consents.SealStoredEvidence(ctx)
	if err != nil || skipped != 0 || sealed == 0 {
		t.Fatalf("sealed %d, skipped %d, %v", sealed, skipped, err)
	}
	check := func(customerID string, wantSealed bool) {
		t.Helper()
		recs, err := e.app.Store.Consents().CustomerRecords(ctx, customerID)
		if err != nil || len(recs) == 0 {
			t.Fatalf("records: %v %d", err, len(recs))
		}
		for _, r := range recs {
			if r.Evidence.UserAgent != "" || r.Evidence.FormID != "" || (len(r.SealedEvidence) != 0) != wantSealed {
				t.Fatalf("after the start-up pass: %+v", r)
			}
		}
	}
	check(id, true)
	if goneInserted {
		check(gone, false)
	}
	if n, _, err := e.app.Consents.SealStoredEvidence(ctx); err != nil || n != 0 {
		t.Fatalf("second pass sealed %d, %v", n, err)
	}
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/consents", role: "dpo"})
	if code != 200 || !strings.Contains(body, agent) || !strings.Contains(body, form) {
		t.Fatalf("dpo history: got %d %s", code, body)
	}
	code, body = e.do(call{method: "GET", path: "/v1/customers/" + id + "/consents", role: "analyst"})
	if code != 200 || strings.Contains(body, agent) || strings.Contains(body, form) {
		t.Fatalf("analyst history: got %d %s", code, body)
	}
	// The trigger lets no other change through.
	if _, err := e.app.Store.Write().Exec(`UPDATE consent_records SET granted = true WHERE id = 'legacy-1'`); err == nil {
		t.Fatal("the ledger let a choice be changed")
	}
	if _, err := e.app.Store.Write().Exec(`UPDATE consent_records SET user_agent = 'x' WHERE id = 'legacy-1'`); err == nil {
		t.Fatal("the ledger let evidence be written in clear")
	}
}
