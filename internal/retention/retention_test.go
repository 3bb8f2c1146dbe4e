package retention_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/retention"
)

var sys = authz.WithActor(context.Background(), authz.System)

const day = 24 * time.Hour

// service is a retention service over e whose clock reads start+after.
func (e env) service(t *testing.T, start time.Time, after time.Duration, inactive string) *retention.Service {
	t.Helper()
	var r catalog.Retention
	if inactive != "" {
		var err error
		if r, err = catalog.ParseRetention(inactive); err != nil {
			t.Fatal(err)
		}
	}
	s, err := retention.New(retention.Deps{Vault: e.Vault, Rights: e.Rights, Catalog: e.Catalog, Audit: e.Audit,
		Clock: func() time.Time { return start.Add(after) }}, r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e env) create(t *testing.T, fields map[string]any) string {
	t.Helper()
	v, err := e.Customers.Create(sys, fields)
	if err != nil {
		t.Fatal(err)
	}
	return v.ID
}

// stored returns the names of the fields stored for id, or "gone" when it is erased.
func (e env) stored(t *testing.T, id string) string {
	t.Helper()
	r, err := e.Records.GetCustomer(context.Background(), id)
	if problem.Is(err, problem.NotFound) {
		return "gone"
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for f := range r.Sealed {
		names = append(names, f)
	}
	for f := range r.Plain {
		names = append(names, f)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// snapshot is what every one of ids holds, to prove a plan changes nothing.
func (e env) snapshot(t *testing.T, ids []string) string {
	t.Helper()
	var b strings.Builder
	for _, id := range ids {
		r, err := e.Records.GetCustomer(context.Background(), id)
		fmt.Fprintf(&b, "%s %v", id, err)
		if err == nil {
			fmt.Fprintf(&b, " v%d %s %s", r.Version, r.UpdatedAt, e.stored(t, id))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func samePlan(a, b retention.Plan) bool {
	a.At, b.At = time.Time{}, time.Time{}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// people are the customers each scenario starts with.
type people struct{ ip, device, held, plain string }

func seed(t *testing.T, e env) (people, []string) {
	t.Helper()
	p := people{
		ip:     e.create(t, map[string]any{"email": "ip@example.com", "ip_address": "203.0.113.9"}),
		device: e.create(t, map[string]any{"email": "device@example.com", "device_id": "dev-1", "ip_address": "203.0.113.10"}),
		held:   e.create(t, map[string]any{"email": "held@example.com", "ip_address": "203.0.113.11"}),
		plain:  e.create(t, map[string]any{"email": "plain@example.com"}),
	}
	if _, err := e.Rights.SetHold(sys, p.held, "tax inspection"); err != nil {
		t.Fatal(err)
	}
	return p, []string{p.ip, p.device, p.held, p.plain}
}

// TestPlanEqualsRun: for each clock and inactivity setting, planning changes nothing, the run
// does exactly what the plan said, a hold stops everything, and afterwards nothing is left
// to do but the held customer.
func TestPlanEqualsRun(t *testing.T) {
	tests := []struct {
		name     string
		after    time.Duration
		inactive string
		want     retention.Plan
		stored   map[string]string // by person: ip, device, held, plain
	}{
		{"nothing due", 10 * day, "", retention.Plan{Scanned: 4, Fields: map[string]int64{}},
			map[string]string{"ip": "email,ip_address", "device": "device_id,email,ip_address", "held": "email,ip_address", "plain": "email"}},
		{"ip addresses due", 100 * day, "", retention.Plan{Scanned: 4, Fields: map[string]int64{"ip_address": 2}, Held: 1},
			map[string]string{"ip": "email", "device": "device_id,email", "held": "email,ip_address", "plain": "email"}},
		{"device ids due too", 400 * day, "", retention.Plan{Scanned: 4, Fields: map[string]int64{"ip_address": 2, "device_id": 1}, Held: 1},
			map[string]string{"ip": "email", "device": "email", "held": "email,ip_address", "plain": "email"}},
		{"inactive not yet", 100 * day, "1y", retention.Plan{Scanned: 4, Fields: map[string]int64{"ip_address": 2}, Held: 1},
			map[string]string{"ip": "email", "device": "device_id,email", "held": "email,ip_address", "plain": "email"}},
		{"inactive erased", 400 * day, "1y", retention.Plan{Scanned: 4, Fields: map[string]int64{}, Erase: 3, Held: 1},
			map[string]string{"ip": "gone", "device": "gone", "held": "email,ip_address", "plain": "gone"}},
		{"inactivity never", 400 * day, catalog.UntilErasure, retention.Plan{Scanned: 4, Fields: map[string]int64{"ip_address": 2, "device_id": 1}, Held: 1},
			map[string]string{"ip": "email", "device": "email", "held": "email,ip_address", "plain": "email"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := openEnv(t, "sqlite")
			p, ids := seed(t, e)
			s := e.service(t, time.Now(), tc.after, tc.inactive)
			before := e.snapshot(t, ids)
			plan, err := s.Plan(sys)
			if err != nil {
				t.Fatal(err)
			}
			if !samePlan(plan, tc.want) {
				t.Fatalf("plan: got %+v, want %+v", plan, tc.want)
			}
			if after := e.snapshot(t, ids); after != before {
				t.Fatalf("planning changed customers:\n%s\nwas\n%s", after, before)
			}
			if n := runEntries(t, e); n != 0 {
				t.Fatalf("planning wrote %d run audit entries", n)
			}
			run, err := s.Run(sys)
			if err != nil || !samePlan(run, plan) {
				t.Fatalf("run: got %+v %v, want the plan %+v", run, err, plan)
			}
			for who, id := range map[string]string{"ip": p.ip, "device": p.device, "held": p.held, "plain": p.plain} {
				if got := e.stored(t, id); got != tc.stored[who] {
					t.Errorf("%s: got %q, want %q", who, got, tc.stored[who])
				}
			}
			again, err := s.Plan(sys)
			if err != nil || len(again.Fields) != 0 || again.Erase != 0 || again.Held != plan.Held {
				t.Errorf("after the run: got %+v %v, want only the held customer", again, err)
			}
		})
	}
}

func runEntries(t *testing.T, e env) int {
	t.Helper()
	entries, err := e.Audit.ListAudit(context.Background(), audit.Filter{Action: retention.ActionRun, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestRunOnPostgres: the same rules on the other engine.
func TestRunOnPostgres(t *testing.T) {
	e := openEnv(t, "postgres")
	p, _ := seed(t, e)
	s := e.service(t, time.Now(), 400*day, "1y")
	plan, err := s.Plan(sys)
	if err != nil || plan.Erase != 3 || plan.Held != 1 {
		t.Fatalf("got %+v %v, want 3 erased and 1 held", plan, err)
	}
	if run, err := s.Run(sys); err != nil || !samePlan(run, plan) {
		t.Fatalf("run: got %+v %v, want the plan %+v", run, err, plan)
	}
	if got := e.stored(t, p.held); got != "email,ip_address" {
		t.Errorf("held customer: got %q", got)
	}
	if got := e.stored(t, p.ip); got != "gone" {
		t.Errorf("inactive customer: got %q, want gone", got)
	}
}

// TestPurgeIsNotActivity: a purge leaves the last-activity time alone, so the remaining
// fields' retention keeps counting from the customer's real activity.
func TestPurgeIsNotActivity(t *testing.T) {
	e := openEnv(t, "sqlite")
	start := time.Now()
	id := e.create(t, map[string]any{"email": "d@example.com", "device_id": "dev-9", "ip_address": "203.0.113.7"})
	r0, _ := e.Records.GetCustomer(context.Background(), id)
	if _, err := e.service(t, start, 100*day, "").Run(sys); err != nil {
		t.Fatal(err)
	}
	r1, _ := e.Records.GetCustomer(context.Background(), id)
	if !r1.UpdatedAt.Equal(r0.UpdatedAt) || e.stored(t, id) != "device_id,email" {
		t.Fatalf("after the first purge: updated %v (was %v), fields %s", r1.UpdatedAt, r0.UpdatedAt, e.stored(t, id))
	}
	plan, err := e.service(t, start, 400*day, "").Run(sys)
	if err != nil || plan.Fields["device_id"] != 1 || e.stored(t, id) != "email" {
		t.Fatalf("second purge: got %+v %v, fields %s", plan, err, e.stored(t, id))
	}
}

// TestInactiveErasureIsAnErasure: a customer erased for inactivity is gone for good, as after
// an erasure request: reads say Gone and the contact is suppressed.
func TestInactiveErasureIsAnErasure(t *testing.T) {
	e := openEnv(t, "sqlite")
	id := e.create(t, map[string]any{"email": "idle@example.com"})
	if _, err := e.service(t, time.Now(), 400*day, "1y").Run(sys); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Customers.Get(sys, id, ""); !problem.Is(err, problem.Gone) {
		t.Errorf("read after erasure: got %v, want Gone", err)
	}
	if ok, err := e.Rights.IsSuppressed(sys, "email", "idle@example.com"); !ok || err != nil {
		t.Errorf("erased contact suppressed: got %v %v, want true", ok, err)
	}
}

// TestReleasedHoldLetsRetentionAct: a hold only delays; once released the next run acts.
func TestReleasedHoldLetsRetentionAct(t *testing.T) {
	e := openEnv(t, "sqlite")
	p, _ := seed(t, e)
	s := e.service(t, time.Now(), 100*day, "")
	if _, err := s.Run(sys); err != nil {
		t.Fatal(err)
	}
	if err := e.Rights.ReleaseHold(sys, p.held); err != nil {
		t.Fatal(err)
	}
	plan, err := s.Run(sys)
	if err != nil || plan.Held != 0 || plan.Fields["ip_address"] != 1 || e.stored(t, p.held) != "email" {
		t.Fatalf("got %+v %v, fields %s; want the released customer purged", plan, err, e.stored(t, p.held))
	}
}

// TestPermissions: planning and running need requests.manage; a refused run changes nothing
// and audits no run.
func TestPermissions(t *testing.T) {
	e := openEnv(t, "sqlite")
	_, ids := seed(t, e)
	s := e.service(t, time.Now(), 400*day, "1y")
	before := e.snapshot(t, ids)
	for name, tc := range map[string]struct {
		ctx  context.Context
		want problem.Kind
	}{
		"no actor": {context.Background(), problem.Unauthenticated},
		"support":  {authz.WithActor(context.Background(), authz.Actor{ID: "s", Role: "support"}), problem.Forbidden},
		"auditor":  {authz.WithActor(context.Background(), authz.Actor{ID: "a", Role: "auditor"}), problem.Forbidden},
	} {
		if _, err := s.Plan(tc.ctx); !problem.Is(err, tc.want) {
			t.Errorf("%s plans: got %v, want %v", name, err, tc.want)
		}
		if _, err := s.Run(tc.ctx); !problem.Is(err, tc.want) {
			t.Errorf("%s runs: got %v, want %v", name, err, tc.want)
		}
	}
	if after := e.snapshot(t, ids); after != before || runEntries(t, e) != 0 {
		t.Fatalf("a refused run changed something:\n%s\nwas\n%s", after, before)
	}
	dpo := authz.WithActor(context.Background(), authz.Actor{ID: "d", Role: "dpo"})
	if _, err := s.Plan(dpo); err != nil {
		t.Errorf("dpo plans: %v", err)
	}
}

// TestRunRevealsNoData: the plan and the run's audit entry hold counts only, never a
// customer id or value.
func TestRunRevealsNoData(t *testing.T) {
	e := openEnv(t, "sqlite")
	_, ids := seed(t, e)
	plan, err := e.service(t, time.Now(), 100*day, "").Run(sys)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := e.Audit.ListAudit(context.Background(), audit.Filter{Action: retention.ActionRun, Limit: 10})
	if err != nil || len(entries) != 1 {
		t.Fatalf("got %d run entries %v, want 1", len(entries), err)
	}
	run := entries[0]
	if run.CustomerID != "" || run.Purpose != "legal_obligation" || run.ActorID != authz.System.ID {
		t.Errorf("run entry: got %+v", run)
	}
	count := regexp.MustCompile(`^[a-z_:]+=[0-9]+$`)
	for _, f := range run.Fields {
		if !count.MatchString(f) {
			t.Errorf("run entry field %q is not a count", f)
		}
	}
	if !slices.Contains(run.Fields, "purged:ip_address=2") || !slices.Contains(run.Fields, "held=1") {
		t.Errorf("run entry fields: got %q", run.Fields)
	}
	b, _ := json.Marshal([]any{plan, run})
	for _, secret := range append(ids, "example.com", "203.0.113") {
		if strings.Contains(string(b), secret) {
			t.Errorf("plan or audit names %q: %s", secret, b)
		}
	}
}

// patchingStore lets another writer change a customer just after the purge listed it.
type patchingStore struct {
	customer.Store
	once  sync.Once
	patch func()
}

func (p *patchingStore) ListCustomers(ctx context.Context, after string, limit int) ([]*customer.Record, error) {
	recs, err := p.Store.ListCustomers(ctx, after, limit)
	p.once.Do(p.patch)
	return recs, err
}

// TestChangedMeanwhileIsSkipped: a customer changed between planning its purge and doing it
// is left alone and counted as skipped; the next run looks again.
func TestChangedMeanwhileIsSkipped(t *testing.T) {
	e := openEnv(t, "sqlite")
	id := e.create(t, map[string]any{"email": "busy@example.com", "ip_address": "203.0.113.5"})
	other := e.create(t, map[string]any{"email": "quiet@example.com", "ip_address": "203.0.113.6"})
	racing, err := e.VaultOver(&patchingStore{Store: e.Records, patch: func() {
		if _, err := e.Customers.Patch(sys, id, map[string]any{"first_name": "Busy"}); err != nil {
			t.Error(err)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.Vault = racing
	s := e.service(t, time.Now(), 100*day, "")
	plan, err := s.Run(sys)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Conflicts != 1 || plan.Fields["ip_address"] != 1 {
		t.Fatalf("got %+v, want one purge and one skipped", plan)
	}
	if got := e.stored(t, id); got != "email,first_name,ip_address" {
		t.Errorf("changed customer: got %q, want it untouched by the purge", got)
	}
	if got := e.stored(t, other); got != "email" {
		t.Errorf("other customer: got %q, want purged", got)
	}
}

// TestPlanPagesThroughEveryCustomer: more customers than one page are all scanned.
func TestPlanPagesThroughEveryCustomer(t *testing.T) {
	e := openEnv(t, "sqlite")
	const n = 1001
	batch := make([]map[string]any, n)
	for i := range batch {
		batch[i] = map[string]any{"email": fmt.Sprintf("p%d@example.com", i), "ip_address": "203.0.113.1"}
	}
	if _, err := e.Customers.CreateBatch(sys, batch); err != nil {
		t.Fatal(err)
	}
	plan, err := e.service(t, time.Now(), 100*day, "").Plan(sys)
	if err != nil || plan.Scanned != n || plan.Fields["ip_address"] != n {
		t.Fatalf("got %+v %v, want %d scanned and purged", plan, err, n)
	}
}
