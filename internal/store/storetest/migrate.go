package storetest

import (
	"database/sql"
	"slices"
	"testing"

	"github.com/stewardhq/steward/internal/search"
	"github.com/stewardhq/steward/internal/store"
)

// RestrictionsMigrate: an installation that restricted a customer through a request before
// restrictions moved into the consent ledger keeps them restricted: migration 7 turns each
// row of the old restrictions table into a restriction record naming the request. driver and
// dsn open an empty database of the engine; ms are its migrations and lock its migration lock.
func RestrictionsMigrate(t *testing.T, driver, dsn string, ms []store.Migration, lock string) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var before []store.Migration
	for _, m := range ms {
		if m.Version < 7 {
			before = append(before, m)
		}
	}
	if err := store.Migrate(ctx, db, before, lock); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO customers (id, version, master_version, dkey, sealed, plain, created_at, updated_at) VALUES ('` + id(1) + `', 1, 1, '', '', '{}', 1, 1)`,
		`INSERT INTO restrictions (customer_id, request_id, created_at) VALUES ('` + id(1) + `', 'req-1', 1700000000000000)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Migrate(ctx, db, ms, lock); err != nil {
		t.Fatal(err)
	}
	var kind, source, form string
	var granted bool
	var at int64
	if err := db.QueryRow(`SELECT kind, granted, source, form_id, at FROM consent_records WHERE customer_id = $1`, id(1)).Scan(&kind, &granted, &source, &form, &at); err != nil {
		t.Fatal(err)
	}
	if kind != "restriction" || granted || source != "request" || form != "request:req-1" || at != 1700000000000000 {
		t.Fatalf("got %s granted=%v source=%s form=%s at=%d", kind, granted, source, form, at)
	}
	if _, err := db.Exec(`SELECT 1 FROM restrictions`); err == nil {
		t.Fatal("the restrictions table is still there")
	}
}

// SearchBlocksMigrate: the migration keeping search tokens' numbers in blocks turns each
// token's rows into one block per span, and what the blocks hold reads back as the rows were:
// the numbers, the bounded counts, a search over them, and a number taken out of a block the
// migration listed.
func SearchBlocksMigrate(t *testing.T, driver, dsn string, ms []store.Migration, lock string, open func(t *testing.T, dsn string) *store.Engine) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var before []store.Migration
	for _, m := range ms {
		if m.Version < 33 {
			before = append(before, m)
		}
	}
	if err := store.Migrate(ctx, db, before, lock); err != nil {
		t.Fatal(err)
	}
	want := map[int64][]int64{8: {3}}
	for n := int64(1); n <= 100; n++ {
		want[7] = append(want[7], n)
	}
	want[7] = append(want[7], 1023, 1024, 2047, 5000)
	for tok, nums := range want {
		for _, n := range nums {
			if _, err := db.Exec(`INSERT INTO search_tokens (token, num) VALUES ($1, $2)`, tok, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := store.Migrate(ctx, db, ms, lock); err != nil {
		t.Fatal(err)
	}
	var blocks int
	if err := db.QueryRow(`SELECT COUNT(*) FROM search_tokens`).Scan(&blocks); err != nil || blocks != 4 {
		t.Fatalf("got %d blocks, %v, want one per token and span: 4", blocks, err)
	}
	db.Close()

	e := open(t, dsn)
	defer e.Close()
	got, err := e.SearchPostings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || !slices.Equal(got[7], want[7]) || !slices.Equal(got[8], want[8]) {
		t.Fatalf("after the migration: got %v, want %v", got, want)
	}
	if counts, err := e.Customers().SearchCounts(ctx, []int64{7, 8, 9}, 1000); err != nil || !slices.Equal(counts, []int{104, 1, 0}) {
		t.Fatalf("got counts %v, %v", counts, err)
	}
	if counts, err := e.Customers().SearchCounts(ctx, []int64{7}, 50); err != nil || !slices.Equal(counts, []int{51}) {
		t.Fatalf("got bounded count %v, %v, want 51", counts, err)
	}
	// A list for number 50 lets its customer be found and erased: 50 leaves the listed block.
	if _, err := e.Write().Exec(`INSERT INTO customers (id, version, master_version, dkey, sealed, plain, created_at, updated_at) VALUES ($1, 1, 1, '', '', '{}', 1, 1)`, id(50)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write().Exec(`INSERT INTO search_lists (num, customer_id, tokens, merged) VALUES (50, $1, '[7]', 1)`, id(50)); err != nil {
		t.Fatal(err)
	}
	top, err := e.Customers().SearchTop(ctx, []search.Weight{{Token: 7, Weight: 1}}, []search.Weight{{Token: 8, Weight: 1}}, 100, 200)
	if err != nil || len(top) != 1 || top[0].ID != id(50) {
		t.Fatalf("got %v, %v, want the one listed customer", top, err)
	}
	if n, err := e.Rights().DeleteRows(ctx, "search_tokens", id(50)); err != nil || n != 1 {
		t.Fatalf("deleted %d, %v, want number 50 out of one block", n, err)
	}
	got, err = e.SearchPostings(ctx)
	if err != nil || len(got[7]) != 103 || slices.Contains(got[7], 50) {
		t.Fatalf("after taking 50 out: got %v, %v", got[7], err)
	}
}
