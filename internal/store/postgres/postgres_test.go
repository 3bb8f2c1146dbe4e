package postgres

import (
	"context"
	"os"
	"testing"

	"github.com/stewardhq/steward/internal/store"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Engine {
		db, err := Open(context.Background(), pgtest.URL(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestRestrictionsMigrate(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	storetest.RestrictionsMigrate(t, "pgx", pgtest.URL(t), ms, `LOCK TABLE schema_migrations IN EXCLUSIVE MODE`)
}

func TestSearchBlocksMigrate(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	storetest.SearchBlocksMigrate(t, "pgx", pgtest.URL(t), ms, `LOCK TABLE schema_migrations IN EXCLUSIVE MODE`, func(t *testing.T, url string) *store.Engine {
		db, err := Open(context.Background(), url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
