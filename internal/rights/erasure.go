package rights

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ident"
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
	// Reads of the privacy desk's own records, audited like customer reads.
	ActionRequestRead   = "request.read"
	ActionRequestList   = "request.list"
	ActionReportRead    = "erasure.report.read"
	ActionSuppressCheck = "suppression.check"
)

// Hasher makes the keyed hashes of contact values that go on the suppression list.
type Hasher interface {
	KeyedHash(label string, data []byte) []byte
}

// suppressionLabel keys the suppression hashes apart from every other keyed hash.
func suppressionLabel(field string) string { return "suppression " + field }

// Service carries out data-subject rights.
type Service struct {
	store     Store
	customers *customer.Service
	vault     *customer.Vault
	audit     audit.Store
	catalog   *catalog.Catalog
	hasher    Hasher
	ledger    Ledger
	parts     Registry
	mailer    Mailer
	texter    Texter
	settings  Settings
	consents  ConsentLedger
	clock     clock.Clock
}

// Deps is what the rights service is built from; every field but Mailer, Texter and Clock is
// required.
type Deps struct {
	Store Store
	// Customers is the audited customer service (look-ups, rectification, the dossier);
	// Vault the privileged side that opens and seals for erasure and export.
	Customers *customer.Service
	Vault     *customer.Vault
	Audit     audit.Store
	Catalog   *catalog.Catalog
	Hasher    Hasher
	// Ledger mirrors the erasure ledger outside the database, for restores to replay.
	Ledger Ledger
	// Parts is the registry: one Part per table holding customer data.
	Parts Registry
	// Mailer sends verification links to customers who make requests themselves; nil turns
	// self-service requests off.
	Mailer Mailer
	// Texter sends the same links by text message, for requests made by phone number; nil
	// refuses self-service requests by phone.
	Texter Texter
	// Consents is the consent ledger: it records completed restriction, objection and opt-out
	// requests, and keeps an erased customer's contacts on the suppression list.
	Consents ConsentLedger
	// Clock is the time of requests, deadlines and erasures; nil is the system clock.
	Clock clock.Clock
}

// New builds the rights service with its settings.
func New(d Deps, settings Settings) (*Service, error) {
	if d.Store == nil || d.Customers == nil || d.Vault == nil || d.Audit == nil || d.Catalog == nil || d.Hasher == nil {
		return nil, errors.New("rights service: store, customer service and vault, audit store, catalog and hasher are required")
	}
	if d.Ledger == nil || d.Parts == nil || d.Consents == nil {
		return nil, errors.New("rights service: erasure ledger file, part registry and consent ledger are required")
	}
	return &Service{store: d.Store, customers: d.Customers, vault: d.Vault, audit: d.Audit, catalog: d.Catalog, hasher: d.Hasher,
		ledger: d.Ledger, parts: d.Parts, mailer: d.Mailer, texter: d.Texter, settings: settings.withDefaults(), consents: d.Consents, clock: clock.Or(d.Clock)}, nil
}

// ConsentLedger is the consent ledger's side of data-subject rights.
type ConsentLedger interface {
	// CheckFulfilment refuses, writing nothing, what the ledger could not record.
	CheckFulfilment(f consent.Fulfilment) error
	// Fulfil appends the records and f.Entries in one transaction.
	Fulfil(ctx context.Context, customerID string, f consent.Fulfilment) (consent.Fulfilled, error)
	// SuppressErased puts an erased customer's normalised contact values (email, phone) on
	// the marketing suppression list that permission decisions consult, before anything is
	// erased: an opt-out must survive the erasure and any later re-import. It returns the
	// entries it added, encoded for the erasure ledger.
	SuppressErased(ctx context.Context, values map[string]string) ([]string, error)
	// Resuppress adds those entries again when a restore replays the erasure.
	Resuppress(ctx context.Context, marks []string, at time.Time) error
}

// Parts is the registry of tables holding customer data.
func (s *Service) Parts() Registry { return s.parts }

// LegalHolds lists the customers under legal hold, for retention, which must not purge them.
func (s *Service) LegalHolds(ctx context.Context) ([]Hold, error) { return s.store.LegalHolds(ctx) }

// ErasureReport returns the report of an erased customer: what was erased, when and why, never
// what the data was. Needs requests.manage; NotFound for a customer never erased.
func (s *Service) ErasureReport(ctx context.Context, customerID string) (LedgerEntry, error) {
	if _, err := authz.Require(ctx, s.catalog, "requests.manage"); err != nil {
		return LedgerEntry{}, err
	}
	if !ident.Valid(customerID) {
		return LedgerEntry{}, problem.InvalidField("id", "is not a valid customer id")
	}
	le, err := s.store.LedgerEntry(ctx, customerID)
	if err != nil {
		return LedgerEntry{}, err
	}
	return le, s.audit.AppendAudit(ctx, audit.New(ctx, ActionReportRead, customerID, nil, "privacy_requests"))
}

func (s *Service) now() time.Time { return s.clock() }

// Top returns the customer at the top of id's merge tree (id itself when nothing merged it
// into another), which an erasure of id erases with the whole tree. Retention judges a tree
// by its top: a merged-in record stops changing when merged, so it looks inactive while the
// person is not. NotFound for a customer without a profile row.
func (s *Service) Top(ctx context.Context, id string) (string, error) {
	root, _, err := s.store.MergeTree(ctx, id)
	return root, err
}

// Erase erases a customer: the erasure ledger and suppression list first, then the profile
// and its data key in the same transaction, then every other table through the registry.
// The customers of its merge tree go with it (see eraseRows).
// Erasing someone already erased returns the stored report (and finishes an erasure a crash
// interrupted). Returns NotFound for an unknown customer and Conflict under a legal hold. It
// needs requests.manage.
func (s *Service) Erase(ctx context.Context, customerID, requestID, reason string) (Report, error) {
	if _, err := authz.Require(ctx, s.catalog, "requests.manage"); err != nil {
		return Report{}, err
	}
	return s.erase(ctx, customerID, requestID, reason)
}

// erase carries out the erasure, then clears the engine's logs of the deleted rows' earlier
// versions: the erasure is not done while the customer's wrapped data key is still in a file
// (SQLite's write-ahead log keeps it until a checkpoint truncates the log). Asking again
// after a failed clearing returns the stored report and clears again.
func (s *Service) erase(ctx context.Context, customerID, requestID, reason string) (Report, error) {
	r, err := s.eraseRows(ctx, customerID, requestID, reason)
	if err != nil {
		return r, err
	}
	if err := s.store.Forget(ctx); err != nil {
		return r, problem.Wrap(problem.Unavailable, err, "the erasure is complete, but a long read (a backup?) keeps the deleted rows in the database's log: ask again once it ends")
	}
	return r, nil
}

// eraseRows erases the person: the customer asked for and every customer of its merge tree.
// A merge (stitching, an identify, a duplicate review) says two records are one person, but
// the merged-in record keeps its own profile, events and identifiers under its own data key,
// and only the link names it: erasing the top one alone would leave the rest behind, no
// longer linked to anyone. So the top of the tree answers for a merged-in id, as it does in
// reads, and the merged-in customers are erased first, each under its own ledger entry (a
// restore replays them one by one), every one before the customer it was merged into, whose
// row's deletion takes the links with it.
func (s *Service) eraseRows(ctx context.Context, customerID, requestID, reason string) (Report, error) {
	if !ident.Valid(customerID) {
		return Report{}, problem.InvalidField("customer_id", "is not a valid customer id")
	}
	if e, err := s.store.LedgerEntry(ctx, customerID); err == nil {
		if e.State == LedgerErased {
			return e.Report, nil
		}
		return s.finish(ctx, e)
	} else if !problem.Is(err, problem.NotFound) {
		return Report{}, err
	}
	for attempt := 0; ; attempt++ {
		root, tree, err := s.store.MergeTree(ctx, customerID)
		if problem.Is(err, problem.NotFound) {
			// No profile row: eraseOne answers Gone or NotFound as the vault does.
			return s.eraseOne(ctx, customerID, requestID, reason, "", nil, ActionEraseBegin)
		}
		if err != nil {
			return Report{}, err
		}
		for _, id := range tree {
			if h, err := s.store.LegalHold(ctx, id); err == nil {
				what := "customer is"
				if id != customerID {
					what = "a customer merged with this one is"
				}
				return Report{}, problem.Conflictf("%s under legal hold (%s): release the hold first", what, h.Reason)
			} else if !problem.Is(err, problem.NotFound) {
				return Report{}, err
			}
		}
		merged, err := s.eraseMerged(ctx, root, tree[1:], requestID, reason, ActionEraseBegin)
		if err != nil {
			return Report{}, err
		}
		r, err := s.eraseOne(ctx, root, requestID, reason, "", merged, ActionEraseBegin)
		if errors.Is(err, ErrMergedInto) && attempt < 5 {
			continue // merged into meanwhile: list the tree again
		}
		return r, err
	}
}

// eraseMerged erases the customers merged into root (listed with each before those merged
// into it, as MergeTree and MergedInto list them), the last first, so that every link names
// its customer until that customer is erased. It returns what was done to each, in the
// tree's order.
func (s *Service) eraseMerged(ctx context.Context, root string, members []string, requestID, reason, action string) ([]MergedReport, error) {
	out := make([]MergedReport, len(members))
	for i := len(members) - 1; i >= 0; i-- {
		id := members[i]
		var r Report
		e, err := s.store.LedgerEntry(ctx, id)
		switch {
		case err == nil && e.State == LedgerErased:
			r = e.Report
		case err == nil:
			r, err = s.finish(ctx, e)
		case problem.Is(err, problem.NotFound):
			r, err = s.eraseOne(ctx, id, requestID, reason+" (merged into an erased customer)", root, nil, action)
		}
		if err != nil {
			return nil, fmt.Errorf("erase merged customer: %w", err)
		}
		out[i] = MergedReport{CustomerID: id, Tables: r.Tables, KeyShredded: r.KeyShredded, Complete: r.Complete}
	}
	return out, nil
}

// eraseOne erases one customer who has no customers merged into it any more: the erasure
// ledger and suppression list first, then the profile and its data key in one transaction,
// then every other table through the registry. with names the customer whose erasure this
// one is part of; merged is what was done to those merged into it; action is the audit
// action of the beginning (a replay says so).
func (s *Service) eraseOne(ctx context.Context, customerID, requestID, reason, with string, merged []MergedReport, action string) (Report, error) {
	values, err := s.vault.IndexedValues(ctx, customerID)
	if err != nil {
		return Report{}, err
	}
	var marketing []string
	if len(values) > 0 {
		contacts := make(map[string]string, len(values))
		for field, v := range values {
			contacts[field] = string(v)
		}
		if marketing, err = s.consents.SuppressErased(ctx, contacts); err != nil {
			return Report{}, err
		}
	}
	e := LedgerEntry{CustomerID: customerID, ErasedAt: s.now(), RequestID: requestID, Reason: reason, State: LedgerErasing,
		Report: Report{CustomerID: customerID, Merged: merged, ErasedWith: with}, Marketing: marketing}
	var supp []Suppression
	for _, field := range sortedNames(values) {
		h := s.hasher.KeyedHash(suppressionLabel(field), values[field])
		supp = append(supp, Suppression{Kind: field, Hash: h})
		e.Hashes = append(e.Hashes, field+":"+hex.EncodeToString(h))
	}
	return s.begin(ctx, e, supp, action)
}

// begin records the entry outside the database first: if the process dies between the two
// writes, the file holds an erasure the database does not, and the next restore or resume
// carries it out, which is what was asked. The other order could lose an acknowledged one.
func (s *Service) begin(ctx context.Context, e LedgerEntry, supp []Suppression, action string) (Report, error) {
	if err := s.ledger.Append(ctx, e); err != nil {
		return Report{}, problem.Wrap(problem.Internal, err, "erasure ledger unavailable")
	}
	entry := audit.New(ctx, action, e.CustomerID, nil, "privacy_requests")
	entry.Target = requestTarget(e.RequestID)
	core, err := s.store.BeginErasure(ctx, e, supp, []audit.Entry{entry})
	if problem.Is(err, problem.Conflict) {
		// Another node began it first: carry on from the stored entry.
		stored, gerr := s.store.LedgerEntry(ctx, e.CustomerID)
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
	if err := s.store.SaveErasureReport(ctx, e.CustomerID, e.Report); err != nil {
		return Report{}, err
	}
	return s.finish(ctx, e)
}

// finish runs every Part the report does not hold yet, saving the report after each, and
// marks the erasure complete.
func (s *Service) finish(ctx context.Context, e LedgerEntry) (Report, error) {
	r := e.Report
	r.CustomerID = e.CustomerID
	for _, p := range s.parts {
		if r.has(p.Table()) {
			continue
		}
		o, err := p.Erase(ctx, e.CustomerID)
		if err != nil {
			return r, fmt.Errorf("erase %s: %w", p.Table(), err)
		}
		o.Table = p.Table()
		r.add(o)
		if err := s.store.SaveErasureReport(ctx, e.CustomerID, r); err != nil {
			return r, err
		}
	}
	r.Complete = true
	entry := audit.New(ctx, ActionErase, e.CustomerID, r.tablesTouched(), "privacy_requests")
	entry.Target = requestTarget(e.RequestID)
	if err := s.store.FinishErasure(ctx, e.CustomerID, r, s.now(), []audit.Entry{entry}); err != nil {
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
		entries, err := s.store.LedgerEntries(ctx, after, 500)
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

// Replay carries out every erasure in the ledger file, and in also (the ledger of the
// database a restore replaced), that the database does not show as complete: after a
// restore, everyone erased since the backup was taken is erased again, and the file learns
// of erasures recorded only in a database. It returns how many customers it erased.
func (s *Service) Replay(ctx context.Context, also []LedgerEntry) (int, error) {
	entries, err := s.ledger.Entries(ctx)
	if err != nil {
		return 0, err
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		seen[e.CustomerID] = true
	}
	for _, e := range also {
		if !seen[e.CustomerID] {
			seen[e.CustomerID] = true
			entries = append(entries, e)
		}
	}
	n := 0
	for _, fe := range entries {
		stored, err := s.store.LedgerEntry(ctx, fe.CustomerID)
		switch {
		case err == nil && stored.State == LedgerErased:
			continue
		case err == nil:
			if _, err := s.finish(ctx, stored); err != nil {
				return n, err
			}
		case problem.Is(err, problem.NotFound):
			fe.State, fe.Report = LedgerErasing, Report{CustomerID: fe.CustomerID, ErasedWith: fe.Report.ErasedWith}
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
			if len(fe.Marketing) > 0 {
				if err := s.consents.Resuppress(ctx, fe.Marketing, fe.ErasedAt); err != nil {
					return n, err
				}
			}
			// The restored database may hold customers merged into this one that the file
			// does not name (a ledger written before merge trees were erased whole): they go
			// first, as at the erasure, before the links naming them go with the profile.
			sub, err := s.store.MergedInto(ctx, fe.CustomerID)
			if err != nil {
				return n, err
			}
			if fe.Report.Merged, err = s.eraseMerged(ctx, fe.CustomerID, sub, fe.RequestID, fe.Reason, ActionEraseReplay); err != nil {
				return n, err
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
	after := ""
	for {
		page, err := s.store.LedgerEntries(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := s.ledger.Append(ctx, e); err != nil {
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
	if _, err := authz.Require(ctx, s.catalog, "customers.read"); err != nil {
		return false, err
	}
	f, ok := s.catalog.Field(field)
	if !ok || !f.Indexed() {
		return false, problem.InvalidField(field, "is not a look-up field")
	}
	b, err := s.vault.Normalize(field, raw)
	if err != nil {
		return false, err
	}
	sup, err := s.store.Suppressed(ctx, field, s.hasher.KeyedHash(suppressionLabel(field), b))
	if err != nil {
		return false, err
	}
	n := 0
	if sup {
		n = 1
	}
	return sup, s.audit.AppendAudit(ctx, audit.QueryEntry(ctx, ActionSuppressCheck, "", []string{field}, n))
}

// SetHold places a legal hold with a reason; it needs requests.manage.
func (s *Service) SetHold(ctx context.Context, customerID, reason string) (Hold, error) {
	a, err := authz.Require(ctx, s.catalog, "requests.manage")
	if err != nil {
		return Hold{}, err
	}
	if !ident.Valid(customerID) {
		return Hold{}, problem.InvalidField("customer_id", "is not a valid customer id")
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 {
		return Hold{}, problem.InvalidField("reason", "is required (at most 500 characters)")
	}
	if _, err := s.vault.IndexedValues(ctx, customerID); err != nil {
		return Hold{}, err
	}
	h := Hold{CustomerID: customerID, Reason: reason, ActorID: a.ID, CreatedAt: s.now()}
	e := audit.New(ctx, ActionHoldSet, customerID, nil, "legal_obligation")
	return h, s.store.SetLegalHold(ctx, h, []audit.Entry{e})
}

// ReleaseHold lifts a legal hold; NotFound when there is none.
func (s *Service) ReleaseHold(ctx context.Context, customerID string) error {
	if _, err := authz.Require(ctx, s.catalog, "requests.manage"); err != nil {
		return err
	}
	if !ident.Valid(customerID) {
		return problem.InvalidField("customer_id", "is not a valid customer id")
	}
	e := audit.New(ctx, ActionHoldRelease, customerID, nil, "legal_obligation")
	return s.store.ReleaseLegalHold(ctx, customerID, []audit.Entry{e})
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
