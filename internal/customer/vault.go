package customer

import (
	"context"
	"errors"
	"log/slog"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
)

// Vault is privileged access to customer profiles: it seals, opens, normalises and purges
// without a role check and without an audit entry of its own. The domains that hold it (ingest,
// the importer, rights, duplicates, consent, retention) write their own audit entries for what
// they do with it, in the transaction that does it; adapters never hold it, so no handler can
// decrypt a profile except through the audited Service.
type Vault struct {
	store   Store
	keys    Keys
	catalog *catalog.Catalog
	norm    *Normalizer
	ledger  ErasureLedger
	now     clock.Clock
	log     *slog.Logger
	stats   Stats
}

// VaultDeps is what a Vault is built from.
type VaultDeps struct {
	Store   Store
	Keys    Keys
	Catalog *catalog.Catalog
	Norm    *Normalizer
	// Ledger turns NotFound for erased ids into Gone.
	Ledger ErasureLedger
	// Clock stamps creation and change times; nil is the system clock.
	Clock clock.Clock
	// Log receives the id of each customer whose profile does not decrypt (see Skip); nil
	// discards.
	Log *slog.Logger
}

// NewVault builds the vault; every dependency but the clock is required.
func NewVault(c VaultDeps) (*Vault, error) {
	switch {
	case c.Store == nil:
		return nil, errors.New("customer vault: no store")
	case c.Keys == nil:
		return nil, errors.New("customer vault: no keys")
	case c.Catalog == nil:
		return nil, errors.New("customer vault: no catalog")
	case c.Norm == nil:
		return nil, errors.New("customer vault: no normaliser")
	case c.Ledger == nil:
		return nil, errors.New("customer vault: no erasure ledger")
	}
	log := c.Log
	if log == nil {
		log = discardLog
	}
	return &Vault{store: c.Store, keys: c.Keys, catalog: c.Catalog, norm: c.Norm, ledger: c.Ledger, now: clock.Or(c.Clock), log: log}, nil
}

// Normalizer is the vault's value normaliser, so that callers validate values exactly as the
// profiles they write will.
func (vt *Vault) Normalizer() *Normalizer { return vt.norm }

// Record returns one stored customer, sealed. Returns Gone for an erased id and NotFound for
// an unknown one.
func (vt *Vault) Record(ctx context.Context, id string) (*Record, error) {
	if !ident.Valid(id) {
		return nil, problem.InvalidField("customer_id", "is not a valid customer id")
	}
	r, err := vt.store.GetCustomer(ctx, id)
	if err != nil {
		return nil, vt.missing(ctx, id, err)
	}
	return r, nil
}

// Records returns the stored customers among ids, sealed, in no particular order.
func (vt *Vault) Records(ctx context.Context, ids []string) ([]*Record, error) {
	return vt.store.CustomersByID(ctx, ids)
}

// Page returns up to limit customers with id greater than after, by id, sealed: the walk of
// retention and rotation.
func (vt *Vault) Page(ctx context.Context, after string, limit int) ([]*Record, error) {
	return vt.store.ListCustomers(ctx, after, limit)
}
