package retention_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// env holds the collaborators a retention service needs, wired as the server wires them.
type env struct {
	Customers *customer.Service
	Vault     *customer.Vault
	Records   customer.Store
	Rights    *rights.Service
	Catalog   *catalog.Catalog
	Audit     audit.Store
	// VaultOver builds a vault over another customer store, as a racing writer sees it.
	VaultOver func(customer.Store) (*customer.Vault, error)
}

// openEnv initialises a Steward on engine ("sqlite" in a temp dir, or "postgres") and wires
// it. It is the only place that knows how stores and services are constructed.
func openEnv(t *testing.T, engine string) env {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	switch engine {
	case "sqlite":
	case "postgres":
		cfg.DB = config.Secret(pgtest.URL(t))
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	if _, err := app.Init(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return env{Customers: a.Customers, Vault: a.Vault, Records: a.Store.Customers(), Rights: a.Rights, Catalog: a.Catalog, Audit: a.Store.Audit(),
		VaultOver: func(st customer.Store) (*customer.Vault, error) {
			return customer.NewVault(customer.VaultDeps{Store: st, Keys: a.Keys, Catalog: a.Catalog, Norm: a.Vault.Normalizer(), Ledger: a.Store.Rights()})
		}}
}
