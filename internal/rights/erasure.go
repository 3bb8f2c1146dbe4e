package rights

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
)

// Audit actions of the rights service.
const (
	ActionEraseBegin    = "customer.erase.begin"
	ActionErase         = "customer.erase"
	ActionEraseReplay   = "customer.erase.replay"
	ActionHoldSet       = "legal_hold.set"
	ActionHoldRelease   = "legal_hold.release"
	ActionRestrict      = "customer.restrict"
	ActionUnrestrict    = "customer.unrestrict"
	ActionObject        = "customer.object"
	ActionOptOut        = "customer.opt_out"
	ActionRequestCreate = "request.create"
	ActionRequestVerify = "request.verify"
	ActionRequestStart  = "request.start"
	ActionRequestDone   = "request.complete"
	ActionRequestReject = "request.reject"
	ActionExportCreate  = "export.create"
	ActionExportFetch   = "export.download"
)

// Hasher makes the keyed hashes of contact values that go on the suppression list.
type Hasher interface {
	KeyedHash(label string, data []byte) []byte
}

// suppressionLabel keys the suppression hashes apart from every other keyed hash.
func suppressionLabel(field string) string { return "suppression " + field }

// Service carries out data-subject rights.
type Service struct {
	Store     Store
	Customers *customer.Service
	Catalog   *catalog.Catalog
	Hasher    Hasher
	// Ledger mirrors the erasure ledger outside the database; nil only in tests that do not
	// restore.
	Ledger Ledger
	// Parts is the registry: one Part per table holding customer data.
	Parts Registry
	// Mailer sends verification links to customers who make requests themselves.
	Mailer Mailer
	// Deadlines and settings for requests; see Settings.
	Settings Settings
	// Now is the clock; tests set a fake one.
	Now func() time.Time
	// Suppress, when set, puts the customer's normalised contact values (email, phone) on the
	// marketing suppression list that permission decisions consult, before anything is erased:
	// an opt-out must survive the erasure and any later re-import. It returns the entries it
	// added, encoded for the erasure ledger, which Resuppress adds again when a restore
	// replays the erasure.
	Suppress   func(ctx context.Context, values map[string][]byte) ([]string, error)
	Resuppress func(ctx context.Context, marketing []string, at time.Time) error
	// Choices records completed restriction, objection and opt-out requests in the consent
	// ledger, where the one permission decision enforces them.
	Choices Choices
}

// Choices is the consent ledger's side of restriction, objection and opt-out requests.
type Choices interface {
	// CheckFulfilment refuses, writing nothing, what the ledger could not record.
	CheckFulfilment(f consent.Fulfilment) error
	// Fulfil appends the records and f.Entries in one transaction.
	Fulfil(ctx context.Context, customerID string, f consent.Fulfilment) (consent.Fulfilled, error)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// Erase erases a customer: the erasure ledger and suppression list first, then the profile
// and its data key in the same transaction, then every other table through the registry.
// Erasing someone already erased returns the stored report (and finishes an erasure a crash
// interrupted). Returns NotFound for an unknown customer and Conflict under a legal hold. It
// needs requests.manage.
func (s *Service) Erase(ctx context.Context, customerID, requestID, reason string) (Report, error) {
	if _, err := audit.Require(ctx, s.Catalog, "requests.manage"); err != nil {
		return Report{}, err
	}
	return s.erase(ctx, customerID, requestID, reason)
}

func (s *Service) erase(ctx context.Context, customerID, requestID, reason string) (Report, error) {
	if !customer.ValidID(customerID) {
		return Report{}, problem.InvalidField("customer_id", "is not a valid customer id")
	}
	if e, err := s.Store.LedgerEntry(ctx, customerID); err == nil {
		if e.State == LedgerErased {
			return e.Report, nil
		}
		return s.finish(ctx, e)
	} else if !problem.Is(err, problem.NotFound) {
		return Report{}, err
	}
	if h, err := s.Store.LegalHold(ctx, customerID); err == nil {
		return Report{}, problem.Conflictf("customer is under legal hold (%s): release the hold first", h.Reason)
	} else if !problem.Is(err, problem.NotFound) {
		return Report{}, err
	}
	values, err := s.Customers.IndexedValues(ctx, customerID)
	if err != nil {
		return Report{}, err
	}
	var marketing []string
	if s.Suppress != nil && len(values) > 0 {
		if marketing, err = s.Suppress(ctx, values); err != nil {
			return Report{}, err
		}
	}
	e := LedgerEntry{CustomerID: customerID, ErasedAt: s.now(), RequestID: requestID, Reason: reason, State: LedgerErasing,
		Report: Report{CustomerID: customerID}, Marketing: marketing}
	var supp []Suppression
	for _, field := range sortedNames(values) {
		h := s.Hasher.KeyedHash(suppressionLabel(field), values[field])
		supp = append(supp, Suppression{Kind: field, Hash: h})
		e.Hashes = append(e.Hashes, field+":"+hex.EncodeToString(h))
	}
	return s.begin(ctx, e, supp, ActionEraseBegin)
}

// begin records the entry outside the database first: if the process dies between the two
// writes, the file holds an erasure the database does not, and the next restore or resume
// carries it out, which is what was asked. The other order could lose an acknowledged one.
func (s *Service) begin(ctx context.Context, e LedgerEntry, supp []Suppression, action string) (Report, error) {
	if s.Ledger != nil {
		if err := s.Ledger.Append(ctx, e); err != nil {
			return Report{}, problem.Wrap(problem.Internal, err, "erasure ledger unavailable")
		}
	}
	entry := audit.New(ctx, action, e.CustomerID, nil, "privacy_requests")
	entry.Target = requestTarget(e.RequestID)
	core, err := s.Store.BeginErasure(ctx, e, supp, []audit.Entry{entry})
	if problem.Is(err, problem.Conflict) {
		// Another node began it first: carry on from the stored entry.
		stored, gerr := s.Store.LedgerEntry(ctx, e.CustomerID)
		if gerr != nil {
			return Report{}, gerr
		}
		if stored.State == LedgerErased {
			return stored.Report, nil
		}
		return s.finish(ctx, stored)
	}
	if err != nil {
		return Report{}, err
	}
	for _, o := range core {
		e.Report.add(o)
	}
	e.Report.KeyShredded = true
	if err := s.Store.SaveErasureReport(ctx, e.CustomerID, e.Report); err != nil {
		return Report{}, err
	}
	return s.finish(ctx, e)
}

// finish runs every Part the report does not hold yet, saving the report after each, and
// marks the erasure complete.
func (s *Service) finish(ctx context.Context, e LedgerEntry) (Report, error) {
	r := e.Report
	r.CustomerID = e.CustomerID
	for _, p := range s.Parts {
		if r.has(p.Table()) {
			continue
		}
		o, err := p.Erase(ctx, e.CustomerID)
		if err != nil {
			return r, fmt.Errorf("erase %s: %w", p.Table(), err)
		}
		o.Table = p.Table()
		r.add(o)
		if err := s.Store.SaveErasureReport(ctx, e.CustomerID, r); err != nil {
			return r, err
		}
	}
	r.Complete = true
	entry := audit.New(ctx, ActionErase, e.CustomerID, r.tablesTouched(), "privacy_requests")
	entry.Target = requestTarget(e.RequestID)
	if err := s.Store.FinishErasure(ctx, e.CustomerID, r, s.now(), []audit.Entry{entry}); err != nil {
		return r, err
	}
	return r, nil
}

// Resume completes erasures a crash interrupted. The ledger is the erasure's job record: an
// entry still "erasing" names work that was acknowledged and must be finished. Nodes that
// resume the same erasure at once do no harm, because every Part is idempotent.
func (s *Service) Resume(ctx context.Context) (int, error) {
	n := 0
	after := ""
	for {
		entries, err := s.Store.LedgerEntries(ctx, after, 500)
		if err != nil {
			return n, err
		}
		for _, e := range entries {
			if e.State == LedgerErasing {
				if _, err := s.finish(ctx, e); err != nil {
					return n, err
				}
				n++
			}
		}
		if len(entries) < 500 {
			return n, nil
		}
		after = entries[len(entries)-1].CustomerID
	}
}

// Replay carries out every erasure in the ledger file that the database does not show as
// complete: after a restore, everyone erased since the backup was taken is erased again,
// and the file learns of erasures recorded only in the database. It returns how many
// customers it erased.
func (s *Service) Replay(ctx context.Context) (int, error) {
	if s.Ledger == nil {
		return 0, nil
	}
	entries, err := s.Ledger.Entries(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, fe := range entries {
		stored, err := s.Store.LedgerEntry(ctx, fe.CustomerID)
		switch {
		case err == nil && stored.State == LedgerErased:
			continue
		case err == nil:
			if _, err := s.finish(ctx, stored); err != nil {
				return n, err
			}
		case problem.Is(err, problem.NotFound):
			fe.State, fe.Report = LedgerErasing, Report{CustomerID: fe.CustomerID}
			if fe.Reason == "" {
				fe.Reason = "erasure"
			}
			var supp []Suppression
			for _, h := range fe.Hashes {
				kind, hx, ok := strings.Cut(h, ":")
				b, herr := hex.DecodeString(hx)
				if !ok || herr != nil {
					return n, fmt.Errorf("%w: bad hash for one entry", ErrLedgerBroken)
				}
				supp = append(supp, Suppression{Kind: kind, Hash: b})
			}
			// The marketing suppression goes first, as at the erasure itself: were the
			// replay interrupted between the two, the next one would redo both.
			if s.Resuppress != nil && len(fe.Marketing) > 0 {
				if err := s.Resuppress(ctx, fe.Marketing, fe.ErasedAt); err != nil {
					return n, err
				}
			}
			if _, err := s.begin(ctx, fe, supp, ActionEraseReplay); err != nil {
				return n, err
			}
		default:
			return n, err
		}
		n++
	}
	return n, s.SyncLedger(ctx)
}

// SyncLedger appends to the ledger file the entries only the database knows (made on another
// node, or before the file existed), so the next restore replays them too. Backups call it
// first.
func (s *Service) SyncLedger(ctx context.Context) error {
	if s.Ledger == nil {
		return nil
	}
	after := ""
	for {
		page, err := s.Store.LedgerEntries(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := s.Ledger.Append(ctx, e); err != nil {
				return err
			}
		}
		if len(page) < 500 {
			return nil
		}
		after = page[len(page)-1].CustomerID
	}
}

// IsSuppressed reports whether a contact value (as given, e.g. an email address) belongs to
// an erased customer, so marketing tools can refuse it without Steward keeping the value.
func (s *Service) IsSuppressed(ctx context.Context, field string, raw any) (bool, error) {
	f, ok := s.Catalog.Field(field)
	if !ok || !f.Indexed() {
		return false, problem.InvalidField(field, "is not a look-up field")
	}
	b, err := s.Customers.Normalize(field, raw)
	if err != nil {
		return false, err
	}
	return s.Store.Suppressed(ctx, field, s.Hasher.KeyedHash(suppressionLabel(field), b))
}

// SetHold places a legal hold with a reason; it needs requests.manage.
func (s *Service) SetHold(ctx context.Context, customerID, reason string) (Hold, error) {
	a, err := audit.Require(ctx, s.Catalog, "requests.manage")
	if err != nil {
		return Hold{}, err
	}
	if !customer.ValidID(customerID) {
		return Hold{}, problem.InvalidField("customer_id", "is not a valid customer id")
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 {
		return Hold{}, problem.InvalidField("reason", "is required (at most 500 characters)")
	}
	if _, err := s.Customers.IndexedValues(ctx, customerID); err != nil {
		return Hold{}, err
	}
	h := Hold{CustomerID: customerID, Reason: reason, ActorID: a.ID, CreatedAt: s.now()}
	e := audit.New(ctx, ActionHoldSet, customerID, nil, "legal_obligation")
	return h, s.Store.SetLegalHold(ctx, h, []audit.Entry{e})
}

// ReleaseHold lifts a legal hold; NotFound when there is none.
func (s *Service) ReleaseHold(ctx context.Context, customerID string) error {
	if _, err := audit.Require(ctx, s.Catalog, "requests.manage"); err != nil {
		return err
	}
	if !customer.ValidID(customerID) {
		return problem.InvalidField("customer_id", "is not a valid customer id")
	}
	e := audit.New(ctx, ActionHoldRelease, customerID, nil, "legal_obligation")
	return s.Store.ReleaseLegalHold(ctx, customerID, []audit.Entry{e})
}

func (r Report) tablesTouched() []string {
	var out []string
	for _, o := range r.Tables {
		if o.Deleted > 0 || o.Anonymised > 0 {
			out = append(out, o.Table)
		}
	}
	return out
}

func requestTarget(id string) string {
	if id == "" {
		return ""
	}
	return "request:" + id
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
