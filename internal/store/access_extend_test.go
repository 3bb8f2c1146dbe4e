package store_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/store"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/postgres"
)

// TestAccessExtendsAcrossNodes: nodes sharing one PostgreSQL append access entries, many
// callers at once, while creates on every node move the same chains' heads. A node extends
// a head it wrote in one statement only while that head is still stored; a head another node
// moved is read again. The trail they write together verifies, every entry there once, and
// the one-statement path was taken.
func TestAccessExtendsAcrossNodes(t *testing.T) {
	ctx := authz.WithActor(context.Background(), authz.System)
	url := pgtest.URL(t)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const nodes, callers, each, creates = 3, 6, 30, 40
	dbs := make([]*store.Engine, nodes)
	for i := range dbs {
		db, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		db.SetAuditSealer(&audit.Sealer{Key: key, Every: 50})
		dbs[i] = db
	}
	var wg sync.WaitGroup
	errs := make(chan error, nodes*(callers+1))
	for n, db := range dbs {
		for c := 0; c < callers; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					e := audit.New(ctx, audit.ActionCustomerRead, fmt.Sprintf("n%d-c%d-%d", n, c, i), nil, "")
					if err := db.Audit().AppendAudit(ctx, e); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < creates; i++ {
				now := time.Now()
				r := &customer.Record{ID: fmt.Sprintf("0190a000-0000-7000-8000-%06d%06d", n, i), Version: 1, MasterVersion: 1,
					Key: []byte{1}, Sealed: map[string][]byte{}, CreatedAt: now, UpdatedAt: now}
				if err := db.Customers().CreateCustomer(ctx, r, []audit.Entry{audit.New(ctx, audit.ActionCustomerCreate, r.ID, nil, "")}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var extended int64
	for _, db := range dbs {
		extended += store.AccessExtended(db)
	}
	if extended == 0 {
		t.Fatal("no flush extended a head in one statement")
	}
	svc, err := audit.NewService(dbs[0].Audit(), catalog.Default(), key.Public().(ed25519.PublicKey), audit.HeadKey(key), 50)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := svc.Verify(ctx)
	if err != nil {
		t.Fatalf("trail written by %d nodes: %v", nodes, err)
	}
	if want := int64(nodes * (callers*each + creates)); rep.Entries != want {
		t.Fatalf("got %d entries, want %d", rep.Entries, want)
	}
	var reads int
	if err := dbs[0].Write().QueryRowContext(ctx, `SELECT COUNT(DISTINCT customer_id) FROM audit_log WHERE action = $1`, audit.ActionCustomerRead).Scan(&reads); err != nil {
		t.Fatal(err)
	}
	if reads != nodes*callers*each {
		t.Fatalf("%d distinct reads recorded, want each of %d once", reads, nodes*callers*each)
	}
	t.Logf("%d flushes extended a head in one statement", extended)
}
