package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/ingest"
)

// TestCartAbandonmentDerived: a checkout with no order within --cart-abandon-after becomes
// the customer's last_cart_abandoned_at, once, through the periodic job; a checkout followed
// by an order never does. The clock is the service's, moved by the test.
func TestCartAbandonmentDerived(t *testing.T) {
	e := newEnv(t, "")
	started := time.Now().UTC().Truncate(time.Second)
	sys := authz.WithActor(context.Background(), authz.System)
	ts := started.Format(time.RFC3339)
	e.mustTrack("/v1/identify", `{"userId":"u-ada","traits":{"email":"ada@example.com"}}`)
	e.mustTrack("/v1/track", `{"event":"Checkout Started","userId":"u-ada","properties":{"checkout_id":"c1","value":99,"currency":"EUR"},"timestamp":"`+ts+`"}`)
	e.mustTrack("/v1/identify", `{"userId":"u-grace","traits":{"email":"grace@example.com"}}`)
	e.mustTrack("/v1/track", `{"event":"Checkout Started","userId":"u-grace","properties":{"checkout_id":"c2","value":5},"timestamp":"`+ts+`"}`)
	e.mustTrack("/v1/track", `{"event":"Order Completed","userId":"u-grace","properties":{"order_id":"W-2","total":5},"timestamp":"`+started.Add(10*time.Minute).Format(time.RFC3339)+`"}`)
	ada, grace := e.customerOf("ada@example.com"), e.customerOf("grace@example.com")
	field := func(id string) string {
		t.Helper()
		code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "owner"}) // mask: none
		var v struct{ Fields map[string]any }
		if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
			t.Fatalf("customer: got %d %s", code, body)
		}
		s, _ := v.Fields[ingest.CartField].(string)
		return s
	}

	e.clock.Set(30 * time.Minute) // within the hour: not abandoned yet
	if n, err := e.app.Ingest.MarkAbandonedCarts(sys); err != nil || n != 0 {
		t.Fatalf("after 30 minutes: marked %d (%v), want 0", n, err)
	}
	if got := field(ada); got != "" {
		t.Fatalf("abandoned too early: %q", got)
	}
	e.clock.Set(61 * time.Minute)
	if n, err := e.app.Ingest.MarkAbandonedCarts(sys); err != nil || n != 1 {
		t.Fatalf("after an hour: marked %d (%v), want 1", n, err)
	}
	got, err := time.Parse(time.RFC3339, field(ada))
	if err != nil || !got.Equal(started) {
		t.Fatalf("ada's %s: got %v (%v), want %v", ingest.CartField, got, err, started)
	}
	if got := field(grace); got != "" {
		t.Fatalf("a checkout followed by an order was marked abandoned: %q", got)
	}
	// Marked once: a later run changes nothing and writes no entry.
	before := len(e.auditActions(ada))
	if n, err := e.app.Ingest.MarkAbandonedCarts(sys); err != nil || n != 0 {
		t.Fatalf("second run: marked %d (%v), want 0", n, err)
	}
	actions := e.auditActions(ada)
	if len(actions) != before {
		t.Fatalf("second run wrote audit entries: %v", actions[before:])
	}
	if !strings.Contains(strings.Join(actions, " "), "customer.update:owner:") {
		t.Fatalf("the derived change is not audited: %v", actions)
	}
	// The listing agrees, on the same clock.
	code, body := e.do(call{method: "GET", path: "/v1/carts/abandoned", role: "owner"})
	if code != 200 || !strings.Contains(body, `"checkout_id":"c1"`) || strings.Contains(body, `"checkout_id":"c2"`) {
		t.Fatalf("abandoned carts: got %d %s", code, body)
	}
	// A newer abandoned checkout moves the field forward.
	later := started.Add(2 * time.Hour)
	e.mustTrack("/v1/track", `{"event":"Checkout Started","userId":"u-ada","properties":{"checkout_id":"c3","value":1},"timestamp":"`+later.Format(time.RFC3339)+`"}`)
	e.clock.Set(4 * time.Hour)
	if n, err := e.app.Ingest.MarkAbandonedCarts(sys); err != nil || n != 1 {
		t.Fatalf("third run: marked %d (%v), want 1", n, err)
	}
	if got, _ := time.Parse(time.RFC3339, field(ada)); !got.Equal(later) {
		t.Fatalf("ada's %s: got %v, want %v", ingest.CartField, got, later)
	}
}
