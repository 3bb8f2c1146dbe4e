package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/keys"
)

// TestRotationKeepsEverythingReadable rotates the master key with customers in place,
// interrupts the rewrap half-way, reads and looks up during it, and resumes it.
func TestRotationKeepsEverythingReadable(t *testing.T) {
	e := newEnv(t, "")
	ctx := authz.WithActor(context.Background(), authz.System)
	const n = 1200
	ids := make([]string, n)
	for i := range ids {
		v, err := e.app.Customers.Create(ctx, map[string]any{"email": fmt.Sprintf("r%d@example.com", i), "first_name": fmt.Sprintf("Name%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = v.ID
	}
	j, err := e.app.Rotator.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.app.Keys.PrimaryVersion() != 2 || j.Total != n {
		t.Fatalf("got primary v%d total %d, want v2 and %d", e.app.Keys.PrimaryVersion(), j.Total, n)
	}
	// Run one step by hand, as a node that then dies would.
	claimed, err := e.app.Store.Jobs().ClaimJob(ctx, []string{j.Kind}, "dying-node", timeNowPlus(-1))
	if err != nil {
		t.Fatal(err)
	}
	next, done, err := e.app.Rotator.Step(ctx, claimed)
	if err != nil || next == "" || done != 500 {
		t.Fatalf("first step: next %q done %d err %v", next, done, err)
	}
	if err := e.app.Store.Jobs().CheckpointJob(ctx, j.ID, "dying-node", next, done, timeNowPlus(-1)); err != nil {
		t.Fatal(err)
	}
	// Mid-rotation: old and new wrapping coexist; every read and look-up still works, and a
	// new customer gets the new master.
	checkAll(t, e, ids)
	if _, err := e.app.Customers.Create(ctx, map[string]any{"email": "new@example.com"}); err != nil {
		t.Fatal(err)
	}
	// The lease ran out: the runner resumes from the checkpoint.
	ran, err := e.app.Runner.RunOne(ctx)
	if err != nil || !ran {
		t.Fatalf("resume: ran %v err %v", ran, err)
	}
	got, _ := e.app.Store.Jobs().GetJob(ctx, j.ID)
	if got.State != job.Done || got.Done < n {
		t.Fatalf("got job %+v, want done with %d", got, n)
	}
	keys, _ := e.app.Store.Customers().CustomerKeys(ctx, "", n+10)
	for _, k := range keys {
		if k.MasterVersion != 2 {
			t.Fatalf("customer %s still under master v%d", k.CustomerID, k.MasterVersion)
		}
	}
	checkAll(t, e, ids)
	if rep, err := e.app.Audit.Verify(ctx); err != nil || rep.Checkpoints == 0 {
		t.Fatalf("audit after rotation: %+v %v", rep, err)
	}
}

func checkAll(t *testing.T, e *env, ids []string) {
	t.Helper()
	ctx := authz.WithActor(context.Background(), authz.Actor{ID: "t", Role: "support"})
	for i, id := range ids {
		if i%97 != 0 {
			continue
		}
		v, err := e.app.Customers.Get(ctx, id, "support")
		if err != nil || v.Fields["first_name"] != fmt.Sprintf("Name%d", i) {
			t.Fatalf("customer %d: %v %v", i, v.Fields, err)
		}
		found, err := e.app.Customers.Find(ctx, "email", fmt.Sprintf("r%d@example.com", i), "", 0)
		if err != nil || len(found) != 1 || found[0].ID != id {
			t.Fatalf("look-up %d: %d found, %v", i, len(found), err)
		}
	}
}

// TestMovedCiphertextFailsToOpen swaps sealed values between two customers behind Steward's
// back: the associated data binds each ciphertext to its customer, so neither opens, and the
// caller gets an internal error with no text from inside.
func TestMovedCiphertextFailsToOpen(t *testing.T) {
	e := newEnv(t, "")
	a := e.create(`{"email":"alice@example.com"}`)
	b := e.create(`{"email":"bob@example.com"}`)
	if _, err := e.app.Store.Write().Exec(`UPDATE customers SET sealed = (SELECT sealed FROM customers WHERE id = $1) WHERE id = $2`, a, b); err != nil {
		t.Fatal(err)
	}
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + b, role: "support", purpose: "support"})
	if code != 500 || strings.Contains(body, "alice") || !strings.Contains(body, `"internal error"`) {
		t.Fatalf("got %d %s, want a bare 500", code, body)
	}
}

// TestRevealMatrix checks every role against every purpose: a reveal is refused unless the
// role may reveal (or the purpose is generalised only) and act for the purpose, and then
// exactly the fields the catalog declares for the purpose come back.
func TestRevealMatrix(t *testing.T) {
	e := newEnv(t, "")
	sys := authz.WithActor(context.Background(), authz.System)
	all := map[string]any{"email": "m@example.com", "first_name": "Mia", "phone": "+44 20 7946 0000", "birth_date": "1990-01-02",
		"national_id": "AB123456C", "ip_address": "192.0.2.10", "loyalty_tier": "gold"}
	v, err := e.app.Customers.Create(sys, all)
	if err != nil {
		t.Fatal(err)
	}
	// The customer consents to every consent purpose, so this matrix is about roles and the
	// catalog alone; consent decisions have tables of their own.
	e.consentToAll(v.ID)
	cat := e.app.Catalog
	for _, role := range cat.Roles {
		if _, ok := e.keys[role.Name]; !ok {
			k, _, err := e.app.APIKeys.Create(sys, role.Name, "matrix")
			if err != nil {
				t.Fatal(err)
			}
			e.keys[role.Name] = k
		}
		for _, p := range cat.Purposes {
			code, body := e.do(call{method: "GET", path: "/v1/customers/" + v.ID, role: role.Name, purpose: p.Name})
			mayRead := cat.RoleHas(role.Name, "customers.read")
			// A generalized_only purpose shows no value in clear, so it needs no customers.reveal.
			mayReveal := mayRead && (cat.RoleHas(role.Name, "customers.reveal") || p.GeneralizedOnly) && cat.RoleMayActFor(role.Name, p.Name)
			if !mayReveal {
				if code != 403 {
					t.Errorf("%s for %s: got %d, want 403", role.Name, p.Name, code)
				}
				continue
			}
			if code != 200 {
				t.Errorf("%s for %s: got %d %s, want 200", role.Name, p.Name, code, body)
				continue
			}
			var got struct{ Revealed []string }
			_ = json.Unmarshal([]byte(body), &got)
			var want []string
			for name := range all {
				if f, _ := cat.Field(name); f.AllowsPurpose(p.Name) {
					want = append(want, name)
				}
			}
			sort.Strings(want)
			if !slices.Equal(got.Revealed, want) {
				t.Errorf("%s for %s: revealed %v, want %v", role.Name, p.Name, got.Revealed, want)
			}
			if slices.Contains(got.Revealed, "national_id") && p.Name != "legal_obligation" && p.Name != "fraud_prevention" {
				t.Errorf("national_id revealed for %s", p.Name)
			}
		}
	}
}

// TestOtherNodeSeesRotation: a second key manager over the same database, as a second node;
// after the first rotates, the second wraps new data keys with the new master once its
// keyset is stale, and opens keys the first wrapped.
func TestOtherNodeSeesRotation(t *testing.T) {
	e := newEnv(t, "")
	ctx := authz.WithActor(context.Background(), authz.System)
	root, err := openRoot(e.app.Config)
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.Open(ctx, root, e.app.Store.Keysets())
	if err != nil {
		t.Fatal(err)
	}
	other.RefreshInterval = time.Millisecond
	if _, err := e.app.Keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	_, w, err := e.app.Keys.NewDataKey("c1")
	if err != nil || w.MasterVersion != 2 {
		t.Fatalf("rotating node wraps with v%d (%v), want v2", w.MasterVersion, err)
	}
	time.Sleep(2 * time.Millisecond)
	if _, w2, err := other.NewDataKey("c2"); err != nil || w2.MasterVersion != 2 {
		t.Fatalf("other node wraps with v%d (%v) after refreshing, want v2", w2.MasterVersion, err)
	}
	if _, err := other.OpenDataKey(ctx, "c1", w); err != nil {
		t.Fatalf("other node cannot open a key wrapped by the new master: %v", err)
	}
}

// TestRewrapOnNodeThatDidNotRotate: the node that claims the rewrap job may not be the one that
// rotated; it still moves every key to the new master.
func TestRewrapOnNodeThatDidNotRotate(t *testing.T) {
	e := newEnv(t, "")
	ctx := authz.WithActor(context.Background(), authz.System)
	for i := 0; i < 3; i++ {
		if _, err := e.app.Customers.Create(ctx, map[string]any{"email": fmt.Sprintf("n%d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	root, err := openRoot(e.app.Config)
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.Open(ctx, root, e.app.Store.Keysets())
	if err != nil {
		t.Fatal(err)
	}
	j, err := e.app.Rotator.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	otherRotator := mustRotator(t, other, e.app.Store.Jobs(), e.app.Store.Customers(), e.app.Catalog)
	if next, n, err := otherRotator.Step(ctx, j); err != nil || next != "" || n != 3 {
		t.Fatalf("step: next %q n %d err %v", next, n, err)
	}
	ks, _ := e.app.Store.Customers().CustomerKeys(ctx, "", 10)
	for _, k := range ks {
		if k.MasterVersion != 2 {
			t.Fatalf("customer %s left under v%d", k.CustomerID, k.MasterVersion)
		}
	}
}

// mustRotator builds a rotator, failing the test if it is refused.
func mustRotator(t testing.TB, m *keys.Manager, jobs job.Store, ks customer.KeyStore, cat *catalog.Catalog) *keys.Rotator {
	t.Helper()
	r, err := keys.NewRotator(m, jobs, ks, cat)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
