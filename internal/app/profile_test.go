package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// findable looks a value up (GET /v1/customers?field=value) and returns the ids found.
func (e *env) findable(field, value string) []string {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers?" + url.Values{field: {value}}.Encode(), role: "owner"})
	if code != 200 {
		e.t.Fatalf("look-up by %s: got %d %s", field, code, body)
	}
	var v struct{ Data []struct{ ID string } }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		e.t.Fatal(err)
	}
	ids := []string{}
	for _, c := range v.Data {
		ids = append(ids, c.ID)
	}
	return ids
}

// one asserts that exactly one customer is found by the value, and returns it.
func (e *env) one(step, field, value string) string {
	e.t.Helper()
	ids := e.findable(field, value)
	if len(ids) != 1 {
		e.t.Fatalf("%s: look-up by %s found %d customers %v, want exactly one", step, field, len(ids), ids)
	}
	return ids[0]
}

// listed reports whether the plain listing holds id, walking every page.
func (e *env) listed(id string) bool {
	e.t.Helper()
	cursor := ""
	for {
		code, body := e.do(call{method: "GET", path: "/v1/customers?limit=500&cursor=" + cursor, role: "owner"})
		if code != 200 {
			e.t.Fatalf("list: got %d %s", code, body)
		}
		var v struct {
			Data       []struct{ ID string }
			NextCursor string `json:"next_cursor"`
		}
		_ = json.Unmarshal([]byte(body), &v)
		for _, c := range v.Data {
			if c.ID == id {
				return true
			}
		}
		if v.NextCursor == "" {
			return false
		}
		cursor = v.NextCursor
	}
}

// legacy stores customers through the bulk path, which does not match contact values: how
// records that were stored before creates were matched (or loaded in bulk) look.
func (e *env) legacy(fields ...map[string]any) []string {
	e.t.Helper()
	ids, err := e.app.Customers.CreateBatch(authz.WithActor(context.Background(), authz.System), fields)
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// legacyJSON is legacy for one customer given as a JSON object of fields.
func (e *env) legacyJSON(fields string) string {
	e.t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(fields), &m); err != nil {
		e.t.Fatal(err)
	}
	return e.legacy(m)[0]
}

// requestFor opens an access request by e-mail or phone and returns the customer it found.
func (e *env) requestFor(field, value string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"type": "access", field: value})
	code, resp := e.do(call{method: "POST", path: "/v1/requests", role: "dpo", body: string(body)})
	if code != 201 {
		e.t.Fatalf("request by %s: got %d %s", field, code, resp)
	}
	var r struct {
		CustomerID string `json:"customer_id"`
	}
	_ = json.Unmarshal([]byte(resp), &r)
	return r.CustomerID
}

// noRedirect sends a request without following redirects, the answer still held to the
// API's documentation.
func (e *env) noRedirect(method, path, body string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.keys["owner"])
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.client().Document(e.t).Check(method, path, resp.StatusCode, resp.Header.Get("Content-Type"), b); err != nil {
		e.t.Errorf("answer breaks the API's documentation: %v\n%s", err, b)
	}
	return resp, string(b)
}

func TestOnePersonOneProfile(t *testing.T) { onePerson(t, "") }

func TestOnePersonOneProfilePostgres(t *testing.T) { onePerson(t, pgtest.URL(t)) }

// onePerson walks one person through every channel that collects customers (the REST API, a
// sign-up list imported as CSV, the tracking API, a till, a duplicate review and its undo)
// and proves after each step that a look-up by their e-mail address finds exactly one
// profile, and the same one.
func onePerson(t *testing.T, db string) {
	e := newEnv(t, db, reviewOnly)
	e.population(100)

	// REST: created once; a second create of the same address, written differently, is
	// refused with the existing id, or updates that customer when asked to.
	ada := e.create(`{"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","birth_date":"1985-12-10","address_line1":"12 St James's Square","city":"London","postal_code":"SW1Y 4JH"}`)
	code, body := e.do(call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"email":" ADA@Example.com","first_name":"Augusta"}}`})
	var p struct {
		ExistingID string `json:"existing_id"`
		Field      string
	}
	_ = json.Unmarshal([]byte(body), &p)
	if code != 409 || p.ExistingID != ada || p.Field != "email" || strings.Contains(body, "example.com") {
		t.Fatalf("second create: got %d %s, want 409 naming %s", code, body, ada)
	}
	code, body = e.do(call{method: "POST", path: "/v1/customers?on_conflict=update", role: "owner", body: `{"fields":{"email":"ada@example.com","phone":"+44 20 7946 0958"}}`})
	if code != 200 || !strings.Contains(body, `"id":"`+ada+`"`) {
		t.Fatalf("create with on_conflict=update: got %d %s, want 200 with %s", code, body, ada)
	}
	if code, body = e.do(call{method: "POST", path: "/v1/customers?on_conflict=merge", role: "owner", body: `{"fields":{"email":"x@example.com"}}`}); code != 422 || !strings.Contains(body, "on_conflict") {
		t.Fatalf("unknown on_conflict: got %d %s", code, body)
	}
	// The phone number belongs to Ada now, too.
	if code, body = e.do(call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"phone":"+442079460958","first_name":"Someone"}}`}); code != 409 || !strings.Contains(body, ada) {
		t.Fatalf("create with Ada's phone: got %d %s", code, body)
	}
	if got := e.one("REST create", "email", "ada@example.com"); got != ada {
		t.Fatalf("REST create: found %s, want %s", got, ada)
	}

	// Sign-up list imported as CSV: the row finds Ada.
	code, body = e.upload("owner", url.Values{"map": {"email=email", "name=full_name"}}, "email,name\nAda@Example.com,Ada Lovelace\n")
	if code != 202 {
		t.Fatalf("upload: got %d %s", code, body)
	}
	var st importer.Status
	_ = json.Unmarshal([]byte(body), &st)
	e.runJobs()
	if got := e.importStatus(st.ID); got.Created != 0 || got.Updated != 1 {
		t.Fatalf("import: %+v, want Ada updated", got)
	}
	if got := e.one("CSV import", "email", "ada@example.com"); got != ada {
		t.Fatalf("CSV import: found %s, want %s", got, ada)
	}

	// Tracking: she signs in on the web shop.
	e.mustTrack("/v1/identify", `{"userId":"u-ada","anonymousId":"web-ada","traits":{"email":"ada@example.com "}}`)
	if got := e.one("tracking identify", "email", "ada@example.com"); got != ada {
		t.Fatalf("tracking identify: found %s, want %s", got, ada)
	}

	// A till: her order by e-mail lands on her.
	if code, body := e.do(call{method: "POST", path: "/v1/orders", role: "ingest", body: `{"email":"ADA@example.com","order_id":"T-ADA-1","currency":"GBP","total":12.5}`}); code != 200 {
		t.Fatalf("till order: got %d %s", code, body)
	}
	if got := e.one("till order", "email", "ada@example.com"); got != ada {
		t.Fatalf("till order: found %s, want %s", got, ada)
	}
	if _, body := e.do(call{method: "GET", path: "/v1/customers/" + ada + "/orders", role: "owner"}); !strings.Contains(body, "T-ADA-1") {
		t.Fatalf("Ada's orders: %s", body)
	}

	// A till order is also how someone new arrives: the customer it makes holds the address,
	// so a later REST create and an access request find them, with their order.
	if code, body := e.do(call{method: "POST", path: "/v1/orders", role: "ingest", body: `{"email":"grace@example.com","order_id":"T-GH-1","currency":"USD","total":3}`}); code != 200 {
		t.Fatalf("till order of a newcomer: got %d %s", code, body)
	}
	grace := e.one("till newcomer", "email", "grace@example.com")
	code, body = e.do(call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"email":"Grace@example.com","first_name":"Grace"}}`})
	if code != 409 || !strings.Contains(body, `"existing_id":"`+grace+`"`) {
		t.Fatalf("REST create after the till: got %d %s, want 409 naming %s", code, body, grace)
	}
	if _, body := e.do(call{method: "GET", path: "/v1/customers/" + grace + "/orders", role: "owner"}); !strings.Contains(body, "T-GH-1") {
		t.Fatalf("the till customer's orders: %s", body)
	}
	if got := e.requestFor("email", "grace@example.com"); got != grace {
		t.Fatalf("access request by the till's e-mail: found %q, want %s", got, grace)
	}
	// A till knowing a customer without an address fills it in; one with an address keeps it.
	walkIn := e.create(`{"first_name":"Wanda"}`)
	if code, body := e.do(call{method: "POST", path: "/v1/orders", role: "ingest", body: `{"customer_id":"` + walkIn + `","email":"walkin@example.com","order_id":"T-W-1","currency":"GBP","total":1}`}); code != 200 {
		t.Fatalf("till order for a known customer: got %d %s", code, body)
	}
	if got := e.one("till fill", "email", "walkin@example.com"); got != walkIn {
		t.Fatalf("till fill: found %s, want %s", got, walkIn)
	}
	// Nor can a change give her address to someone else.
	code, body = e.do(call{method: "PATCH", path: "/v1/customers/" + walkIn, role: "owner", body: `{"fields":{"email":"Ada@example.com"}}`})
	if code != 409 || !strings.Contains(body, `"existing_id":"`+ada+`"`) {
		t.Fatalf("PATCH with Ada's address: got %d %s, want 409 naming %s", code, body, ada)
	}
	if code, body := e.do(call{method: "POST", path: "/v1/orders", role: "ingest", body: `{"customer_id":"` + ada + `","email":"other@example.com","order_id":"T-ADA-2","currency":"GBP","total":1}`}); code != 200 {
		t.Fatalf("till order with another address: got %d %s", code, body)
	}
	if f := e.fields(ada); f["email"] != "ada@example.com" {
		t.Fatalf("a till order replaced Ada's address: %v", f["email"])
	}

	// She signed up once more at work, under another address: a second profile of the same
	// person, which the duplicate review finds and a person merges.
	work := e.create(`{"email":"a.lovelace@work.example","first_name":"Ada","last_name":"Lovelace","birth_date":"1985-12-10","address_line1":"12 St James's Square","city":"London","postal_code":"SW1Y 4JH"}`)
	e.scan()
	pair := pairOf(e.duplicates("pending"), ada, work)
	if pair == nil {
		t.Fatalf("Ada's two profiles were not proposed: %+v", e.duplicates("pending"))
	}
	code, body = e.do(call{method: "POST", path: "/v1/duplicates/" + pair.ID + "/merge", role: "admin"})
	if code != 200 {
		t.Fatalf("merge: got %d %s", code, body)
	}
	var merged struct{ Duplicate pairView }
	_ = json.Unmarshal([]byte(body), &merged)
	// Her own address and the merged-away profile's both find the winner alone; the
	// merged-away id points at it.
	for _, addr := range []string{"ada@example.com", "a.lovelace@work.example"} {
		if got := e.one("duplicate merge", "email", addr); got != ada {
			t.Fatalf("after the merge, %s found %s, want the winner %s", addr, got, ada)
		}
		if got := e.requestFor("email", addr); got != ada {
			t.Fatalf("after the merge, a request by %s found %q, want %s", addr, got, ada)
		}
	}
	resp, body := e.noRedirect("GET", "/v1/customers/"+work, "")
	if resp.StatusCode != 308 || resp.Header.Get("Location") != "/v1/customers/"+ada || !strings.Contains(body, `"merged_into":"`+ada+`"`) {
		t.Fatalf("GET of the merged-away id: got %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = e.noRedirect("PATCH", "/v1/customers/"+work, `{"fields":{"first_name":"Augusta Ada"}}`)
	if resp.StatusCode != 308 || resp.Header.Get("Location") != "/v1/customers/"+ada || !strings.Contains(body, `"merged_into":"`+ada+`"`) {
		t.Fatalf("PATCH of the merged-away id: got %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if f := e.fields(ada); f["first_name"] != "Ada" {
		t.Fatalf("a 308 changed something: %v", f["first_name"])
	}
	// A client that follows redirects reads the winner.
	if code, body := e.do(call{method: "GET", path: "/v1/customers/" + work, role: "owner"}); code != 200 || !strings.Contains(body, `"id":"`+ada+`"`) {
		t.Fatalf("GET following the redirect: got %d %s", code, body)
	}
	if e.listed(work) || !e.listed(ada) {
		t.Fatal("the listing shows the merged-away customer, or not the winner")
	}

	// Undo: both profiles as they were, each findable by its own address and listed again.
	if code, body := e.do(call{method: "POST", path: "/v1/merges/" + merged.Duplicate.MergeID + "/undo", role: "admin"}); code != 200 {
		t.Fatalf("undo: got %d %s", code, body)
	}
	if got := e.one("undo", "email", "ada@example.com"); got != ada {
		t.Fatalf("after the undo, ada@example.com found %s, want %s", got, ada)
	}
	if got := e.one("undo", "email", "a.lovelace@work.example"); got != work {
		t.Fatalf("after the undo, the work address found %s, want %s", got, work)
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/customers/" + work, role: "owner"}); code != 200 || !e.listed(work) {
		t.Fatalf("after the undo: GET of the restored customer got %d, or it is not listed", code)
	}

	// Stitching: a phone number a till recorded for a stranger turns out to be Ada's when she
	// signs in with it; the stranger is merged into her, and the number finds her alone.
	if code, body := e.do(call{method: "POST", path: "/v1/orders", role: "ingest", body: `{"phone":"+44 7400 555123","order_id":"T-P-1","currency":"GBP","total":2}`}); code != 200 {
		t.Fatalf("till order by phone: got %d %s", code, body)
	}
	stranger := e.one("till by phone", "phone", "+447400555123")
	e.mustTrack("/v1/identify", `{"userId":"u-ada","traits":{"phone":"+44 7400 555123"}}`)
	if got := e.one("stitching merge", "phone", "+447400555123"); got != ada {
		t.Fatalf("after stitching, the phone found %s, want %s (the stranger was %s)", got, ada, stranger)
	}
	if resp, body := e.noRedirect("GET", "/v1/customers/"+stranger, ""); resp.StatusCode != 308 || !strings.Contains(body, ada) {
		t.Fatalf("GET of the stitched-away id: got %d %s", resp.StatusCode, body)
	}
	if got := e.requestFor("phone", "+447400555123"); got != ada {
		t.Fatalf("a request by phone after stitching found %q, want %s", got, ada)
	}
	if got := e.one("end", "email", "ada@example.com"); got != ada {
		t.Fatalf("at the end, found %s, want %s", got, ada)
	}
}

func TestConcurrentCreatesOfOneAddress(t *testing.T) { concurrentCreates(t, "") }

func TestConcurrentCreatesOfOneAddressPostgres(t *testing.T) { concurrentCreates(t, pgtest.URL(t)) }

// concurrentCreates: many clients creating the same new address at once make one customer;
// every other one is told which.
func concurrentCreates(t *testing.T, db string) {
	e := newEnv(t, db)
	const n = 12
	type answer struct {
		code int
		body string
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := e.client().Do(t, call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"email":"rush@example.com"}}`}.request())
			answers[i] = answer{r.Status, r.Body}
		}(i)
	}
	wg.Wait()
	id := e.one("concurrent creates", "email", "rush@example.com")
	created := 0
	for _, a := range answers {
		switch {
		case a.code == 201:
			created++
		case a.code != 409 || !strings.Contains(a.body, `"existing_id":"`+id+`"`):
			t.Errorf("got %d %s, want 201 or 409 naming %s", a.code, a.body, id)
		}
	}
	if created != 1 {
		t.Fatalf("%d creates succeeded, want 1", created)
	}
}
