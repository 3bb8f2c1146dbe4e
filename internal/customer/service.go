package customer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/search"
	"github.com/stewardhq/steward/internal/vault"
)

// Table is the name bound into every field ciphertext's associated data, so a value sealed for
// a customer profile cannot be replayed into another table.
const Table = "customers"

// Keys is the part of the key hierarchy the customer service uses. The keys package
// implements it over a keyset that may rotate underneath.
type Keys interface {
	NewDataKey(customerID string) (*vault.DataKey, vault.WrappedKey, error)
	OpenDataKey(ctx context.Context, customerID string, w vault.WrappedKey) (*vault.DataKey, error)
	BlindIndex(field string, normalized []byte) int64
	SearchHash(kind string, normalized []byte) uint64
}

// Service is the audited customer vault: every method checks the caller's role, and every read
// or change of personal data it makes is written to the audit trail before its result is
// returned. It is all an adapter (HTTP, console, command line) may hold; the unaudited
// operations live on Vault.
type Service struct {
	vault       *Vault
	store       Store
	keys        Keys
	catalog     *catalog.Catalog
	norm        *Normalizer
	audit       audit.Store
	permissions Permissions
	optOuts     OptOuts
	statuses    ContactStatuses
	forms       *quality.Validator
	now         clock.Clock
}

// Deps is what the audited service is built from.
type Deps struct {
	Vault *Vault
	// Audit stores the entries of reads, which change nothing else.
	Audit audit.Store
	// Permissions is asked before every reveal for a purpose (see permit.go).
	Permissions Permissions
	// OptOuts records the opt-out signals requests relay (see permit.go).
	OptOuts OptOuts
	// Statuses, when set, derives the contact status shown with a customer read by id.
	Statuses ContactStatuses
	// Forms checks forms before they are submitted (ValidateForm); nil checks without a
	// default phone region and without MX look-ups.
	Forms *quality.Validator
}

// New builds the audited service. Every dependency but Statuses is required: a service
// without its permission decision would reveal consent-based data it cannot check.
func New(c Deps) (*Service, error) {
	switch {
	case c.Vault == nil:
		return nil, errors.New("customer service: no vault")
	case c.Audit == nil:
		return nil, errors.New("customer service: no audit store")
	case c.Permissions == nil:
		return nil, errors.New("customer service: no permission decision")
	case c.OptOuts == nil:
		return nil, errors.New("customer service: no opt-out recorder")
	}
	v := c.Vault
	s := &Service{vault: v, store: v.store, keys: v.keys, catalog: v.catalog, norm: v.norm, now: v.now,
		audit: c.Audit, permissions: c.Permissions, optOuts: c.OptOuts, statuses: c.Statuses, forms: c.Forms}
	if s.forms == nil {
		s.forms = &quality.Validator{}
	}
	return s, nil
}

// ContactStatuses derives a customer's contact status (valid, bounced, inactive …) from the
// values a read has opened anyway and the signals stored about the customer.
type ContactStatuses interface {
	ContactStatus(ctx context.Context, c quality.Contact) (quality.Status, error)
}

// View is a customer as a caller sees it: masked unless revealed for a purpose.
type View struct {
	ID       string         `json:"id"`
	Fields   map[string]any `json:"fields,omitempty"`
	Revealed []string       `json:"revealed,omitempty"`
	// Generalized lists the revealed fields shown only in generalised form (age band, network
	// prefix, keyed token), as purposes such as analytics require.
	Generalized []string  `json:"generalized,omitempty"`
	Purpose     string    `json:"purpose,omitempty"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`

	// Denied says why nothing was revealed for Purpose to this customer in a look-up, when
	// the permission decision refused it (a withdrawn consent, say).
	Denied string `json:"denied,omitempty"`

	// ContactStatus is derived data shown with a customer read by id: codes and times, never
	// values, so it is shown whether or not the values are revealed.
	ContactStatus *quality.Status `json:"contact_status,omitempty"`
}

// ValidateForm checks a sign-up, checkout or profile form before it is submitted: validity,
// normalised values, flags and suggestions per field (see quality.Validator). It stores
// nothing and writes no audit entry, since no customer is read or changed; it asks for
// customers.write because its callers are the ones about to write customers (form back ends
// holding an ingest key, staff editing a profile).
func (s *Service) ValidateForm(ctx context.Context, f quality.Form) (quality.Report, error) {
	if _, err := authz.Require(ctx, s.catalog, "customers.write"); err != nil {
		return quality.Report{}, err
	}
	return s.forms.Validate(ctx, f)
}

// MaxLookup bounds how many candidates one blind-index look-up may open.
const MaxLookup = 1000

// Create validates, seals and stores a new customer and returns it masked (or only its id
// for write-only callers such as ingest keys). A customer who already has the e-mail address
// or phone number given is one person with the new one: Conflict naming that customer
// (problem.Error.ExistingID), writing nothing. The match is checked inside the transaction
// that inserts (see Claim), so two concurrent creates of one address never both succeed.
func (s *Service) Create(ctx context.Context, fields map[string]any) (View, error) {
	v, _, err := s.create(ctx, fields, false)
	return v, err
}

// MaxBatch bounds one CreateBatch so a transaction stays short.
const MaxBatch = 5000

// CreateBatch creates many customers in one transaction: all or none. The error for a bad
// input names its position ("customers[3].email: …"). Bulk loads of records known to be
// distinct use it to avoid paying a commit per customer: unlike Create, it does not look for
// customers who already have the contact values given (imports match through ingest).
func (s *Service) CreateBatch(ctx context.Context, batch []map[string]any) ([]string, error) {
	if _, err := authz.Require(ctx, s.catalog, "customers.write"); err != nil {
		return nil, err
	}
	if len(batch) == 0 || len(batch) > MaxBatch {
		return nil, problem.InvalidField("customers", "must hold 1 to %d customers", MaxBatch)
	}
	recs := make([]*Record, len(batch))
	entries := make([]audit.Entry, len(batch))
	ids := make([]string, len(batch))
	for i, fields := range batch {
		if len(fields) == 0 {
			return nil, problem.InvalidField(fmt.Sprintf("customers[%d].fields", i), "at least one field is required")
		}
		r, _, entry, err := s.prepare(ctx, fields)
		if err != nil {
			var pe *problem.Error
			if errors.As(err, &pe) && pe.Kind == problem.Invalid {
				pe.Field = fmt.Sprintf("customers[%d].%s", i, pe.Field)
				pe.Detail = fmt.Sprintf("customers[%d].%s", i, pe.Detail)
			}
			return nil, err
		}
		recs[i], entries[i], ids[i] = r, entry, r.ID
	}
	if err := s.store.CreateCustomers(ctx, recs, entries); err != nil {
		return nil, err
	}
	return ids, nil
}

// prepare validates and seals a new customer without storing it.
func (s *Service) prepare(ctx context.Context, fields map[string]any) (*Record, map[string]any, audit.Entry, error) {
	values, err := s.vault.normalize(fields, false)
	if err != nil {
		return nil, nil, audit.Entry{}, err
	}
	r, _, entry, err := s.vault.NewProfile(ctx, values)
	if err != nil {
		return nil, nil, audit.Entry{}, err
	}
	return r, values, entry, nil
}

// Get returns one customer, revealing the fields that purpose allows. Returns NotFound if the
// customer does not exist, Forbidden if the caller's role may not act for purpose, and
// *Merged, reading nothing, for a customer merged into another. A customer whose stored data
// does not decrypt is answered with an Internal problem saying so, not skipped: the caller asked
// for this one person, and an empty or missing answer would read as "no data" or "no customer".
func (s *Service) Get(ctx context.Context, id, purpose string) (View, error) {
	if err := s.checkRead(ctx, purpose); err != nil {
		return View{}, s.denied(ctx, err, id, purpose)
	}
	if !ident.Valid(id) {
		return View{}, problem.InvalidField("id", "is not a valid customer id")
	}
	r, err := s.store.GetCustomer(ctx, id)
	if err != nil {
		return View{}, s.vault.missing(ctx, id, err)
	}
	if err := s.vault.merged(ctx, r); err != nil {
		return View{}, err
	}
	// The permission decision also covers restriction, objection and opt-out.
	if err := s.permit(ctx, id, purpose); err != nil {
		return View{}, s.denied(ctx, err, id, purpose)
	}
	if err := s.optOuts.RecordOptOut(ctx, id); err != nil {
		return View{}, err
	}
	values, err := s.vault.open(ctx, r)
	if err != nil {
		return View{}, s.vault.unreadable(ctx, id, err)
	}
	v := s.render(ctx, r, values, purpose)
	if s.statuses != nil && v.Fields != nil {
		st, err := s.contactStatus(ctx, r, values)
		if err != nil {
			return View{}, err
		}
		v.ContactStatus = &st
	}
	if err := s.audit.AppendAudit(ctx, s.readEntry(ctx, audit.ActionCustomerRead, v, values)); err != nil {
		return View{}, err
	}
	return v, nil
}

// contactStatus asks Statuses about r, passing only the contact values it judges.
func (s *Service) contactStatus(ctx context.Context, r *Record, values map[string]any) (quality.Status, error) {
	c := quality.Contact{CustomerID: r.ID, Created: r.CreatedAt, Updated: r.UpdatedAt}
	c.Email, _ = values["email"].(string)
	c.Phone, _ = values["phone"].(string)
	if c.Email != "" {
		c.EmailToken = s.keys.BlindIndex("email", []byte(c.Email))
	}
	return s.statuses.ContactStatus(ctx, c)
}

// Patch sets the given fields and removes those given as nil. Concurrent patches of one
// customer are retried against the newer version, because field-level changes commute. A
// customer merged into another is changed through that one: *Merged, changing nothing. An
// e-mail address or phone number another customer has is refused with Conflict naming them
// (problem.Error.ExistingID), as on create.
func (s *Service) Patch(ctx context.Context, id string, fields map[string]any) (View, error) {
	return s.patch(ctx, id, fields, false)
}

// Fill is Patch for what a customer's profile lacks: a field it already holds keeps its
// value, whatever fields says. It is for writers that cannot prove who they speak for — a
// public form naming an existing customer's e-mail address — which may complete a profile
// but never change what the customer said before.
func (s *Service) Fill(ctx context.Context, id string, fields map[string]any) (View, error) {
	return s.patch(ctx, id, fields, true)
}

func (s *Service) patch(ctx context.Context, id string, fields map[string]any, fill bool) (View, error) {
	if _, err := authz.Require(ctx, s.catalog, "customers.write"); err != nil {
		return View{}, err
	}
	if !ident.Valid(id) {
		return View{}, problem.InvalidField("id", "is not a valid customer id")
	}
	if len(fields) == 0 {
		return View{}, problem.InvalidField("fields", "at least one field is required")
	}
	changes, err := s.vault.normalize(fields, true)
	if err != nil {
		return View{}, err
	}
	for attempt := 0; ; attempt++ {
		v, err := s.patchOnce(ctx, id, changes, fill)
		var m *Merged
		// A concurrent change is retried; a merged customer or a value someone else holds is
		// the answer.
		if problem.Is(err, problem.Conflict) && !errors.As(err, &m) && problem.ExistingIDOf(err) == "" && attempt < 5 {
			continue
		}
		return v, err
	}
}

func (s *Service) patchOnce(ctx context.Context, id string, changes map[string]any, fill bool) (View, error) {
	r, err := s.store.GetCustomer(ctx, id)
	if err != nil {
		return View{}, s.vault.missing(ctx, id, err)
	}
	if err := s.vault.merged(ctx, r); err != nil {
		return View{}, err
	}
	if fill {
		values, err := s.vault.open(ctx, r)
		if err != nil {
			return View{}, err
		}
		kept := map[string]any{}
		for name, v := range changes {
			if _, had := values[name]; !had && v != nil {
				kept[name] = v
			}
		}
		if len(kept) == 0 {
			return s.render(ctx, r, values, ""), nil
		}
		changes = kept
	}
	// An e-mail address or phone number another customer has stays theirs, as on create.
	if h, _, err := s.contactHolder(ctx, changes); err != nil {
		return View{}, err
	} else if h != nil && h.id != id {
		return View{}, problem.Exists(h.id, h.field, "another customer has this %s (existing_id)", h.field)
	}
	values, dk, err := s.vault.OpenProfile(ctx, r)
	if err != nil {
		return View{}, err
	}
	for name, v := range changes {
		if v == nil {
			delete(values, name)
		} else {
			values[name] = v
		}
	}
	prev := r.Version
	r.Version++
	r.UpdatedAt = s.now()
	if err := s.vault.seal(r, dk, values); err != nil {
		return View{}, err
	}
	entry := audit.New(ctx, audit.ActionCustomerUpdate, r.ID, sortedKeys(changes), "")
	optOut, err := s.optOuts.OptOut(ctx, r.ID, false)
	if err != nil {
		return View{}, err
	}
	if optOut != nil {
		err = s.store.UpdateCustomerWith(ctx, r, prev, []audit.Entry{entry}, *optOut)
	} else {
		err = s.store.UpdateCustomer(ctx, r, prev, []audit.Entry{entry})
	}
	if err != nil {
		return View{}, err
	}
	return s.render(ctx, r, values, ""), nil
}

// Find looks customers up by the exact value of an indexed field (email, phone, …). The blind
// index returns candidates; each is opened and compared, so truncated tokens never return a
// wrong customer. A match merged into another customer is answered for by that customer, and
// each customer is returned once: after a merge, a look-up by the address both records had
// finds the one person. A candidate whose profile does not decrypt is skipped, counted and
// logged (see Vault.Skip): whether it holds the value cannot be told, so a value only it holds
// is answered as not found, like any other non-match. At most limit matches are returned (0, or more than MaxLookup, means
// MaxLookup), and only the matches returned are audited as read: the trail records what the
// caller saw.
func (s *Service) Find(ctx context.Context, field string, raw any, purpose string, limit int) ([]View, error) {
	if err := s.checkRead(ctx, purpose); err != nil {
		return nil, s.denied(ctx, err, "", purpose)
	}
	if limit == 0 {
		limit = MaxLookup
	}
	if limit < 1 {
		return nil, problem.InvalidField("limit", "must be a positive integer")
	}
	limit = min(limit, MaxLookup)
	f, ok := s.catalog.Field(field)
	if !ok || !f.Indexed() {
		return nil, problem.InvalidField(field, "is not a field that can be looked up")
	}
	want, _, err := s.norm.Value(field, raw)
	if err != nil {
		return nil, err
	}
	wantJSON, _ := json.Marshal(want)
	token := s.keys.BlindIndex(field, indexBytes(want))
	cands, err := s.store.FindCustomers(ctx, field, token, MaxLookup)
	if err != nil {
		return nil, err
	}
	var out []View
	var entries []audit.Entry
	seen := map[string]bool{}
	for _, r := range cands {
		values, err := s.vault.open(ctx, r)
		if s.vault.Skip(ctx, r.ID, err) {
			// Whether it holds the value cannot be told, so it is not a match.
			continue
		}
		if err != nil {
			return nil, err
		}
		got, _ := json.Marshal(values[field])
		if string(got) != string(wantJSON) {
			continue
		}
		if r.MergedInto != "" {
			if r, err = s.vault.root(ctx, r); err != nil {
				return nil, err
			}
			if !seen[r.ID] {
				values, err = s.vault.open(ctx, r)
				if s.vault.Skip(ctx, r.ID, err) {
					continue
				}
				if err != nil {
					return nil, err
				}
			}
		}
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		if len(out) == limit {
			break
		}
		v, denial, err := s.renderPermitted(ctx, r, values, purpose)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		entries = append(entries, s.readEntry(ctx, audit.ActionCustomerLookup, v, values))
		if denial != nil {
			entries = append(entries, *denial)
		}
	}
	for _, v := range out {
		if err := s.optOuts.RecordOptOut(ctx, v.ID); err != nil {
			return nil, err
		}
	}
	if len(entries) == 0 {
		// A look-up that finds nobody still answers "is this a customer?": it leaves a trace
		// naming the field asked by, never the value.
		entries = append(entries, audit.QueryEntry(ctx, audit.ActionCustomerLookup, purpose, []string{field}, 0))
	}
	if err := s.audit.AppendAudit(ctx, entries...); err != nil {
		return nil, err
	}
	return out, nil
}

// List returns a page of customers, masked, ordered by id (and so by creation time, as ids
// are UUIDv7); customers merged into another are not listed, their winner is. next is empty
// on the last page. Listings are always masked: a purpose is
// refused, because a reveal is a decision about one customer at a time (their consent, their
// restrictions), never about a page of them. A customer whose profile does not decrypt is left
// out of the page, counted and logged (see Vault.Skip); the cursor still moves past them.
func (s *Service) List(ctx context.Context, after string, limit int, purpose string) (page []View, next string, err error) {
	if err := s.checkRead(ctx, ""); err != nil {
		return nil, "", err
	}
	if purpose != "" {
		return nil, "", problem.InvalidField("Steward-Purpose", "listings are always masked; reveal one customer at a time")
	}
	if after != "" && !ident.Valid(after) {
		return nil, "", problem.InvalidField("cursor", "is not a valid cursor")
	}
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		return nil, "", problem.InvalidField("limit", "must be at most 500")
	}
	recs, err := s.store.ListUnmerged(ctx, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	if len(recs) > limit {
		recs = recs[:limit]
		next = recs[limit-1].ID
	}
	page = make([]View, 0, len(recs))
	entries := make([]audit.Entry, 0, len(recs))
	for _, r := range recs {
		values, err := s.vault.open(ctx, r)
		if s.vault.Skip(ctx, r.ID, err) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		v := s.render(ctx, r, values, "")
		page = append(page, v)
		entries = append(entries, s.readEntry(ctx, audit.ActionCustomerList, v, values))
	}
	if len(entries) == 0 {
		entries = append(entries, audit.QueryEntry(ctx, audit.ActionCustomerList, "", nil, 0))
	}
	if err := s.audit.AppendAudit(ctx, entries...); err != nil {
		return nil, "", err
	}
	return page, next, nil
}

// checkRead enforces customers.read, and for a purpose also the role's right to reveal for it
// (authz.MayRead: generalised values for a generalized_only purpose need no customers.reveal):
// asking to reveal for a purpose one may not act for is refused outright rather than silently
// masked, so the caller learns why.
func (s *Service) checkRead(ctx context.Context, purpose string) error {
	_, err := authz.MayRead(ctx, s.catalog, purpose)
	return err
}

// denied records a refused attempt to reveal, so the trail shows who tried to see what for
// which purpose, and returns err. Requests that are merely malformed are not recorded.
func (s *Service) denied(ctx context.Context, err error, id, purpose string) error {
	if _, known := s.catalog.Purpose(purpose); !known || !problem.Is(err, problem.Forbidden) || (id != "" && !ident.Valid(id)) {
		return err
	}
	e := audit.New(ctx, audit.ActionCustomerReveal, id, nil, purpose)
	e.Outcome = audit.OutcomeDenied
	if aerr := s.audit.AppendAudit(ctx, e); aerr != nil {
		return aerr
	}
	return err
}

// normalize validates every input value; with allowNull a nil value means "remove".
func (vt *Vault) normalize(fields map[string]any, allowNull bool) (map[string]any, error) {
	out := make(map[string]any, len(fields))
	for _, name := range sortedKeys(fields) {
		raw := fields[name]
		if raw == nil {
			if !allowNull {
				return nil, problem.InvalidField(name, "must not be null")
			}
			if _, ok := vt.catalog.Field(name); !ok {
				return nil, problem.InvalidField(name, "is not declared in the data catalog")
			}
			out[name] = nil
			continue
		}
		v, _, err := vt.norm.Value(name, raw)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	if err := vt.norm.Address(out); err != nil {
		return nil, err
	}
	return out, nil
}

// seal replaces r's sealed, plain and index contents with values.
func (vt *Vault) seal(r *Record, dk *vault.DataKey, values map[string]any) error {
	r.Index = r.Index[:0]
	for name, v := range values {
		if f, _ := vt.catalog.Field(name); f.Indexed() {
			r.Index = append(r.Index, IndexEntry{Field: name, Token: vt.keys.BlindIndex(name, indexBytes(v))})
		}
	}
	sort.Slice(r.Index, func(i, j int) bool { return r.Index[i].Field < r.Index[j].Field })
	if err := vt.sealValues(r, dk, values); err != nil {
		return err
	}
	r.IndexKept = false
	// A new slice, never the old one's array: a record copied before sealing (ingest's
	// prepared profiles) must keep its own tokens.
	r.Search = search.Tokens(vt.keys, search.Index(values))
	return nil
}

// sealValues encrypts (or keeps in clear) r's values, leaving its index entries and search
// tokens to the caller: they stand as stored (Record.IndexKept) until seal derives them.
func (vt *Vault) sealValues(r *Record, dk *vault.DataKey, values map[string]any) error {
	r.Sealed = make(map[string][]byte, len(values))
	r.Plain = map[string]json.RawMessage{}
	r.IndexKept, r.Search = true, nil
	for name, v := range values {
		f, _ := vt.catalog.Field(name)
		b, err := json.Marshal(v)
		if err != nil {
			return problem.Wrap(problem.Internal, err, "encoding failed")
		}
		if !f.Encrypted() {
			r.Plain[name] = b
			continue
		}
		ct, err := dk.Seal(Table, name, r.ID, b)
		if err != nil {
			return problem.Wrap(problem.Internal, err, "sealing failed")
		}
		r.Sealed[name] = ct
	}
	return nil
}

// open decrypts every value of r, unwrapping its data key only when one is sealed. A value
// that fails to open means tampering or a lost key, never bad input, so it is Internal.
func (vt *Vault) open(ctx context.Context, r *Record) (map[string]any, error) {
	if len(r.Sealed) == 0 {
		return openValues(r, nil)
	}
	values, _, err := vt.OpenProfile(ctx, r)
	return values, err
}

// openValues decrypts every value of r with its data key dk (nil when r seals nothing).
func openValues(r *Record, dk *vault.DataKey) (map[string]any, error) {
	values := make(map[string]any, len(r.Sealed)+len(r.Plain))
	for name, b := range r.Plain {
		v, err := decodeValue(b)
		if err != nil {
			return nil, problem.Wrap(problem.Internal, err, "stored value unreadable")
		}
		values[name] = v
	}
	for name, ct := range r.Sealed {
		b, err := dk.Open(Table, name, r.ID, ct)
		if err != nil {
			return nil, undecryptable(err, "stored value does not open")
		}
		v, err := decodeValue(b)
		if err != nil {
			// The decoder's message may quote the decrypted bytes: keep none of it.
			return nil, undecryptable(errors.New("decrypted value is not a stored value"), "stored value unreadable")
		}
		values[name] = v
	}
	return values, nil
}

// render masks every value except those purpose may reveal. Callers without customers.read
// (write-only collection keys) get the id alone.
func (s *Service) render(ctx context.Context, r *Record, values map[string]any, purpose string) View {
	v := View{ID: r.ID, Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Purpose: purpose}
	a, _ := authz.ActorFrom(ctx)
	if !s.catalog.RoleHas(a.Role, "customers.read") {
		return v
	}
	p, _ := s.catalog.Purpose(purpose)
	now := s.now()
	v.Fields = make(map[string]any, len(values))
	for name, val := range values {
		shown, revealed, generalized := s.present(name, val, p, now)
		v.Fields[name] = shown
		if revealed {
			v.Revealed = append(v.Revealed, name)
		}
		if generalized {
			v.Generalized = append(v.Generalized, name)
		}
	}
	sort.Strings(v.Revealed)
	sort.Strings(v.Generalized)
	return v
}

// Present is how a value of field appears to a read for purpose, by the rules of a profile
// read: itself when the catalog declares the field for the purpose, its generalised form when
// the purpose may see only that, masked otherwise (revealed false). Data kept outside the
// profile that stands for a profile field (a stitched identifier is an e-mail, a phone, a
// device id) is shown through it, so it is never shown more freely than the profile would be.
// The caller has checked the role (authz.MayReveal) and the customer's decision.
func (s *Service) Present(field string, v any, purpose string) (shown any, revealed bool) {
	p, _ := s.catalog.Purpose(purpose)
	shown, revealed, _ = s.present(field, v, p, s.now())
	return shown, revealed
}

// present is the one rule of what a read for purpose p sees of a value: the profile read and
// Present both apply it. A value stored under a field the catalog no longer declares is shown
// to nobody.
func (s *Service) present(field string, v any, p catalog.Purpose, now time.Time) (shown any, revealed, generalized bool) {
	f, known := s.catalog.Field(field)
	if !known {
		return Mask("full", v), false, false
	}
	if p.Name != "" && f.AllowsPurpose(p.Name) {
		if !p.GeneralizedOnly {
			return v, true, false
		}
		if g, ok := s.generalize(f, v, now); ok {
			return g, true, true
		}
	}
	return Mask(f.Mask, v), false, false
}

// readEntry records a read: a reveal names the revealed fields and the purpose; a masked read
// names the fields shown masked.
func (s *Service) readEntry(ctx context.Context, action string, v View, values map[string]any) audit.Entry {
	if len(v.Revealed) > 0 {
		return audit.New(ctx, audit.ActionCustomerReveal, v.ID, v.Revealed, v.Purpose)
	}
	return audit.New(ctx, action, v.ID, sortedKeys(values), v.Purpose)
}

// indexBytes is what the blind index hashes: the canonical stored value.
func indexBytes(v any) []byte {
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	b, _ := json.Marshal(v)
	return b
}

func decodeValue(b []byte) (any, error) {
	// Most stored values are plain strings or integers; decoding them without a JSON decoder
	// saves allocations on every read. Anything else takes the general path.
	if n := len(b); n >= 2 && b[0] == '"' && b[n-1] == '"' && bytes.IndexByte(b[1:n-1], '\\') < 0 &&
		bytes.IndexByte(b[1:n-1], '"') < 0 && utf8.Valid(b[1:n-1]) && !hasControl(b[1:n-1]) {
		return string(b[1 : n-1]), nil
	}
	if isJSONInt(b) {
		if i, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return i, nil
		}
	}
	return decodeJSONValue(b)
}

// decodeJSONValue is decodeValue's general path.
func decodeJSONValue(b []byte) (any, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
		f, err := n.Float64()
		if err != nil {
			return nil, errors.New("bad number")
		}
		return f, nil
	}
	return v, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hasControl reports bytes JSON requires escaped inside strings, which a fast path must not
// accept.
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// isJSONInt reports an integer as JSON writes it: an optional minus, then digits with no
// leading zero.
func isJSONInt(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
