package customer

import (
	"context"
	"slices"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/problem"
)

// One person, one profile. A create that gives an e-mail address or phone number some
// customer already has is refused with the id of that customer (or, when the caller asks,
// updates that customer instead); a customer merged into another is answered for by the
// customer it was merged into, in reads, changes and look-ups alike.

// ContactFields are the fields a create is matched on: an address or number belongs to one
// customer, as the tracking API's stitching and the importer already treat them.
var ContactFields = []string{"email", "phone"}

// Merged is the answer about a customer merged into another (by stitching or a duplicate
// review): the id asked for and the customer that holds it now, to read or change instead.
// Get and Patch return it as their error; it is a Conflict to callers that do not look for it.
type Merged struct {
	ID         string `json:"id"`
	MergedInto string `json:"merged_into"`
}

func (m *Merged) Error() string { return "conflict: customer was merged into another customer" }

// Unwrap gives the answer a kind for callers that treat it as any other error.
func (m *Merged) Unwrap() error {
	return problem.Conflictf("customer %s was merged into customer %s: use that id", m.ID, m.MergedInto)
}

// root follows r's merge links to the customer at the top, which answers for it. Merges only
// ever link a customer to one standing on its own, so the chain has no cycles; the bound only
// guards against a damaged table.
func (vt *Vault) root(ctx context.Context, r *Record) (*Record, error) {
	for i := 0; r.MergedInto != ""; i++ {
		if i == 64 {
			return nil, problem.New(problem.Internal, "merge links form a cycle")
		}
		next, err := vt.store.GetCustomer(ctx, r.MergedInto)
		if err != nil {
			return nil, err
		}
		r = next
	}
	return r, nil
}

// merged returns the Merged answer for r, or nil when r stands on its own.
func (vt *Vault) merged(ctx context.Context, r *Record) error {
	if r.MergedInto == "" {
		return nil
	}
	top, err := vt.root(ctx, r)
	if err != nil {
		return err
	}
	return &Merged{ID: r.ID, MergedInto: top.ID}
}

// holder is the customer found holding a contact value of a new or changed customer.
type holder struct {
	id, field string
}

// contactHolder looks up, through the blind index, the customer holding one of the contact
// values of a new customer (one indexed look-up per contact field given), opening and
// comparing each candidate, since tokens are truncated. A merged customer holding it answers
// with the customer it was merged into. When nobody holds any, it returns the claims the
// create must stand on (see Claim).
func (s *Service) contactHolder(ctx context.Context, values map[string]any) (*holder, []Claim, error) {
	var claims []Claim
	for _, field := range ContactFields {
		v, ok := values[field].(string)
		if !ok {
			continue
		}
		if f, ok := s.catalog.Field(field); !ok || !f.Indexed() {
			continue
		}
		token := s.keys.BlindIndex(field, indexBytes(v))
		cands, err := s.store.FindCustomers(ctx, field, token, MaxLookup)
		if err != nil {
			return nil, nil, err
		}
		cl := Claim{Field: field, Token: token}
		for _, r := range cands {
			got, err := s.vault.OpenFields(ctx, r, []string{field})
			if err != nil {
				return nil, nil, err
			}
			if got[field] != v {
				cl.Seen = append(cl.Seen, r.ID)
				continue
			}
			top, err := s.vault.root(ctx, r)
			if err != nil {
				return nil, nil, err
			}
			return &holder{id: top.ID, field: field}, nil, nil
		}
		claims = append(claims, cl)
	}
	return nil, claims, nil
}

// CreateOrUpdate is Create that, when a customer already has the e-mail address or phone
// number given, sets the given fields on that customer instead (as Patch does, audited as a
// change) and reports created false. Clients that sync a source of sign-ups use it to send
// every sign-up without first asking who exists.
func (s *Service) CreateOrUpdate(ctx context.Context, fields map[string]any) (v View, created bool, err error) {
	return s.create(ctx, fields, true)
}

// create is Create and CreateOrUpdate: with update, a customer already holding a contact value
// is changed instead of the create being refused.
func (s *Service) create(ctx context.Context, fields map[string]any, update bool) (View, bool, error) {
	if _, err := authz.Require(ctx, s.catalog, "customers.write"); err != nil {
		return View{}, false, err
	}
	if len(fields) == 0 {
		return View{}, false, problem.InvalidField("fields", "at least one field is required")
	}
	r, values, entry, err := s.prepare(ctx, fields)
	if err != nil {
		return View{}, false, err
	}
	optOut, err := s.optOuts.OptOut(ctx, r.ID, true)
	if err != nil {
		return View{}, false, err
	}
	// Optimistically, nobody holds the new customer's contact tokens: the engine checks that
	// in the inserting transaction, which costs the single writer one indexed probe per
	// field, and a new address (the usual case) needs no look-up before it. Only when a
	// token is held is the holder looked up (opened and compared) and either answered for or,
	// holding another value behind a colliding token, seen and let be.
	r.Claims = contactClaims(r)
	for attempt := 0; ; attempt++ {
		if optOut != nil {
			err = s.store.CreateCustomerWith(ctx, r, []audit.Entry{entry}, *optOut)
		} else {
			err = s.store.CreateCustomer(ctx, r, []audit.Entry{entry})
		}
		if err == nil {
			return s.render(ctx, r, values, ""), true, nil
		}
		if !problem.Is(err, problem.Conflict) || len(r.Claims) == 0 || attempt == 5 {
			return View{}, false, err
		}
		h, claims, err := s.contactHolder(ctx, values)
		if err != nil {
			return View{}, false, err
		}
		if h != nil {
			if update {
				v, err := s.Patch(ctx, h.id, fields)
				return v, false, err
			}
			return View{}, false, problem.Exists(h.id, h.field,
				"a customer with this %s exists already (existing_id): change it with PATCH, or create with on_conflict=update", h.field)
		}
		r.Claims = claims
	}
}

// contactClaims are the claims of a new customer that nobody holds its contact values' index
// tokens (see Claim), made from the index entries sealing computed.
func contactClaims(r *Record) []Claim {
	var claims []Claim
	for _, ix := range r.Index {
		if slices.Contains(ContactFields, ix.Field) {
			claims = append(claims, Claim{Field: ix.Field, Token: ix.Token})
		}
	}
	return claims
}
