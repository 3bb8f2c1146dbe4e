package postgres

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
)

// sealingNodes opens n nodes on one throwaway database, each sealing the audit heads it moves
// with one shared key (returned, to verify the trail they write), as nodes of one installation
// do; they close with the test.
func sealingNodes(t *testing.T, n int) ([]*store.Engine, ed25519.PrivateKey) {
	t.Helper()
	url := pgtest.URL(t)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dbs := make([]*store.Engine, n)
	for i := range dbs {
		db, err := Open(context.Background(), url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		db.SetAuditSealer(&audit.Sealer{Key: key, Every: 5})
		dbs[i] = db
	}
	return dbs, key
}

// TestAuditSealedAcrossNodes: several nodes appending to one PostgreSQL at once each seal
// the heads they move with the key derived from the shared keyset, so the trail they write
// together verifies, every entry vouched for; one entry forged after it does not.
func TestAuditSealedAcrossNodes(t *testing.T) {
	ctx := authz.WithActor(context.Background(), authz.System)
	const nodes, each = 3, 60
	dbs, key := sealingNodes(t, nodes)
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for n, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := db.Audit().AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, fmt.Sprintf("n%d-%d", n, i), nil, "")); err != nil {
					errs <- err
					return
				}
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
	svc, err := audit.NewService(dbs[0].Audit(), catalog.Default(), key.Public().(ed25519.PublicKey), audit.HeadKey(key), 5)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := svc.Verify(ctx)
	if err != nil {
		t.Fatalf("trail written by %d nodes: %v", nodes, err)
	}
	if rep.Entries != 2*nodes*each {
		t.Fatalf("got %d entries, want %d", rep.Entries, 2*nodes*each)
	}
	// A forger with write access to the database but no key appends to the longest chain.
	var h audit.Head
	if err := dbs[1].Write().QueryRowContext(ctx, `SELECT chain, seq, hash FROM audit_heads ORDER BY seq DESC LIMIT 1`).
		Scan(&h.Chain, &h.Seq, &h.Hash); err != nil {
		t.Fatal(err)
	}
	e := audit.Entry{Time: time.Now().UTC().Truncate(time.Microsecond), ActorID: "key:forger", ActorRole: "owner",
		Action: audit.ActionCustomerRead, CustomerID: "forged", Outcome: audit.OutcomeOK}
	next := audit.Link(h, &e)
	if _, err := dbs[1].Write().ExecContext(ctx, `INSERT INTO audit_log (chain, seq, at, actor_id, actor_role, action, customer_id,
		target, fields, purpose, request_id, outcome, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, '', '[]', '', '', $8, $9, $10)`,
		e.Chain, e.Seq, e.Time.UnixMicro(), e.ActorID, e.ActorRole, e.Action, e.CustomerID, e.Outcome, e.PrevHash, e.Hash); err != nil {
		t.Fatal(err)
	}
	if _, err := dbs[1].Write().ExecContext(ctx, `UPDATE audit_heads SET seq = $1, hash = $2 WHERE chain = $3`, next.Seq, next.Hash, h.Chain); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Verify(ctx)
	// The break is named where verification first cannot vouch for the chain: the first entry
	// after the last checkpoint, or the forged entry itself when a checkpoint was due there.
	if from := h.Seq/5*5 + 1; err == nil {
		t.Fatalf("forged entry at chain %d entry %d passed", h.Chain, next.Seq)
	} else if b, ok := err.(*audit.Break); !ok || b.Chain != h.Chain || b.Seq < from || b.Seq > next.Seq {
		t.Fatalf("got %v, want a break at chain %d, entries %d to %d", err, h.Chain, from, next.Seq)
	}
}
