package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store"
)

// testClaims: a create that claims an index token stands only while nobody but the customers
// its creator saw holds it, including under concurrent creates of the same token.
func testClaims(t *testing.T, db *store.Engine) {
	if err := db.Customers().CreateCustomer(ctx, record(id(1), 77), nil); err != nil {
		t.Fatal(err)
	}
	claim := func(r *customer.Record, seen ...string) *customer.Record {
		r.Claims = []customer.Claim{{Field: "email", Token: r.Index[0].Token, Seen: seen}}
		return r
	}
	// id(1) holds token 77 and the creator did not see it: refused, nothing written.
	before := auditCount(t, db)
	err := db.Customers().CreateCustomer(ctx, claim(record(id(2), 77)), []audit.Entry{entry(audit.ActionCustomerCreate, id(2))})
	wantKind(t, err, problem.Conflict)
	if _, err := db.Customers().GetCustomer(ctx, id(2)); !problem.Is(err, problem.NotFound) {
		t.Fatalf("a refused create was stored: %v", err)
	}
	if auditCount(t, db) != before {
		t.Fatal("a refused create wrote its audit entry")
	}
	// The creator saw id(1) and found another value behind the shared token: it stands.
	if err := db.Customers().CreateCustomer(ctx, claim(record(id(2), 77), id(1)), nil); err != nil {
		t.Fatal(err)
	}
	// The same holds with an opt-out stored in the same transaction.
	err = db.Customers().CreateCustomerWith(ctx, claim(record(id(3), 77), id(1)), nil, consent.Append{CustomerID: id(3)})
	wantKind(t, err, problem.Conflict)

	// Many concurrent creates claiming one new token: exactly one stands, on every engine.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.Customers().CreateCustomer(ctx, claim(record(id(100+i), 555)), nil)
		}(i)
	}
	wg.Wait()
	ok := standing(t, errs)
	if got, _ := db.Customers().FindCustomers(ctx, "email", 555, 10); ok != 1 || len(got) != 1 {
		t.Fatalf("got %d creates standing and %d holders of the token, want 1 and 1", ok, len(got))
	}
	// The same with opt-outs, whose creates each take a transaction (and, on PostgreSQL, a
	// connection) of their own, so that the claims meet in the database: a few rounds, since
	// a race may take more than one to show.
	for round := 0; round < 5; round++ {
		token := int64(600 + round)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				cid := id(200 + 10*round + i)
				errs[i] = db.Customers().CreateCustomerWith(ctx, claim(record(cid, token)), nil, consent.Append{CustomerID: cid})
			}(i)
		}
		wg.Wait()
		ok = standing(t, errs)
		if got, _ := db.Customers().FindCustomers(ctx, "email", token, 10); ok != 1 || len(got) != 1 {
			t.Fatalf("round %d: got %d creates with opt-outs standing and %d holders of the token, want 1 and 1", round, ok, len(got))
		}
	}
}

// standing counts the creates that stood among concurrent ones claiming one token; every
// other must have been refused as a conflict.
func standing(t *testing.T, errs []error) int {
	t.Helper()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !problem.Is(err, problem.Conflict):
			t.Fatalf("got %v, want success or Conflict", err)
		}
	}
	return ok
}

// testMergedReads: a merged customer carries the customer it was merged into in GetCustomer
// and FindCustomers, is left out of ListUnmerged (but not ListCustomers), and stands on its
// own again once the merge is undone.
func testMergedReads(t *testing.T, db *store.Engine) {
	for i := 1; i <= 3; i++ {
		if err := db.Customers().CreateCustomer(ctx, record(id(i), 9), nil); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	m := ingest.Merge{ID: id(501), Winner: id(1), Loser: id(2), Reason: "duplicate review", CreatedAt: now}
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error { return tx.AddMerges(ctx, []ingest.Merge{m}) })

	if r, err := db.Customers().GetCustomer(ctx, id(2)); err != nil || r.MergedInto != id(1) {
		t.Fatalf("merged customer: got %+v %v, want merged into %s", r, err, id(1))
	}
	if r, _ := db.Customers().GetCustomer(ctx, id(1)); r.MergedInto != "" {
		t.Fatalf("winner: got merged into %q", r.MergedInto)
	}
	links := map[string]string{}
	cands, err := db.Customers().FindCustomers(ctx, "email", 9, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cands {
		links[r.ID] = r.MergedInto
	}
	if len(links) != 3 || links[id(2)] != id(1) || links[id(1)] != "" || links[id(3)] != "" {
		t.Fatalf("candidates: got %v", links)
	}
	list := func(fn func(context.Context, string, int) ([]*customer.Record, error)) []string {
		t.Helper()
		recs, err := fn(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		return ids
	}
	if got := list(db.Customers().ListUnmerged); len(got) != 2 || got[0] != id(1) || got[1] != id(3) {
		t.Fatalf("unmerged listing: got %v, want %s and %s", got, id(1), id(3))
	}
	if got := list(db.Customers().ListCustomers); len(got) != 3 {
		t.Fatalf("full listing: got %v, want all three", got)
	}
	if _, err := db.Ingest().UndoMerge(ctx, m.ID, now.Add(time.Minute), func(ingest.Merge) []audit.Entry { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if r, _ := db.Customers().GetCustomer(ctx, id(2)); r.MergedInto != "" {
		t.Fatalf("after undo: still merged into %q", r.MergedInto)
	}
	if got := list(db.Customers().ListUnmerged); len(got) != 3 {
		t.Fatalf("after undo: got %v, want all three", got)
	}
}
