package app

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/ingest"
)

// figures reads the customer as the owner, without a purpose (the derived fields are not
// masked), and returns the derived fields as JSON text ("" for absent ones).
func (e *env) figures(id string) map[string]string {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "owner"})
	if code != 200 {
		e.t.Fatalf("get %s: got %d %s", id, code, body)
	}
	var v struct{ Fields map[string]json.RawMessage }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range []string{"order_count", "lifetime_value", "first_order_at", "last_order_at", "return_count",
		"last_review_rating", "complaint_count", "social_interaction_count"} {
		if raw, ok := v.Fields[f]; ok {
			out[f] = string(raw)
		}
	}
	return out
}

// till posts to a till route with the ingest key.
func (e *env) till(path, body string) {
	e.t.Helper()
	if code, out := e.do(call{method: "POST", path: path, role: "ingest", body: body}); code != 200 {
		e.t.Fatalf("%s: got %d %s", path, code, out)
	}
}

func TestDerivedFiguresSQLite(t *testing.T)   { derivedFigures(t, "sqlite") }
func TestDerivedFiguresPostgres(t *testing.T) { derivedFigures(t, "postgres") }

// derivedFigures: orders, refunds, returns, cancellations, reviews, complaints and social
// interactions, from a till and from tracking, keep the customer's derived fields current as
// each is stored, with money added exactly; a merge gives the winner figures covering both
// customers, and undoing it gives each its own back.
func derivedFigures(t *testing.T, engine string) {
	e := newEnv(t, engineURL(t, engine))
	id := e.identified("fig")
	want := func(step string, w map[string]string) {
		t.Helper()
		if got := e.figures(id); !maps.Equal(got, w) {
			t.Fatalf("%s: got %v, want %v", step, got, w)
		}
	}
	want("before any order", map[string]string{})

	e.till("/v1/orders", `{"customer_id":"`+id+`","order_id":"t-1","currency":"EUR","total":120.50,"placed_at":"2026-03-01T10:00:00Z"}`)
	e.till("/v1/orders/t-1/refunds", `{"refund_id":"r-1","amount":60.25}`)
	first := `"2026-03-01T10:00:00Z"`
	want("a till order and a refund", map[string]string{"order_count": "1", "lifetime_value": "60.25", "first_order_at": first, "last_order_at": first})

	// Amounts that floats add up wrongly (0.1 + 0.2) are added in cents.
	track := func(msgID, event, props, ts string) {
		t.Helper()
		e.mustTrack("/v1/track", `{"type":"track","event":"`+event+`","messageId":"`+msgID+`","userId":"fig","timestamp":"`+ts+`","properties":`+props+`}`)
	}
	track("o-2", "Order Completed", `{"order_id":"o-2","total":0.1,"currency":"EUR"}`, "2026-04-01T10:00:00Z")
	track("o-3", "Order Completed", `{"order_id":"o-3","total":0.2,"currency":"EUR"}`, "2026-05-01T10:00:00Z")
	last := `"2026-05-01T10:00:00Z"`
	want("two tracked orders", map[string]string{"order_count": "3", "lifetime_value": "60.55", "first_order_at": first, "last_order_at": last})
	e.till("/v1/orders/o-3/cancel", ``)
	track("ret", "Order Refunded", `{"order_id":"o-2","total":0.1,"reason":"return"}`, "2026-05-02T10:00:00Z")
	last = `"2026-04-01T10:00:00Z"`
	figs := map[string]string{"order_count": "2", "lifetime_value": "60.25", "first_order_at": first, "last_order_at": last, "return_count": "1"}
	want("a cancellation and a return", figs)

	track("rev-1", "Product Reviewed", `{"product_id":"p-1","rating":4}`, "2026-06-01T10:00:00Z")
	track("rev-2", "Product Reviewed", `{"product_id":"p-2","rating":2}`, "2026-06-02T10:00:00Z")
	track("c-1", "Complaint Filed", `{"complaint_id":"c-1"}`, "2026-06-03T10:00:00Z")
	track("c-2", "Complaint Filed", `{"complaint_id":"c-2"}`, "2026-06-04T10:00:00Z")
	now := e.clock.Now().UTC().Format("2006-01-02T15:04:05Z")
	track("s-1", "Social Interaction", `{"network":"instagram","interaction":"comment"}`, now)
	track("s-2", "Product Shared", `{"product_id":"p-1"}`, now)
	figs["last_review_rating"], figs["complaint_count"], figs["social_interaction_count"] = "2", "2", "2"
	want("reviews, complaints and social interactions", figs)
	// A retried message is stored once, and counted once.
	track("c-2", "Complaint Filed", `{"complaint_id":"c-2"}`, "2026-06-04T10:00:00Z")
	want("a retry", figs)

	// Another visitor, not yet known as the same person, orders.
	e.mustTrack("/v1/track", `{"type":"track","event":"Order Completed","messageId":"o-4","anonymousId":"anon-fig","timestamp":"2026-07-01T10:00:00Z","properties":{"order_id":"o-4","total":10,"currency":"EUR"}}`)
	e.mustTrack("/v1/identify", `{"type":"identify","messageId":"sign-in-fig","userId":"fig","anonymousId":"anon-fig"}`)
	merged := maps.Clone(figs)
	merged["order_count"], merged["lifetime_value"], merged["last_order_at"] = "3", "70.25", `"2026-07-01T10:00:00Z"`
	want("after the merge", merged)

	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/merges", role: "owner"})
	var ms struct {
		Data []struct {
			ID     string `json:"id"`
			Loser  string `json:"loser_id"`
			Winner string `json:"winner_id"`
		}
	}
	if err := json.Unmarshal([]byte(body), &ms); code != 200 || err != nil || len(ms.Data) != 1 || ms.Data[0].Winner != id {
		t.Fatalf("merges: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "POST", path: "/v1/merges/" + ms.Data[0].ID + "/undo", role: "owner"}); code != 200 {
		t.Fatalf("undo: got %d %s", code, body)
	}
	want("after the undo", figs)
	if got, w := e.figures(ms.Data[0].Loser), map[string]string{"order_count": "1", "lifetime_value": "10", "first_order_at": `"2026-07-01T10:00:00Z"`,
		"last_order_at": `"2026-07-01T10:00:00Z"`}; !maps.Equal(got, w) {
		t.Fatalf("the other customer after the undo: got %v, want %v", got, w)
	}

	// Rebuilding from the stored events changes nothing: they were kept current.
	res, err := e.app.Ingest.Derive(authz.WithActor(context.Background(), authz.System))
	if err != nil || res.Changed != 0 {
		t.Fatalf("derive: %+v %v, want nothing changed", res, err)
	}
}

func TestDerivedFiguresDuplicateMergeSQLite(t *testing.T) { derivedFiguresDuplicateMerge(t, "sqlite") }
func TestDerivedFiguresDuplicateMergePostgres(t *testing.T) {
	derivedFiguresDuplicateMerge(t, "postgres")
}

// derivedFiguresDuplicateMerge: merging a duplicate pair gives the winner figures covering
// both customers' orders, whatever survivorship kept of the profiles; undoing it gives each
// their own back.
func derivedFiguresDuplicateMerge(t *testing.T, engine string) {
	e := newEnv(t, engineURL(t, engine), reviewOnly)
	e.population(120)
	a := e.create(`{"first_name":"Margaret","last_name":"Thornbury","birth_date":"1971-05-14","email":"m.thornbury@example.net","address_line1":"14 Orchard Close","city":"Ipswich","postal_code":"IP1 3QT"}`)
	b := e.create(`{"first_name":"Peggy","last_name":"Thornbury","birth_date":"1971-05-14","email":"peggy.thornbury@example.org","phone":"+44 7400 123123","address_line1":"14 Orchard Close","address_line2":"Flat 2","city":"Ipswich","postal_code":"IP1 3QT"}`)
	e.till("/v1/orders", `{"customer_id":"`+a+`","order_id":"dm-1","currency":"GBP","total":19.99,"placed_at":"2026-02-01T09:00:00Z"}`)
	e.till("/v1/orders", `{"customer_id":"`+b+`","order_id":"dm-2","currency":"GBP","total":5.01,"placed_at":"2026-03-01T09:00:00Z"}`)
	own := map[string]map[string]string{
		a: {"order_count": "1", "lifetime_value": "19.99", "first_order_at": `"2026-02-01T09:00:00Z"`, "last_order_at": `"2026-02-01T09:00:00Z"`},
		b: {"order_count": "1", "lifetime_value": "5.01", "first_order_at": `"2026-03-01T09:00:00Z"`, "last_order_at": `"2026-03-01T09:00:00Z"`},
	}
	for id, w := range own {
		if got := e.figures(id); !maps.Equal(got, w) {
			t.Fatalf("before the merge, %s: got %v, want %v", id, got, w)
		}
	}
	e.scan()
	p := pairOf(e.duplicates("pending"), a, b)
	if p == nil {
		t.Fatal("the pair was not found")
	}
	if code, body := e.do(call{method: "POST", path: "/v1/duplicates/" + p.ID + "/merge", role: "admin"}); code != 200 {
		t.Fatalf("merge: got %d %s", code, body)
	}
	both := map[string]string{"order_count": "2", "lifetime_value": "25", "first_order_at": `"2026-02-01T09:00:00Z"`, "last_order_at": `"2026-03-01T09:00:00Z"`}
	if got := e.figures(a); !maps.Equal(got, both) {
		t.Fatalf("after the merge: got %v, want %v", got, both)
	}
	if code, body := e.do(call{method: "POST", path: "/v1/duplicates/" + p.ID + "/undo", role: "owner"}); code != 200 {
		t.Fatalf("undo: got %d %s", code, body)
	}
	for id, w := range own {
		if got := e.figures(id); !maps.Equal(got, w) {
			t.Fatalf("after the undo, %s: got %v, want %v", id, got, w)
		}
	}
}

func TestDerivedFiguresConcurrentSQLite(t *testing.T)   { derivedFiguresConcurrent(t, "sqlite") }
func TestDerivedFiguresConcurrentPostgres(t *testing.T) { derivedFiguresConcurrent(t, "postgres") }

// derivedFiguresConcurrent: orders for one customer arriving at once each count: a
// transaction never writes figures computed without an order another one committed.
func derivedFiguresConcurrent(t *testing.T, engine string) {
	e := newEnv(t, engineURL(t, engine))
	id := e.identified("busy")
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			_, err := e.app.Ingest.RecordOrder(authz.WithActor(context.Background(), authz.System), "till",
				ingest.TillOrder{CustomerID: id, OrderID: fmt.Sprintf("busy-%d", i), Currency: "EUR", Total: 1.10})
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got := e.figures(id)
	if got["order_count"] != "8" || got["lifetime_value"] != "8.8" {
		t.Fatalf("after %d orders at once: got %v", n, got)
	}
}
