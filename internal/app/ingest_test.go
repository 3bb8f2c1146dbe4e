package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// basic is the Authorization header Segment libraries send: the write key as user name.
func basic(key string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))}
}

func (e *env) track(path, body string) (int, string) {
	e.t.Helper()
	return e.do(call{method: "POST", path: path, body: body, header: basic(e.keys["ingest"])})
}

func (e *env) mustTrack(path, body string) map[string]any {
	e.t.Helper()
	code, out := e.track(path, body)
	if code != 200 {
		e.t.Fatalf("%s: got %d %s", path, code, out)
	}
	var v map[string]any
	_ = json.Unmarshal([]byte(out), &v)
	return v
}

// customerOf finds the customer holding an e-mail address.
func (e *env) customerOf(email string) string {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers?email=" + email, role: "owner"})
	var v struct{ Data []struct{ ID string } }
	_ = json.Unmarshal([]byte(body), &v)
	if code != 200 || len(v.Data) != 1 {
		e.t.Fatalf("look-up %s: got %d %s", email, code, body)
	}
	return v.Data[0].ID
}

type eventList struct {
	Data []struct {
		ID, CustomerID, Type, Name string
		Properties                 map[string]any
		Context                    map[string]any
		Revealed                   bool
	}
	NextCursor string `json:"next_cursor"`
}

func (e *env) events(id, query, purpose string) eventList {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/events" + query, role: "owner", purpose: purpose})
	if code != 200 {
		e.t.Fatalf("events: got %d %s", code, body)
	}
	var v eventList
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

func TestTrackingBatchIdentifyTrackAndDedup(t *testing.T) { trackingBatch(t, "") }

func TestTrackingBatchPostgres(t *testing.T) { trackingBatch(t, pgtest.URL(t)) }

func trackingBatch(t *testing.T, db string) {
	e := newEnv(t, db)
	batch := `{"batch":[
	  {"type":"identify","messageId":"m1","anonymousId":"anon-1","userId":"u-100","traits":{"email":"Grace.Hopper@Example.com","firstName":"Grace","address":{"city":"Arlington","country":"US"},"favouriteColour":"blue"},"timestamp":"2024-05-01T10:00:00Z"},
	  {"type":"track","messageId":"m2","userId":"u-100","event":"Order Completed","properties":{"order_id":"o-1","total":42.5,"currency":"usd","products":[{"product_id":"p1","price":42.5,"quantity":1,"colour":"red"}],"shoe_size":9},"context":{"ip":"203.0.113.7"}},
	  {"type":"page","messageId":"m3","anonymousId":"anon-1","name":"Home","properties":{"path":"/","title":"Welcome"}}
	],"sentAt":"2024-05-01T10:00:05Z"}`
	v := e.mustTrack("/v1/batch", batch)
	if v["success"] != true || v["stored"].(float64) != 3 {
		t.Fatalf("got %v, want 3 stored", v)
	}
	id := e.customerOf("grace.hopper@example.com")
	evs := e.events(id, "", "")
	if len(evs.Data) != 3 {
		t.Fatalf("got %d events, want 3", len(evs.Data))
	}
	// A retry of the same batch stores nothing.
	v = e.mustTrack("/v1/batch", batch)
	if v["stored"].(float64) != 0 || v["duplicates"].(float64) != 3 {
		t.Fatalf("retry: got %v, want 0 stored and 3 duplicates", v)
	}
	if n := len(e.events(id, "", "").Data); n != 3 {
		t.Fatalf("after retry: got %d events, want 3", n)
	}
	// Revealed for service: the sealed parts open; masked otherwise.
	for _, ev := range e.events(id, "?type=track", "service").Data {
		if !ev.Revealed || ev.Context["ip"] != "203.0.113.7" {
			t.Errorf("revealed track event: %+v", ev)
		}
		if _, ok := ev.Properties["shoe_size"]; ok {
			t.Errorf("undeclared property stored: %+v", ev.Properties)
		}
	}
	for _, ev := range e.events(id, "?type=track", "").Data {
		if ev.Revealed || ev.Context["ip"] != nil {
			t.Errorf("unrevealed event shows sealed parts: %+v", ev)
		}
	}
	// Traits became profile fields.
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "owner", purpose: "support"})
	if code != 200 || !strings.Contains(body, `"first_name":"Grace"`) || !strings.Contains(body, `"city":"Arlington"`) {
		t.Fatalf("profile: got %d %s", code, body)
	}
	// Drops are counted per write key, by name.
	keyID := strings.Split(e.keys["ingest"], "_")[1]
	code, body = e.do(call{method: "GET", path: "/v1/ingest/drops?key_id=" + keyID, role: "owner"})
	for _, want := range []string{`"undeclared:trait.favouriteColour":2`, `"undeclared:property.shoe_size":2`, `"undeclared:property.products.colour":2`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("drops: got %d %s, want %s", code, body, want)
		}
	}
	// The order became a first-class order.
	code, body = e.do(call{method: "GET", path: "/v1/customers/" + id + "/orders", role: "owner"})
	if code != 200 || !strings.Contains(body, `"order_id":"o-1"`) || !strings.Contains(body, `"total":42.5`) || !strings.Contains(body, `"currency":"USD"`) {
		t.Fatalf("orders: got %d %s", code, body)
	}
	// Metrics count by key id and reason, never by customer.
	_, metrics := e.do(call{method: "GET", path: "/metrics"})
	if !strings.Contains(metrics, `steward_ingest_dropped_total{key_id="`+keyID+`",reason="undeclared"}`) || strings.Contains(metrics, id) {
		t.Errorf("metrics: want drop counter without customer ids")
	}
	acts := strings.Join(e.auditActions(id), " ")
	if !strings.Contains(acts, "customer.create:ingest") || !strings.Contains(acts, "events.read:owner") {
		t.Errorf("audit: got %s", acts)
	}
}

func TestTrackingShortPathsCORSAndSettings(t *testing.T) {
	e := newEnv(t, "")
	body := fmt.Sprintf(`{"type":"track","event":"Product Viewed","anonymousId":"browser-1","properties":{"product_id":"p9"},"writeKey":%q}`, e.keys["collect"])
	code, out := e.do(call{method: "POST", path: "/v1/t", body: body, header: map[string]string{"Content-Type": "text/plain", "Origin": "https://shop.example"}})
	if code != 200 || !strings.Contains(out, `"success":true`) {
		t.Fatalf("short path: got %d %s", code, out)
	}
	code, _ = e.do(call{method: "OPTIONS", path: "/v1/batch", header: map[string]string{"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}})
	if code != 204 {
		t.Fatalf("preflight: got %d", code)
	}
	code, out = e.do(call{method: "GET", path: "/v1/projects/" + e.keys["collect"] + "/settings"})
	if code != 200 || !strings.Contains(out, `"Segment.io"`) || !strings.Contains(out, "/v1") {
		t.Fatalf("settings: got %d %s", code, out)
	}
	if code, _ = e.do(call{method: "GET", path: "/v1/projects/stw_nope_nope/settings"}); code != 404 {
		t.Fatalf("settings for an unknown key: got %d, want 404", code)
	}
}

func TestTrackingBadInput(t *testing.T) {
	e := newEnv(t, "")
	big := strings.Repeat("x", 33<<10)
	many := `{"batch":[` + strings.TrimSuffix(strings.Repeat(`{"type":"track","event":"E","anonymousId":"a"},`, 2501), ",") + `]}`
	tests := []struct {
		name, path, body string
		header           map[string]string
		code             int
		want             string
	}{
		{"malformed JSON", "/v1/track", `{"event":`, nil, 400, "malformed JSON"},
		{"no identifier", "/v1/track", `{"event":"E"}`, nil, 400, "userId or anonymousId is required"},
		{"placeholder identifier", "/v1/track", `{"event":"E","userId":"null","anonymousId":"undefined"}`, nil, 400, "placeholder"},
		{"track without event", "/v1/track", `{"anonymousId":"a"}`, nil, 400, "event"},
		{"wrong type of properties", "/v1/track", `{"event":"E","anonymousId":"a","properties":[1]}`, nil, 400, "properties"},
		{"wrong type in batch", "/v1/batch", `{"batch":[{"type":"track","event":"E","anonymousId":"a","userId":{"x":1}}]}`, nil, 400, "batch[0]"},
		{"unknown type", "/v1/batch", `{"batch":[{"type":"shout","anonymousId":"a"}]}`, nil, 400, "batch[0].type"},
		{"oversize event", "/v1/track", `{"event":"E","anonymousId":"a","properties":{"title":"` + big + `"}}`, nil, 400, "at most"},
		{"too many events", "/v1/batch", many, nil, 400, "2500"},
		{"bad timestamp", "/v1/track", `{"event":"E","anonymousId":"a","timestamp":"yesterday"}`, nil, 400, "timestamp"},
		{"type mismatch", "/v1/track", `{"type":"page","anonymousId":"a"}`, nil, 400, "type"},
		{"no key", "/v1/track", `{"event":"E","anonymousId":"a"}`, map[string]string{"Authorization": ""}, 401, "write key"},
		{"unknown key", "/v1/track", `{"event":"E","anonymousId":"a"}`, basic("stw_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), 401, "invalid write key"},
		{"key without events.write", "/v1/track", `{"event":"E","anonymousId":"a"}`, basic(e.keys["analyst"]), 403, "events.write"},
		{"wrong content type", "/v1/track", `{"event":"E","anonymousId":"a"}`, map[string]string{"Content-Type": "application/xml"}, 400, "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := basic(e.keys["ingest"])
			for k, v := range tt.header {
				h[k] = v
			}
			code, body := e.do(call{method: "POST", path: tt.path, body: tt.body, header: h})
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("got %d %s, want %d containing %q", code, body, tt.code, tt.want)
			}
		})
	}
	var n int
	if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("bad input stored %d events (%v)", n, err)
	}
}

func TestStitchingMergeAndUnmerge(t *testing.T) { stitching(t, "") }

func TestStitchingPostgres(t *testing.T) { stitching(t, pgtest.URL(t)) }

func stitching(t *testing.T, db string) {
	e := newEnv(t, db)
	// A browser visits anonymously, then signs in: the same customer.
	e.mustTrack("/v1/track", `{"event":"Product Viewed","anonymousId":"anon-A","properties":{"product_id":"p1"}}`)
	e.mustTrack("/v1/identify", `{"userId":"user-7","anonymousId":"anon-A","traits":{"email":"ada@example.com"}}`)
	id := e.customerOf("ada@example.com")
	if n := len(e.events(id, "", "").Data); n != 2 {
		t.Fatalf("got %d events, want 2 on the signed-in customer", n)
	}
	// A second device, anonymous, becomes its own customer until the user signs in there.
	e.mustTrack("/v1/page", `{"anonymousId":"anon-B","name":"Home"}`)
	e.mustTrack("/v1/track", `{"event":"Product Viewed","anonymousId":"anon-B","properties":{"product_id":"p2"}}`)
	e.mustTrack("/v1/track", `{"event":"Cart Viewed","userId":"user-7","anonymousId":"anon-B"}`)
	if n := len(e.events(id, "", "").Data); n != 5 {
		t.Fatalf("after the merge: got %d events, want 5", n)
	}
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/merges", role: "owner"})
	var ms struct {
		Data []struct{ ID, LoserID, Reason string }
	}
	_ = json.Unmarshal([]byte(body), &ms)
	if code != 200 || len(ms.Data) != 1 || !strings.Contains(ms.Data[0].Reason, "anonymous_id") {
		t.Fatalf("merges: got %d %s", code, body)
	}
	code, body = e.do(call{method: "GET", path: "/v1/customers/" + id + "/identities", role: "owner", purpose: "service"})
	if code != 200 || !strings.Contains(body, "anon-B") || !strings.Contains(body, "user-7") {
		t.Fatalf("identities: got %d %s", code, body)
	}
	if _, body = e.do(call{method: "GET", path: "/v1/customers/" + id + "/identities", role: "owner"}); strings.Contains(body, "anon-B") {
		t.Fatalf("identities unmasked without a purpose: %s", body)
	}
	// Unmerge: both customers as they were, each with its own events.
	code, body = e.do(call{method: "POST", path: "/v1/merges/" + ms.Data[0].ID + "/undo", role: "owner"})
	if code != 200 {
		t.Fatalf("undo: got %d %s", code, body)
	}
	var m struct {
		LoserID string `json:"loser_id"`
	}
	_ = json.Unmarshal([]byte(body), &m)
	if n := len(e.events(id, "", "").Data); n != 3 {
		t.Fatalf("after unmerge: got %d events on the winner, want 3", n)
	}
	if n := len(e.events(m.LoserID, "", "").Data); n != 2 {
		t.Fatalf("after unmerge: got %d events on the loser, want 2", n)
	}
	if code, _ = e.do(call{method: "POST", path: "/v1/merges/" + ms.Data[0].ID + "/undo", role: "owner"}); code != 409 {
		t.Fatalf("second undo: got %d, want 409", code)
	}
	acts := strings.Join(e.auditActions(id), " ")
	if !strings.Contains(acts, "customer.merge:ingest") || !strings.Contains(acts, "customer.unmerge:owner") {
		t.Errorf("audit: got %s", acts)
	}
}

func TestStitchingLimitsAndBlockedValues(t *testing.T) {
	e := newEnv(t, "")
	// Two users signing in on one shared device are never merged.
	e.mustTrack("/v1/identify", `{"userId":"mum","anonymousId":"family-tablet","traits":{"email":"mum@example.com"}}`)
	e.mustTrack("/v1/identify", `{"userId":"dad","anonymousId":"family-tablet","traits":{"email":"dad@example.com"}}`)
	if e.customerOf("mum@example.com") == e.customerOf("dad@example.com") {
		t.Fatal("two user ids on one device were merged")
	}
	// Placeholder values never link: two people whose code sends userId "0".
	e.mustTrack("/v1/identify", `{"userId":"0","anonymousId":"cookie-1","traits":{"email":"one@example.com"}}`)
	e.mustTrack("/v1/identify", `{"userId":"0","anonymousId":"cookie-2","traits":{"email":"two@example.com"}}`)
	if e.customerOf("one@example.com") == e.customerOf("two@example.com") {
		t.Fatal("a blocked user id linked two customers")
	}
	// An alias says outright that two user ids are one person.
	e.mustTrack("/v1/alias", `{"previousId":"dad","userId":"mum"}`)
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + e.customerOf("mum@example.com") + "/merges", role: "owner"})
	if code != 200 || !strings.Contains(body, "alias") {
		t.Fatalf("alias merge: got %d %s", code, body)
	}
	keyID := strings.Split(e.keys["ingest"], "_")[1]
	_, body = e.do(call{method: "GET", path: "/v1/ingest/drops?key_id=" + keyID, role: "owner"})
	if !strings.Contains(body, `"limit:merge":1`) {
		t.Errorf("refused merge not counted: %s", body)
	}
}

func TestPIIInPropertiesDropped(t *testing.T) {
	e := newEnv(t, "")
	e.mustTrack("/v1/track", `{"event":"Products Searched","anonymousId":"pii-1","properties":{"query":"boots","title":"call me on +44 7911 123456","list_id":"mail jo@example.com","coupon":"4111 1111 1111 1111"}}`)
	keyID := strings.Split(e.keys["ingest"], "_")[1]
	_, body := e.do(call{method: "GET", path: "/v1/ingest/drops?key_id=" + keyID, role: "owner"})
	for _, want := range []string{`"pii:title":1`, `"pii:list_id":1`, `"pii:coupon":1`} {
		if !strings.Contains(body, want) {
			t.Errorf("drops: %s, want %s", body, want)
		}
	}
	var plain string
	if err := e.app.Store.Write().QueryRow(`SELECT plain FROM events`).Scan(&plain); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"7911", "jo@example.com", "4111", "boots"} {
		if strings.Contains(plain, c) {
			t.Errorf("clear part of the event holds %q: %s", c, plain)
		}
	}
}

func TestEventCanaryNeverAtRest(t *testing.T) {
	e := newEnv(t, "")
	e.mustTrack("/v1/batch", `{"batch":[
	  {"type":"identify","userId":"zq-user-canary","anonymousId":"zq-anon-canary","traits":{"email":"zq.event.canary@example.com","firstName":"Zqeventcanary"},"context":{"ip":"198.51.100.77","device":{"id":"zq-device-canary"},"externalIds":[{"id":"zq-ext-canary","type":"crm_id"}]}},
	  {"type":"track","userId":"zq-user-canary","event":"Product Reviewed","properties":{"product_id":"p1","rating":5,"review_body":"Zqreviewcanary was great"},"context":{"page":{"url":"https://shop.example/zqurlcanary"}}},
	  {"type":"page","anonymousId":"zq-anon-canary","properties":{"path":"/zqpathcanary","url":"https://shop.example/zqpathcanary"}}
	]}`)
	canaries := []string{"zq-user-canary", "zq-anon-canary", "zq.event.canary", "Zqeventcanary", "198.51.100.77", "zq-device-canary", "zq-ext-canary", "Zqreviewcanary", "zqpathcanary"}
	assertNoCanary(t, e.dir, canaries)
	if err := sqlite.Checkpoint(context.Background(), e.app.Store); err != nil {
		t.Fatal(err)
	}
	assertNoCanary(t, e.dir, canaries)
}

func TestCommerceFromTill(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"till@example.com"}`)
	order := `{"customer_id":"` + id + `","order_id":"T-1001","currency":"gbp","total":30,"items":[{"sku":"MUG","price":10,"quantity":3}]}`
	for i := 0; i < 2; i++ { // posting the same order twice stores it once
		if code, body := e.do(call{method: "POST", path: "/v1/orders", role: "ingest", body: order}); code != 200 {
			t.Fatalf("order: got %d %s", code, body)
		}
	}
	if code, body := e.do(call{method: "POST", path: "/v1/orders/T-1001/refunds", role: "ingest", body: `{"refund_id":"r1","kind":"return","amount":10,"items":[{"sku":"MUG","price":10,"quantity":1}]}`}); code != 200 {
		t.Fatalf("refund: got %d %s", code, body)
	}
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/orders", role: "owner"})
	if code != 200 || !strings.Contains(body, `"status":"partially_refunded"`) || !strings.Contains(body, `"refunded":10`) || !strings.Contains(body, `"kind":"return"`) {
		t.Fatalf("orders: got %d %s", code, body)
	}
	if code, body = e.do(call{method: "POST", path: "/v1/orders/NOPE/refunds", role: "ingest", body: `{"refund_id":"r1","amount":1}`}); code != 404 {
		t.Fatalf("refund of an unknown order: got %d %s", code, body)
	}
	if code, body = e.do(call{method: "POST", path: "/v1/orders", role: "ingest", body: `{"order_id":"T-2","currency":"GBP","total":1}`}); code != 422 || !strings.Contains(body, "customer_id") {
		t.Fatalf("order without a customer: got %d %s", code, body)
	}
	// A checkout with no order is an abandoned cart; one followed by an order is not.
	e.mustTrack("/v1/track", `{"event":"Checkout Started","anonymousId":"cart-1","properties":{"checkout_id":"c1","value":99,"currency":"EUR"},"timestamp":"2020-01-01T00:00:00Z"}`)
	e.mustTrack("/v1/track", `{"event":"Checkout Started","anonymousId":"cart-2","properties":{"checkout_id":"c2","value":5},"timestamp":"2020-01-01T00:00:00Z"}`)
	e.mustTrack("/v1/track", `{"event":"Order Completed","anonymousId":"cart-2","properties":{"order_id":"W-2","total":5},"timestamp":"2020-01-01T00:10:00Z"}`)
	code, body = e.do(call{method: "GET", path: "/v1/carts/abandoned?older_than=1h", role: "owner"})
	if code != 200 || !strings.Contains(body, `"checkout_id":"c1"`) || strings.Contains(body, `"checkout_id":"c2"`) {
		t.Fatalf("abandoned carts: got %d %s", code, body)
	}
}

func TestStitchingByContactDetails(t *testing.T) { stitchingByContact(t, "") }

func TestStitchingByContactDetailsPostgres(t *testing.T) { stitchingByContact(t, pgtest.URL(t)) }

// stitchingByContact: a customer's current e-mail and phone link tracking traffic to them
// through the profile's blind index, whichever way the customer arrived (the REST API, an
// import, a till); an address they replace keeps linking to them; and the identity rows hold
// only what the profiles do not.
func stitchingByContact(t *testing.T, db string) {
	e := newEnv(t, db)
	rows := func(kind string) int {
		t.Helper()
		var n int
		if err := e.app.Store.Read().QueryRow(`SELECT COUNT(*) FROM identities WHERE kind = $1`, kind).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Created at the counter, then signing in on the web shop with the same address written
	// differently: one customer.
	id := e.create(`{"email":"lin@example.com","phone":"+44 7911 123456","first_name":"Lin"}`)
	e.mustTrack("/v1/identify", `{"userId":"u-lin","anonymousId":"web-1","traits":{"email":" Lin@Example.com"}}`)
	if got := e.customerOf("lin@example.com"); got != id {
		t.Fatalf("identify by e-mail: stored on %s, want the existing customer %s", got, id)
	}
	// A till sending only the phone number finds them too.
	e.mustTrack("/v1/track", `{"event":"Receipt Printed","anonymousId":"till-7","context":{"traits":{"phone":"+447911 123 456"}}}`)
	if n := len(e.events(id, "", "").Data); n != 2 {
		t.Fatalf("got %d events, want the identify and the till's event on one customer", n)
	}
	if n := rows("email") + rows("phone"); n != 0 {
		t.Fatalf("%d contact identity rows stored for values the profile holds, want 0", n)
	}
	// A new address replaces the old one in the profile; the old one still links to them.
	e.mustTrack("/v1/identify", `{"userId":"u-lin","traits":{"email":"lin.new@example.com"}}`)
	if got := e.customerOf("lin.new@example.com"); got != id {
		t.Fatalf("new address on %s, want %s", got, id)
	}
	if n := rows("email"); n != 1 {
		t.Fatalf("%d e-mail identity rows after the change, want 1 for the replaced address", n)
	}
	e.mustTrack("/v1/track", `{"event":"Newsletter Opened","anonymousId":"old-laptop","context":{"traits":{"email":"lin@example.com"}}}`)
	if n := len(e.events(id, "", "").Data); n != 4 {
		t.Fatalf("got %d events, want the old address's event on the same customer", n)
	}
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/identities", role: "owner", purpose: "service"})
	for _, want := range []string{"u-lin", "web-1", "till-7", "old-laptop", `"value":"lin@example.com"`, `"value":"lin.new@example.com"`, `"value":"+447911123456"`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("identities: want %s in %d %s", want, code, body)
		}
	}
	if _, body = e.do(call{method: "GET", path: "/v1/customers/" + id + "/identities", role: "owner"}); strings.Contains(body, "example.com") || !strings.Contains(body, `"kind":"phone"`) {
		t.Fatalf("identities without a purpose: %s", body)
	}
	// Two customers holding one address (stored before creates were matched on it): the
	// oldest takes the traffic, and neither is merged into the other by it.
	first := e.create(`{"email":"shared@example.com","first_name":"One"}`)
	second := e.legacyJSON(`{"email":"shared@example.com","first_name":"Two"}`)
	e.mustTrack("/v1/track", `{"event":"Page Liked","anonymousId":"web-9","context":{"traits":{"email":"shared@example.com"}}}`)
	if a, b := len(e.events(first, "", "").Data), len(e.events(second, "", "").Data); a != 1 || b != 0 {
		t.Fatalf("shared address: %d and %d events, want the oldest customer to hold it", a, b)
	}
}

// TestIdentitiesFollowTheCatalog: identifiers are shown by the rules of a profile read — only
// those whose catalog field is declared for the purpose, in generalised form where the purpose
// sees only that — and the reveal names the fields it showed.
func TestIdentitiesFollowTheCatalog(t *testing.T) {
	e := newEnv(t, "")
	e.mustTrack("/v1/identify", `{"userId":"u-idc","anonymousId":"anon-idc","traits":{"email":"idc@example.com","phone":"+44 7911 123457"}}`)
	id := e.customerOf("idc@example.com")
	e.publish(policyV1)
	e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
		body: `{"purpose":"marketing_email","granted":true,"policy_version":"2026-01","source":"api"}`})
	get := func(purpose string) string {
		t.Helper()
		code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/identities", role: "marketer", purpose: purpose})
		if code != 200 {
			t.Fatalf("%s: got %d %s", purpose, code, body)
		}
		return body
	}
	// analytics sees generalised data only: no e-mail, phone or raw ids in clear.
	body := get("analytics")
	for _, secret := range []string{"idc@example.com", "7911123457", "anon-idc", "u-idc"} {
		if strings.Contains(body, secret) {
			t.Errorf("analytics shows %s in clear: %s", secret, body)
		}
	}
	// marketing_email may see the e-mail, not the phone.
	body = get("marketing_email")
	if !strings.Contains(body, "idc@example.com") || strings.Contains(body, "7911123457") {
		t.Errorf("marketing_email: want the e-mail only: %s", body)
	}
	var reveal string
	for _, a := range e.auditEntries(id) {
		if a.Action == "customer.reveal" && a.Purpose == "marketing_email" && a.Target == "identities" {
			reveal = strings.Join(a.Fields, ",")
		}
	}
	if reveal != "email" {
		t.Errorf("the reveal names fields %q, want email", reveal)
	}
}

// auditEntries lists the audit entries about a customer, newest first.
func (e *env) auditEntries(customerID string) []audit.Entry {
	e.t.Helper()
	entries, err := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{CustomerID: customerID, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return entries
}

// TestAnalyticsSeesGeneralisedEvents: a read of events for analytics, which may see only
// generalised data, never carries the address, user agent, URL query or typed text an event
// was sent with; the same read for a purpose that may see them in clear still does.
func TestAnalyticsSeesGeneralisedEvents(t *testing.T) {
	e := newEnv(t, "")
	e.mustTrack("/v1/identify", `{"userId":"u-gen","traits":{"email":"gen@example.com"}}`)
	e.mustTrack("/v1/track", `{"userId":"u-gen","event":"Products Searched","properties":{"query":"gift for my wife Ada"},`+
		`"context":{"ip":"198.51.100.23","userAgent":"Mozilla/5.0 Firefox/128.0","page":{"url":"https://shop.example/s?q=ada&token=secret42"}}}`)
	id := e.customerOf("gen@example.com")
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/events", role: "marketer", purpose: "analytics"})
	if code != 200 {
		t.Fatalf("analytics read: got %d %s", code, body)
	}
	for _, secret := range []string{"198.51.100.23", "Firefox/128.0", "secret42", "wife Ada"} {
		if strings.Contains(body, secret) {
			t.Errorf("analytics read shows %q: %s", secret, body)
		}
	}
	if !strings.Contains(body, `"generalized":true`) {
		t.Errorf("analytics read not marked generalised: %s", body)
	}
}
