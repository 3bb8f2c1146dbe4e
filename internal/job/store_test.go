package job_test

import (
	"os"
	"testing"

	"github.com/stewardhq/steward/internal/job"
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

// openStore opens an empty, migrated database of engine that lives as long as the test.
func openStore(t *testing.T, engine string) job.Store {
	db, _ := enginetest.Open(t, engine)
	return db.Jobs()
}

// newRunner builds a runner, failing the test if d is refused.
func newRunner(t testing.TB, d job.RunnerDeps) *job.Runner {
	t.Helper()
	r, err := job.NewRunner(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
