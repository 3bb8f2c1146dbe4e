package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
)

// EventView is an event as a caller sees it. Sealed parts are shown only when revealed for a
// purpose the event's kind allows; otherwise only which properties exist.
type EventView struct {
	ID         string         `json:"id"`
	CustomerID string         `json:"customer_id"`
	Type       string         `json:"type"`
	Name       string         `json:"name,omitempty"`
	Category   string         `json:"category"`
	Timestamp  time.Time      `json:"timestamp"`
	ReceivedAt time.Time      `json:"received_at"`
	ExpiresAt  *time.Time     `json:"expires_at,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
	Context    map[string]any `json:"context,omitempty"`
	Revealed   bool           `json:"revealed"`
	// Generalized says the event is shown as a purpose that may see only generalised data
	// sees it: network prefixes, browser families, URLs without their query, no free text.
	Generalized bool `json:"generalized,omitempty"`
}

// MaxEventPage bounds one page of events.
const MaxEventPage = 500

// Events returns a page of the events of a customer and of every customer merged into it,
// newest first. Personal parts are revealed only for a purpose the caller's role may act for
// and the event's kind allows. Returns NotFound for an unknown customer.
func (s *Service) Events(ctx context.Context, customerID, purpose string, f EventFilter) ([]EventView, string, error) {
	if _, err := authz.Require(ctx, s.catalog, "customers.read"); err != nil {
		return nil, "", err
	}
	if !ident.Valid(customerID) {
		return nil, "", problem.InvalidField("id", "is not a valid customer id")
	}
	reveal := false
	if purpose != "" {
		if _, err := authz.MayReveal(ctx, s.catalog, purpose); err != nil {
			return nil, "", err
		}
		reveal = true
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > MaxEventPage {
		return nil, "", problem.InvalidField("limit", "must be at most %d", MaxEventPage)
	}
	_, tree, err := s.store.CustomerTree(ctx, customerID)
	if err != nil {
		return nil, "", err
	}
	if reveal {
		// The customer's consents, objections, opt-outs and restriction decide too.
		if err := s.customers.PermitReveal(ctx, customerID, purpose); err != nil {
			return nil, "", err
		}
	}
	if err := s.ledger.RecordOptOut(ctx, customerID); err != nil {
		return nil, "", err
	}
	want := f.Limit
	f.Limit++
	rows, err := s.store.ListEvents(ctx, tree, f)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > want {
		rows = rows[:want]
		next = strconv.FormatInt(rows[want-1].ID, 10)
	}
	p, _ := s.catalog.Purpose(purpose)
	keys := map[string]*vault.DataKey{}
	out := make([]EventView, 0, len(rows))
	revealedAny := false
	for _, r := range rows {
		v := EventView{ID: strconv.FormatInt(r.ID, 10), CustomerID: r.CustomerID, Type: r.Type, Name: r.Name, Category: r.Category,
			Timestamp: r.At, ReceivedAt: r.ReceivedAt}
		if !r.ExpiresAt.IsZero() {
			t := r.ExpiresAt
			v.ExpiresAt = &t
		}
		var plain map[string]any
		if len(r.Plain) > 0 {
			if err := json.Unmarshal(r.Plain, &plain); err != nil {
				return nil, "", problem.Wrap(problem.Internal, err, "stored event unreadable")
			}
		}
		v.Properties, _ = plain["properties"].(map[string]any)
		delete(plain, "properties")
		if len(plain) > 0 {
			v.Context = plain
		}
		if len(r.Sealed) > 0 {
			kind := s.schema.Kind(r.Type, r.Name)
			if reveal && kind.AllowsPurpose(purpose) {
				dk, ok := keys[r.CustomerID]
				if !ok {
					dk, err = s.keys.OpenDataKey(ctx, r.CustomerID, vault.WrappedKey{MasterVersion: r.MasterVersion, Blob: r.Key})
					if err != nil {
						return nil, "", problem.Wrap(problem.Internal, err, "customer key unavailable")
					}
					keys[r.CustomerID] = dk
				}
				b, err := dk.Open(EventsTable, payloadField, r.CustomerID, r.Sealed)
				if err != nil {
					return nil, "", problem.Wrap(problem.Internal, err, "stored event does not open")
				}
				var sealed map[string]any
				if err := json.Unmarshal(b, &sealed); err != nil {
					return nil, "", problem.Wrap(problem.Internal, err, "stored event unreadable")
				}
				if props, ok := sealed["properties"].(map[string]any); ok {
					if v.Properties == nil {
						v.Properties = map[string]any{}
					}
					for k, x := range props {
						v.Properties[k] = x
					}
				}
				delete(sealed, "properties")
				if len(sealed) > 0 {
					if v.Context == nil {
						v.Context = map[string]any{}
					}
					for k, x := range sealed {
						v.Context[k] = x
					}
				}
				v.Revealed = true
				revealedAny = true
			} else {
				if v.Context == nil {
					v.Context = map[string]any{}
				}
				v.Context["sealed"] = "***"
			}
		}
		if p.GeneralizedOnly {
			generalizeEvent(&v)
			v.Generalized = true
		}
		out = append(out, v)
	}
	readFor := ""
	if revealedAny {
		readFor = purpose
	}
	e := audit.New(ctx, ActionEventsRead, customerID, nil, readFor)
	e.Target = "events:" + strconv.Itoa(len(out))
	if err := s.audit.AppendAudit(ctx, e); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// IdentityView is one identifier of a customer, masked unless revealed.
type IdentityView struct {
	Kind       string    `json:"kind"`
	CustomerID string    `json:"customer_id"`
	Value      string    `json:"value"`
	CreatedAt  time.Time `json:"created_at"`
}

// Identities lists the identifiers of a customer and of everyone merged into it, masked
// unless revealed for a purpose the caller may act for. Returns NotFound for an unknown
// customer.
func (s *Service) Identities(ctx context.Context, customerID, purpose string) ([]IdentityView, string, error) {
	s.init()
	if _, err := authz.Require(ctx, s.catalog, "customers.read"); err != nil {
		return nil, "", err
	}
	if !ident.Valid(customerID) {
		return nil, "", problem.InvalidField("id", "is not a valid customer id")
	}
	reveal := purpose != ""
	if reveal {
		if _, err := authz.MayReveal(ctx, s.catalog, purpose); err != nil {
			return nil, "", err
		}
	}
	root, tree, err := s.store.CustomerTree(ctx, customerID)
	if err != nil {
		return nil, "", err
	}
	if reveal {
		if err := s.customers.PermitReveal(ctx, customerID, purpose); err != nil {
			return nil, "", err
		}
	}
	if err := s.ledger.RecordOptOut(ctx, customerID); err != nil {
		return nil, "", err
	}
	rows, err := s.store.ListIdentities(ctx, tree, s.indexed)
	if err != nil {
		return nil, "", err
	}
	type opened struct {
		values map[string]any
		dk     *vault.DataKey
	}
	recs := map[string]opened{}
	out := make([]IdentityView, 0, len(rows))
	var fields []string // the catalog fields shown in clear or generalised, for the audit entry
	for _, r := range rows {
		v := IdentityView{Kind: r.Kind, CustomerID: r.CustomerID, Value: "***", CreatedAt: r.CreatedAt}
		field := identityField(r.Kind)
		if reveal && s.allowsField(field, purpose) {
			o, ok := recs[r.CustomerID]
			if !ok {
				c, err := s.vault.Record(ctx, r.CustomerID)
				if err != nil {
					return nil, "", err
				}
				if o.values, o.dk, err = s.vault.OpenProfile(ctx, c); err != nil {
					return nil, "", err
				}
				recs[r.CustomerID] = o
			}
			var value string
			if r.Sealed == nil {
				// The profile's current value, which its blind-index entry stands for.
				value, _ = o.values[r.Kind].(string)
			} else {
				b, err := o.dk.Open(IdentitiesTable, r.Kind, r.CustomerID, r.Sealed)
				if err != nil {
					return nil, "", problem.Wrap(problem.Internal, err, "stored identifier does not open")
				}
				value = string(b)
			}
			shown, revealed := s.customers.Present(field, value, purpose)
			v.Value = fmt.Sprint(shown)
			if revealed && !slices.Contains(fields, field) {
				fields = append(fields, field)
			}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	sort.Strings(fields)
	e := audit.New(ctx, "identities.read", customerID, nil, "")
	if len(fields) > 0 {
		// A reveal names the fields it showed, as a profile reveal does.
		e = audit.New(ctx, audit.ActionCustomerReveal, customerID, fields, purpose)
		e.Target = "identities"
	}
	if err := s.audit.AppendAudit(ctx, e); err != nil {
		return nil, "", err
	}
	return out, root, nil
}

// identityField is the catalog field an identifier kind stands for, whose purposes,
// generalisation and masking its values follow: a stitched e-mail is an e-mail. The business's
// own ids (a userId, external ids) are the user_id field.
func identityField(kind string) string {
	switch kind {
	case KindEmail, KindPhone, KindDeviceID, KindAnonymousID:
		return kind
	}
	return "user_id"
}

// allowsField reports whether purpose may see field at all, in clear or generalised, so that
// identifiers a purpose may not see are never even opened.
func (s *Service) allowsField(field, purpose string) bool {
	f, ok := s.catalog.Field(field)
	return ok && f.AllowsPurpose(purpose)
}

// Merges lists the merges that involve a customer's tree.
func (s *Service) Merges(ctx context.Context, customerID string) ([]Merge, error) {
	if _, err := authz.Require(ctx, s.catalog, "customers.read"); err != nil {
		return nil, err
	}
	if !ident.Valid(customerID) {
		return nil, problem.InvalidField("id", "is not a valid customer id")
	}
	_, tree, err := s.store.CustomerTree(ctx, customerID)
	if err != nil {
		return nil, err
	}
	if err := s.ledger.RecordOptOut(ctx, customerID); err != nil {
		return nil, err
	}
	ms, err := s.store.ListMerges(ctx, tree)
	if err != nil {
		return nil, err
	}
	return ms, s.audit.AppendAudit(ctx, audit.New(ctx, ActionMergesRead, customerID, nil, ""))
}

// ActionMergesRead is the audit action of listing a customer's merges, which says whose
// records were joined to whose.
const ActionMergesRead = "merges.read"

// Unmerge undoes a merge: the loser becomes a customer of its own again, with its
// identifiers and events, which never moved, and the refusals the winner's ledger received
// while they were merged (see consent.Service.UnmergeRefusals). Returns NotFound for an unknown merge and
// Conflict for one already undone.
func (s *Service) Unmerge(ctx context.Context, mergeID string) (Merge, error) {
	if _, err := authz.Require(ctx, s.catalog, "customers.write"); err != nil {
		return Merge{}, err
	}
	if !ident.Valid(mergeID) {
		return Merge{}, problem.InvalidField("id", "is not a valid merge id")
	}
	// The refusals made while the two were one customer stay with both. A refusal recorded
	// in one of the ledgers they are read from, while the undo is stored, sends it round again.
	for attempt := 0; ; attempt++ {
		m, err := s.unmerge(ctx, mergeID)
		if errors.Is(err, consent.ErrLedgerChanged) && attempt < 5 {
			continue
		}
		return m, err
	}
}

func (s *Service) unmerge(ctx context.Context, mergeID string) (Merge, error) {
	var kept consent.Carry
	m, err := s.store.UndoMerge(ctx, mergeID, s.now(), func(m Merge) []audit.Entry {
		e := audit.New(ctx, ActionUnmerge, m.Winner, nil, "")
		e.Target = "customer:" + m.Loser + " merge:" + m.ID
		entries := []audit.Entry{e}
		for i := range kept.Records {
			entries = append(entries, s.merger.RecordEntry(ctx, &kept.Records[i]))
		}
		return entries
	}, func(m Merge) (consent.Carry, error) {
		if s.merger == nil {
			return consent.Carry{}, nil
		}
		var err error
		kept, err = s.merger.UnmergeRefusals(ctx, m.Winner, m.Loser, m.CreatedAt)
		return kept, err
	})
	if err != nil {
		return m, err
	}
	// Each side's derived figures cover its own tree again.
	return m, s.Refigure(ctx, m.Winner, m.Loser)
}

// Drops returns what minimisation dropped from a write key's messages, by "reason:name".
func (s *Service) Drops(ctx context.Context, keyID string) (map[string]int64, error) {
	if _, err := authz.Require(ctx, s.catalog, "catalog.read"); err != nil {
		return nil, err
	}
	if keyID == "" || len(keyID) > 64 {
		return nil, problem.InvalidField("key_id", "is required")
	}
	return s.store.Drops(ctx, keyID)
}

// Purge deletes expired message ids and events past their retention, a bounded number per
// call; it returns how many rows went so a caller can loop until none are left.
func (s *Service) Purge(ctx context.Context, now time.Time) (int64, error) {
	s.init()
	return s.store.PurgeIngest(ctx, now.Add(-s.config.DedupWindow), now, 10000)
}
