package customer

import (
	"context"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/search"
	"github.com/stewardhq/steward/internal/vault"
)

// Profiles built outside a request for one customer (tracking messages, imports) are made and
// changed in memory here and stored by the caller's own transaction, so that a batch of
// messages touching many customers commits once. Values must already be normalised (see
// Normalizer); the rules for sealing and indexing stay in this package.

// NewProfile seals a new customer holding values, which may be empty: a visitor known only by
// identifiers is still a customer, with a data key of their own for their events.
func (vt *Vault) NewProfile(ctx context.Context, values map[string]any) (*Record, *vault.DataKey, audit.Entry, error) {
	now := vt.now()
	r := &Record{ID: ident.New(), Version: 1, CreatedAt: now, UpdatedAt: now}
	dk, wk, err := vt.keys.NewDataKey(r.ID)
	if err != nil {
		return nil, nil, audit.Entry{}, problem.Wrap(problem.Internal, err, "key generation failed")
	}
	r.MasterVersion, r.Key = wk.MasterVersion, wk.Blob
	if err := vt.seal(r, dk, values); err != nil {
		return nil, nil, audit.Entry{}, err
	}
	return r, dk, audit.New(ctx, audit.ActionCustomerCreate, r.ID, sortedKeys(values), ""), nil
}

// OpenProfile decrypts r's values and opens its data key, once for both.
func (vt *Vault) OpenProfile(ctx context.Context, r *Record) (map[string]any, *vault.DataKey, error) {
	dk, err := vt.keys.OpenDataKey(ctx, r.ID, vault.WrappedKey{MasterVersion: r.MasterVersion, Blob: r.Key})
	if err != nil {
		return nil, nil, keyUnavailable(err)
	}
	values, err := openValues(r, dk)
	if err != nil {
		return nil, nil, err
	}
	return values, dk, nil
}

// Reseal replaces r's values with values sealed under dk and moves it to the next version;
// the caller stores it against the previous version.
func (vt *Vault) Reseal(r *Record, dk *vault.DataKey, values map[string]any) error {
	r.Version++
	r.UpdatedAt = vt.now()
	return vt.seal(r, dk, values)
}

// ResealChanged is Reseal for a change of the fields changed alone. When none of them is
// one the blind index or search reads (an order moving a customer's lifetime value, a
// review's rating), the record's index entries and search tokens are neither derived again
// nor rewritten (Record.IndexKept): deriving and rewriting them was a fifth of what a shop's
// order webhook cost the writer.
func (vt *Vault) ResealChanged(r *Record, dk *vault.DataKey, values map[string]any, changed []string) error {
	for _, name := range changed {
		if f, _ := vt.catalog.Field(name); f.Indexed() || search.Indexed(name) {
			return vt.Reseal(r, dk, values)
		}
	}
	r.Version++
	r.UpdatedAt = vt.now()
	return vt.sealValues(r, dk, values)
}
