package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/store"
)

// testRightsRequests: requests are stored, found by id and by token, listed by filter, and
// move from state to state only from the version last read.
func testRightsRequests(t *testing.T, db *store.Engine) {
	rs := db.Rights()
	now := clock.System()
	if err := db.Customers().CreateCustomer(ctx, record(id(1), 1), nil); err != nil {
		t.Fatal(err)
	}
	mk := func(n int, typ string, due time.Time) *rights.Request {
		return &rights.Request{ID: id(100 + n), Type: typ, State: rights.StateReceived, CustomerID: id(1), Jurisdiction: "gdpr",
			Source: "staff", Version: 1, DueAt: due, CreatedAt: now, UpdatedAt: now,
			ContactHash: []byte{byte(n)}, TokenHash: []byte{0xAA, byte(n)}, TokenExpires: now.Add(time.Hour), OpenedBy: "key:opener"}
	}
	a, e := mk(1, rights.TypeAccess, now.Add(24*time.Hour)), mk(2, rights.TypeErasure, now.Add(-time.Hour))
	for _, r := range []*rights.Request{a, e} {
		if err := rs.CreateRequest(ctx, r, []audit.Entry{entry("rights.request_create", id(1))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rs.CreateRequest(ctx, mk(1, rights.TypeAccess, now), nil); !problem.Is(err, problem.Conflict) {
		t.Fatalf("got %v for a repeated id, want Conflict", err)
	}
	got, err := rs.GetRequest(ctx, a.ID)
	if err != nil || got.Type != rights.TypeAccess || got.State != rights.StateReceived || !got.DueAt.Equal(a.DueAt) || got.Version != 1 ||
		got.OpenedBy != "key:opener" {
		t.Fatalf("got %+v, %v, want the access request as stored", got, err)
	}
	if _, err := rs.GetRequest(ctx, id(999)); !problem.Is(err, problem.NotFound) {
		t.Fatalf("got %v for an unknown id, want NotFound", err)
	}
	if got, err := rs.RequestByToken(ctx, e.TokenHash); err != nil || got.ID != e.ID {
		t.Fatalf("got %+v, %v by token, want the erasure request", got, err)
	}

	// A transition from the version read wins once; a second from the same version conflicts.
	next := *got
	next.State, next.Version, next.VerifiedAt = rights.StateVerified, got.Version+1, now
	if err := rs.UpdateRequest(ctx, &next, got.Version, []audit.Entry{entry("rights.request_verify", id(1))}); err != nil {
		t.Fatal(err)
	}
	if err := rs.UpdateRequest(ctx, &next, got.Version, nil); !problem.Is(err, problem.Conflict) {
		t.Fatalf("got %v for a stale version, want Conflict", err)
	}
	ghost := *mk(9, rights.TypeAccess, now)
	if err := rs.UpdateRequest(ctx, &ghost, 1, nil); !problem.Is(err, problem.NotFound) && !problem.Is(err, problem.Conflict) {
		t.Fatalf("got %v for an unknown request, want NotFound or Conflict", err)
	}
	// The opener stays as it was: the four-eyes rule reads it at verification.
	if got, err := rs.GetRequest(ctx, a.ID); err != nil || got.State != rights.StateVerified || got.Version != 2 || got.OpenedBy != "key:opener" {
		t.Fatalf("got %+v, %v, want the access request verified at version 2, opener kept", got, err)
	}

	list, err := rs.ListRequests(ctx, rights.RequestFilter{Type: rights.TypeErasure, Limit: 10})
	if err != nil || len(list) != 1 || list[0].ID != e.ID {
		t.Fatalf("got %v, %v listing erasures, want the one", list, err)
	}
	list, err = rs.ListRequests(ctx, rights.RequestFilter{CustomerID: id(1), Limit: 10})
	if err != nil || len(list) != 2 || list[0].ID != e.ID {
		t.Fatalf("got %v, %v listing the customer's requests, want both, earliest due first", list, err)
	}
	stats, err := rs.RequestCounts(ctx, now, now.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if stats.Overdue != 1 {
		t.Fatalf("got %+v, want one request overdue", stats)
	}
}

// testErasureLedger: an erasure is recorded once, deletes the profile with its key, and is
// listed and finished; a second erasure of the same customer changes nothing.
func testErasureLedger(t *testing.T, db *store.Engine) {
	rs := db.Rights()
	now := clock.System()
	for i := 1; i <= 3; i++ {
		if err := db.Customers().CreateCustomer(ctx, record(id(i), int64(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{2, 1} {
		e := rights.LedgerEntry{CustomerID: id(n), ErasedAt: now, Reason: "request", Hashes: []string{"email:ab"}}
		if _, err := rs.BeginErasure(ctx, e, []rights.Suppression{{Kind: "email", Hash: []byte{0xAB, byte(n)}}},
			[]audit.Entry{entry("rights.erase", id(n))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rs.BeginErasure(ctx, rights.LedgerEntry{CustomerID: id(1), ErasedAt: now}, nil, nil); !problem.Is(err, problem.Conflict) {
		t.Fatalf("got %v erasing twice, want Conflict", err)
	}
	if _, err := db.Customers().GetCustomer(ctx, id(1)); !problem.Is(err, problem.NotFound) {
		t.Fatalf("got %v reading an erased customer, want NotFound", err)
	}
	if erased, err := rs.Erased(ctx, id(1)); err != nil || !erased {
		t.Fatalf("got %v, %v, want the customer erased", erased, err)
	}
	if erased, err := rs.Erased(ctx, id(3)); err != nil || erased {
		t.Fatalf("got %v, %v, want a kept customer not erased", erased, err)
	}
	if sup, err := rs.Suppressed(ctx, "email", []byte{0xAB, 1}); err != nil || !sup {
		t.Fatalf("got %v, %v, want the hash suppressed", sup, err)
	}
	le, err := rs.LedgerEntry(ctx, id(1))
	if err != nil || le.State != rights.LedgerErasing || len(le.Hashes) != 1 || !le.ErasedAt.Equal(now) {
		t.Fatalf("got %+v, %v, want the erasing entry as recorded", le, err)
	}
	if _, err := rs.LedgerEntry(ctx, id(3)); !problem.Is(err, problem.NotFound) {
		t.Fatalf("got %v for a customer never erased, want NotFound", err)
	}
	report := rights.Report{CustomerID: id(1), Complete: true, KeyShredded: true, Tables: []rights.Outcome{{Table: "customers", Deleted: 1}}}
	if err := rs.FinishErasure(ctx, id(1), report, now, []audit.Entry{entry("rights.erase_complete", id(1))}); err != nil {
		t.Fatal(err)
	}
	if le, err := rs.LedgerEntry(ctx, id(1)); err != nil || le.State != rights.LedgerErased {
		t.Fatalf("got %+v, %v, want the entry erased", le, err)
	}
	all, err := rs.LedgerEntries(ctx, "", 10)
	if err != nil || len(all) != 2 || all[0].CustomerID != id(1) || all[1].CustomerID != id(2) {
		t.Fatalf("got %v, %v, want both entries by id", all, err)
	}
	page, err := rs.LedgerEntries(ctx, id(1), 10)
	if err != nil || len(page) != 1 || page[0].CustomerID != id(2) {
		t.Fatalf("got %v, %v after the first id, want the second entry", page, err)
	}
}

// testErasureMergeTree: the tree of a merged-in customer is listed from its top, every customer
// before those merged into it; a customer others are still merged into is not erased (its row
// would take the links, the only record of whose their rows are), and nothing changes; once
// they are erased, it is.
func testErasureMergeTree(t *testing.T, db *store.Engine) {
	rs := db.Rights()
	now := clock.System()
	for i := 701; i <= 704; i++ {
		if err := db.Customers().CreateCustomer(ctx, record(id(i), int64(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	// 702 and 703 merged into 701, 704 into 702; 701 then stands at the top.
	ms := []ingest.Merge{
		{ID: id(801), Winner: id(701), Loser: id(702), Reason: "test", CreatedAt: now},
		{ID: id(802), Winner: id(701), Loser: id(703), Reason: "test", CreatedAt: now},
		{ID: id(803), Winner: id(702), Loser: id(704), Reason: "test", CreatedAt: now},
	}
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error { return tx.AddMerges(ctx, ms) })
	root, tree, err := rs.MergeTree(ctx, id(704))
	if err != nil || root != id(701) || len(tree) != 4 || tree[0] != id(701) || slices.Index(tree, id(702)) > slices.Index(tree, id(704)) {
		t.Fatalf("merge tree: got %s %v %v", root, tree, err)
	}
	if sub, err := rs.MergedInto(ctx, id(702)); err != nil || !slices.Equal(sub, []string{id(704)}) {
		t.Fatalf("merged into: got %v %v", sub, err)
	}
	if sub, err := rs.MergedInto(ctx, id(799)); err != nil || len(sub) != 0 {
		t.Fatalf("merged into a customer without a row: got %v %v", sub, err)
	}
	begin := func(n int) error {
		_, err := rs.BeginErasure(ctx, rights.LedgerEntry{CustomerID: id(n), ErasedAt: now, Reason: "request"}, nil, []audit.Entry{entry("rights.erase", id(n))})
		return err
	}
	for _, n := range []int{701, 702} {
		if err := begin(n); !errors.Is(err, rights.ErrMergedInto) {
			t.Fatalf("erasing %d with customers merged into it: got %v, want ErrMergedInto", n, err)
		}
		if _, err := rs.LedgerEntry(ctx, id(n)); !problem.Is(err, problem.NotFound) {
			t.Fatalf("a refused erasure left a ledger entry: %v", err)
		}
		if _, err := db.Customers().GetCustomer(ctx, id(n)); err != nil {
			t.Fatalf("a refused erasure changed the customer: %v", err)
		}
	}
	for _, n := range []int{704, 703, 702, 701} {
		if err := begin(n); err != nil {
			t.Fatalf("erasing %d: %v", n, err)
		}
	}
	if _, tree, err := rs.MergeTree(ctx, id(701)); !problem.Is(err, problem.NotFound) {
		t.Fatalf("merge tree after the erasure: got %v %v", tree, err)
	}
}
