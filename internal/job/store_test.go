package job_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/postgres"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// engines are the database engines every test runs against.
var engines = []string{"sqlite", "postgres"}

// openStore opens an empty, migrated database of engine that lives as long as the test. It
// is the only place that knows how stores are constructed.
func openStore(t *testing.T, engine string) job.Store {
	t.Helper()
	ctx := context.Background()
	var (
		db  interface{ Close() error }
		st  job.Store
		err error
	)
	switch engine {
	case "sqlite":
		d, e := sqlite.Open(ctx, filepath.Join(t.TempDir(), "steward.db"), sqlite.Options{})
		if e == nil {
			db, st = d, d.Jobs()
		}
		err = e
	case "postgres":
		d, e := postgres.Open(ctx, pgtest.URL(t), postgres.Options{})
		if e == nil {
			db, st = d, d.Jobs()
		}
		err = e
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return st
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
