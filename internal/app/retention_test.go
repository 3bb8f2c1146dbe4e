package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/retention"
)

// TestRetentionWithFakeClock: fields past their retention are purged without resetting the
// activity clock, inactive customers are erased like an erasure request, a legal hold stops
// both, the plan matches the run, and the run is audited with counts.
func TestRetentionWithFakeClock(t *testing.T) {
	e := newEnv(t, "")
	ctx := authz.WithActor(context.Background(), authz.System)
	fresh := e.create(`{"email":"fresh@example.com","ip_address":"203.0.113.9"}`)
	held := e.create(`{"email":"held@example.com","ip_address":"203.0.113.10"}`)
	idle := e.create(`{"email":"idle@example.com","device_id":"dev-1"}`)
	if _, err := e.app.Rights.SetHold(ctx, held, "tax inspection"); err != nil {
		t.Fatal(err)
	}
	r := e.app.Retention
	now := time.Now()
	e.clock.Set(100 * 24 * time.Hour) // past 90d, within 13m
	plan, err := r.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Fields["ip_address"] != 1 || plan.Held != 1 || plan.Erase != 0 || plan.Fields["device_id"] != 0 {
		t.Fatalf("plan: %+v", plan)
	}
	run, err := r.Run(ctx)
	if err != nil || run.Fields["ip_address"] != plan.Fields["ip_address"] || run.Held != plan.Held {
		t.Fatalf("run %+v differs from plan %+v (%v)", run, plan, err)
	}
	v, _ := e.app.Customers.Get(ctx, fresh, "")
	if _, ok := v.Fields["ip_address"]; ok || v.Fields["email"] == nil {
		t.Fatalf("after purge: %v", v.Fields)
	}
	if !v.UpdatedAt.Before(now) {
		t.Errorf("purge counted as activity: updated %v", v.UpdatedAt)
	}
	if h, _ := e.app.Customers.Get(ctx, held, ""); h.Fields["ip_address"] == nil {
		t.Error("held customer purged")
	}
	// A second run at the same time finds nothing left to do.
	if again, _ := r.Plan(ctx); len(again.Fields) != 0 {
		t.Errorf("second plan: %+v", again)
	}
	// Inactive for longer than the configured period: erased like an erasure request.
	inactive, _ := catalog.ParseRetention("1y")
	r, err = retention.New(retention.Deps{Vault: e.app.Vault, Rights: e.app.Rights, Catalog: e.app.Catalog, Audit: e.app.Store.Audit(),
		Clock: e.clock.Now}, inactive)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(400 * 24 * time.Hour)
	run, err = r.Run(ctx)
	if err != nil || run.Erase != 2 || run.Held != 1 {
		t.Fatalf("inactive run: %+v %v", run, err)
	}
	for _, id := range []string{fresh, idle} {
		if _, err := e.app.Customers.Get(ctx, id, ""); !problem.Is(err, problem.Gone) {
			t.Errorf("inactive customer: got %v, want Gone", err)
		}
	}
	if _, err := e.app.Customers.Get(ctx, held, ""); err != nil {
		t.Errorf("held customer erased: %v", err)
	}
	entries, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Action: "retention.run", Limit: 10})
	if len(entries) != 2 || !strings.Contains(strings.Join(entries[1].Fields, " "), "purged:ip_address=1") ||
		!strings.Contains(strings.Join(entries[0].Fields, " "), "erased=2") {
		t.Fatalf("retention audit: %+v", entries)
	}
	if ok, _ := e.app.Rights.IsSuppressed(ctx, "email", "idle@example.com"); !ok {
		t.Error("erased inactive customer not suppressed")
	}
}
