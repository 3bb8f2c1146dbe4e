package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestLoyaltyOverTimeSQLite(t *testing.T)   { loyaltyOverTime(t, "") }
func TestLoyaltyOverTimePostgres(t *testing.T) { loyaltyOverTime(t, pgtest.URL(t)) }

// loyaltyOverTime: orders sent through tracking earn like the till's, reviews earn the
// event's points, the tier falls as the qualification window moves past the orders that
// reached it, points expire oldest first with a warning beforehand, the birthday bonus is
// credited once on the day, and erasure leaves no loyalty row behind.
func loyaltyOverTime(t *testing.T, db string) {
	e := newEnv(t, db)
	sys := authz.WithActor(context.Background(), authz.System)
	id := e.create(`{"email":"time.member@example.com","birth_date":"` + time.Now().UTC().Format("2006-01-02") + `"}`)
	e.mustTrack("/v1/track", `{"event":"Order Completed","userId":"u-time","context":{"traits":{"email":"time.member@example.com"}},"properties":{"order_id":"W-1","total":520,"currency":"GBP"}}`)
	e.mustTrack("/v1/identify", `{"userId":"u-time","traits":{"email":"time.member@example.com"}}`)
	e.mustTrack("/v1/track", `{"event":"Product Reviewed","userId":"u-time","properties":{"product_id":"MUG","rating":5}}`)
	s := e.loyalty(id)
	if s.Balance != 545 || s.Tier != "silver" {
		t.Fatalf("after a tracked order and a review: %+v", s)
	}
	if n, err := e.app.Loyalty.Birthdays(sys); err != nil || n != 1 {
		t.Fatalf("birthdays: %d %v", n, err)
	}
	if n, _ := e.app.Loyalty.Birthdays(sys); n != 0 {
		t.Fatalf("a second birthday bonus the same year: %d", n)
	}
	if s = e.loyalty(id); s.Balance != 645 || s.Statement[0].Cause != "birthday" {
		t.Fatalf("after the birthday: %+v", s)
	}
	// Thirteen months on, the order has left the window: the recompute moves the member down.
	e.clock.Advance(13 * 30 * 24 * time.Hour)
	if n, err := e.app.Loyalty.RecomputeTiers(sys); err != nil || n != 1 {
		t.Fatalf("recompute: %d %v", n, err)
	}
	s = e.loyalty(id)
	if s.Tier != "bronze" || len(s.TierHistory) != 2 || s.TierHistory[0].From != "silver" || s.TierHistory[0].To != "bronze" {
		t.Fatalf("after the window moved: %+v", s)
	}
	// A month before the points' expiry (24 months), they are announced as expiring soon.
	e.clock.Advance(10*30*24*time.Hour + 20*24*time.Hour)
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/loyalty", role: "support"})
	if code != 200 || !strings.Contains(body, `"expiring_soon":{"points":645`) {
		t.Fatalf("expiring soon: got %d %s", code, body)
	}
	e.clock.Advance(60 * 24 * time.Hour)
	if n, err := e.app.Loyalty.Expire(sys); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	if s = e.loyalty(id); s.Balance != 0 || s.Statement[0].Kind != "expire" || s.Statement[0].Points != -645 {
		t.Fatalf("after expiry: %+v", s)
	}
	if n, _ := e.app.Loyalty.Expire(sys); n != 0 {
		t.Fatalf("expired twice: %d", n)
	}
	e.ledgerInvariants()
	// Erasure removes every loyalty row of the customer.
	if _, err := e.app.Rights.Erase(sys, id, "", "asked"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"loyalty_accounts", "loyalty_entries", "loyalty_tier_changes", "loyalty_pending", "offer_exposures", "offer_redemptions"} {
		var n int
		if err := e.app.Store.Read().QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE customer_id = $1`, id).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s after erasure: %d rows (%v)", table, n, err)
		}
	}
}
