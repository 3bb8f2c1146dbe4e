package keys_test

import (
	"os"
	"testing"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/keys"
	"github.com/stewardhq/steward/internal/store/enginetest"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// engines are the database engines the tests that touch stored keys run against.
var engines = enginetest.Engines

// stores is what the tests need of a database.
type stores struct {
	Keyset    keys.Store
	Customers customer.Store
	DataKeys  customer.KeyStore
	Jobs      job.Store
	Audit     audit.Store
}

// openStore opens an empty, migrated database of engine that lives as long as the test.
func openStore(t *testing.T, engine string) stores {
	db, _ := enginetest.Open(t, engine)
	return stores{Keyset: db.Keysets(), Customers: db.Customers(), DataKeys: db.Customers(), Jobs: db.Jobs(), Audit: db.Audit()}
}

// mustRotator builds a rotator, failing the test if it is refused.
func mustRotator(t testing.TB, m *keys.Manager, jobs job.Store, ks customer.KeyStore, cat *catalog.Catalog) *keys.Rotator {
	t.Helper()
	r, err := keys.NewRotator(m, jobs, ks, cat)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustRunner builds a job runner, failing the test if it is refused.
func mustRunner(t testing.TB, d job.RunnerDeps) *job.Runner {
	t.Helper()
	r, err := job.NewRunner(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
