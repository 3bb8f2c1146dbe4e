package consent

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

// Suppression is one entry of the suppression list: a keyed hash of a normalised email address
// or phone number that blocks a marketing purpose for whoever holds it. It names no customer,
// so it survives the customer's erasure and catches the same address on re-import.
type Suppression struct {
	Hash []byte
	// Token is the value's blind-index token, the one the customer vault keeps for the same
	// field: it narrows a check down to the few customers worth opening.
	Token   int64
	Field   string // ContactEmail or ContactPhone
	Purpose string
	Source  string // SuppressWithdrawal, SuppressObjection, SuppressAPI or SuppressErasure
	At      time.Time
	ActorID string
}

// The customer fields whose values the suppression list holds.
const (
	ContactEmail = "email"
	ContactPhone = "phone"
)

var contactFields = []string{ContactEmail, ContactPhone}

// Why an entry was added.
const (
	SuppressWithdrawal = "withdrawal"
	SuppressObjection  = "objection"
	SuppressAPI        = "api"
)

// suppressionHash is the keyed hash stored for a normalised contact value. Email and phone use
// different keys, so equal strings in the two never match.
func (s *Service) suppressionHash(field, normalized string) []byte {
	return s.keys.KeyedHash("suppression."+field, []byte(normalized))
}

// suppression builds the entry for a normalised contact value.
func (s *Service) suppression(field, normalized, purpose, source, actorID string, at time.Time) Suppression {
	return Suppression{Hash: s.suppressionHash(field, normalized), Token: s.keys.BlindIndex(field, []byte(normalized)),
		Field: field, Purpose: purpose, Source: source, At: at, ActorID: actorID}
}

// SuppressionInput is a request to add addresses to the suppression list, for example from a
// bounce or complaint feed or a list kept before Steward.
type SuppressionInput struct {
	Email any `json:"email"`
	Phone any `json:"phone"`
	// Purposes are the marketing purposes to block; every marketing purpose when empty.
	Purposes []string `json:"purposes"`
}

// SuppressionResult says what was added, without repeating the values.
type SuppressionResult struct {
	Fields   []string `json:"fields"`
	Purposes []string `json:"purposes"`
	Added    int      `json:"added"`
}

// Suppress adds the given email address and phone number (either or both), normalised exactly
// as customer values are, to the suppression list for purposes. Needs consents.write.
func (s *Service) Suppress(ctx context.Context, in SuppressionInput) (SuppressionResult, error) {
	a, err := authz.Require(ctx, s.catalog, "consents.write")
	if err != nil {
		return SuppressionResult{}, err
	}
	purposes := in.Purposes
	if len(purposes) == 0 {
		purposes = s.catalog.MarketingPurposes()
		if len(purposes) == 0 {
			return SuppressionResult{}, problem.InvalidField("purposes", "the catalog marks no purpose as marketing, so there is nothing to suppress")
		}
	}
	for i, name := range purposes {
		p, ok := s.catalog.Purpose(name)
		switch {
		case !ok:
			return SuppressionResult{}, problem.InvalidField("purposes", "purposes[%d]: unknown purpose %q", i, name)
		case !p.Marketing:
			return SuppressionResult{}, problem.InvalidField("purposes", "purpose %q is not a marketing purpose; the suppression list blocks marketing only", name)
		case slices.Index(purposes, name) != i:
			return SuppressionResult{}, problem.InvalidField("purposes", "purpose %q is listed twice", name)
		}
	}
	values := map[string]any{ContactEmail: in.Email, ContactPhone: in.Phone}
	now := s.now()
	res := SuppressionResult{Purposes: purposes}
	var entries []Suppression
	for _, field := range contactFields {
		raw := values[field]
		if raw == nil {
			continue
		}
		if _, ok := s.catalog.Field(field); !ok {
			return SuppressionResult{}, problem.InvalidField(field, "the catalog declares no %s field", field)
		}
		v, _, err := s.norm.Value(field, raw)
		if err != nil {
			return SuppressionResult{}, err
		}
		str, ok := v.(string)
		if !ok {
			return SuppressionResult{}, problem.InvalidField(field, "must be a string")
		}
		res.Fields = append(res.Fields, field)
		for _, p := range purposes {
			entries = append(entries, s.suppression(field, str, p, SuppressAPI, a.ID, now))
		}
	}
	if len(res.Fields) == 0 {
		return SuppressionResult{}, problem.InvalidField("email", "give an email address, a phone number or both")
	}
	e := audit.New(ctx, ActionSuppress, "", nil, "")
	e.Target = fmt.Sprintf("suppression:%v for %v", res.Fields, purposes)
	if err := s.store.AddSuppressions(ctx, entries, []audit.Entry{e}); err != nil {
		return SuppressionResult{}, err
	}
	res.Added = len(entries)
	return res, nil
}

// choiceSuppressions returns the entries a choice puts on the suppression list: the
// customer's current email and phone when r withdraws consent to, or objects to, a marketing
// purpose p; nothing otherwise.
func (s *Service) choiceSuppressions(ctx context.Context, r *Record, p catalog.Purpose) ([]Suppression, error) {
	if r.Granted || !p.Marketing || r.Kind != KindConsent && r.Kind != KindObjection {
		return nil, nil
	}
	why := SuppressWithdrawal
	if r.Kind == KindObjection {
		why = SuppressObjection
	}
	return s.withdrawalSuppressions(ctx, r.CustomerID, p.Name, why, r.ActorID, r.At)
}

// withdrawalSuppressions returns the entries that carry a customer's opt-out of a marketing
// purpose beyond their erasure: their current email and phone, hashed.
func (s *Service) withdrawalSuppressions(ctx context.Context, customerID, purpose, source, actorID string, at time.Time) ([]Suppression, error) {
	vals, err := s.contacts.ContactValues(ctx, []string{customerID}, contactFields...)
	if err != nil {
		return nil, err
	}
	var out []Suppression
	for _, field := range contactFields {
		if v := vals[customerID][field]; v != "" {
			out = append(out, s.suppression(field, v, purpose, source, actorID, at))
		}
	}
	return out, nil
}

// SuppressErasure is why an entry was added: the customer who held the address was erased.
const SuppressErasure = "erasure"

// SuppressErased puts an erased customer's normalised contact values (by field name; only
// email and phone count) on the suppression list for every marketing purpose, as Steward's
// own act, and returns the entries encoded for the erasure ledger ("field:hash:token", keyed
// hash and blind-index token, never the value), which Resuppress turns back into entries when
// a restore replays the erasure.
func (s *Service) SuppressErased(ctx context.Context, values map[string]string) ([]string, error) {
	var marks []string
	for _, field := range contactFields {
		if v := values[field]; v != "" {
			marks = append(marks, fmt.Sprintf("%s:%x:%d", field, s.suppressionHash(field, v), s.keys.BlindIndex(field, []byte(v))))
		}
	}
	if len(marks) == 0 {
		return nil, nil
	}
	return marks, s.Resuppress(ctx, marks, s.now())
}

// Resuppress adds the entries SuppressErased encoded, for every marketing purpose, dated at
// (the erasure's time, so a fresh opt-in made after the erasure still counts).
func (s *Service) Resuppress(ctx context.Context, marks []string, at time.Time) error {
	purposes := s.catalog.MarketingPurposes()
	if len(purposes) == 0 || len(marks) == 0 {
		return nil
	}
	var entries []Suppression
	var fields []string
	for _, m := range marks {
		parts := strings.Split(m, ":")
		if len(parts) != 3 || !slices.Contains(contactFields, parts[0]) {
			return problem.New(problem.Internal, "erasure ledger holds a malformed suppression entry")
		}
		hash, err := hex.DecodeString(parts[1])
		if err != nil {
			return problem.Wrap(problem.Internal, err, "erasure ledger holds a malformed suppression entry")
		}
		token, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			return problem.Wrap(problem.Internal, err, "erasure ledger holds a malformed suppression entry")
		}
		fields = append(fields, parts[0])
		for _, p := range purposes {
			entries = append(entries, Suppression{Hash: hash, Token: token, Field: parts[0], Purpose: p, Source: SuppressErasure,
				At: at.UTC().Truncate(time.Microsecond), ActorID: authz.System.ID})
		}
	}
	ctx = authz.WithActor(ctx, authz.System)
	e := audit.New(ctx, ActionSuppress, "", nil, "")
	e.Target = fmt.Sprintf("suppression:%v for %v after an erasure", fields, purposes)
	return s.store.AddSuppressions(ctx, entries, []audit.Entry{e})
}
