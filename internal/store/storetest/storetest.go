// Package storetest is the contract every storage engine must pass: the same behaviour, the
// same errors, the same audit chain, on SQLite and on PostgreSQL.
package storetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/auth"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store"
)

// Run runs the contract against databases made by open, a fresh empty one per call.
func Run(t *testing.T, open func(t *testing.T) *store.Engine) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.Engine)
	}{
		{"customers", testCustomers},
		{"update conflicts", testUpdateConflicts},
		{"blind index", testBlindIndex},
		{"list pages", testListPages},
		{"index claims", testClaims},
		{"merged reads", testMergedReads},
		{"rewrap keys", testRewrap},
		{"audit chain", testAuditChain},
		{"audit tampering", testAuditTampering},
		{"audit forged into empty chains", testAuditForgedEmpty},
		{"audit forged after the last checkpoint", testAuditForgedTail},
		{"audit forgery not sealed by the next append", testAuditForgeryNotLaundered},
		{"api keys", testAPIKeys},
		{"keyset", testKeyset},
		{"jobs", testJobs},
		{"concurrent writers", testConcurrentWriters},
		{"policies", testPolicies},
		{"consent ledger", testConsentLedger},
		{"consent batches", testConsentBatches},
		{"suppressions", testSuppressions},
		{"decision versions", testDecisionVersions},
		{"ingest message ids", testIngestMessages},
		{"ingest message ids beside the purge", testIngestClaimsBesidePurge},
		{"ingest identities and merges", testIngestIdentities},
		{"ingest events", testIngestEvents},
		{"ingest orders and carts", testIngestOrders},
		{"ingest activity", testIngestActivity},
		{"imports", testImports},
		{"duplicates", testDuplicates},
		{"rights requests", testRightsRequests},
		{"erasure ledger", testErasureLedger},
		{"erasure of a merge tree", testErasureMergeTree},
		{"search tokens", testSearchTokens},
		{"search tokens of a large batch", testSearchLargeBatch},
		{"search blocks shared by erasures at once", testSearchBlocksConcurrentErasures},
		{"search blocks under random changes", testSearchBlocksRandom},
		{"loyalty ledger", testLoyaltyLedger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := open(t)
			t.Cleanup(func() { db.Close() })
			tt.fn(t, db)
		})
	}
}

var ctx = authz.WithActor(context.Background(), authz.Actor{ID: "key:test", Role: "owner"})

func record(id string, token int64) *customer.Record {
	now := clock.System()
	return &customer.Record{
		ID: id, Version: 1, MasterVersion: 1, Key: []byte("wrapped-" + id),
		Sealed:    map[string][]byte{"email": []byte("ct-email-" + id), "first_name": {0, 1, 2, 255}},
		Plain:     map[string]json.RawMessage{"loyalty_tier": json.RawMessage(`"gold"`)},
		Index:     []customer.IndexEntry{{Field: "email", Token: token}},
		CreatedAt: now, UpdatedAt: now,
	}
}

func id(n int) string { return fmt.Sprintf("0190a000-0000-7000-8000-%012d", n) }

func entry(action, customerID string) audit.Entry {
	return audit.New(ctx, action, customerID, []string{"email"}, "")
}

func wantKind(t *testing.T, err error, k problem.Kind) {
	t.Helper()
	if got := problem.KindOf(err); err == nil || got != k {
		t.Fatalf("got %v (%v), want kind %v", err, got, k)
	}
}

func testCustomers(t *testing.T, db *store.Engine) {
	r := record(id(1), 42)
	if err := db.Customers().CreateCustomer(ctx, r, []audit.Entry{entry(audit.ActionCustomerCreate, r.ID)}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Customers().GetCustomer(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Sealed["first_name"], r.Sealed["first_name"]) || !bytes.Equal(got.Key, r.Key) ||
		string(got.Plain["loyalty_tier"]) != `"gold"` || !got.CreatedAt.Equal(r.CreatedAt) || got.Version != 1 {
		t.Fatalf("got %+v, want %+v", got, r)
	}
	wantKind(t, db.Customers().CreateCustomer(ctx, record(r.ID, 1), nil), problem.Conflict)
	_, err = db.Customers().GetCustomer(ctx, id(999))
	wantKind(t, err, problem.NotFound)
	n, err := db.Customers().CountCustomers(ctx)
	if err != nil || n != 1 {
		t.Fatalf("got %d, %v; want 1", n, err)
	}
}

func testUpdateConflicts(t *testing.T, db *store.Engine) {
	r := record(id(1), 42)
	if err := db.Customers().CreateCustomer(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	r.Version = 2
	r.Sealed["phone"] = []byte("ct-phone")
	r.Index = []customer.IndexEntry{{Field: "email", Token: 43}, {Field: "phone", Token: 7}}
	if err := db.Customers().UpdateCustomer(ctx, r, 1, []audit.Entry{entry(audit.ActionCustomerUpdate, r.ID)}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, db.Customers().UpdateCustomer(ctx, r, 1, nil), problem.Conflict)
	missing := record(id(2), 1)
	wantKind(t, db.Customers().UpdateCustomer(ctx, missing, 1, nil), problem.NotFound)
	old, _ := db.Customers().FindCustomers(ctx, "email", 42, 10)
	if len(old) != 0 {
		t.Fatalf("old index entry survived the update: %d candidates", len(old))
	}
	cur, _ := db.Customers().FindCustomers(ctx, "phone", 7, 10)
	if len(cur) != 1 || string(cur[0].Sealed["phone"]) != "ct-phone" {
		t.Fatalf("got %d candidates, want the updated customer", len(cur))
	}
}

func testBlindIndex(t *testing.T, db *store.Engine) {
	for i := 1; i <= 5; i++ {
		if err := db.Customers().CreateCustomer(ctx, record(id(i), int64(100+i%2)), nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Customers().FindCustomers(ctx, "email", 101, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("got %d candidates (%v), want 3 sharing the token", len(got), err)
	}
	got, _ = db.Customers().FindCustomers(ctx, "phone", 101, 10)
	if len(got) != 0 {
		t.Fatalf("token matched across fields: %d", len(got))
	}
}

func testListPages(t *testing.T, db *store.Engine) {
	for i := 1; i <= 7; i++ {
		if err := db.Customers().CreateCustomer(ctx, record(id(i), int64(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	after := ""
	for {
		page, err := db.Customers().ListCustomers(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			seen = append(seen, r.ID)
		}
		after = page[len(page)-1].ID
	}
	if len(seen) != 7 || seen[0] != id(1) || seen[6] != id(7) {
		t.Fatalf("got %v, want the 7 ids in order", seen)
	}
}

func testRewrap(t *testing.T, db *store.Engine) {
	for i := 1; i <= 3; i++ {
		if err := db.Customers().CreateCustomer(ctx, record(id(i), int64(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := db.Customers().CustomerKeys(ctx, "", 2)
	if err != nil || len(keys) != 2 {
		t.Fatalf("got %d keys (%v), want 2", len(keys), err)
	}
	keys[0].OldVersion, keys[0].MasterVersion, keys[0].Key = 1, 2, []byte("rewrapped")
	stale := keys[1]
	stale.OldVersion, stale.MasterVersion, stale.Key = 5, 2, []byte("stale")
	if err := db.Customers().RewrapCustomerKeys(ctx, []customer.WrappedKey{keys[0], stale}); err != nil {
		t.Fatal(err)
	}
	r, _ := db.Customers().GetCustomer(ctx, keys[0].CustomerID)
	if r.MasterVersion != 2 || string(r.Key) != "rewrapped" {
		t.Fatalf("got v%d %q, want v2 rewrapped", r.MasterVersion, r.Key)
	}
	r, _ = db.Customers().GetCustomer(ctx, stale.CustomerID)
	if r.MasterVersion != 1 {
		t.Fatal("a rewrap based on a stale read overwrote a newer key")
	}
}

func signer(t *testing.T) (*audit.Sealer, ed25519.PrivateKey) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &audit.Sealer{Key: priv, Every: 5}, priv
}

func auditService(db *store.Engine, key ed25519.PrivateKey) *audit.Service {
	svc, err := audit.NewService(db.Audit(), catalog.Default(), key.Public().(ed25519.PublicKey), audit.HeadKey(key), 0)
	if err != nil {
		panic(err) // a fresh key and the default catalog are always accepted
	}
	return svc
}

func fillAudit(t *testing.T, db *store.Engine, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := db.Audit().AppendAudit(ctx, entry(audit.ActionCustomerRead, id(i))); err != nil {
			t.Fatal(err)
		}
	}
}

func testAuditChain(t *testing.T, db *store.Engine) {
	s, pub := signer(t)
	db.SetAuditSealer(s)
	// 99 entries over at most 8 chains: some chain passes 5 entries, so a checkpoint exists.
	fillAudit(t, db, 99)
	if err := db.Customers().CreateCustomer(ctx, record(id(1), 1), []audit.Entry{entry(audit.ActionCustomerCreate, id(1))}); err != nil {
		t.Fatal(err)
	}
	rep, err := auditService(db, pub).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 100 || rep.Checkpoints == 0 {
		t.Fatalf("got %+v, want 100 entries and some checkpoints", rep)
	}
	list, err := db.Audit().ListAudit(ctx, audit.Filter{CustomerID: id(1), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Action != audit.ActionCustomerCreate {
		t.Fatalf("got %d entries (first %q), want create then read, newest first", len(list), list[0].Action)
	}
	page, _ := db.Audit().ListAudit(ctx, audit.Filter{Limit: 5, BeforeID: list[0].ID})
	if len(page) != 5 || page[0].ID >= list[0].ID {
		t.Fatalf("paging by id went wrong: %d entries", len(page))
	}
	// A failed change must not leave its audit entry behind.
	if err := db.Customers().CreateCustomer(ctx, record(id(1), 1), []audit.Entry{entry(audit.ActionCustomerCreate, id(1))}); err == nil {
		t.Fatal("duplicate create succeeded")
	}
	list, _ = db.Audit().ListAudit(ctx, audit.Filter{CustomerID: id(1), Limit: 10})
	if len(list) != 2 {
		t.Fatalf("got %d entries after a failed change, want 2", len(list))
	}
}

func testAuditTampering(t *testing.T, db *store.Engine) {
	tampers := []struct {
		name string
		sql  string
	}{
		{"edit", `UPDATE %[1]saudit_log SET purpose = 'marketing_email' WHERE id = (SELECT MIN(id) + 3 FROM %[1]saudit_log)`},
		{"delete", `DELETE FROM %[1]saudit_log WHERE id = (SELECT MIN(id) + 4 FROM %[1]saudit_log)`},
		{"delete newest", `DELETE FROM %[1]saudit_log WHERE id = (SELECT MAX(id) FROM %[1]saudit_log)`},
		{"insert", `INSERT INTO %[1]saudit_log (chain, seq, at, actor_id, actor_role, action, customer_id, target, fields, purpose, request_id, outcome, prev_hash, hash, id)
			SELECT chain, seq + 1000, at, actor_id, actor_role, action, customer_id, target, fields, purpose, request_id, outcome, prev_hash, hash, (SELECT MAX(id) + 1 FROM %[1]saudit_log) FROM %[1]saudit_log WHERE id = (SELECT MIN(id) FROM %[1]saudit_log)`},
		{"reorder", `UPDATE %[1]saudit_log SET seq = -1 WHERE id = (SELECT MIN(id) FROM %[1]saudit_log WHERE seq = 2);
			UPDATE %[1]saudit_log SET seq = 2 WHERE chain = (SELECT chain FROM %[1]saudit_log WHERE seq = -1) AND seq = 3;
			UPDATE %[1]saudit_log SET seq = 3 WHERE seq = -1`},
	}
	// Entries appended on their own land in the last audit source.
	srcs := db.AuditSources()
	last := srcs[len(srcs)-1]
	for _, tt := range tampers {
		t.Run(tt.name, func(t *testing.T) {
			for _, src := range srcs {
				for _, q := range []string{`DELETE FROM %saudit_log`, `DELETE FROM %saudit_checkpoints`} {
					if _, err := db.Write().ExecContext(ctx, fmt.Sprintf(q, src)); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := db.Write().ExecContext(ctx, fmt.Sprintf(`UPDATE %saudit_heads SET seq = 0, hash = $1`, src), audit.Genesis); err != nil {
					t.Fatal(err)
				}
			}
			s, pub := signer(t)
			db.SetAuditSealer(s)
			// Use a single chain's worth of entries per append so every chain is long enough.
			fillAudit(t, db, 60)
			if _, err := auditService(db, pub).Verify(ctx); err != nil {
				t.Fatalf("intact trail failed: %v", err)
			}
			for _, stmt := range strings.Split(fmt.Sprintf(tt.sql, last), ";") {
				if _, err := db.Write().ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			_, err := auditService(db, pub).Verify(ctx)
			var b *audit.Break
			if !errors.As(err, &b) {
				t.Fatalf("got %v, want the %s detected", err, tt.name)
			}
		})
	}
}

func testAPIKeys(t *testing.T, db *store.Engine) {
	k := auth.Key{ID: "abcd2345", Name: "till", Role: "ingest", Hint: "stw_abcd2345", CreatedAt: clock.System()}
	h := []byte("0123456789abcdef0123456789abcdef")
	if err := db.APIKeys().CreateAPIKey(ctx, k, h, []audit.Entry{entry(audit.ActionAPIKeyCreate, "")}); err != nil {
		t.Fatal(err)
	}
	got, err := db.APIKeys().APIKeyByHash(ctx, h)
	if err != nil || got.Role != "ingest" || got.RevokedAt != nil {
		t.Fatalf("got %+v, %v", got, err)
	}
	_, err = db.APIKeys().APIKeyByHash(ctx, []byte("nope"))
	wantKind(t, err, problem.NotFound)
	if err := db.APIKeys().RevokeAPIKey(ctx, k.ID, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	wantKind(t, db.APIKeys().RevokeAPIKey(ctx, k.ID, time.Now(), nil), problem.NotFound)
	got, _ = db.APIKeys().APIKeyByHash(ctx, h)
	if got.RevokedAt == nil {
		t.Fatal("revoked key reads as active")
	}
	list, err := db.APIKeys().ListAPIKeys(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("got %d keys (%v), want 1", len(list), err)
	}
}

func testKeyset(t *testing.T, db *store.Engine) {
	_, _, err := db.Keysets().LoadKeyset(ctx)
	wantKind(t, err, problem.NotFound)
	if err := db.Keysets().SaveKeyset(ctx, []byte("v1"), 20, nil, nil); err != nil {
		t.Fatal(err)
	}
	wantKind(t, db.Keysets().SaveKeyset(ctx, []byte("again"), 20, nil, nil), problem.Conflict)
	if err := db.Keysets().SaveKeyset(ctx, []byte("v2"), 20, []byte("v1"), nil); err != nil {
		t.Fatal(err)
	}
	wantKind(t, db.Keysets().SaveKeyset(ctx, []byte("v3"), 20, []byte("v1"), nil), problem.Conflict)
	blob, bits, err := db.Keysets().LoadKeyset(ctx)
	if err != nil || string(blob) != "v2" || bits != 20 {
		t.Fatalf("got %q %d %v, want v2 20", blob, bits, err)
	}
}

func testJobs(t *testing.T, db *store.Engine) {
	if err := db.Jobs().CreateJob(ctx, job.Job{ID: "j1", Kind: "k", Total: 10}); err != nil {
		t.Fatal(err)
	}
	j, err := db.Jobs().ClaimJob(ctx, []string{"k"}, "node-a", time.Now().Add(time.Minute))
	if err != nil || j.ID != "j1" || j.State != job.Running {
		t.Fatalf("got %+v, %v", j, err)
	}
	_, err = db.Jobs().ClaimJob(ctx, []string{"k"}, "node-b", time.Now().Add(time.Minute))
	wantKind(t, err, problem.NotFound)
	if err := db.Jobs().CheckpointJob(ctx, "j1", "node-a", "c5", 5, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	// node-a's lease ran out: node-b resumes from the checkpoint and node-a can no longer write.
	j, err = db.Jobs().ClaimJob(ctx, []string{"k"}, "node-b", time.Now().Add(time.Minute))
	if err != nil || j.Cursor != "c5" || j.Done != 5 {
		t.Fatalf("got %+v, %v; want resumed at c5", j, err)
	}
	wantKind(t, db.Jobs().CheckpointJob(ctx, "j1", "node-a", "c6", 6, time.Now().Add(time.Minute)), problem.Conflict)
	if err := db.Jobs().FinishJob(ctx, "j1", "node-b", job.Done, "", 10); err != nil {
		t.Fatal(err)
	}
	j, _ = db.Jobs().GetJob(ctx, "j1")
	if j.State != job.Done || j.Done != 10 {
		t.Fatalf("got %s with %d, want done with 10", j.State, j.Done)
	}

	// One job claimed by its id: not while another owner's lease lives, never once ended.
	if err := db.Jobs().CreateJob(ctx, job.Job{ID: "j2", Kind: "k", Total: 3}); err != nil {
		t.Fatal(err)
	}
	j, err = db.Jobs().ClaimJobByID(ctx, "j2", "node-a", time.Now().Add(time.Minute))
	if err != nil || j.ID != "j2" || j.State != job.Running {
		t.Fatalf("claim by id: got %+v, %v", j, err)
	}
	_, err = db.Jobs().ClaimJobByID(ctx, "j2", "node-b", time.Now().Add(time.Minute))
	wantKind(t, err, problem.Conflict)
	_, err = db.Jobs().ClaimJobByID(ctx, "nope", "node-b", time.Now().Add(time.Minute))
	wantKind(t, err, problem.NotFound)
	_, err = db.Jobs().ClaimJobByID(ctx, "j1", "node-b", time.Now().Add(time.Minute))
	wantKind(t, err, problem.Conflict)
	if err := db.Jobs().CheckpointJob(ctx, "j2", "node-a", "c2", 2, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	j, err = db.Jobs().ClaimJobByID(ctx, "j2", "node-b", time.Now().Add(time.Minute))
	if err != nil || j.Cursor != "c2" || j.Done != 2 {
		t.Fatalf("claim by id after the lease ran out: got %+v, %v; want resumed at c2", j, err)
	}
}

// testConcurrentWriters runs many writers at once, a third of them bound to fail: the failures
// change nothing (not even the audit chain) and every other write lands with its entry.
func testConcurrentWriters(t *testing.T, db *store.Engine) {
	s, pub := signer(t)
	db.SetAuditSealer(s)
	if err := db.Customers().CreateCustomer(ctx, record(id(0), 1), nil); err != nil {
		t.Fatal(err)
	}
	const n = 60
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		go func() {
			rid := id(i)
			if i%3 == 0 {
				rid = id(0) // already exists: Conflict
			}
			errs <- db.Customers().CreateCustomer(ctx, record(rid, int64(i)), []audit.Entry{entry(audit.ActionCustomerCreate, rid)})
		}()
		// Entries appended on their own, a few at a time, share transactions with the
		// creates: batched inserts must keep every chain whole and in order.
		go func() {
			es := make([]audit.Entry, 1+i%3)
			for k := range es {
				es[k] = entry(audit.ActionCustomerRead, id(i))
			}
			errs <- db.Audit().AppendAudit(ctx, es...)
		}()
	}
	failed := 0
	for i := 0; i < 2*n; i++ {
		if err := <-errs; err != nil {
			wantKind(t, err, problem.Conflict)
			failed++
		}
	}
	if failed != n/3 {
		t.Fatalf("got %d failures, want %d", failed, n/3)
	}
	count, _ := db.Customers().CountCustomers(ctx)
	if count != 1+n-n/3 {
		t.Fatalf("got %d customers, want %d", count, 1+n-n/3)
	}
	rep, err := auditService(db, pub).Verify(ctx)
	if want := int64(n - n/3 + n*2); err != nil || rep.Entries != want {
		t.Fatalf("got %+v %v, want %d intact entries", rep, err, want)
	}
}
