package postgres

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// newRecord is a customer claiming the e-mail token it is indexed under.
func newRecord(n int, token int64) *customer.Record {
	now := time.Now().UTC()
	id := fmt.Sprintf("0190a000-0000-7000-8000-%012d", n)
	return &customer.Record{ID: id, Version: 1, MasterVersion: 1, Key: []byte("k-" + id),
		Sealed: map[string][]byte{"email": []byte("ct-" + id)}, Index: []customer.IndexEntry{{Field: "email", Token: token}},
		Claims: []customer.Claim{{Field: "email", Token: token}}, CreatedAt: now, UpdatedAt: now}
}

// TestCreatesSharedAcrossNodes: creates on three nodes at once, each node's sharing
// transactions, all stand, each with its audit entry, and the trail they wrote together
// verifies; creates claiming one new address on every node at once make one customer.
func TestCreatesSharedAcrossNodes(t *testing.T) {
	ctx := authz.WithActor(context.Background(), authz.System)
	const nodes, each = 3, 40
	dbs, key := sealingNodes(t, nodes)
	var wg sync.WaitGroup
	errs := make([]error, nodes*each)
	for n, db := range dbs {
		for i := 0; i < each; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := n*each + i
				r := newRecord(k, int64(1000+k))
				errs[k] = db.Customers().CreateCustomer(ctx, r, []audit.Entry{audit.New(ctx, audit.ActionCustomerCreate, r.ID, nil, "")})
			}()
		}
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			t.Fatalf("create %d: %v", k, err)
		}
	}
	var customers, entries int
	if err := dbs[0].Read().QueryRow(`SELECT (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM audit_log WHERE action = $1)`, audit.ActionCustomerCreate).Scan(&customers, &entries); err != nil {
		t.Fatal(err)
	}
	if customers != nodes*each || entries != nodes*each {
		t.Fatalf("got %d customers and %d create entries, want %d of each", customers, entries, nodes*each)
	}
	svc, err := audit.NewService(dbs[0].Audit(), catalog.Default(), key.Public().(ed25519.PublicKey), audit.HeadKey(key), 5)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := svc.Verify(ctx); err != nil || rep.Entries != nodes*each {
		t.Fatalf("trail written by %d nodes: %+v, %v; want %d entries verified", nodes, rep, err, nodes*each)
	}

	// One new address claimed on every node at once, several times on each.
	for i := range errs {
		errs[i] = nil
	}
	for n, db := range dbs {
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[n*4+i] = db.Customers().CreateCustomer(ctx, newRecord(10_000+n*4+i, 77), nil)
			}()
		}
	}
	wg.Wait()
	stood := 0
	for _, err := range errs[:nodes*4] {
		if err == nil {
			stood++
		}
	}
	if found, err := dbs[1].Customers().FindCustomers(ctx, "email", 77, 10); err != nil || stood != 1 || len(found) != 1 {
		t.Fatalf("%d creates of one address stood, %d customers hold it (%v); want 1 and 1", stood, len(found), err)
	}
}

// TestCreatesQueuedWhileClosing: creates in flight when the store closes each get an answer
// (stored, or refused because the store closed), none is left waiting, and every create
// answered as stored is there.
func TestCreatesQueuedWhileClosing(t *testing.T) {
	url := pgtest.URL(t)
	ctx := authz.WithActor(context.Background(), authz.System)
	db, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Customers().CreateCustomer(ctx, newRecord(i, int64(5000+i)), nil)
		}()
		if i == n/2 {
			go db.Close()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("creates still waiting a minute after the store closed")
	}
	again, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for i, err := range errs {
		if err != nil {
			continue
		}
		if _, err := again.Customers().GetCustomer(ctx, newRecord(i, 0).ID); err != nil {
			t.Fatalf("create %d was answered as stored but is not: %v", i, err)
		}
	}
}
