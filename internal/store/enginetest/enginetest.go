// Package enginetest opens real, empty, migrated databases for the tests of the packages
// above the storage layer, on every engine Steward supports, so that each package's tests run
// against both without knowing how an engine is opened. No mocks: SQLite files in a temporary
// directory and a database on the throwaway PostgreSQL cluster of pgtest.
package enginetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stewardhq/steward/internal/store"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/postgres"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// Engines names the engines every storage-backed test runs against.
var Engines = []string{"sqlite", "postgres"}

// Open opens an empty, migrated database of engine that lives as long as the test, and the
// directory that holds all of its files (for tests that look at what is at rest), or "" when
// the engine's files are shared with other tests (PostgreSQL).
func Open(t testing.TB, engine string) (*store.Engine, string) {
	t.Helper()
	ctx := context.Background()
	var (
		db  *store.Engine
		dir string
		err error
	)
	switch engine {
	case "sqlite":
		dir = t.TempDir()
		db, err = sqlite.Open(ctx, filepath.Join(dir, "steward.db"), sqlite.Options{})
	case "postgres":
		db, err = postgres.Open(ctx, pgtest.URL(t), postgres.Options{})
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dir
}
