package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/httpapi/apitest"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// env is a running Steward with keys for several roles.
type env struct {
	t    *testing.T
	app  *App
	srv  *httptest.Server
	keys map[string]string
	dir  string
	// clock is the app's one clock, which tests move to cross deadlines and periods.
	clock *clock.Offset
}

// newEnv initialises and serves a Steward on db (SQLite in a temp dir when empty), its
// configuration changed by configure before it opens.
func newEnv(t *testing.T, db string, configure ...func(*config.Config)) *env {
	t.Helper()
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.DB = config.Secret(db)
	for _, c := range configure {
		c(&cfg)
	}
	ctx := context.Background()
	owner, err := Init(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock.Offset{}
	a, err := OpenWith(ctx, cfg, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	e := &env{t: t, app: a, keys: map[string]string{"owner": owner}, dir: cfg.Data, clock: clk}
	e.srv = httptest.NewServer(a.HTTP().Handler())
	t.Cleanup(e.srv.Close)
	sys := authz.WithActor(ctx, authz.System)
	for _, role := range []string{"admin", "support", "marketer", "analyst", "dpo", "auditor", "ingest", "collect"} {
		k, _, err := a.APIKeys.Create(sys, role, role+" key")
		if err != nil {
			t.Fatal(err)
		}
		e.keys[role] = k
	}
	return e
}

type call struct {
	method, path, role, purpose, body string
	header                            map[string]string
}

// request is c as the shared scenario runner sends it.
func (c call) request() apitest.Request {
	return apitest.Request{Method: c.method, Path: c.path, Role: c.role, Purpose: c.purpose, Body: c.body, Header: c.header}
}

// client sends requests to e's server and holds every answer to its OpenAPI document.
func (e *env) client() *apitest.Client {
	return &apitest.Client{URL: e.srv.URL, Keys: e.keys}
}

func (e *env) do(c call) (int, string) {
	e.t.Helper()
	r := e.client().Do(e.t, c.request())
	return r.Status, r.Body
}

// runner runs scenario tables against e, holding them to the audit entries about customerID.
func (e *env) runner(customerID string) apitest.Runner {
	return apitest.Runner{Client: e.client(), Audit: func(testing.TB) []string { return e.auditActions(customerID) }}
}

// entries is the expected audit column of a table row: the entries newly written, newest
// first and separated by commas, or none.
func entries(actions string) []string {
	if actions == "" {
		return nil
	}
	return strings.Split(actions, ",")
}

func (e *env) create(fields string) string {
	e.t.Helper()
	code, body := e.do(call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":` + fields + `}`})
	if code != 201 {
		e.t.Fatalf("create: got %d %s", code, body)
	}
	var v struct{ ID string }
	_ = json.Unmarshal([]byte(body), &v)
	return v.ID
}

func (e *env) auditActions(customerID string) []string {
	e.t.Helper()
	entries, err := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{CustomerID: customerID, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		a := en.Action + ":" + en.ActorRole + ":" + en.Purpose
		if en.Outcome != audit.OutcomeOK {
			a += ":" + en.Outcome
		}
		out = append(out, a)
	}
	return out
}

const ada = `{"email":"Ada.Lovelace@Example.com","first_name":"Ada","last_name":"Lovelace","phone":"+44 20 7946 0958","birth_date":"1985-12-10","national_id":"QQ123456C"}`

// TestScenarios is the API's table: who asks what, what they get, what they must not get,
// and which audit entries the request must leave.
func TestScenarios(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(ada)
	plain := []string{"Ada.Lovelace", "ada.lovelace", "Lovelace", "7946 0958", "2079460958", "1985-12-10", "QQ123456C"}
	tests := []struct {
		name      string
		call      call
		status    int
		want      []string
		notWant   []string
		wantAudit string // action:role:purpose newly written for the customer
	}{
		{"masked read", call{method: "GET", path: "/v1/customers/" + id, role: "support"}, 200,
			[]string{`"a***@example.com"`, `"+44 **** ***958"`, `"1985-**-**"`}, plain, "customer.read:support:"},
		{"support reveals for support", call{method: "GET", path: "/v1/customers/" + id, role: "support", purpose: "support"}, 200,
			[]string{`"ada.lovelace@example.com"`, `"+442079460958"`, `"revealed"`}, []string{"QQ123456C"}, "customer.reveal:support:support"},
		{"national id only for legal obligation", call{method: "GET", path: "/v1/customers/" + id, role: "dpo", purpose: "legal_obligation"}, 200,
			[]string{`"QQ123456C"`}, nil, "customer.reveal:dpo:legal_obligation"},
		{"support may not act for marketing", call{method: "GET", path: "/v1/customers/" + id, role: "support", purpose: "marketing_email"}, 403,
			[]string{"may not act for purpose"}, plain, "customer.reveal:support:marketing_email:denied"},
		{"analyst sees analytics generalised", call{method: "GET", path: "/v1/customers/" + id, role: "analyst", purpose: "analytics"}, 200,
			[]string{`"generalized":["birth_date"]`, `"a***@example.com"`}, plain, "customer.reveal:analyst:analytics"},
		{"analyst may not act for support", call{method: "GET", path: "/v1/customers/" + id, role: "analyst", purpose: "support"}, 403,
			[]string{"may not"}, plain, "customer.reveal:analyst:support:denied"},
		{"unknown purpose", call{method: "GET", path: "/v1/customers/" + id, role: "support", purpose: "curiosity"}, 422,
			[]string{`unknown purpose`}, plain, ""},
		{"ingest cannot read", call{method: "GET", path: "/v1/customers/" + id, role: "ingest"}, 403, nil, plain, ""},
		{"look-up by email, any case", call{method: "GET", path: "/v1/customers?email=ADA.LOVELACE@example.COM", role: "support"}, 200,
			[]string{id, `"a***@example.com"`}, plain, "customer.lookup:support:"},
		{"look-up by national phone", call{method: "GET", path: "/v1/customers?phone=020%207946%200958", role: "support"}, 200,
			[]string{id}, plain, "customer.lookup:support:"},
		{"look-up miss", call{method: "GET", path: "/v1/customers?email=nobody@example.com", role: "support"}, 200,
			[]string{`{"data":[]}`}, nil, ""},
		{"look-up by unindexed field", call{method: "GET", path: "/v1/customers?first_name=Ada", role: "support"}, 422,
			[]string{"first_name"}, nil, ""},
		{"audit for auditor", call{method: "GET", path: "/v1/audit?customer_id=" + id, role: "auditor"}, 200,
			[]string{"customer.create", "customer.reveal"}, plain, ""},
		{"audit not for support", call{method: "GET", path: "/v1/audit", role: "support"}, 403, nil, nil, ""},
		{"no key", call{method: "GET", path: "/v1/customers/" + id}, 401, []string{"bearer"}, plain, ""},
		{"bad key", call{method: "GET", path: "/v1/customers/" + id, role: "stw_nope_nope"}, 401, []string{"invalid API key"}, plain, ""},
		{"malformed id", call{method: "GET", path: "/v1/customers/not-an-id", role: "support"}, 422, []string{"id"}, nil, ""},
		{"unknown id", call{method: "GET", path: "/v1/customers/0190a000-0000-7000-8000-000000000000", role: "support"}, 404, nil, nil, ""},
		{"catalog", call{method: "GET", path: "/v1/catalog", role: "analyst"}, 200, []string{`"national_id"`, `"legal_obligation"`}, nil, ""},
		{"unknown route", call{method: "GET", path: "/v1/nothing", role: "owner"}, 404, []string{"no such route"}, nil, ""},
		{"wrong method", call{method: "DELETE", path: "/v1/customers/" + id, role: "owner"}, 405, []string{"GET, PATCH"}, nil, ""},
		{"look-up with a limit", call{method: "GET", path: "/v1/customers?email=ada.lovelace@example.com&limit=5", role: "support"}, 200,
			[]string{id}, plain, "customer.lookup:support:"},
	}
	var scenarios []apitest.Scenario
	for _, tt := range tests {
		scenarios = append(scenarios, apitest.Scenario{Name: tt.name, Request: tt.call.request(), Status: tt.status,
			Want: tt.want, NotWant: tt.notWant, Audit: entries(tt.wantAudit), AnyAudit: strings.HasPrefix(tt.call.path, "/v1/audit")})
	}
	e.runner(id).Run(t, scenarios)
}

// TestBadInput proves every kind of bad input gets the right 4xx naming the problem, and
// writes nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"grace@example.com"}`)
	long := strings.Repeat("x", 2<<20)
	tests := []struct {
		name   string
		call   call
		status int
		detail string
	}{
		{"malformed JSON", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":`}, 400, "body"},
		{"not an object", call{method: "POST", path: "/v1/customers", role: "owner", body: `[1,2]`}, 400, "must be an object"},
		{"unknown property", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"email":"a@example.com"},"extra":1}`}, 400, "extra"},
		{"trailing data", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"email":"a@example.com"}} {}`}, 400, "single JSON object"},
		{"empty body", call{method: "POST", path: "/v1/customers", role: "owner", body: ` `}, 400, "empty"},
		{"undeclared field", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"email":"a@example.com","shoe_size":44}}`}, 422, "shoe_size: is not declared"},
		{"wrong type", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"loyalty_points":"many"}}`}, 422, "loyalty_points"},
		{"bad email", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"email":"not-an-email"}}`}, 422, "email"},
		{"bad phone", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"phone":"12"}}`}, 422, "phone"},
		{"bad date", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"birth_date":"1990-02-30"}}`}, 422, "birth_date"},
		{"card number in a field", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"first_name":"4111 1111 1111 1111"}}`}, 422, "payment card"},
		{"card number in card_last4", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"card_last4":"5500-0000-0000-0004"}}`}, 422, "payment card"},
		{"card number as a JSON number", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"order_count":4111111111111111}}`}, 422, "payment card"},
		{"no fields", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{}}`}, 422, "fields"},
		{"null on create", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"email":null}}`}, 422, "email"},
		{"oversized body", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"first_name":"` + long + `"}}`}, 413, "larger than"},
		{"too long value", call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"first_name":"` + strings.Repeat("y", 300) + `"}}`}, 422, "longer than"},
		{"patch undeclared", call{method: "PATCH", path: "/v1/customers/" + id, role: "owner", body: `{"fields":{"email":"new@example.com","shoe_size":1}}`}, 422, "shoe_size"},
		{"wrong content type", call{method: "POST", path: "/v1/customers", role: "owner", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}, 400, "Content-Type"},
		{"bad limit", call{method: "GET", path: "/v1/customers?limit=0", role: "owner"}, 422, "limit"},
		{"bad limit on a look-up", call{method: "GET", path: "/v1/customers?email=grace@example.com&limit=abc", role: "owner"}, 422, "limit"},
		{"bad cursor", call{method: "GET", path: "/v1/customers?cursor=zzz", role: "owner"}, 422, "cursor"},
		{"bad audit time", call{method: "GET", path: "/v1/audit?since=yesterday", role: "auditor"}, 422, "since"},
		{"unknown role for key", call{method: "POST", path: "/v1/apikeys", role: "owner", body: `{"role":"god","name":"x"}`}, 422, "role"},
		{"ingest may not create keys", call{method: "POST", path: "/v1/apikeys", role: "ingest", body: `{"role":"owner","name":"x"}`}, 403, "apikeys.manage"},
		{"admin may not mint an owner key", call{method: "POST", path: "/v1/apikeys", role: "admin", body: `{"role":"owner","name":"x"}`}, 403, "may not issue"},
	}
	var scenarios []apitest.Scenario
	details := map[string]string{}
	for _, tt := range tests {
		scenarios = append(scenarios, apitest.Scenario{Name: tt.name, Request: tt.call.request(), Status: tt.status})
		details[tt.name] = tt.detail
	}
	run := e.runner(id)
	run.Audit = nil // nothing at all may be audited, checked below for every customer
	run.Watch = func(t *testing.T, sc apitest.Scenario) func(apitest.Response) {
		countBefore, _ := e.app.Store.Customers().CountCustomers(context.Background())
		auditBefore, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 1})
		return func(r apitest.Response) {
			var p struct {
				Detail, Type string
				RequestID    string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(r.Body), &p); err != nil {
				t.Fatalf("not problem+json: %s", r.Body)
			}
			if !strings.Contains(p.Detail, details[sc.Name]) {
				t.Errorf("got detail %q, want it to name %q", p.Detail, details[sc.Name])
			}
			// The random request id may hold any digits; the rest must not echo the input.
			if rest := strings.Replace(r.Body, p.RequestID, "", 1); strings.Contains(rest, "4111") || strings.Contains(rest, "not-an-email") {
				t.Errorf("problem repeats the input: %s", r.Body)
			}
			countAfter, _ := e.app.Store.Customers().CountCustomers(context.Background())
			auditAfter, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 1})
			if countAfter != countBefore {
				t.Errorf("customers went from %d to %d", countBefore, countAfter)
			}
			if len(auditAfter) > 0 && len(auditBefore) > 0 && auditAfter[0].ID != auditBefore[0].ID {
				t.Errorf("a refused request wrote audit entry %s", auditAfter[0].Action)
			}
		}
	}
	run.Run(t, scenarios)
	// The customer is untouched by the refused patch.
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "owner", purpose: "support"})
	if code != 200 || !strings.Contains(body, "grace@example.com") {
		t.Fatalf("got %d %s, want the unchanged email", code, body)
	}
}

func TestPatchAndRevokedKey(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"linus@example.com","first_name":"Linus","phone":"+44 7911 123456"}`)
	code, body := e.do(call{method: "PATCH", path: "/v1/customers/" + id, role: "support", body: `{"fields":{"phone":null,"email":"Linus.T@Example.org","last_name":"Torvalds"}}`})
	if code != 200 || strings.Contains(body, `"phone"`) || !strings.Contains(body, `"version":2`) {
		t.Fatalf("patch: got %d %s", code, body)
	}
	if _, body := e.do(call{method: "GET", path: "/v1/customers?email=linus@example.com", role: "support"}); !strings.Contains(body, `"data":[]`) {
		t.Errorf("old email still finds the customer: %s", body)
	}
	if _, body := e.do(call{method: "GET", path: "/v1/customers?phone=%2B447911123456", role: "support"}); !strings.Contains(body, `"data":[]`) {
		t.Errorf("removed phone still finds the customer: %s", body)
	}
	if _, body := e.do(call{method: "GET", path: "/v1/customers?email=linus.t@example.org", role: "support", purpose: "service"}); !strings.Contains(body, "Torvalds") {
		t.Errorf("new email does not find the customer: %s", body)
	}
	// Revoke the support key: it stops working at once.
	code, body = e.do(call{method: "GET", path: "/v1/apikeys", role: "owner"})
	var list struct{ Data []struct{ ID, Role string } }
	_ = json.Unmarshal([]byte(body), &list)
	var supportID string
	for _, k := range list.Data {
		if k.Role == "support" {
			supportID = k.ID
		}
	}
	if code != 200 || supportID == "" || strings.Contains(body, e.keys["support"]) {
		t.Fatalf("list keys: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "DELETE", path: "/v1/apikeys/" + supportID, role: "owner"}); code != 204 {
		t.Fatalf("revoke: got %d %s", code, body)
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support"}); code != 401 {
		t.Fatalf("revoked key: got %d, want 401", code)
	}
}

func TestListPagination(t *testing.T) {
	e := newEnv(t, "")
	for i := 0; i < 7; i++ {
		e.create(`{"email":"p` + string(rune('a'+i)) + `@example.com"}`)
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		_, body := e.do(call{method: "GET", path: "/v1/customers?limit=3&cursor=" + cursor, role: "support"})
		var page struct {
			Data       []struct{ ID string }
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Data {
			seen[c.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 7 {
		t.Fatalf("got %d customers over the pages, want 7", len(seen))
	}
}

// TestOpenAPICoversEveryRoute fails when a route is served but undocumented.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	e := newEnv(t, "")
	_, body := e.do(call{method: "GET", path: "/openapi.json"})
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("got openapi %q, want 3.1.0", doc.OpenAPI)
	}
	for _, rt := range e.app.HTTP().Routes() {
		op, ok := doc.Paths[rt[1]][strings.ToLower(rt[0])]
		if !ok || op == nil {
			t.Errorf("%s %s is served but not in /openapi.json", rt[0], rt[1])
		}
		// And it is really served: anything but the catch-all 404.
		code, body := e.do(call{method: rt[0], path: strings.ReplaceAll(rt[1], "{id}", "x"), role: "owner"})
		if code == 404 && strings.Contains(body, "no such route") {
			t.Errorf("%s %s documented but not routed", rt[0], rt[1])
		}
	}
}

func TestCanaryNeverAtRestSQLite(t *testing.T) {
	e := newEnv(t, "")
	canaries := seedCanaries(t, e)
	// First with the writes still in the WAL file, then after they moved into the database.
	assertNoCanary(t, e.dir, canaries)
	if err := sqlite.Checkpoint(context.Background(), e.app.Store); err != nil {
		t.Fatal(err)
	}
	e.app.Close()
	assertNoCanary(t, e.dir, canaries)
}

func TestCanaryNeverAtRestPostgres(t *testing.T) {
	e := newEnv(t, pgtest.URL(t))
	canaries := seedCanaries(t, e)
	if _, err := e.app.Store.Write().Exec(`CHECKPOINT`); err != nil {
		t.Fatal(err)
	}
	if pgtest.DataDir() == "" {
		t.Skip("external PostgreSQL: its files are not here to inspect")
	}
	assertNoCanary(t, pgtest.DataDir(), canaries)
}

// seedCanaries writes distinctive values through the API (and reads them back so they pass
// through every path) and returns the strings that must never be found at rest.
func seedCanaries(t *testing.T, e *env) []string {
	id := e.create(`{"email":"canary.zq7x@example.com","first_name":"Zqxwvcanary","last_name":"Quokkacanary","phone":"+44 7911 123777","national_id":"ZQ998877X","address_line1":"17 Canarywharfish Lane"}`)
	if code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "dpo", purpose: "legal_obligation"}); code != 200 || !strings.Contains(body, "ZQ998877X") {
		t.Fatalf("got %d %s", code, body)
	}
	e.do(call{method: "PATCH", path: "/v1/customers/" + id, role: "owner", body: `{"fields":{"first_name":"Zqxwvcanaryb"}}`})
	e.do(call{method: "GET", path: "/v1/customers?email=canary.zq7x@example.com", role: "support", purpose: "support"})
	// The same person again, found by a duplicate scan and merged: keys, evidence, the merge
	// and its sealed undo state must hold no value either.
	e.population(120)
	twin := e.legacyJSON(`{"email":"canary.zq7y@example.com","first_name":"Zqxwvcanaryb","last_name":"Quokkacanary","phone":"+44 7911 123777","address_line1":"17 Canarywharfish Lane","birth_date":"1966-06-16"}`)
	e.scan()
	if p := pairOf(e.duplicates("pending"), id, twin); p != nil {
		if code, body := e.do(call{method: "POST", path: "/v1/duplicates/" + p.ID + "/merge", role: "owner"}); code != 200 {
			t.Fatalf("merge: got %d %s", code, body)
		}
	}
	if pairOf(e.duplicates("merged"), id, twin) == nil {
		t.Fatal("the canary's twin was not merged")
	}
	if code, body := e.do(call{method: "GET", path: "/v1/quality", role: "owner"}); code != 200 {
		t.Fatalf("quality: got %d %s", code, body)
	}
	seedSegmentCanaries(t, e)
	// The loyalty programme: an order at the till found by the canary's phone, a member number
	// assigned, looked up and redeemed against, an offer evaluated. The member number is as
	// personal as the phone: it must be found only encrypted and as a blind index.
	if code, body := e.do(call{method: "POST", path: "/v1/orders", role: "ingest", body: `{"phone":"+44 7911 123777","order_id":"ZQ-ORDER-1","currency":"GBP","total":250}`}); code != 200 {
		t.Fatalf("till order: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/loyalty", role: "support"}); code != 200 || !strings.Contains(body, `"balance":250`) {
		t.Fatalf("loyalty: got %d %s", code, body)
	}
	member, _ := e.fields(id)["loyalty_member_number"].(string)
	if member == "" {
		t.Fatal("the canary was given no member number")
	}
	if code, body := e.do(call{method: "GET", path: "/v1/loyalty/members?member_number=" + member, role: "support"}); code != 200 || !strings.Contains(body, id) {
		t.Fatalf("member look-up: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/loyalty/redemptions", role: "support", body: `{"points":100,"idempotency_key":"zq-redeem-0001"}`}); code != 201 {
		t.Fatalf("redemption: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "POST", path: "/v1/offers", role: "owner", body: `{"code":"ZQ5","description":"5 off","reward":{"kind":"amount","value":5},"valid_from":"2020-01-01T00:00:00Z","valid_until":"2099-01-01T00:00:00Z","purpose":"service"}`}); code != 201 {
		t.Fatalf("offer: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/offers", role: "owner"}); code != 200 || !strings.Contains(body, "ZQ5") {
		t.Fatalf("offers: got %d %s", code, body)
	}
	return []string{"canary.zq7x", "canary.zq7y", "Zqxwvcanary", "Quokkacanary", "447911123777", "7911 123777", "ZQ998877X", "Canarywharfish", "1966-06-16", member}
}

func assertNoCanary(t *testing.T, dir string, canaries []string) {
	t.Helper()
	files := 0
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		files++
		for _, c := range canaries {
			if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(c))) {
				t.Errorf("plaintext %q found in %s", c, path)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("inspected %d files (%v)", files, err)
	}
}

func timeNowPlus(seconds int) time.Time { return time.Now().Add(time.Duration(seconds) * time.Second) }
