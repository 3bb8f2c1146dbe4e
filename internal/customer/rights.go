package customer

import (
	"context"
	"sort"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
)

// Audit actions of the data-subject rights paths of the customer service.
const (
	ActionCustomerExport = "customer.export"
)

// ErasureLedger tells the customer service which ids were erased, so that they answer Gone
// instead of NotFound: a caller holding an old id learns that the person was erased, not that
// the id was mistyped.
type ErasureLedger interface {
	// Erased reports whether customerID is in the erasure ledger.
	Erased(ctx context.Context, customerID string) (bool, error)
}

// missing turns a NotFound for an erased id into Gone; other errors pass unchanged.
func (vt *Vault) missing(ctx context.Context, id string, err error) error {
	if !problem.Is(err, problem.NotFound) || vt.ledger == nil {
		return err
	}
	erased, lerr := vt.ledger.Erased(ctx, id)
	if lerr != nil {
		return lerr
	}
	if erased {
		return problem.Gonef("customer was erased")
	}
	return err
}

// IndexedValues returns the canonical look-up values (email, phone, …) of a customer, as the
// blind index hashes them, so that erasure can add keyed hashes of them to the suppression
// list before the values are shredded. It is for the rights service only and is audited by
// the erasure that uses it.
func (vt *Vault) IndexedValues(ctx context.Context, id string) (map[string][]byte, error) {
	if !ident.Valid(id) {
		return nil, problem.InvalidField("customer_id", "is not a valid customer id")
	}
	r, err := vt.store.GetCustomer(ctx, id)
	if err != nil {
		return nil, vt.missing(ctx, id, err)
	}
	values, err := vt.open(ctx, r)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for name, v := range values {
		if f, ok := vt.catalog.Field(name); ok && f.Indexed() {
			out[name] = indexBytes(v)
		}
	}
	return out, nil
}

// Normalize returns the canonical form of a look-up value as IndexedValues would return it, so
// a request made by email can be matched against the suppression list and the blind index.
func (vt *Vault) Normalize(field string, raw any) ([]byte, error) {
	v, _, err := vt.norm.Value(field, raw)
	if err != nil {
		return nil, err
	}
	return indexBytes(v), nil
}

// FieldRecord is one stored value with everything the catalog declares about it: what a person
// is entitled to learn about each piece of their data.
type FieldRecord struct {
	Field       string             `json:"field"`
	Value       any                `json:"value"`
	Category    string             `json:"category"`
	Sensitivity string             `json:"sensitivity"`
	Purposes    []PurposeBasis     `json:"purposes"`
	Retention   string             `json:"retention"`
	Source      string             `json:"source"`
	Description string             `json:"description,omitempty"`
	Basis       catalog.LegalBasis `json:"-"`
}

// PurposeBasis is a purpose with its legal basis.
type PurposeBasis struct {
	Purpose    string             `json:"purpose"`
	LegalBasis catalog.LegalBasis `json:"legal_basis"`
}

// Dossier is a customer's profile opened in full for the customer's own access request.
type Dossier struct {
	ID        string        `json:"id"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	Fields    []FieldRecord `json:"fields"`
}

// Dossier opens every field of a customer for an access or portability export. It needs
// requests.manage and is audited as customer.export for privacy_requests, naming the fields
// (never the values). Returns Gone for an erased customer, NotFound for an unknown one.
func (s *Service) Dossier(ctx context.Context, id string) (Dossier, error) {
	if _, err := authz.Require(ctx, s.catalog, "requests.manage"); err != nil {
		return Dossier{}, err
	}
	if !ident.Valid(id) {
		return Dossier{}, problem.InvalidField("customer_id", "is not a valid customer id")
	}
	r, err := s.store.GetCustomer(ctx, id)
	if err != nil {
		return Dossier{}, s.vault.missing(ctx, id, err)
	}
	values, err := s.vault.open(ctx, r)
	if err != nil {
		return Dossier{}, err
	}
	d := Dossier{ID: r.ID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	for _, name := range sortedKeys(values) {
		fr := FieldRecord{Field: name, Value: values[name], Source: "provided through the Steward API or import"}
		if f, ok := s.catalog.Field(name); ok {
			fr.Category, fr.Sensitivity, fr.Retention, fr.Description = f.Category, string(f.Sensitivity), f.Retention.String(), f.Description
			for _, p := range f.Purposes {
				pb := PurposeBasis{Purpose: p}
				if pp, ok := s.catalog.Purpose(p); ok {
					pb.LegalBasis = pp.LegalBasis
				}
				fr.Purposes = append(fr.Purposes, pb)
			}
			sort.Slice(fr.Purposes, func(i, j int) bool { return fr.Purposes[i].Purpose < fr.Purposes[j].Purpose })
		}
		d.Fields = append(d.Fields, fr)
	}
	e := audit.New(ctx, ActionCustomerExport, id, sortedKeys(values), "privacy_requests")
	if err := s.audit.AppendAudit(ctx, e); err != nil {
		return Dossier{}, err
	}
	return d, nil
}

// SealFor seals data that belongs to a customer but lives outside the profile (an export
// package), under the customer's own data key, so that erasing the customer shreds it too.
// table and name are bound into the ciphertext like a field's.
func (vt *Vault) SealFor(ctx context.Context, customerID, table, name string, data []byte) ([]byte, error) {
	dk, err := vt.dataKey(ctx, customerID)
	if err != nil {
		return nil, err
	}
	ct, err := dk.Seal(table, name, customerID, data)
	if err != nil {
		return nil, problem.Wrap(problem.Internal, err, "sealing failed")
	}
	return ct, nil
}

// OpenFor opens what SealFor sealed. It returns Gone once the customer is erased: the key is
// destroyed and nothing sealed under it opens again.
func (vt *Vault) OpenFor(ctx context.Context, customerID, table, name string, ct []byte) ([]byte, error) {
	dk, err := vt.dataKey(ctx, customerID)
	if err != nil {
		return nil, err
	}
	b, err := dk.Open(table, name, customerID, ct)
	if err != nil {
		return nil, problem.Wrap(problem.Internal, err, "stored package does not open")
	}
	return b, nil
}

// CustomerDataKey opens the customer's own data key, for sealing data of theirs kept outside
// the profile (consent evidence) so that erasing them shreds it too. NotFound (or Gone) once
// the customer is erased.
func (vt *Vault) CustomerDataKey(ctx context.Context, customerID string) (*vault.DataKey, error) {
	return vt.dataKey(ctx, customerID)
}

func (vt *Vault) dataKey(ctx context.Context, customerID string) (*vault.DataKey, error) {
	r, err := vt.store.GetCustomer(ctx, customerID)
	if err != nil {
		return nil, vt.missing(ctx, customerID, err)
	}
	dk, err := vt.keys.OpenDataKey(ctx, r.ID, vault.WrappedKey{MasterVersion: r.MasterVersion, Blob: r.Key})
	if err != nil {
		return nil, problem.Wrap(problem.Internal, err, "customer key unavailable")
	}
	return dk, nil
}

// ActionCustomerPurge is the audit action of a retention purge.
const ActionCustomerPurge = "customer.purge"

// Purge removes fields whose retention has run out. Unlike Patch it leaves the customer's
// last-activity time alone: a purge is not activity, and counting it as such would restart
// every other field's retention clock. Audited as customer.purge naming the fields.
func (vt *Vault) Purge(ctx context.Context, id string, fields []string, version int64) error {
	r, err := vt.store.GetCustomer(ctx, id)
	if err != nil {
		return vt.missing(ctx, id, err)
	}
	if r.Version != version {
		return problem.Conflictf("customer changed since the purge was planned")
	}
	values, dk, err := vt.OpenProfile(ctx, r)
	if err != nil {
		return err
	}
	for _, f := range fields {
		delete(values, f)
	}
	prev := r.Version
	r.Version++
	if err := vt.seal(r, dk, values); err != nil {
		return err
	}
	sorted := append([]string(nil), fields...)
	sort.Strings(sorted)
	e := audit.New(ctx, ActionCustomerPurge, r.ID, sorted, "legal_obligation")
	return vt.store.UpdateCustomer(ctx, r, prev, []audit.Entry{e})
}
