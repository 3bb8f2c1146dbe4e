package storetest

import (
	"database/sql"
	"testing"

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
