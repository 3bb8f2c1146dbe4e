package storetest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store"
)

// ingestTx runs fn in one ingest transaction and fails the test on error.
func ingestTx(t *testing.T, db *store.Engine, fn func(ctx context.Context, tx ingest.Tx) error) {
	t.Helper()
	if err := db.Ingest().IngestTx(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

// keysOf is key n times: the key ids of n message ids of one write key.
func keysOf(key string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = key
	}
	return keys
}

func testIngestMessages(t *testing.T, db *store.Engine) {
	h1, h2, h3 := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16), bytes.Repeat([]byte{3}, 16)
	t0 := clock.System()
	window := 24 * time.Hour
	claim := func(key string, at time.Time, hs ...[]byte) []bool {
		t.Helper()
		var got []bool
		ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
			var err error
			got, err = tx.ClaimMessages(ctx, keysOf(key, len(hs)), hs, at, at.Add(-window))
			return err
		})
		return got
	}
	if got := claim("k1", t0, h1, h2, h1); !slices.Equal(got, []bool{true, true, false}) {
		t.Fatalf("first claim: got %v, want a repeat within the request to be a duplicate", got)
	}
	if got := claim("k1", t0.Add(time.Hour), h1, h3); !slices.Equal(got, []bool{false, true}) {
		t.Fatalf("retry: got %v, want [false true]", got)
	}
	if got := claim("k2", t0.Add(time.Hour), h1); !slices.Equal(got, []bool{true}) {
		t.Fatalf("another write key: got %v, want its own window", got)
	}
	if got := claim("k1", t0.Add(window+2*time.Hour), h1); !slices.Equal(got, []bool{true}) {
		t.Fatalf("after the window: got %v, want the id fresh again", got)
	}
	// A rolled-back transaction claims nothing.
	boom := problem.Invalidf("boom")
	err := db.Ingest().IngestTx(ctx, func(ctx context.Context, tx ingest.Tx) error {
		if _, err := tx.ClaimMessages(ctx, []string{"k3"}, [][]byte{h1}, t0, t0.Add(-window)); err != nil {
			return err
		}
		return boom
	})
	wantKind(t, err, problem.Invalid)
	if got := claim("k3", t0, h1); !slices.Equal(got, []bool{true}) {
		t.Fatalf("after a rollback: got %v, want the id unclaimed", got)
	}
	// An id claimed for good, as a platform's event ids are, is never older than a cutoff:
	// neither a later claim nor the purge releases it.
	lasting := func(hs ...[]byte) []bool {
		t.Helper()
		var got []bool
		ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
			var err error
			got, err = tx.ClaimMessages(ctx, keysOf("src", len(hs)), hs, ingest.LastingClaim, time.Time{})
			return err
		})
		return got
	}
	if got := lasting(h1, h2); !slices.Equal(got, []bool{true, true}) {
		t.Fatalf("lasting claim: got %v", got)
	}
	n, err := db.Ingest().PurgeIngest(ctx, t0.Add(100*window), t0, 1000)
	if err != nil || n != 5 {
		t.Fatalf("purge: deleted %d (%v), want the 5 ordinary message ids", n, err)
	}
	if got := claim("k1", t0, h2); !slices.Equal(got, []bool{true}) {
		t.Fatalf("after the purge: got %v", got)
	}
	if got := lasting(h1, h2); !slices.Equal(got, []bool{false, false}) {
		t.Fatalf("lasting ids after the purge: got %v, want both kept", got)
	}
	// The one ordinary id claimed since is all a second purge finds.
	if n, err := db.Ingest().PurgeIngest(ctx, t0.Add(100*window), t0, 1000); err != nil || n != 1 {
		t.Fatalf("second purge: deleted %d (%v), want the one ordinary id claimed since", n, err)
	}
	// One statement claims for several write keys at once: an id is claimed per key.
	var mixed []bool
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		var err error
		mixed, err = tx.ClaimMessages(ctx, []string{"m1", "m2", "m1", "k1"}, [][]byte{h3, h3, h3, h3}, t0.Add(200*window), t0.Add(199*window))
		return err
	})
	if !slices.Equal(mixed, []bool{true, true, false, true}) {
		t.Fatalf("claims of several keys: got %v, want one per key", mixed)
	}
	// Ids of several keys claimed again at once once their window has passed, beside one
	// still inside it (m2's h1, claimed just before) and one new.
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		_, err := tx.ClaimMessages(ctx, []string{"m2"}, [][]byte{h1}, t0.Add(400*window), t0.Add(399*window))
		return err
	})
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		var err error
		mixed, err = tx.ClaimMessages(ctx, []string{"m1", "m2", "k1", "m2", "m1", "m3"}, [][]byte{h3, h3, h3, h1, h3, h2},
			t0.Add(400*window+time.Hour), t0.Add(399*window+time.Hour))
		return err
	})
	if !slices.Equal(mixed, []bool{true, true, true, false, false, true}) {
		t.Fatalf("claims again of several keys: got %v, want the expired ones and the new one", mixed)
	}
}

// testIngestClaimsBesidePurge: ids received long ago, outside the window, are claimed again
// while the purge deletes expired ids, a few at a time, beside the claim: whether the purge
// deletes an id before the claim sees it, between the claim's statements or after, every id
// is claimed, none taken for a retry and dropped.
func testIngestClaimsBesidePurge(t *testing.T, db *store.Engine) {
	const ids, rounds = 192, 8
	window := 24 * time.Hour
	t0 := clock.System().Add(-3 * window)
	t1 := t0.Add(2 * window)
	for r := 0; r < rounds; r++ {
		key := fmt.Sprintf("purge-race-%d", r)
		hs := make([][]byte, ids)
		for i := range hs {
			hs[i] = bytes.Repeat([]byte{byte(r), byte(i)}, 8)
		}
		ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
			_, err := tx.ClaimMessages(ctx, keysOf(key, ids), hs, t0, t0.Add(-window))
			return err
		})
		done := make(chan struct{})
		purged := make(chan error, 1)
		go func() {
			for {
				select {
				case <-done:
					purged <- nil
					return
				default:
				}
				if _, err := db.Ingest().PurgeIngest(ctx, t1.Add(-window), t1, 4); err != nil {
					purged <- err
					return
				}
			}
		}()
		var got []bool
		ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
			var err error
			got, err = tx.ClaimMessages(ctx, keysOf(key, ids), hs, t1, t1.Add(-window))
			return err
		})
		close(done)
		if err := <-purged; err != nil {
			t.Fatal(err)
		}
		if i := slices.Index(got, false); i >= 0 {
			t.Fatalf("round %d: id %d of %d taken for a retry, while it was purged beside the claim", r, i, ids)
		}
	}
}

func testIngestIdentities(t *testing.T, db *store.Engine) {
	c1, c2, c3, missing := id(1), id(2), id(3), id(99)
	tok := func(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }
	now := clock.System()
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		if err := tx.CreateCustomers(ctx, []*customer.Record{record(c1, 1), record(c2, 2), record(c3, 3)}); err != nil {
			return err
		}
		return tx.AddIdentities(ctx, []ingest.IdentityRow{
			{Kind: ingest.KindEmail, Token: tok(1), CustomerID: c1, Sealed: []byte("ct-1"), CreatedAt: now},
			{Kind: ingest.KindAnonymousID, Token: tok(2), CustomerID: c2, Sealed: []byte("ct-2"), CreatedAt: now},
			{Kind: ingest.KindAnonymousID, Token: tok(3), CustomerID: c2, Sealed: []byte("ct-3"), CreatedAt: now},
		})
	})
	// The same identifier twice is refused, and the whole transaction with it.
	err := db.Ingest().IngestTx(ctx, func(ctx context.Context, tx ingest.Tx) error {
		return tx.AddIdentities(ctx, []ingest.IdentityRow{{Kind: ingest.KindEmail, Token: tok(1), CustomerID: c3, Sealed: []byte("x"), CreatedAt: now}})
	})
	if err == nil {
		t.Fatal("a second holder of one identifier was accepted")
	}
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		h, ok, err := tx.Identity(ctx, ingest.KindEmail, tok(1))
		if err != nil || !ok || h.CustomerID != c1 || h.Root != c1 || !bytes.Equal(h.Key, []byte("wrapped-"+c1)) || h.MasterVersion != 1 {
			t.Fatalf("identity: got %+v %v %v", h, ok, err)
		}
		if _, ok, err := tx.Identity(ctx, ingest.KindPhone, tok(1)); ok || err != nil {
			t.Fatalf("an identifier of another kind matched (%v)", err)
		}
		many, err := tx.Identities(ctx, ingest.KindAnonymousID, [][]byte{tok(2), tok(3), tok(9)})
		if err != nil || len(many) != 2 || many[string(tok(2))].CustomerID != c2 {
			t.Fatalf("identities: got %+v %v", many, err)
		}
		kinds, err := tx.IdentityKinds(ctx, []string{c1, c2}, nil)
		slices.Sort(kinds)
		if err != nil || !slices.Equal(kinds, []string{ingest.KindAnonymousID, ingest.KindAnonymousID, ingest.KindEmail}) {
			t.Fatalf("kinds: got %v %v", kinds, err)
		}
		// Each profile's indexed e-mail counts as one more identifier.
		kinds, err = tx.IdentityKinds(ctx, []string{c1, c2}, []string{ingest.KindEmail, ingest.KindPhone})
		slices.Sort(kinds)
		if err != nil || !slices.Equal(kinds, []string{ingest.KindAnonymousID, ingest.KindAnonymousID, ingest.KindEmail, ingest.KindEmail, ingest.KindEmail}) {
			t.Fatalf("kinds with the profiles' contacts: got %v %v", kinds, err)
		}
		for kind, want := range map[string]bool{ingest.KindEmail: true, ingest.KindAnonymousID: true, ingest.KindPhone: false} {
			if held, err := tx.HoldsKind(ctx, kind); err != nil || held != want {
				t.Fatalf("holds %s: got %v %v, want %v", kind, held, err, want)
			}
		}
		cands, err := tx.IndexCandidates(ctx, ingest.KindEmail, []int64{1, 3, 77})
		slices.SortFunc(cands, func(a, b ingest.IndexCandidate) int { return cmp.Compare(a.Token, b.Token) })
		if err != nil || len(cands) != 2 || cands[0].Token != 1 || cands[0].Holder.CustomerID != c1 || cands[0].Holder.Root != c1 ||
			!bytes.Equal(cands[0].Holder.Key, []byte("wrapped-"+c1)) || string(cands[0].Record.Sealed["email"]) != "ct-email-"+c1 ||
			cands[1].Token != 3 || cands[1].Record.ID != c3 {
			t.Fatalf("index candidates: got %+v %v", cands, err)
		}
		if cands, err := tx.IndexCandidates(ctx, ingest.KindPhone, []int64{1}); err != nil || len(cands) != 0 {
			t.Fatalf("index candidates of another field: got %+v %v", cands, err)
		}
		if _, err := tx.Root(ctx, missing); !problem.Is(err, problem.NotFound) {
			t.Fatalf("root of an unknown customer: got %v", err)
		}
		return nil
	})
	rows, err := db.Ingest().ListIdentities(ctx, []string{c2}, nil)
	var sealed []string
	for _, r := range rows {
		sealed = append(sealed, string(r.Sealed))
	}
	slices.Sort(sealed)
	if err != nil || !slices.Equal(sealed, []string{"ct-2", "ct-3"}) {
		t.Fatalf("list identities: got %+v %v", rows, err)
	}
	// The profile's indexed e-mail is listed too, with neither token nor seal.
	rows, err = db.Ingest().ListIdentities(ctx, []string{c2}, []string{ingest.KindEmail})
	var profile []ingest.IdentityRow
	for _, r := range rows {
		if r.Sealed == nil {
			profile = append(profile, r)
		}
	}
	if err != nil || len(rows) != 3 || len(profile) != 1 || profile[0].Kind != ingest.KindEmail || profile[0].CustomerID != c2 || profile[0].Token != nil || profile[0].CreatedAt.IsZero() {
		t.Fatalf("list identities with the profile's contacts: got %+v %v", rows, err)
	}

	// Merge c2 into c1, then c3 into c1: reads follow the links, nothing moves.
	m1 := ingest.Merge{ID: id(501), Winner: c1, Loser: c2, Reason: "identify message carried identifiers of both customers (email)", CreatedAt: now}
	m2 := ingest.Merge{ID: id(502), Winner: c1, Loser: c3, Reason: "alias", CreatedAt: now.Add(time.Second)}
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error { return tx.AddMerges(ctx, []ingest.Merge{m1, m2}) })
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		if root, err := tx.Root(ctx, c2); err != nil || root != c1 {
			t.Fatalf("root after merge: got %s %v", root, err)
		}
		tree, err := tx.Tree(ctx, c1)
		slices.Sort(tree)
		if err != nil || !slices.Equal(tree, []string{c1, c2, c3}) {
			t.Fatalf("tree: got %v %v", tree, err)
		}
		h, ok, err := tx.Identity(ctx, ingest.KindAnonymousID, tok(2))
		if err != nil || !ok || h.CustomerID != c2 || h.Root != c1 {
			t.Fatalf("holder after merge: got %+v %v", h, err)
		}
		cands, err := tx.IndexCandidates(ctx, ingest.KindEmail, []int64{3})
		if err != nil || len(cands) != 1 || cands[0].Holder.CustomerID != c3 || cands[0].Holder.Root != c1 {
			t.Fatalf("index candidate after merge: got %+v %v", cands, err)
		}
		return nil
	})
	root, tree, err := db.Ingest().CustomerTree(ctx, c3)
	if err != nil || root != c1 || len(tree) != 3 {
		t.Fatalf("customer tree: got %s %v %v", root, tree, err)
	}
	_, _, err = db.Ingest().CustomerTree(ctx, missing)
	wantKind(t, err, problem.NotFound)
	ms, err := db.Ingest().ListMerges(ctx, []string{c2})
	if err != nil || len(ms) != 1 || ms[0].ID != m1.ID || ms[0].Reason != m1.Reason || ms[0].UndoneAt != nil || !ms[0].CreatedAt.Equal(now) {
		t.Fatalf("merges: got %+v %v", ms, err)
	}
	before := auditCount(t, db)
	undoAt := now.Add(time.Minute)
	undone, err := db.Ingest().UndoMerge(ctx, m1.ID, undoAt, func(m ingest.Merge) []audit.Entry { return []audit.Entry{entry(ingest.ActionUnmerge, m.Winner)} }, nil)
	if err != nil || undone.UndoneAt == nil || !undone.UndoneAt.Equal(undoAt) {
		t.Fatalf("undo: got %+v %v", undone, err)
	}
	if auditCount(t, db) != before+1 {
		t.Fatal("the undo wrote no audit entry")
	}
	_, err = db.Ingest().UndoMerge(ctx, m1.ID, undoAt, func(ingest.Merge) []audit.Entry { return nil }, nil)
	wantKind(t, err, problem.Conflict)
	_, err = db.Ingest().UndoMerge(ctx, id(999), undoAt, func(ingest.Merge) []audit.Entry { return nil }, nil)
	wantKind(t, err, problem.NotFound)
	if root, tree, err := db.Ingest().CustomerTree(ctx, c2); err != nil || root != c2 || len(tree) != 1 {
		t.Fatalf("after undo: got %s %v %v, want c2 on its own", root, tree, err)
	}
	if root, tree, _ := db.Ingest().CustomerTree(ctx, c1); root != c1 || len(tree) != 2 {
		t.Fatalf("after undo: c1's tree is %v, want c1 and c3", tree)
	}
}

func testIngestEvents(t *testing.T, db *store.Engine) {
	c1, c2 := id(1), id(2)
	t0 := clock.System()
	ev := func(c, typ, name string, at time.Time, exp time.Time) ingest.EventRow {
		return ingest.EventRow{CustomerID: c, KeyID: "k1", Type: typ, Name: name, Category: "engagement", At: at, ReceivedAt: t0, ExpiresAt: exp,
			Plain: []byte(`{"properties":{"plan":"pro"}}`), Sealed: []byte{0, 1, 2, 255}}
	}
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		if err := tx.CreateCustomers(ctx, []*customer.Record{record(c1, 1), record(c2, 2)}); err != nil {
			return err
		}
		evs := []ingest.EventRow{ev(c1, "track", "Signed Up", t0, time.Time{}), ev(c1, "page", "", t0.Add(time.Second), t0.Add(time.Hour)), ev(c2, "track", "Signed Up", t0, time.Time{})}
		for i := 0; i < 250; i++ { // more than one multi-row statement
			evs = append(evs, ev(c2, "page", "", t0.Add(time.Duration(i)*time.Millisecond), t0.Add(time.Minute)))
		}
		return tx.InsertEvents(ctx, evs)
	})
	// Many events are stored inside their batch's transaction (on PostgreSQL by COPY): a batch
	// that fails after storing them leaves none, and one naming a customer nobody holds is
	// refused whole.
	for _, tc := range []struct {
		name     string
		customer string
		after    error
	}{{"a later step fails", c2, errors.New("later step failed")}, {"an unknown customer", id(99), nil}} {
		err := db.Ingest().IngestTx(ctx, func(ctx context.Context, tx ingest.Tx) error {
			evs := make([]ingest.EventRow, 200)
			for i := range evs {
				evs[i] = ev(c2, "track", "Rolled Back", t0, time.Time{})
			}
			evs[150].CustomerID = tc.customer
			if err := tx.InsertEvents(ctx, evs); err != nil {
				return err
			}
			return tc.after
		})
		if err == nil {
			t.Fatalf("%s: the batch was stored", tc.name)
		}
		if left, _ := db.Ingest().ListEvents(ctx, []string{c2}, ingest.EventFilter{Name: "Rolled Back", Limit: 10}); len(left) != 0 {
			t.Fatalf("%s: %d of the batch's events stayed", tc.name, len(left))
		}
	}
	all, err := db.Ingest().ListEvents(ctx, []string{c1}, ingest.EventFilter{Limit: 10})
	if err != nil || len(all) != 2 || all[0].Type != "page" || all[0].ID <= all[1].ID {
		t.Fatalf("events: got %d (%v), want 2 newest first", len(all), err)
	}
	got := all[1]
	if got.Name != "Signed Up" || !got.At.Equal(t0) || !got.ExpiresAt.IsZero() || string(got.Plain) != `{"properties":{"plan":"pro"}}` ||
		!bytes.Equal(got.Sealed, []byte{0, 1, 2, 255}) || !bytes.Equal(got.Key, []byte("wrapped-"+c1)) || got.KeyID != "k1" || got.Category != "engagement" {
		t.Fatalf("event read back as %+v", got)
	}
	if !all[0].ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("expiry read back as %v", all[0].ExpiresAt)
	}
	for _, tt := range []struct {
		f    ingest.EventFilter
		want int
	}{
		{ingest.EventFilter{Type: "track"}, 2},
		{ingest.EventFilter{Name: "Signed Up"}, 2},
		{ingest.EventFilter{Category: "nope"}, 0},
		{ingest.EventFilter{Since: t0.Add(time.Second)}, 1},
		{ingest.EventFilter{Until: t0.Add(time.Millisecond)}, 3},
		{ingest.EventFilter{BeforeID: all[0].ID}, 0},
	} {
		tt.f.Limit = 1000
		evs, err := db.Ingest().ListEvents(ctx, []string{c1, c2}, tt.f)
		if tt.f.BeforeID > 0 {
			// Paging returns only older events.
			for _, e := range evs {
				if e.ID >= tt.f.BeforeID {
					t.Fatalf("page holds event %d, not before %d", e.ID, tt.f.BeforeID)
				}
			}
			continue
		}
		if err != nil || len(evs) != tt.want {
			t.Errorf("filter %+v: got %d (%v), want %d", tt.f, len(evs), err, tt.want)
		}
	}
	// Retention: the purge deletes expired events only, a bounded number at a time.
	n, err := db.Ingest().PurgeIngest(ctx, t0.Add(-time.Hour), t0.Add(2*time.Minute), 100)
	if err != nil || n != 100 {
		t.Fatalf("purge: deleted %d (%v), want the bound of 100", n, err)
	}
	for {
		n, err := db.Ingest().PurgeIngest(ctx, t0.Add(-time.Hour), t0.Add(2*time.Minute), 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	left, _ := db.Ingest().ListEvents(ctx, []string{c1, c2}, ingest.EventFilter{Limit: 1000})
	if len(left) != 3 {
		t.Fatalf("after the purge: %d events, want the 3 not yet expired", len(left))
	}
	// Drops count up by name.
	for i := 0; i < 2; i++ {
		ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
			return tx.AddDrops(ctx, "k1", map[string]int64{"undeclared:trait.colour": 2, "pii:title": 1})
		})
	}
	d, err := db.Ingest().Drops(ctx, "k1")
	if err != nil || d["undeclared:trait.colour"] != 4 || d["pii:title"] != 2 || len(d) != 2 {
		t.Fatalf("drops: got %v %v", d, err)
	}
}

func testIngestOrders(t *testing.T, db *store.Engine) {
	c1, c2 := id(1), id(2)
	t0 := clock.System().Add(-3 * time.Hour)
	items := []ingest.OrderItem{{SKU: "MUG", Price: 10, Quantity: 3}}
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		if err := tx.CreateCustomers(ctx, []*customer.Record{record(c1, 1), record(c2, 2)}); err != nil {
			return err
		}
		return tx.AddOrders(ctx, []ingest.OrderChange{
			{Kind: ingest.CheckoutStarted, CustomerID: c1, CheckoutID: "co-1", At: t0, Currency: "EUR", Items: items},
			{Kind: ingest.CheckoutStarted, CustomerID: c2, CheckoutID: "co-2", At: t0, Total: 7, Currency: "GBP"},
			{Kind: ingest.OrderCompleted, CustomerID: c1, OrderID: "o-1", At: t0.Add(time.Minute), Currency: "EUR", Total: 30, Tax: 5, Items: items},
			{Kind: ingest.OrderCompleted, CustomerID: c2, OrderID: "o-2", At: t0.Add(-time.Hour), Currency: "GBP", Total: 8},
			{Kind: ingest.OrderRefunded, CustomerID: c1, OrderID: "o-1", At: t0.Add(2 * time.Minute), Total: 10, Reason: "return", Items: items[:1]},
			{Kind: ingest.OrderCancelled, CustomerID: c2, OrderID: "o-2", At: t0.Add(3 * time.Minute)},
			{Kind: ingest.ProductReviewed, CustomerID: c1, At: t0, Review: &ingest.Review{ProductID: "MUG", Rating: 5}},
		})
	})
	// Re-sending an order updates it rather than adding one.
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		return tx.AddOrders(ctx, []ingest.OrderChange{{Kind: ingest.OrderUpdated, CustomerID: c1, OrderID: "o-1", At: t0.Add(4 * time.Minute), Currency: "EUR", Total: 30, Items: items}})
	})
	os, err := db.Ingest().ListOrders(ctx, []string{c1}, 10)
	if err != nil || len(os) != 1 {
		t.Fatalf("orders: got %d (%v), want 1", len(os), err)
	}
	o := os[0]
	if o.OrderID != "o-1" || o.Status != "partially_refunded" || o.Total != 30 || o.Refunded != 10 || len(o.Items) != 1 || o.Items[0].Quantity != 3 ||
		len(o.Refunds) != 1 || o.Refunds[0].Kind != "return" || o.Refunds[0].Amount != 10 {
		t.Fatalf("order read back as %+v", o)
	}
	os, _ = db.Ingest().ListOrders(ctx, []string{c2}, 10)
	if len(os) != 1 || os[0].Status != "cancelled" {
		t.Fatalf("cancelled order read back as %+v", os)
	}
	if c, err := db.Ingest().OrderCustomer(ctx, "o-2"); err != nil || c != c2 {
		t.Fatalf("order customer: got %s %v", c, err)
	}
	_, err = db.Ingest().OrderCustomer(ctx, "nope")
	wantKind(t, err, problem.NotFound)

	// c1's checkout was followed by an order; c2's order came before its checkout.
	carts, err := db.Ingest().AbandonedCarts(ctx, t0.Add(time.Hour), 10)
	if err != nil || len(carts) != 1 || carts[0].CustomerID != c2 || carts[0].CheckoutID != "co-2" || carts[0].Value != 7 || carts[0].Currency != "GBP" {
		t.Fatalf("abandoned carts: got %+v %v", carts, err)
	}
	if carts, _ := db.Ingest().AbandonedCarts(ctx, t0, 10); len(carts) != 0 {
		t.Fatalf("a checkout not yet old enough is listed: %+v", carts)
	}
	mark := func() []ingest.AbandonedCart {
		var got []ingest.AbandonedCart
		ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
			var err error
			got, err = tx.AbandonCarts(ctx, t0.Add(time.Hour), t0.Add(2*time.Hour), 10)
			return err
		})
		return got
	}
	if got := mark(); len(got) != 1 || got[0].CheckoutID != "co-2" || !got[0].StartedAt.Equal(t0) {
		t.Fatalf("marking: got %+v", got)
	}
	if got := mark(); len(got) != 0 {
		t.Fatalf("a cart was marked twice: %+v", got)
	}
}

func testImports(t *testing.T, db *store.Engine) {
	imp := importer.Import{ID: id(7), ActorID: "key:abc", ActorRole: "admin", Spec: importer.Spec{Map: []string{"E-mail=email"}, Consent: []string{"News=marketing_email"}, PolicyVersion: "v1"},
		MasterVersion: 1, SpoolKey: []byte{9, 8, 7}, Size: 1234, RowsTotal: 10, CreatedAt: clock.System()}
	before := auditCount(t, db)
	if err := db.Imports().CreateImport(ctx, imp, job.Job{ID: imp.ID, Kind: importer.JobKind, Total: 10}, []audit.Entry{entry(importer.ActionImportStart, "")}); err != nil {
		t.Fatal(err)
	}
	if auditCount(t, db) != before+1 {
		t.Fatal("creating an import wrote no audit entry")
	}
	got, err := db.Imports().GetImport(ctx, imp.ID)
	if err != nil || got.ActorRole != "admin" || !slices.Equal(got.Spec.Consent, imp.Spec.Consent) || !bytes.Equal(got.SpoolKey, imp.SpoolKey) ||
		got.RowsTotal != 10 || !got.CreatedAt.Equal(imp.CreatedAt) {
		t.Fatalf("import read back as %+v (%v)", got, err)
	}
	j, err := db.Jobs().GetJob(ctx, imp.ID)
	if err != nil || j.State != job.Queued || j.Kind != importer.JobKind || j.Total != 10 {
		t.Fatalf("its job: %+v %v", j, err)
	}
	wantKind(t, db.Imports().CreateImport(ctx, imp, job.Job{ID: imp.ID, Kind: importer.JobKind}, nil), problem.Conflict)
	_, err = db.Imports().GetImport(ctx, id(8))
	wantKind(t, err, problem.NotFound)
	var rs []importer.Reject
	for i := 2; i < 260; i += 2 {
		rs = append(rs, importer.Reject{Row: i, Reason: "column E-mail: email: is not an e-mail address"})
	}
	for i := 0; i < 2; i++ { // a resumed run stores its rejects again
		if err := db.Imports().AddRejects(ctx, imp.ID, rs); err != nil {
			t.Fatal(err)
		}
	}
	page, err := db.Imports().ListRejects(ctx, imp.ID, 0, 100)
	if err != nil || len(page) != 100 || page[0].Row != 2 || page[99].Row != 200 || page[0].Reason != rs[0].Reason {
		t.Fatalf("rejects: got %d (%v)", len(page), err)
	}
	page, _ = db.Imports().ListRejects(ctx, imp.ID, 200, 100)
	if len(page) != 29 || page[0].Row != 202 {
		t.Fatalf("second page: got %d starting %+v", len(page), page)
	}
	// Listed newest first, with a limit.
	later := imp
	later.ID, later.CreatedAt = id(9), imp.CreatedAt.Add(time.Second)
	if err := db.Imports().CreateImport(ctx, later, job.Job{ID: later.ID, Kind: importer.JobKind, Total: 10}, nil); err != nil {
		t.Fatal(err)
	}
	list, err := db.Imports().ListImports(ctx, 10)
	if err != nil || len(list) != 2 || list[0].ID != later.ID || list[1].ID != imp.ID || !slices.Equal(list[1].Spec.Map, imp.Spec.Map) || list[1].Size != 1234 {
		t.Fatalf("import list: got %+v (%v)", list, err)
	}
	if list, _ := db.Imports().ListImports(ctx, 1); len(list) != 1 || list[0].ID != later.ID {
		t.Fatalf("import list with limit 1: got %+v", list)
	}
	// An import reserved for the node holding its file is claimed by that node only, until
	// the reservation runs out (the node died).
	for _, j := range []string{imp.ID, later.ID} {
		if err := db.Jobs().FinishJob(ctx, j, "", job.Failed, "cleared for the reservation test", 0); err != nil {
			t.Fatal(err)
		}
	}
	held := imp
	held.ID, held.CreatedAt = id(10), imp.CreatedAt.Add(2*time.Second)
	reserved := job.Job{ID: held.ID, Kind: importer.JobKind, Total: 10, Owner: "node-a", LeaseUntil: time.Now().Add(time.Hour)}
	if err := db.Imports().CreateImport(ctx, held, reserved, nil); err != nil {
		t.Fatal(err)
	}
	kinds := []string{importer.JobKind}
	_, err = db.Jobs().ClaimJob(ctx, kinds, "node-b", time.Now().Add(time.Minute))
	wantKind(t, err, problem.NotFound)
	if _, err := db.Jobs().ClaimJobByID(ctx, held.ID, "node-b", time.Now().Add(time.Minute)); err == nil {
		t.Fatal("another node claimed a reserved import by id")
	}
	if j, err := db.Jobs().ClaimJob(ctx, kinds, "node-a", time.Now().Add(time.Minute)); err != nil || j.ID != held.ID {
		t.Fatalf("the reserving node's claim: got %+v (%v)", j, err)
	}
	orphan := held
	orphan.ID, orphan.CreatedAt = id(11), imp.CreatedAt.Add(3*time.Second)
	lapsed := job.Job{ID: orphan.ID, Kind: importer.JobKind, Total: 10, Owner: "node-a", LeaseUntil: time.Now().Add(-time.Second)}
	if err := db.Imports().CreateImport(ctx, orphan, lapsed, nil); err != nil {
		t.Fatal(err)
	}
	if j, err := db.Jobs().ClaimJob(ctx, kinds, "node-b", time.Now().Add(time.Minute)); err != nil || j.ID != orphan.ID {
		t.Fatalf("a lapsed reservation: got %+v (%v), want node-b to take it", j, err)
	}

	// The consent columns of an import batch go in one transaction: all of them, or none when
	// one customer is gone.
	c1, c2, gone := id(31), id(32), id(33)
	if err := db.Customers().CreateCustomers(ctx, []*customer.Record{record(c1, 1), record(c2, 2)}, nil); err != nil {
		t.Fatal(err)
	}
	at := clock.System()
	app := func(c string) consent.Append {
		r := consentRecord(c, consent.KindConsent, "marketing_email", true, at)
		r.Source = consent.SourceImport
		return consent.Append{CustomerID: c, Records: []consent.Record{r}, Entries: []audit.Entry{entry(consent.ActionRecord, c)}}
	}
	before = auditCount(t, db)
	wantKind(t, db.Consents().AppendConsents(ctx, []consent.Append{app(c1), app(gone)}), problem.NotFound)
	if recs, _ := db.Consents().CustomerRecords(ctx, c1); len(recs) != 0 || auditCount(t, db) != before {
		t.Fatalf("a refused batch stored %d records", len(recs))
	}
	if err := db.Consents().AppendConsents(ctx, []consent.Append{app(c1), app(c2)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{c1, c2} {
		if recs, err := db.Consents().CustomerRecords(ctx, c); err != nil || len(recs) != 1 || recs[0].Source != consent.SourceImport {
			t.Fatalf("%s: got %+v %v", c, recs, err)
		}
	}
	if auditCount(t, db) != before+2 {
		t.Fatal("the batch's audit entries are missing")
	}
}
