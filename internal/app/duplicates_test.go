package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// population seeds n distinct people through the customer service: varied names, birth
// dates, addresses, e-mails and phones, so the matcher has a base to learn from.
func (e *env) population(n int) {
	e.t.Helper()
	firsts := []string{"Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Noah", "Sophia", "Leo", "Grace", "Oscar", "Freya", "Arthur", "Lily", "Henry", "Evie", "Theo", "Ruby"}
	lasts := []string{"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Wright", "Walker", "Robinson", "Thompson", "White", "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris", "Clarke", "Jackson", "Turner", "Hill"}
	streets := []string{"High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue", "Victoria Road", "Green Lane", "Manor Road", "Kings Road", "Queens Road"}
	cities := []string{"London", "Leeds", "Bristol", "York", "Bath", "Derby", "Exeter", "Norwich"}
	batch := make([]map[string]any, 0, n)
	for i := 0; i < n; i++ {
		f, l := firsts[i%len(firsts)], lasts[(i*7+i/len(firsts))%len(lasts)]
		batch = append(batch, map[string]any{
			"first_name": f, "last_name": l,
			"email":         fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(f), strings.ToLower(l), i),
			"phone":         fmt.Sprintf("+4474009%05d", i*37%100000),
			"birth_date":    fmt.Sprintf("%d-%02d-%02d", 1950+i%50, 1+i%12, 1+(i*3)%28),
			"address_line1": fmt.Sprintf("%d %s", 1+i%97, streets[(i/3)%len(streets)]),
			"city":          cities[i%len(cities)],
			"postal_code":   fmt.Sprintf("SW%d %dAB", 1+i%9, i%10),
		})
	}
	sys := authz.WithActor(context.Background(), authz.System)
	if _, err := e.app.Customers.CreateBatch(sys, batch); err != nil {
		e.t.Fatal(err)
	}
}

type pairView struct {
	ID        string `json:"id"`
	CustomerA string `json:"customer_a"`
	CustomerB string `json:"customer_b"`
	Score     float64
	State     string
	MergeID   string `json:"merge_id"`
	WinnerID  string `json:"winner_id"`
	Auto      bool
	Evidence  []evidenceView
}

type evidenceView struct {
	Comparison, Level string
	Weight            float64
	TermFrequency     float64 `json:"term_frequency"`
}

func (e *env) duplicates(state string) []pairView {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/duplicates?state=" + state, role: "admin"})
	if code != 200 {
		e.t.Fatalf("list duplicates: got %d %s", code, body)
	}
	var v struct{ Data []pairView }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		e.t.Fatal(err)
	}
	return v.Data
}

func (e *env) scan() map[string]int {
	e.t.Helper()
	code, body := e.do(call{method: "POST", path: "/v1/duplicates/scan?wait=true", role: "admin"})
	if code != 200 {
		e.t.Fatalf("scan: got %d %s", code, body)
	}
	var v map[string]int
	_ = json.Unmarshal([]byte(body), &v)
	return v
}

func pairOf(ps []pairView, a, b string) *pairView {
	for i := range ps {
		if (ps[i].CustomerA == a && ps[i].CustomerB == b) || (ps[i].CustomerA == b && ps[i].CustomerB == a) {
			return &ps[i]
		}
	}
	return nil
}

func (e *env) fields(id string) map[string]any {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "owner", purpose: "service"})
	if code != 200 {
		e.t.Fatalf("get %s: got %d %s", id, code, body)
	}
	var v struct{ Fields map[string]any }
	_ = json.Unmarshal([]byte(body), &v)
	return v.Fields
}

func TestDuplicatesReviewMergeUndoDismiss(t *testing.T) { duplicatesReview(t, "") }

func TestDuplicatesReviewPostgres(t *testing.T) { duplicatesReview(t, pgtest.URL(t)) }

func duplicatesReview(t *testing.T, db string) {
	// Automatic merges off: every pair waits for a person.
	e := newEnv(t, db, reviewOnly)
	e.population(120)
	peggy := e.create(`{"first_name":"Margaret","last_name":"Thornbury","birth_date":"1971-05-14","email":"m.thornbury@example.net","address_line1":"14 Orchard Close","city":"Ipswich","postal_code":"IP1 3QT"}`)
	time.Sleep(2 * time.Millisecond)
	peggy2 := e.create(`{"first_name":"Peggy","last_name":"Thornbury","birth_date":"1971-05-14","email":"peggy.thornbury@example.org","phone":"+44 7400 123123","address_line1":"14 Orchard Close","address_line2":"Flat 2","city":"Ipswich","postal_code":"IP1 3QT"}`)
	jon := e.create(`{"first_name":"Jonathan","last_name":"Whitfield","birth_date":"1990-02-03","phone":"+44 7400 123456","address_line1":"3 Elm Row","city":"Bath","postal_code":"BA1 2CD"}`)
	jon2 := e.legacyJSON(`{"first_name":"Jonathon","last_name":"Whitfield","birth_date":"1990-02-03","phone":"+44 7400 123456","email":"jw@example.co.uk"}`)
	// A household: same family name, address and phone, different people. (Records that
	// share a phone number are stored in bulk, as before creates were matched on it.)
	alice := e.create(`{"first_name":"Alice","last_name":"Hargreaves","birth_date":"1962-09-30","phone":"+44 7400 123789","address_line1":"8 Quarry Hill","city":"Leeds","postal_code":"LS2 7EW"}`)
	bob := e.legacyJSON(`{"first_name":"Robert","last_name":"Hargreaves","birth_date":"1959-01-11","phone":"+44 7400 123789","address_line1":"8 Quarry Hill","city":"Leeds","postal_code":"LS2 7EW"}`)

	// Consent: the older record opted in to e-mail marketing, the newer one opted out.
	e.publish(`{"version":"2026-01","text":"We email offers.","purposes":["marketing_email","marketing_sms"]}`)
	for id, granted := range map[string]bool{peggy: true, peggy2: false} {
		body := fmt.Sprintf(`{"purpose":"marketing_email","granted":%v,"policy_version":"2026-01","source":"api"}`, granted)
		if code, resp := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner", body: body}); code != 201 {
			t.Fatalf("consent: got %d %s", code, resp)
		}
	}
	// Both consented to SMS: a consent both gave survives.
	for _, id := range []string{peggy, peggy2} {
		if code, resp := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
			body: `{"purpose":"marketing_sms","granted":true,"policy_version":"2026-01","source":"api"}`}); code != 201 {
			t.Fatalf("consent: got %d %s", code, resp)
		}
	}

	res := e.scan()
	if res["refreshed"] < 126 || res["candidates"] < 4 {
		t.Fatalf("scan: got %v", res)
	}
	pending := e.duplicates("pending")
	pp, pj := pairOf(pending, peggy, peggy2), pairOf(pending, jon, jon2)
	if pp == nil || pj == nil {
		t.Fatalf("seeded duplicates not proposed: got %+v", pending)
	}
	if pairOf(pending, alice, bob) != nil {
		t.Fatal("a household was proposed as one person")
	}
	// Evidence is levels and weights only: no value of either customer.
	_, body := e.do(call{method: "GET", path: "/v1/duplicates", role: "admin"})
	// The birth year is looked for as a date: "1971" alone also turns up in the
	// microseconds of a timestamp.
	for _, leak := range []string{"Thornbury", "thornbury", "Peggy", "1971-05", "05/1971", "7400 1", "Orchard", "example.org"} {
		if strings.Contains(body, leak) {
			t.Fatalf("duplicate list leaks %q: %s", leak, body)
		}
	}
	if !slices.ContainsFunc(pp.Evidence, func(ev evidenceView) bool {
		return ev.Comparison == "first_name" && ev.Level == "close" // Peggy is Margaret
	}) {
		t.Fatalf("evidence: got %+v", pp.Evidence)
	}
	// Thornbury is held by these two customers alone, far rarer than the population's
	// family names: agreeing on it weighs more than agreeing on a typical one, by a term
	// frequency counted over every customer's stored tokens.
	if i := slices.IndexFunc(pp.Evidence, func(ev evidenceView) bool { return ev.Comparison == "last_name" }); i < 0 ||
		pp.Evidence[i].Level != "exact" || !(pp.Evidence[i].TermFrequency > 0) {
		t.Fatalf("family-name evidence: got %+v", pp.Evidence)
	}

	// Roles: an analyst may not list, a support agent may not... support has read and write.
	if code, _ := e.do(call{method: "GET", path: "/v1/duplicates", role: "analyst"}); code != 200 {
		t.Fatalf("analyst list: got %d", code)
	}
	if code, _ := e.do(call{method: "POST", path: "/v1/duplicates/" + pp.ID + "/merge", role: "analyst"}); code != 403 {
		t.Fatalf("analyst merge: got %d, want 403", code)
	}
	if code, _ := e.do(call{method: "POST", path: "/v1/duplicates/not-an-id/merge", role: "admin"}); code != 422 {
		t.Fatalf("bad id: got %d, want 422", code)
	}

	// Merge Margaret/Peggy: the older record wins; its ledger takes the newer one's opt-out.
	code, body := e.do(call{method: "POST", path: "/v1/duplicates/" + pp.ID + "/merge", role: "admin"})
	if code != 200 {
		t.Fatalf("merge: got %d %s", code, body)
	}
	var merged struct {
		Duplicate pairView
		Merge     struct{ ID, WinnerID, LoserID string } `json:"merge"`
	}
	_ = json.Unmarshal([]byte(body), &merged)
	if merged.Duplicate.State != "merged" || merged.Duplicate.WinnerID != peggy || merged.Duplicate.MergeID == "" {
		t.Fatalf("merge: got %s", body)
	}
	f := e.fields(peggy)
	if f["first_name"] != "Margaret" || f["email"] != "m.thornbury@example.net" || f["phone"] != "+447400123123" || f["address_line2"] != "Flat 2" {
		t.Fatalf("survivorship: got %v", f)
	}
	if allowed(e, peggy, "marketing_email") {
		t.Fatal("the loser's opt-out did not survive the merge")
	}
	if !allowed(e, peggy, "marketing_sms") {
		t.Fatal("a consent both gave did not survive the merge")
	}
	if code, _ := e.do(call{method: "POST", path: "/v1/duplicates/" + pp.ID + "/merge", role: "admin"}); code != 409 {
		t.Fatalf("merge twice: got %d, want 409", code)
	}
	if !slices.Contains(e.auditActions(peggy), "customer.merge:admin:") {
		t.Fatalf("merge not audited: %v", e.auditActions(peggy))
	}

	// Support corrects the merged phone number before the merge is undone: the correction is
	// kept, everything else the merge changed goes back.
	if code, body := e.do(call{method: "PATCH", path: "/v1/customers/" + peggy, role: "support", body: `{"fields":{"phone":"+44 7400 123124"}}`}); code != 200 {
		t.Fatalf("patch: got %d %s", code, body)
	}
	// Undo: both customers, the winner's values and its consent come back.
	code, body = e.do(call{method: "POST", path: "/v1/merges/" + merged.Duplicate.MergeID + "/undo", role: "admin"})
	if code != 200 {
		t.Fatalf("undo: got %d %s", code, body)
	}
	f = e.fields(peggy)
	if f["email"] != "m.thornbury@example.net" || f["address_line2"] != nil || f["phone"] != "+447400123124" || f["first_name"] != "Margaret" {
		t.Fatalf("undo did not restore the winner: got %v", f)
	}
	if f2 := e.fields(peggy2); f2["first_name"] != "Peggy" || f2["address_line2"] != "Flat 2" {
		t.Fatalf("undo did not restore the loser: got %v", f2)
	}
	if !allowed(e, peggy, "marketing_email") || allowed(e, peggy2, "marketing_email") {
		t.Fatal("undo did not restore each customer's own consent")
	}
	if !slices.Contains(e.auditActions(peggy), "customer.unmerge:admin:") {
		t.Fatalf("undo not audited: %v", e.auditActions(peggy))
	}

	// Dismiss Jonathan/Jonathon: never proposed again, nor is the undone pair.
	if code, body := e.do(call{method: "POST", path: "/v1/duplicates/" + pj.ID + "/dismiss", role: "support"}); code != 200 || !strings.Contains(body, `"dismissed"`) {
		t.Fatalf("dismiss: got %d %s", code, body)
	}
	if code, _ := e.do(call{method: "POST", path: "/v1/duplicates/" + pj.ID + "/dismiss", role: "support"}); code != 409 {
		t.Fatalf("dismiss twice: got %d, want 409", code)
	}
	if !slices.Contains(e.auditActions(jon), "duplicate.dismiss:support:") && !slices.Contains(e.auditActions(jon2), "duplicate.dismiss:support:") {
		t.Fatal("dismiss not audited")
	}
	res = e.scan()
	pending = e.duplicates("pending")
	if pairOf(pending, jon, jon2) != nil || pairOf(pending, peggy, peggy2) != nil {
		t.Fatalf("a dismissed or undone pair was proposed again: %+v", pending)
	}
	if res["skipped"] < 2 {
		t.Fatalf("second scan: got %v", res)
	}
	if len(e.duplicates("undone")) != 1 || len(e.duplicates("dismissed")) != 1 {
		t.Fatal("decided pairs not listed by state")
	}
}

func allowed(e *env, id, purpose string) bool {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/permissions/" + purpose, role: "owner"})
	if code != 200 {
		e.t.Fatalf("permission: got %d %s", code, body)
	}
	return strings.Contains(body, `"allowed":true`)
}

func TestDuplicatesAutoMergeAboveThreshold(t *testing.T) {
	e := newEnv(t, "")
	e.population(120)
	a := e.create(`{"first_name":"Beatrice","last_name":"Okonkwo","birth_date":"1983-07-21","email":"beatrice.okonkwo@example.com","phone":"+44 7400 123321","address_line1":"5 Tannery Way","city":"Norwich","postal_code":"NR1 1AA"}`)
	b := e.legacyJSON(`{"first_name":"Beatrice","last_name":"Okonkwo","birth_date":"1983-07-21","email":"beatrice.okonkwo@example.com","phone":"+44 7400 123321","address_line1":"5 Tannery Way","city":"Norwich","postal_code":"NR1 1AA"}`)
	res := e.scan()
	if res["auto_merged"] < 1 {
		t.Fatalf("scan: got %v", res)
	}
	merged := e.duplicates("merged")
	p := pairOf(merged, a, b)
	if p == nil || !p.Auto || p.Score < 0.99 {
		t.Fatalf("identical records not merged automatically: %+v", merged)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/customers/" + b + "/merges", role: "owner"}); code != 200 || !strings.Contains(body, "automatic") {
		t.Fatalf("merge not recorded with its reason: %d %s", code, body)
	}
	// A restricted customer is never merged, by a scan or by a person, until the
	// restriction is lifted.
	c := e.create(`{"first_name":"Casimir","last_name":"Wendover","birth_date":"1954-11-02","email":"c.wendover@example.com","phone":"+44 7400 123654","address_line1":"2 Lock Street","city":"Derby","postal_code":"DE1 1AA"}`)
	d := e.legacyJSON(`{"first_name":"Casimir","last_name":"Wendover","birth_date":"1954-11-02","email":"c.wendover@example.com","phone":"+44 7400 123654","address_line1":"2 Lock Street","city":"Derby","postal_code":"DE1 1AA"}`)
	if code, body := e.do(call{method: "POST", path: "/v1/customers/" + d + "/consents", role: "dpo", body: `{"kind":"restriction","granted":false,"source":"api"}`}); code != 201 {
		t.Fatalf("restrict: got %d %s", code, body)
	}
	e.scan()
	r := pairOf(e.duplicates("pending"), c, d)
	if r == nil {
		t.Fatal("a pair with a restricted customer was merged or lost")
	}
	if code, body := e.do(call{method: "POST", path: "/v1/duplicates/" + r.ID + "/merge", role: "owner"}); code != 409 || !strings.Contains(body, "restricted") {
		t.Fatalf("merge of a restricted customer: got %d %s", code, body)
	}
	// Undo through the pair restores both.
	if code, body := e.do(call{method: "POST", path: "/v1/duplicates/" + p.ID + "/undo", role: "owner"}); code != 200 {
		t.Fatalf("undo: got %d %s", code, body)
	}
	if code, _ := e.do(call{method: "POST", path: "/v1/duplicates/" + p.ID + "/undo", role: "owner"}); code != 409 {
		t.Fatalf("undo twice: got %d, want 409", code)
	}
}

func TestDuplicatesScanJobAndBadInput(t *testing.T) {
	e := newEnv(t, "")
	e.population(1030) // more than one refresh step
	code, body := e.do(call{method: "POST", path: "/v1/duplicates/scan", role: "admin"})
	if code != 202 || !strings.Contains(body, `"kind":"duplicates.scan"`) {
		t.Fatalf("queue scan: got %d %s", code, body)
	}
	var j struct{ ID string }
	_ = json.Unmarshal([]byte(body), &j)
	ctx := context.Background()
	if ran, err := e.app.Runner.RunOne(ctx); !ran || err != nil {
		t.Fatalf("run job: %v %v", ran, err)
	}
	code, body = e.do(call{method: "GET", path: "/v1/jobs/" + j.ID, role: "admin"})
	if code != 200 || !strings.Contains(body, `"state":"done"`) || !strings.Contains(body, `"done":1030`) {
		t.Fatalf("job: got %d %s", code, body)
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/jobs/" + j.ID, role: "marketer"}); code != 403 {
		t.Fatalf("marketer reads a scan job: got %d, want 403", code)
	}
	if !slices.Contains(e.auditActions(""), "duplicates.scan:owner:") {
		t.Fatal("scan not audited")
	}
	for _, c := range []struct {
		call   call
		status int
		detail string
	}{
		{call{method: "GET", path: "/v1/duplicates?state=open", role: "admin"}, 422, "state"},
		{call{method: "GET", path: "/v1/duplicates?limit=0", role: "admin"}, 422, "limit"},
		{call{method: "GET", path: "/v1/duplicates?limit=501", role: "admin"}, 422, "limit"},
		{call{method: "GET", path: "/v1/duplicates?cursor=xyz", role: "admin"}, 422, "cursor"},
		{call{method: "GET", path: "/v1/duplicates/01a20837-fa49-7619-b679-21c6af7f3ad7", role: "admin"}, 404, "not found"},
		{call{method: "POST", path: "/v1/duplicates/01a20837-fa49-7619-b679-21c6af7f3ad7/dismiss", role: "admin"}, 404, "not found"},
		{call{method: "POST", path: "/v1/duplicates/scan?wait=maybe", role: "admin"}, 422, "wait"},
		{call{method: "POST", path: "/v1/duplicates/scan", role: "marketer"}, 403, "customers.write"},
		{call{method: "POST", path: "/v1/duplicates/scan", role: "ingest"}, 403, "customers.read"},
		{call{method: "GET", path: "/v1/duplicates", role: "auditor"}, 403, "customers.read"},
		{call{method: "POST", path: "/v1/merges/01a20837-fa49-7619-b679-21c6af7f3ad7/undo", role: "admin"}, 404, "not found"},
	} {
		code, body := e.do(c.call)
		if code != c.status || !strings.Contains(body, c.detail) {
			t.Errorf("%s %s: got %d %s, want %d naming %s", c.call.method, c.call.path, code, body, c.status, c.detail)
		}
	}
}

// TestStitchingKeepsOptOuts merges an anonymous visitor who opted out into the signed-in
// customer who had opted in: the opt-out holds for the person; a consent the visitor merely
// never gave takes nothing away.
func TestStitchingKeepsOptOuts(t *testing.T) { stitchingOptOuts(t, "") }

func TestStitchingKeepsOptOutsPostgres(t *testing.T) { stitchingOptOuts(t, pgtest.URL(t)) }

func stitchingOptOuts(t *testing.T, db string) {
	e := newEnv(t, db)
	e.publish(`{"version":"2026-01","text":"We email and text offers.","purposes":["marketing_email","marketing_sms"]}`)
	e.mustTrack("/v1/identify", `{"userId":"u-st-1","traits":{"email":"st.one@example.com"}}`)
	e.mustTrack("/v1/identify", `{"anonymousId":"anon-st-1","traits":{"phone":"+44 7400 123777"}}`)
	w := e.customerOf("st.one@example.com")
	code, body := e.do(call{method: "GET", path: "/v1/customers?phone=%2B447400123777", role: "owner"})
	var found struct{ Data []struct{ ID string } }
	_ = json.Unmarshal([]byte(body), &found)
	if code != 200 || len(found.Data) != 1 {
		t.Fatalf("look-up: got %d %s", code, body)
	}
	l := found.Data[0].ID
	for _, c := range []struct {
		id, purpose string
		granted     bool
	}{{w, "marketing_email", true}, {w, "marketing_sms", true}, {l, "marketing_email", false}} {
		body := fmt.Sprintf(`{"purpose":%q,"granted":%v,"policy_version":"2026-01","source":"banner"}`, c.purpose, c.granted)
		if code, resp := e.do(call{method: "POST", path: "/v1/customers/" + c.id + "/consents", role: "owner", body: body}); code != 201 {
			t.Fatalf("consent: got %d %s", code, resp)
		}
	}
	e.mustTrack("/v1/identify", `{"userId":"u-st-1","anonymousId":"anon-st-1"}`)
	if root, _, err := e.app.Store.Ingest().CustomerTree(context.Background(), l); err != nil || root != w {
		t.Fatalf("not stitched: root %s, %v", root, err)
	}
	if allowed(e, w, "marketing_email") {
		t.Fatal("the visitor's opt-out did not survive stitching")
	}
	if !allowed(e, w, "marketing_sms") {
		t.Fatal("stitching took away a consent the visitor never refused")
	}
	_, body = e.do(call{method: "GET", path: "/v1/customers/" + w + "/consents", role: "owner"})
	if !strings.Contains(body, `"source":"merge"`) {
		t.Fatalf("carried refusal not in the ledger: %s", body)
	}
}

// reviewOnly turns automatic merges off: every pair waits for a person.
func reviewOnly(c *config.Config) { c.DuplicateMergeThreshold = 1 }
