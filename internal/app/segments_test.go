package app

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/segment"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestSegmentsDoneWhenSQLite(t *testing.T)   { segmentsDoneWhen(t, "") }
func TestSegmentsDoneWhenPostgres(t *testing.T) { segmentsDoneWhen(t, pgtest.URL(t)) }

// receiver is a local webhook endpoint that keeps every delivery whose signature verifies.
type receiver struct {
	mu     sync.Mutex
	secret string
	got    []segment.Payload
	keys   []string
	bad    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !segment.VerifySignature([]byte(rc.secret), r.Header.Get("Steward-Signature"), body, time.Now(), 24*time.Hour) {
		rc.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p segment.Payload
	_ = json.Unmarshal(body, &p)
	rc.got = append(rc.got, p)
	rc.keys = append(rc.keys, r.Header.Get("Idempotency-Key"))
}

// current replays the deliveries into the audience the destination holds now.
func (rc *receiver) current() map[string]map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]map[string]any{}
	for _, p := range rc.got {
		if p.Action == segment.ActionUpsert {
			out[p.CustomerID] = p.Fields
		} else {
			delete(out, p.CustomerID)
		}
	}
	return out
}

// segmentsDoneWhen is the marketer's scenario end to end over HTTP: "women 25–34 in Scotland
// who bought twice in 90 days and may be e-mailed", its count and trend, an export, a webhook
// that receives signed deliveries, and a withdrawal removed within one delivery cycle.
func segmentsDoneWhen(t *testing.T, db string) {
	e := newEnv(t, db)
	sys := authz.WithActor(context.Background(), authz.System)
	now := time.Now().UTC()
	type person struct {
		traits string
		orders int
	}
	var people []person
	for i := range 12 {
		people = append(people, person{fmt.Sprintf(`"email":"fiona%d@example.com","first_name":"Fiona","gender":"female","birth_date":"1995-03-0%d","region":"Scotland","country":"GB"`, i, 1+i%9), 2})
	}
	people = append(people,
		person{`"email":"angus@example.com","first_name":"Angus","gender":"male","birth_date":"1995-03-01","region":"Scotland","country":"GB"`, 2},
		person{`"email":"morag@example.com","first_name":"Morag","gender":"female","birth_date":"1970-03-01","region":"Scotland","country":"GB"`, 2},
		person{`"email":"cerys@example.com","first_name":"Cerys","gender":"female","birth_date":"1995-03-01","region":"Wales","country":"GB"`, 2},
		person{`"email":"isla@example.com","first_name":"Isla","gender":"female","birth_date":"1995-03-01","region":"Scotland","country":"GB"`, 1},
	)
	ids := make([]string, len(people))
	for i, p := range people {
		uid := fmt.Sprintf("u-%d", i)
		e.mustTrack("/v1/identify", `{"userId":"`+uid+`","traits":{`+p.traits+`}}`)
		for k := range p.orders {
			at := now.Add(-time.Duration(10+k*20) * 24 * time.Hour).Format(time.RFC3339)
			e.mustTrack("/v1/track", fmt.Sprintf(`{"event":"Order Completed","userId":"%s","properties":{"order_id":"o-%d-%d","total":40,"currency":"GBP","products":[{"product_id":"scarf","category":"knitwear","price":40,"quantity":1}]},"timestamp":"%s"}`, uid, i, k, at))
		}
		ids[i] = e.customerOf(fmt.Sprint(strings.Split(strings.Split(p.traits, `"email":"`)[1], `"`)[0]))
		e.consentToAll(ids[i])
	}

	// A rule the purpose may not use is refused, naming the field and the purpose.
	code, body := e.do(call{method: "POST", path: "/v1/segments", role: "marketer",
		body: `{"name":"bad","purpose":"analytics","rule":{"field":"first_name","op":"eq","value":"Fiona"}}`})
	if code != 422 || !strings.Contains(body, `first_name`) || !strings.Contains(body, `analytics`) {
		t.Fatalf("forbidden field: got %d %s, want 422 naming first_name and analytics", code, body)
	}
	rule := `{"and":[{"field":"gender","op":"eq","value":"female"},{"field":"birth_date","form":"generalized","op":"in","value":["25_34"]},` +
		`{"field":"region","op":"eq","value":"Scotland"},{"event":{"name":"Order Completed","within_days":90},"op":"gte","value":2},` +
		`{"consent":"marketing_email"}]}`
	code, body = e.do(call{method: "POST", path: "/v1/segments", role: "marketer",
		body: `{"name":"Scottish women 25-34, two orders in 90 days, e-mailable","purpose":"personalization","rule":` + rule + `}`})
	if code != 201 {
		t.Fatalf("create: got %d %s", code, body)
	}
	var seg segment.Segment
	_ = json.Unmarshal([]byte(body), &seg)
	// An analytics segment over the same people: a count under the cohort is withheld.
	code, body = e.do(call{method: "POST", path: "/v1/segments", role: "analyst",
		body: `{"name":"Welsh women","purpose":"analytics","rule":{"and":[{"field":"region","op":"eq","value":"Wales"},{"field":"birth_date","op":"eq","value":"25_34"}]}}`})
	if code != 201 {
		t.Fatalf("analytics create: got %d %s", code, body)
	}
	var narrow segment.Segment
	_ = json.Unmarshal([]byte(body), &narrow)
	e.runJobs()

	if code, body = e.do(call{method: "GET", path: "/v1/segments/" + seg.ID + "/count", role: "marketer"}); code != 200 || !strings.Contains(body, `"count":12`) {
		t.Fatalf("count: got %d %s, want 12", code, body)
	}
	if code, body = e.do(call{method: "GET", path: "/v1/segments/" + narrow.ID + "/count", role: "analyst"}); code != 200 || !strings.Contains(body, `"count_below":10`) || strings.Contains(body, `"count":`) {
		t.Fatalf("narrow count: got %d %s, want count_below 10", code, body)
	}
	if code, body = e.do(call{method: "GET", path: "/v1/segments/" + seg.ID + "/preview", role: "marketer"}); code != 200 || strings.Contains(body, "fiona0@example.com") || !strings.Contains(body, `"f***@example.com"`) {
		t.Fatalf("preview: got %d %s, want masked members", code, body)
	}

	// The trend of the segment's orders, per month, and by gender for everyone.
	code, body = e.do(call{method: "GET", path: "/v1/trends?metric=orders&interval=month&segment=" + seg.ID, role: "marketer"})
	if code != 200 || !strings.Contains(body, `"series"`) {
		t.Fatalf("trend: got %d %s", code, body)
	}
	var tr segment.Trend
	_ = json.Unmarshal([]byte(body), &tr)
	total := 0.0
	for _, s := range tr.Series {
		for _, p := range s.Points {
			if p.Value != nil {
				total += *p.Value
			}
		}
	}
	if total == 0 {
		t.Fatalf("trend: no cell shown: %s", body)
	}
	code, body = e.do(call{method: "GET", path: "/v1/trends?metric=orders&interval=month&by=gender&format=csv", role: "analyst"})
	if code != 200 || !strings.HasPrefix(body, "period,group,value,customers,withheld_below") || !strings.Contains(body, ",female,") {
		t.Fatalf("trend csv: got %d %s", code, body)
	}
	if !strings.Contains(body, ",male,,,10") {
		t.Fatalf("trend csv: the lone man's cell is not withheld: %s", body)
	}

	// Every metric answers, on every engine, by week and by segment.
	for _, m := range segment.Metrics {
		for _, by := range []string{"", "segment", "age_band"} {
			if code, body := e.do(call{method: "GET", path: "/v1/trends?interval=week&metric=" + m + "&by=" + by, role: "marketer"}); code != 200 {
				t.Fatalf("trend %s by %q: got %d %s", m, by, code, body)
			}
		}
		if code, body := e.do(call{method: "GET", path: "/v1/trends?metric=" + m + "&segment=" + seg.ID, role: "marketer"}); code != 200 {
			t.Fatalf("trend %s of the segment: got %d %s", m, code, body)
		}
	}
	code, body = e.do(call{method: "GET", path: "/v1/trends?metric=best_selling_categories&interval=month", role: "analyst"})
	if code != 200 || !strings.Contains(body, `"group":"knitwear"`) {
		t.Fatalf("best-selling categories: got %d %s", code, body)
	}

	// The export: members allowed for personalization now, with its fields only.
	code, body = e.do(call{method: "POST", path: "/v1/segments/" + seg.ID + "/exports", role: "marketer"})
	if code != 202 {
		t.Fatalf("export: got %d %s", code, body)
	}
	var ex segment.Export
	_ = json.Unmarshal([]byte(body), &ex)
	link := strings.TrimPrefix(ex.DownloadURL, e.app.Config.PublicURL)
	e.runJobs()
	if code, body = e.do(call{method: "GET", path: "/v1/segments/" + seg.ID + "/exports/" + ex.ID, role: "marketer"}); code != 200 || !strings.Contains(body, `"state":"done"`) || !strings.Contains(body, `"allowed":12`) {
		t.Fatalf("export status: got %d %s", code, body)
	}
	code, body = e.do(call{method: "GET", path: link})
	if code != 200 {
		t.Fatalf("download: got %d %s", code, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 13 || rows[0][0] != "customer_id" {
		t.Fatalf("download: got %d rows %v %s", len(rows), err, body)
	}
	if strings.Contains(body, "fiona0@example.com") {
		t.Fatalf("the personalization export carries e-mail addresses: %s", rows[0])
	}
	// A customer who withdraws after the export ran is left out of the next download.
	if code, body := e.do(call{method: "POST", path: "/v1/customers/" + ids[11] + "/consents", role: "owner",
		body: `{"purpose":"personalization","granted":false,"policy_version":"all","source":"api"}`}); code != 201 {
		t.Fatalf("withdraw: got %d %s", code, body)
	}
	code, body = e.do(call{method: "GET", path: link})
	if rows, err := csv.NewReader(strings.NewReader(body)).ReadAll(); code != 200 || err != nil || len(rows) != 12 || strings.Contains(body, ids[11]) {
		t.Fatalf("download after a withdrawal: got %d, %d rows, want 11 customers without the one who withdrew", code, len(rows))
	}
	if code, body := e.do(call{method: "POST", path: "/v1/customers/" + ids[11] + "/consents", role: "owner",
		body: `{"purpose":"personalization","granted":true,"policy_version":"all","source":"api"}`}); code != 201 {
		t.Fatalf("consent again: got %d %s", code, body)
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/segment-exports/" + ex.ID + "/download?token=wrong"}); code != 404 {
		t.Fatalf("download with a wrong token: got %d, want 404", code)
	}
	if !e.audited(segment.ActionExport, "allowed:12") {
		t.Fatal("the export is not audited with its counts")
	}
	if got := e.auditActions(ids[0]); !slices.Contains(got, "segment.export.download:export_link:personalization") {
		t.Fatalf("the download of a customer's row is not audited: %v", got)
	}

	// A webhook destination for marketing e-mail, with the address and first name only.
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	code, body = e.do(call{method: "POST", path: "/v1/destinations", role: "marketer",
		body: `{"name":"Mailer","kind":"webhook","segment_id":"` + seg.ID + `","purpose":"marketing_email","fields":["email","first_name","gender"],"url":"` + hook.URL + `"}`})
	if code != 422 || !strings.Contains(body, "gender") || !strings.Contains(body, "marketing_email") {
		t.Fatalf("destination with a field the purpose may not use: got %d %s", code, body)
	}
	code, body = e.do(call{method: "POST", path: "/v1/destinations", role: "marketer",
		body: `{"name":"Mailer","kind":"webhook","segment_id":"` + seg.ID + `","purpose":"marketing_email","fields":["email","first_name"],"url":"` + hook.URL + `"}`})
	if code != 201 {
		t.Fatalf("destination: got %d %s", code, body)
	}
	var dest segment.CreatedDestination
	_ = json.Unmarshal([]byte(body), &dest)
	rc.secret = dest.SigningSecret
	if err := e.app.segmentCycle(sys); err != nil {
		t.Fatal(err)
	}
	aud := rc.current()
	if len(aud) != 12 || rc.bad != 0 {
		t.Fatalf("destination holds %d customers (%d refused signatures), want 12", len(aud), rc.bad)
	}
	if aud[ids[0]]["email"] != "fiona0@example.com" || aud[ids[0]]["gender"] != nil {
		t.Fatalf("delivery fields: got %v, want the e-mail address and no gender", aud[ids[0]])
	}

	// A withdrawal: removed from the destination within one cycle.
	code, body = e.do(call{method: "POST", path: "/v1/customers/" + ids[3] + "/consents", role: "owner",
		body: `{"purpose":"marketing_email","granted":false,"policy_version":"all","source":"api"}`})
	if code != 201 {
		t.Fatalf("withdraw: got %d %s", code, body)
	}
	if err := e.app.segmentCycle(sys); err != nil {
		t.Fatal(err)
	}
	aud = rc.current()
	if _, still := aud[ids[3]]; still || len(aud) != 11 {
		t.Fatalf("after the withdrawal the destination holds %d customers, the withdrawn one: %v", len(aud), still)
	}
	if code, body = e.do(call{method: "GET", path: "/v1/segments/" + seg.ID + "/count", role: "marketer"}); !strings.Contains(body, `"count":11`) {
		t.Fatalf("count after withdrawal: got %d %s, want 11", code, body)
	}
	if code, body = e.do(call{method: "GET", path: "/v1/segments/" + seg.ID + "/history", role: "marketer"}); !strings.Contains(body, `"customer_id":"`+ids[3]+`","entered":false`) {
		t.Fatalf("history: got %d %s", code, body)
	}

	// A suppressed address: the customer may no longer be e-mailed, and leaves within one cycle.
	if code, body := e.do(call{method: "POST", path: "/v1/suppressions", role: "owner", body: `{"email":"fiona9@example.com"}`}); code != 201 {
		t.Fatalf("suppress: got %d %s", code, body)
	}
	if err := e.app.segmentCycle(sys); err != nil {
		t.Fatal(err)
	}
	if _, still := rc.current()[ids[9]]; still {
		t.Fatal("a suppressed customer is still at the destination")
	}

	// A profile change that breaks the rule: the customer leaves within one cycle.
	if code, body := e.do(call{method: "PATCH", path: "/v1/customers/" + ids[7], role: "owner", body: `{"fields":{"region":"Wales"}}`}); code != 200 {
		t.Fatalf("patch: got %d %s", code, body)
	}
	if err := e.app.segmentCycle(sys); err != nil {
		t.Fatal(err)
	}
	if _, still := rc.current()[ids[7]]; still {
		t.Fatal("a customer who moved to Wales is still at the destination")
	}

	// Erasure sends a removal too.
	rid := e.request(`{"type":"erasure","customer_id":"` + ids[5] + `"}`)
	if code, body := e.verifyAndComplete(rid, ""); code != 200 || !strings.Contains(body, `"complete":true`) {
		t.Fatalf("erasure: got %d %s", code, body)
	}
	if err := e.app.segmentCycle(sys); err != nil {
		t.Fatal(err)
	}
	if _, still := rc.current()[ids[5]]; still {
		t.Fatal("an erased customer is still at the destination")
	}

	// The destination is a recipient in the notice and the records of processing.
	if code, body = e.do(call{method: "GET", path: "/privacy.json"}); !strings.Contains(body, "Mailer (127.0.0.1") {
		t.Fatalf("notice: got %d, no recipient Mailer: %s", code, body)
	}
	if code, body = e.do(call{method: "GET", path: "/v1/processing-records", role: "owner"}); !strings.Contains(body, "Mailer (127.0.0.1") {
		t.Fatalf("records: got %d, no recipient Mailer", code)
	}
}

// audited reports whether an entry of action whose target contains target was written.
func (e *env) audited(action, target string) bool {
	e.t.Helper()
	entries, err := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Action: action, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, en := range entries {
		if strings.Contains(en.Target, target) {
			return true
		}
	}
	return false
}

// seedSegmentCanaries runs the canary customer through segments: a rule naming their value is
// refused, a segment they belong to is refreshed, exported and downloaded, and a destination
// is sent them; memberships, history, export lists and deliveries must hold no value.
func seedSegmentCanaries(t *testing.T, e *env) {
	t.Helper()
	if code, body := e.do(call{method: "POST", path: "/v1/segments", role: "owner",
		body: `{"name":"x","purpose":"service","rule":{"field":"first_name","op":"eq","value":"Zqxwvcanary"}}`}); code != 422 {
		t.Fatalf("a rule holding a name: got %d %s, want 422", code, body)
	}
	code, body := e.do(call{method: "POST", path: "/v1/segments", role: "owner",
		body: `{"name":"Everyone with an e-mail address","purpose":"service","rule":{"field":"email","op":"exists","value":true}}`})
	if code != 201 {
		t.Fatalf("segment: got %d %s", code, body)
	}
	var seg segment.Segment
	_ = json.Unmarshal([]byte(body), &seg)
	e.runJobs()
	code, body = e.do(call{method: "POST", path: "/v1/segments/" + seg.ID + "/exports", role: "owner"})
	if code != 202 {
		t.Fatalf("export: got %d %s", code, body)
	}
	var ex segment.Export
	_ = json.Unmarshal([]byte(body), &ex)
	e.runJobs()
	if code, body := e.do(call{method: "GET", path: strings.TrimPrefix(ex.DownloadURL, e.app.Config.PublicURL)}); code != 200 || !strings.Contains(body, "canary.zq7") {
		t.Fatalf("download: got %d, want the canary's row", code)
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	if code, body := e.do(call{method: "POST", path: "/v1/destinations", role: "owner",
		body: `{"name":"Courier","kind":"webhook","segment_id":"` + seg.ID + `","purpose":"service","fields":["email","first_name"],"url":"` + hook.URL + `"}`}); code != 201 {
		t.Fatalf("destination: got %d %s", code, body)
	}
	sys := authz.WithActor(context.Background(), authz.System)
	if err := e.app.segmentCycle(sys); err != nil {
		t.Fatal(err)
	}
}

func TestDestinationRetriesSQLite(t *testing.T)   { destinationRetries(t, "") }
func TestDestinationRetriesPostgres(t *testing.T) { destinationRetries(t, pgtest.URL(t)) }

// flaky answers 503 while down is set, and counts what it was sent by idempotency key.
type flaky struct {
	mu   sync.Mutex
	down bool
	seen map[string]int
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[r.Header.Get("Idempotency-Key")]++
	if f.down {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

// oneMember creates a consenting customer and a service segment holding them.
func oneMember(t *testing.T, e *env) (string, segment.Segment) {
	t.Helper()
	id := e.create(`{"email":"member@example.com","first_name":"Mhairi"}`)
	code, body := e.do(call{method: "POST", path: "/v1/segments", role: "owner",
		body: `{"name":"Everyone","purpose":"service","rule":{"field":"email","op":"exists","value":true}}`})
	if code != 201 {
		t.Fatalf("segment: got %d %s", code, body)
	}
	var seg segment.Segment
	_ = json.Unmarshal([]byte(body), &seg)
	e.runJobs()
	return id, seg
}

// destinationRetries: a failing receiver is retried with backoff, the same idempotency key
// each time; after the last attempt the delivery is on the dead-letter list, and a replay
// sends it again.
func destinationRetries(t *testing.T, db string) {
	e := newEnv(t, db)
	sys := authz.WithActor(context.Background(), authz.System)
	_, seg := oneMember(t, e)
	f := &flaky{down: true, seen: map[string]int{}}
	hook := httptest.NewServer(f)
	defer hook.Close()
	code, body := e.do(call{method: "POST", path: "/v1/destinations", role: "owner",
		body: `{"name":"Courier","kind":"webhook","segment_id":"` + seg.ID + `","purpose":"service","fields":["email"],"url":"` + hook.URL + `"}`})
	if code != 201 {
		t.Fatalf("destination: got %d %s", code, body)
	}
	var d segment.CreatedDestination
	_ = json.Unmarshal([]byte(body), &d)
	for attempt := 1; attempt <= segment.MaxAttempts; attempt++ {
		n, err := e.app.Segments.Deliver(sys, 10)
		if err != nil || n != 1 {
			t.Fatalf("attempt %d: %d sent, %v", attempt, n, err)
		}
		if n, _ := e.app.Segments.Deliver(sys, 10); n != 0 {
			t.Fatalf("attempt %d: retried before its backoff", attempt)
		}
		e.clock.Advance(8 * time.Hour)
	}
	if len(f.seen) != 1 {
		t.Fatalf("idempotency keys: got %v, want one key for every attempt", f.seen)
	}
	code, body = e.do(call{method: "GET", path: "/v1/destinations/" + d.ID + "/deliveries?state=dead", role: "owner"})
	var dead DeliveryListBody
	_ = json.Unmarshal([]byte(body), &dead)
	if code != 200 || len(dead.Data) != 1 || dead.Data[0].Attempts != segment.MaxAttempts || dead.Data[0].LastStatus != 503 {
		t.Fatalf("dead letters: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/destinations/" + d.ID + "/deliveries?state=lost", role: "owner"}); code != 422 {
		t.Fatalf("a bad state: got %d %s, want 422", code, body)
	}
	f.mu.Lock()
	f.down = false
	f.mu.Unlock()
	code, body = e.do(call{method: "POST", path: fmt.Sprintf("/v1/destinations/%s/deliveries/%d/replay", d.ID, dead.Data[0].ID), role: "owner"})
	if code != 200 || !strings.Contains(body, `"state":"pending"`) {
		t.Fatalf("replay: got %d %s", code, body)
	}
	if n, err := e.app.Segments.Deliver(sys, 10); err != nil || n != 1 {
		t.Fatalf("after the replay: %d sent, %v", n, err)
	}
	code, body = e.do(call{method: "GET", path: "/v1/destinations/" + d.ID + "/deliveries?state=delivered", role: "owner"})
	if code != 200 || !strings.Contains(body, `"state":"delivered"`) {
		t.Fatalf("delivered: got %d %s", code, body)
	}
	for k, n := range f.seen {
		if n != segment.MaxAttempts+1 {
			t.Fatalf("key %s sent %d times, want %d", k, n, segment.MaxAttempts+1)
		}
	}
}

// DeliveryListBody is the deliveries listing as a client reads it.
type DeliveryListBody struct {
	Data []segment.Delivery `json:"data"`
}

// TestSegmentCompatibleDestination: a Segment-compatible destination is another Steward's
// tracking API: the member arrives there as an identify with the allowed traits and an
// "Audience Entered" track, authenticated with that Steward's write key.
func TestSegmentCompatibleDestination(t *testing.T) {
	e := newEnv(t, "")
	other := newEnv(t, "")
	sys := authz.WithActor(context.Background(), authz.System)
	id, seg := oneMember(t, e)
	code, body := e.do(call{method: "POST", path: "/v1/destinations", role: "owner",
		body: `{"name":"Partner CDP","kind":"segment","segment_id":"` + seg.ID + `","purpose":"service","fields":["email","first_name"],"url":"` + other.srv.URL + `","secret":"` + other.keys["ingest"] + `"}`})
	if code != 201 || strings.Contains(body, other.keys["ingest"]) {
		t.Fatalf("destination: got %d %s", code, body)
	}
	if err := e.app.segmentCycle(sys); err != nil {
		t.Fatal(err)
	}
	got := other.customerOf("member@example.com")
	if got == "" {
		t.Fatal("the member did not arrive at the other Steward")
	}
	code, body = other.do(call{method: "GET", path: "/v1/customers/" + got + "/events", role: "owner", purpose: "service"})
	if code != 200 || !strings.Contains(body, "Audience Entered") {
		t.Fatalf("events at the other end: got %d %s", code, body)
	}
	code, body = other.do(call{method: "GET", path: "/v1/customers/" + got, role: "owner", purpose: "service"})
	if !strings.Contains(body, "Mhairi") {
		t.Fatalf("traits at the other end: got %d %s", code, body)
	}
	_ = id
}

// TestTrendsPrivacyAndInput: noisy answers state the budget and stop when it is spent; bad
// parameters are refused naming them.
func TestTrendsPrivacyAndInput(t *testing.T) {
	e := newEnv(t, "")
	for _, c := range []struct{ path, want string }{
		{"/v1/trends?metric=nope", "metric"},
		{"/v1/trends?metric=orders&interval=year", "interval"},
		{"/v1/trends?metric=orders&by=street", "by"},
		{"/v1/trends?metric=orders&from=yesterday", "from"},
		{"/v1/trends?metric=orders&from=2020-01-01&interval=day", "from"},
		{"/v1/trends?metric=revenue&epsilon=1", "epsilon"},
		{"/v1/trends?metric=orders&format=xml", "format"},
	} {
		if code, body := e.do(call{method: "GET", path: c.path, role: "analyst"}); code != 422 || !strings.Contains(body, c.want) {
			t.Errorf("%s: got %d %s, want 422 naming %s", c.path, code, body, c.want)
		}
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/trends?metric=orders", role: "support"}); code != 403 {
		t.Errorf("support asks for a trend: got %d, want 403", code)
	}
	for i := 1; i <= 3; i++ {
		code, body := e.do(call{method: "GET", path: "/v1/trends?metric=orders&epsilon=1", role: "analyst"})
		if code != 200 || !strings.Contains(body, fmt.Sprintf(`"spent_today":%d`, i)) || !strings.Contains(body, `"mechanism":"laplace"`) {
			t.Fatalf("noisy answer %d: got %d %s", i, code, body)
		}
	}
	if code, body := e.do(call{method: "GET", path: "/v1/trends?metric=orders&epsilon=1", role: "analyst"}); code != 429 || !strings.Contains(body, "budget") {
		t.Fatalf("past the budget: got %d %s, want 429", code, body)
	}
	for _, c := range []struct{ body, want string }{
		{`{"name":"x","purpose":"analytics"}`, "rule"},
		{`{"name":"","purpose":"analytics","rule":{"consent":"analytics"}}`, "name"},
		{`{"name":"x","purpose":"analytics","rule":{"figure":"shoe_size","op":"gt","value":1}}`, "shoe_size"},
		{`{"name":"x","purpose":"analytics","rule":{"figure":"order_count","op":"gt","value":"many"}}`, "value"},
	} {
		if code, body := e.do(call{method: "POST", path: "/v1/segments", role: "analyst", body: c.body}); code != 422 || !strings.Contains(body, c.want) {
			t.Errorf("%s: got %d %s, want 422 naming %s", c.body, code, body, c.want)
		}
	}
	if code, body := e.do(call{method: "GET", path: "/v1/segments", role: "analyst"}); code != 200 || body != `{"data":[]}`+"\n" && body != `{"data":[]}` {
		t.Errorf("refused segments were stored: %d %s", code, body)
	}
}

// TestRefreshSweepsOrphans: a member whose customer no longer exists, whom no change reached,
// leaves at the end of the next full refresh with the reason "gone".
func TestRefreshSweepsOrphans(t *testing.T) {
	e := newEnv(t, "")
	_, seg := oneMember(t, e)
	ghost := "01900000-0000-7000-8000-000000000001"
	if _, err := e.app.Store.Write().Exec(`INSERT INTO segment_members (segment_id, customer_id, entered_at) VALUES ($1, $2, 1)`, seg.ID, ghost); err != nil {
		t.Fatal(err)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/segments/" + seg.ID + "/count", role: "owner"}); !strings.Contains(body, `"count":2`) {
		t.Fatalf("count with the orphan: got %d %s", code, body)
	}
	if err := e.app.Segments.Refresh(authz.WithActor(context.Background(), authz.System)); err != nil {
		t.Fatal(err)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/segments/" + seg.ID + "/count", role: "owner"}); !strings.Contains(body, `"count":1`) {
		t.Fatalf("count after the refresh: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/segments/" + seg.ID + "/history", role: "owner"}); !strings.Contains(body, `"customer_id":"`+ghost+`","entered":false,"reason":"gone"`) {
		t.Fatalf("history: got %d %s", code, body)
	}
}
