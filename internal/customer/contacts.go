package customer

import (
	"context"
	"encoding/json"

	"github.com/stewardhq/steward/internal/vault"
)

// contactBatch bounds how many customers ContactValues holds open at once.
const contactBatch = 1000

// ContactValues returns, for each of ids that exists, the stored values of the named text
// fields it holds, opening only those fields. It serves decisions made inside Steward, such as
// matching customers against the consent suppression list, whose callers hash the values and
// never return or store them; it checks no permission and writes no audit entry for that
// reason, and must never back a response. A customer whose profile does not decrypt is left
// out, counted and logged (see Skip), as one holding none of the fields.
func (vt *Vault) ContactValues(ctx context.Context, ids []string, fields ...string) (map[string]map[string]string, error) {
	out := make(map[string]map[string]string, len(ids))
	for start := 0; start < len(ids); start += contactBatch {
		recs, err := vt.store.CustomersByID(ctx, ids[start:min(start+contactBatch, len(ids))])
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			vals, err := vt.OpenFields(ctx, r, fields)
			if vt.Skip(ctx, r.ID, err) {
				// Left out as if it held none of the fields: see Skip.
				continue
			}
			if err != nil {
				return nil, err
			}
			out[r.ID] = vals
		}
	}
	return out, nil
}

// OpenFields decrypts just the named string fields of r, unwrapping its data key only when
// one of them is sealed. Stitching compares a blind-index candidate's address with it.
func (vt *Vault) OpenFields(ctx context.Context, r *Record, fields []string) (map[string]string, error) {
	vals := make(map[string]string, len(fields))
	var dk *vault.DataKey
	for _, name := range fields {
		var b []byte
		if plain, ok := r.Plain[name]; ok {
			b = plain
		} else if ct, ok := r.Sealed[name]; ok {
			if dk == nil {
				var err error
				if dk, err = vt.keys.OpenDataKey(ctx, r.ID, vault.WrappedKey{MasterVersion: r.MasterVersion, Blob: r.Key}); err != nil {
					return nil, keyUnavailable(err)
				}
			}
			var err error
			if b, err = dk.Open(Table, name, r.ID, ct); err != nil {
				return nil, undecryptable(err, "stored value does not open")
			}
		} else {
			continue
		}
		var v string
		if json.Unmarshal(b, &v) == nil && v != "" {
			vals[name] = v
		}
	}
	return vals, nil
}
