package storetest

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/search"
	"github.com/stewardhq/steward/internal/store"
)

// postings returns the ids holding each token, sorted, as the engine weighs them.
func postings(t *testing.T, db *store.Engine, tokens ...int64) map[int64][]string {
	t.Helper()
	out := map[int64][]string{}
	for _, tok := range tokens {
		top, err := db.Customers().SearchTop(ctx, []search.Weight{{Token: tok, Weight: 1}}, nil, search.Selective, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range top {
			out[tok] = append(out[tok], c.ID)
		}
		slices.Sort(out[tok])
	}
	return out
}

// Indexed counts the numbers the search index's blocks hold for the customer id's list, the
// numbers they hold that no list has (what an erasure would leave behind by mistake) and all
// of them.
func Indexed(t *testing.T, db *store.Engine, id string) (held, orphans, total int) {
	t.Helper()
	index, err := db.SearchPostings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lists := map[int64]string{}
	rows, err := db.Write().Query(`SELECT num, customer_id FROM search_lists`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		var c string
		if err := rows.Scan(&n, &c); err != nil {
			t.Fatal(err)
		}
		lists[n] = c
	}
	for _, nums := range index {
		for _, n := range nums {
			total++
			if c, ok := lists[n]; !ok {
				orphans++
			} else if c == id {
				held++
			}
		}
	}
	return held, orphans, total
}

// testSearchTokens: search tokens are stored with creates (alone, in batches and through
// ingest), found alike while pending and once moved into the index, replaced by updates that
// carry them and kept by those that do not, replaced by a reindex only where the version read
// is still stored, found with merge links, and gone with an erasure.
func testSearchTokens(t *testing.T, db *store.Engine) {
	cs := db.Customers()
	a, b, c := record(id(1), 1), record(id(2), 2), record(id(3), 3)
	a.Search, b.Search, c.Search = []int64{100, 101}, []int64{100, 102}, []int64{103}
	if err := cs.CreateCustomer(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	if err := cs.CreateCustomers(ctx, []*customer.Record{b, c}, nil); err != nil {
		t.Fatal(err)
	}
	// The same answers from the pending lists, from the index, and from both at once.
	answers := func(stage string, holders100, holders101 []string, top []search.Weighed) {
		t.Helper()
		got := postings(t, db, 100, 101, 999)
		if !slices.Equal(got[100], holders100) || !slices.Equal(got[101], holders101) || len(got[999]) != 0 {
			t.Fatalf("%s: got postings %v", stage, got)
		}
		want := []int{min(len(holders100), 2), min(len(holders101), 2), 0}
		if counts, err := cs.SearchCounts(ctx, []int64{100, 101, 999}, 1); err != nil || !slices.Equal(counts, want) {
			t.Fatalf("%s: got counts %v, %v, want %v (counted to the bound and one more)", stage, counts, err, want)
		}
		// id(1) holds both tokens, id(2) the heavier one; a probed token adds to the holders of
		// the read ones only (103 is id(3)'s, who holds no read token).
		read := []search.Weight{{Token: 100, Weight: 1}}
		got2, err := cs.SearchTop(ctx, read, []search.Weight{{Token: 101, Weight: 0.5}, {Token: 103, Weight: 9}}, search.Selective, 10)
		if err != nil || !slices.Equal(got2, top) {
			t.Fatalf("%s: got %+v, %v, want %+v", stage, got2, err, top)
		}
		if got2, err := cs.SearchTop(ctx, read, nil, 1, 10); err != nil || len(got2) != 1 {
			t.Fatalf("%s: got %+v, %v, want one holder read", stage, got2, err)
		}
	}
	answers("pending", []string{id(1), id(2)}, []string{id(1)}, []search.Weighed{{ID: id(1), Weight: 1.5}, {ID: id(2), Weight: 1}})
	if n, err := cs.MergeSearch(ctx); err != nil || n != 3 {
		t.Fatalf("moved %d lists, %v, want 3", n, err)
	}
	if n, err := cs.MergeSearch(ctx); err != nil || n != 0 {
		t.Fatalf("moved %d lists again, %v, want none", n, err)
	}
	answers("moved", []string{id(1), id(2)}, []string{id(1)}, []search.Weighed{{ID: id(1), Weight: 1.5}, {ID: id(2), Weight: 1}})
	e := record(id(5), 5)
	e.Search = []int64{100, 101}
	if err := cs.CreateCustomer(ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	answers("mixed", []string{id(1), id(2), id(5)}, []string{id(1), id(5)},
		[]search.Weighed{{ID: id(1), Weight: 1.5}, {ID: id(5), Weight: 1.5}, {ID: id(2), Weight: 1}})
	// A pending customer's update replaces its list alone.
	e.Version, e.Search = 2, []int64{109}
	if err := cs.UpdateCustomer(ctx, e, 1, nil); err != nil {
		t.Fatal(err)
	}
	answers("updated while pending", []string{id(1), id(2)}, []string{id(1)}, []search.Weighed{{ID: id(1), Weight: 1.5}, {ID: id(2), Weight: 1}})
	if got := postings(t, db, 109); !slices.Equal(got[109], []string{id(5)}) {
		t.Fatalf("updated while pending: got %v", got)
	}

	// An update that was sealed replaces the tokens; one that was not keeps them.
	a.Version, a.Search = 2, []int64{104}
	if err := cs.UpdateCustomer(ctx, a, 1, nil); err != nil {
		t.Fatal(err)
	}
	a.Version, a.Search = 3, nil
	if err := cs.UpdateCustomer(ctx, a, 2, nil); err != nil {
		t.Fatal(err)
	}
	if got := postings(t, db, 100, 101, 104); !slices.Equal(got[100], []string{id(2)}) || len(got[101]) != 0 || !slices.Equal(got[104], []string{id(1)}) {
		t.Fatalf("after updates: got %v", got)
	}

	// Ingest writes them in its own transactions.
	d := record(id(4), 4)
	d.Search = []int64{105}
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		if err := tx.CreateCustomers(ctx, []*customer.Record{d}); err != nil {
			return err
		}
		b.Version, b.Search = 2, []int64{106}
		return tx.UpdateCustomer(ctx, b, 1)
	})
	if got := postings(t, db, 102, 105, 106); len(got[102]) != 0 || !slices.Equal(got[105], []string{id(4)}) || !slices.Equal(got[106], []string{id(2)}) {
		t.Fatalf("after ingest: got %v", got)
	}

	// A reindex replaces the tokens of the versions it read, and leaves a changed one alone.
	// d's list is pending, a's in the index (a's change writes the difference).
	stale, fresh, moved := *c, *d, *a
	stale.Version, stale.Search = 0, []int64{107}
	fresh.Search = []int64{108}
	moved.Search = []int64{104, 112}
	if n, err := cs.ReplaceSearchTokens(ctx, []*customer.Record{&stale, &fresh, &moved, record(id(9), 9)}); err != nil || n != 2 {
		t.Fatalf("got %d, %v replacing, want 2", n, err)
	}
	if got := postings(t, db, 103, 104, 105, 107, 108, 112); !slices.Equal(got[103], []string{id(3)}) || len(got[107]) != 0 || len(got[105]) != 0 ||
		!slices.Equal(got[108], []string{id(4)}) || !slices.Equal(got[104], []string{id(1)}) || !slices.Equal(got[112], []string{id(1)}) {
		t.Fatalf("after reindex: got %v", got)
	}
	if n, err := cs.MergeSearch(ctx); err != nil || n != 1 {
		t.Fatalf("moved %d lists after the reindex, %v, want e's alone", n, err)
	}

	// Candidates come with their merge links; order numbers find their customers.
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		return tx.AddMerges(ctx, []ingest.Merge{{ID: id(50), Winner: id(1), Loser: id(4), Reason: "test", CreatedAt: clock.System()}})
	})
	recs, err := cs.SearchCustomers(ctx, []string{id(1), id(4), id(9)})
	if err != nil || len(recs) != 2 {
		t.Fatalf("got %d records, %v, want 2", len(recs), err)
	}
	for _, r := range recs {
		if want := map[string]string{id(1): "", id(4): id(1)}[r.ID]; r.MergedInto != want {
			t.Errorf("%s: merged into %q, want %q", r.ID, r.MergedInto, want)
		}
	}
	if ids, err := cs.OrderCustomers(ctx, []string{"no-such-order"}); err != nil || len(ids) != 0 {
		t.Fatalf("got %v, %v for an unknown order", ids, err)
	}

	// The index state starts built on an empty database and can be marked.
	if built, err := cs.SearchIndexBuilt(ctx); err != nil || !built {
		t.Fatalf("got %v, %v, want a new database's index built", built, err)
	}
	if err := cs.MarkSearchIndexBuilt(ctx); err != nil {
		t.Fatal(err)
	}

	// Erasure leaves no token.
	if _, err := db.Rights().BeginErasure(ctx, rights.LedgerEntry{CustomerID: id(2), ErasedAt: clock.System()}, nil,
		[]audit.Entry{entry("rights.erase", id(2))}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Write().QueryRow(`SELECT COUNT(*) FROM search_lists WHERE customer_id = $1`, id(2)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("got %d lists of an erased customer, %v", n, err)
	}
	if held, orphans, _ := Indexed(t, db, id(2)); held+orphans != 0 {
		t.Fatalf("got %d tokens of an erased customer and %d without a list", held, orphans)
	}
}

// createSearchable creates n customers numbered from first in one batch, the i-th holding
// tokens(i).
func createSearchable(t *testing.T, cs *store.Customers, first, n int, tokens func(i int) []int64) {
	t.Helper()
	recs := make([]*customer.Record, n)
	for i := range recs {
		recs[i] = record(id(first+i), int64(first+i))
		recs[i].Search = tokens(i)
	}
	if err := cs.CreateCustomers(ctx, recs, nil); err != nil {
		t.Fatal(err)
	}
}

// testSearchLargeBatch: a transaction creating more customers than wait before a move writes
// their tokens into the index at once, under the numbers their lists were given; they are
// found as the pending ones are, and an erasure among them leaves none of its tokens.
func testSearchLargeBatch(t *testing.T, db *store.Engine) {
	cs := db.Customers()
	const n = 1100
	createSearchable(t, cs, 10_000, n, func(i int) []int64 { return []int64{500, 600 + int64(i%4)} })
	var pending, listed int
	if err := db.Write().QueryRow(`SELECT (SELECT COUNT(*) FROM search_lists WHERE merged = 0), (SELECT COUNT(*) FROM search_lists)`).Scan(&pending, &listed); err != nil {
		t.Fatal(err)
	}
	_, _, rows := Indexed(t, db, "")
	if pending != 0 || listed != n || rows != 2*n {
		t.Fatalf("got %d pending of %d lists and %d token rows, want none pending of %d and %d rows", pending, listed, rows, n, 2*n)
	}
	// Each customer's rows carry its own list's number: a search for one of the four second
	// tokens finds exactly the customers who hold it.
	// postings asks for the best 100 of its 275 holders.
	got := postings(t, db, 601)
	for _, g := range got[601] {
		var i int
		if _, err := fmt.Sscanf(g[len(g)-12:], "%d", &i); err != nil || (i-10_000)%4 != 1 {
			t.Fatalf("token 601 found %s, who does not hold it", g)
		}
	}
	if len(got[601]) != 100 {
		t.Fatalf("token 601 found %d customers, want 100 of its %d holders", len(got[601]), (n+2)/4)
	}
	if counts, err := cs.SearchCounts(ctx, []int64{500, 603}, 2*n); err != nil || counts[0] != n || counts[1] != n/4 {
		t.Fatalf("got counts %v, %v, want %d and %d", counts, err, n, n/4)
	}
	if _, err := db.Rights().BeginErasure(ctx, rights.LedgerEntry{CustomerID: id(10_001), ErasedAt: clock.System()}, nil,
		[]audit.Entry{entry("rights.erase", id(10_001))}); err != nil {
		t.Fatal(err)
	}
	if _, orphans, _ := Indexed(t, db, ""); orphans != 0 {
		t.Fatalf("got %d tokens without their list after an erasure", orphans)
	}
	if counts, err := cs.SearchCounts(ctx, []int64{500, 601}, 2*n); err != nil || counts[0] != n-1 || counts[1] != (n+2)/4-1 {
		t.Fatalf("after the erasure got counts %v, %v, want %d and %d", counts, err, n-1, (n+2)/4-1)
	}
}

// testSearchBlocksConcurrentErasures: customers whose numbers share the blocks of their tokens,
// erased all at once from several connections, leave no number behind and every erasure
// succeeds: each takes its number out of blocks others are rewriting too.
func testSearchBlocksConcurrentErasures(t *testing.T, db *store.Engine) {
	cs := db.Customers()
	const n = 40
	createSearchable(t, cs, 20_000, n, func(i int) []int64 { return []int64{700, 701 + int64(i%3)} })
	if _, err := cs.MergeSearch(ctx); err != nil {
		t.Fatal(err)
	}
	if held, _, _ := Indexed(t, db, id(20_000)); held != 2 {
		t.Fatalf("got %d tokens of a moved customer in the index, want 2", held)
	}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n - 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.Rights().BeginErasure(ctx, rights.LedgerEntry{CustomerID: id(20_000 + i), ErasedAt: clock.System()}, nil,
				[]audit.Entry{entry("rights.erase", id(20_000+i))})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, orphans, _ := Indexed(t, db, ""); orphans != 0 {
		t.Fatalf("got %d numbers of erased customers left in the index", orphans)
	}
	if counts, err := cs.SearchCounts(ctx, []int64{700}, 100); err != nil || counts[0] != 2 {
		t.Fatalf("got %v, %v holders of the shared token, want the two left", counts, err)
	}
}

// testSearchBlocksRandom: creates alone and in batches, changes of tokens, erasures and moves,
// in a random order over a few shared tokens, leave the index's blocks holding exactly the
// numbers of the moved lists that have each token, and the counts and searches answering for
// every list, pending or moved.
func testSearchBlocksRandom(t *testing.T, db *store.Engine) {
	cs := db.Customers()
	r := rand.New(rand.NewPCG(7, 11))
	tokens := func() []int64 {
		out := []int64{800 + int64(r.IntN(3))}
		for range r.IntN(4) {
			if tok := 810 + int64(r.IntN(40)); !slices.Contains(out, tok) {
				out = append(out, tok)
			}
		}
		return out
	}
	live := map[string]*customer.Record{}
	next := 30_000
	for step := range 300 {
		switch k := r.IntN(10); {
		case k < 4:
			n := 1 + r.IntN(20)
			recs := make([]*customer.Record, n)
			for i := range recs {
				recs[i] = record(id(next), int64(next))
				recs[i].Search = tokens()
				live[recs[i].ID] = recs[i]
				next++
			}
			if err := cs.CreateCustomers(ctx, recs, nil); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		case k < 7 && len(live) > 0:
			rec := live[slices.Sorted(maps.Keys(live))[r.IntN(len(live))]]
			rec.Version++
			rec.Search = tokens()
			if err := cs.UpdateCustomer(ctx, rec, rec.Version-1, nil); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		case k < 9 && len(live) > 0:
			gone := slices.Sorted(maps.Keys(live))[r.IntN(len(live))]
			delete(live, gone)
			if _, err := db.Rights().BeginErasure(ctx, rights.LedgerEntry{CustomerID: gone, ErasedAt: clock.System()}, nil,
				[]audit.Entry{entry("rights.erase", gone)}); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		default:
			if _, err := cs.MergeSearch(ctx); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		if step%25 != 24 {
			continue
		}
		// What the lists say the index holds, against what its blocks hold.
		want := map[int64][]int64{}
		holders := map[int64]int{}
		rows, err := db.Write().Query(`SELECT num, customer_id, tokens, merged FROM search_lists`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var num int64
			var cid, list string
			var merged int
			if err := rows.Scan(&num, &cid, &list, &merged); err != nil {
				t.Fatal(err)
			}
			rec, ok := live[cid]
			if !ok {
				t.Fatalf("step %d: a list of erased customer %s", step, cid)
			}
			for _, tok := range rec.Search {
				holders[tok]++
				if merged == 1 {
					want[tok] = append(want[tok], num)
				}
			}
		}
		rows.Close()
		got, err := db.SearchPostings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for tok := range got {
			if len(got[tok]) == 0 {
				delete(got, tok)
			}
		}
		for tok, nums := range want {
			slices.Sort(nums)
			if g := slices.Sorted(slices.Values(got[tok])); !slices.Equal(g, nums) {
				t.Fatalf("step %d: token %d's blocks hold %v, want %v", step, tok, g, nums)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("step %d: blocks of %d tokens, want %d", step, len(got), len(want))
		}
		for tok, n := range holders {
			if counts, err := cs.SearchCounts(ctx, []int64{tok}, 1000); err != nil || counts[0] != n {
				t.Fatalf("step %d: token %d counted %v, %v, want %d", step, tok, counts, err, n)
			}
		}
	}
}
