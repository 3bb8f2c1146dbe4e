package auth_test

import (
	"os"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/auth"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/store/enginetest"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// engines are the database engines every test runs against.
var engines = enginetest.Engines

// stores is what the tests need of a database.
type stores struct {
	Keys  auth.Store
	Audit audit.Store
	// Files is the directory that holds every file of the database, for tests that look at
	// what is at rest; "" when the engine's files are shared with other tests.
	Files string
}

// openStore opens an empty, migrated database of engine that lives as long as the test.
func openStore(t *testing.T, engine string) stores {
	db, dir := enginetest.Open(t, engine)
	return stores{Keys: db.APIKeys(), Audit: db.Audit(), Files: dir}
}

// mustService builds the key service, failing the test if it is refused.
func mustService(t testing.TB, st auth.Store, as audit.Store, cat *catalog.Catalog, cacheFor time.Duration) *auth.Service {
	t.Helper()
	s, err := auth.New(st, as, cat, cacheFor)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
