package ingest

import (
	"context"
	"fmt"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
)

// ImportResult counts what an import batch did.
type ImportResult struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// IDs are the customers the rows were stored as, in row order, for what is recorded
	// about them next (the consent columns of an import).
	IDs []string `json:"-"`
}

// MaxImportBatch bounds the rows of one import transaction.
const MaxImportBatch = 5000

// ImportRow is one imported row made ready outside the write transaction: its identifiers
// hashed and, in case it turns out to be a new customer, a profile already sealed under a new
// data key. Rows are prepared in parallel ahead of the single writer, so key generation and
// encryption stay out of the transaction; a prepared profile a row does not need (the
// customer exists) is dropped, and with it the key that was never stored.
type ImportRow struct {
	p   prepared
	pre *preProfile
}

// preProfile is a new customer sealed before the transaction.
type preProfile struct {
	rec    *customer.Record
	dk     *vault.DataKey
	entry  audit.Entry
	values map[string]any
}

// PrepareImport makes one imported row (normalised catalog values, as the Normalizer returns
// them) ready for ImportRows. Needs customers.write. Returns Invalid for a row without an
// identifier.
func (s *Service) PrepareImport(ctx context.Context, fields map[string]any) (*ImportRow, error) {
	s.init()
	if _, err := authz.Require(ctx, s.catalog, "customers.write"); err != nil {
		return nil, err
	}
	m := &Message{Type: TypeIdentify}
	if v, ok := fields["customer_number"].(string); ok {
		m.Context.ExternalIDs = []ExternalID{{ID: v, Type: "customer_number"}}
	}
	row := &ImportRow{p: prepared{msg: m, traits: fields, ids: s.identifiers(m, fields)}}
	if len(row.p.ids) == 0 {
		return nil, problem.InvalidField("row", "needs an identifier: email, phone or customer_number")
	}
	rec, dk, entry, err := s.vault.NewProfile(ctx, fields)
	if err != nil {
		return nil, err
	}
	row.pre = &preProfile{rec: rec, dk: dk, entry: entry, values: fields}
	return row, nil
}

// Import prepares rows and stores them (see ImportRows).
func (s *Service) Import(ctx context.Context, keyID string, rows []map[string]any) (ImportResult, error) {
	prepared := make([]*ImportRow, len(rows))
	for i, fields := range rows {
		var err error
		if prepared[i], err = s.PrepareImport(ctx, fields); err != nil {
			if problem.Is(err, problem.Invalid) {
				return ImportResult{}, problem.InvalidField(fmt.Sprintf("rows[%d]", i), "needs an identifier: email, phone or customer_number")
			}
			return ImportResult{}, err
		}
	}
	return s.ImportRows(ctx, keyID, prepared)
}

// ImportRows stores prepared rows in one transaction. Each row is matched to an existing
// customer by its identifiers (e-mail, phone, customer number) exactly as tracking messages
// are, so running the same file again finds every customer and changes nothing.
func (s *Service) ImportRows(ctx context.Context, keyID string, rows []*ImportRow) (ImportResult, error) {
	s.init()
	if _, err := authz.Require(ctx, s.catalog, "customers.write"); err != nil {
		return ImportResult{}, err
	}
	if len(rows) == 0 || len(rows) > MaxImportBatch {
		return ImportResult{}, problem.InvalidField("rows", "must hold 1 to %d rows", MaxImportBatch)
	}
	var res ImportResult
	err := s.store.IngestTx(ctx, func(ctx context.Context, tx Tx) error {
		n := len(rows)
		st := &txState{s: s, tx: tx, b: &Batch{KeyID: keyID}, holders: make(map[string]*Holder, 2*n), counts: make(map[string]map[string]int, n),
			keys: make(map[string]*vault.DataKey, n), profiles: make(map[string]*profile, n), roots: map[string]string{}, importing: true,
			idRows: make([]IdentityRow, 0, 2*n), entries: make([]audit.Entry, 0, n+1)}
		ps := make([]prepared, len(rows))
		for i, r := range rows {
			ps[i] = r.p
			ps[i].pre = r.pre
		}
		var err error
		res, err = st.importRows(ctx, ps)
		return err
	})
	return res, err
}

// ActionImport is the audit action of an import batch.
const ActionImport = "customers.import"

func (st *txState) importRows(ctx context.Context, ps []prepared) (ImportResult, error) {
	var res ImportResult
	st.now = st.s.now()
	fresh := make([]bool, len(ps))
	for i := range fresh {
		fresh[i] = true
	}
	if err := st.prefetch(ctx, ps, fresh); err != nil {
		return res, err
	}
	d := drops{}
	for i := range ps {
		before := len(st.created)
		_, root, err := st.resolve(ctx, &ps[i], d)
		if err != nil {
			return res, err
		}
		res.IDs = append(res.IDs, root)
		changed, err := st.applyTraits(ctx, root, ps[i].traits)
		if err != nil {
			return res, err
		}
		switch {
		case len(st.created) > before:
			res.Created++
		case changed:
			res.Updated++
		default:
			res.Unchanged++
		}
	}
	for i, id := range res.IDs {
		res.IDs[i] = st.rootOf(id) // a later row may have merged it
	}
	return res, st.flush(ctx, nil, nil, d)
}
