package consent

import (
	"context"
	"runtime"
	"sort"
	"sync"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/problem"
)

// ImportChoice is one consent column's value for one imported customer.
type ImportChoice struct {
	CustomerID string
	Purpose    string
	Granted    bool
}

// CheckImport validates the consent columns of an import before anything is read: every
// purpose must be a known consent purpose, and the policy version the list was collected under
// must be published, in force (not a future one), cover every purpose and not be superseded
// by a material change to one of them — the rules a single grant must meet. Needs
// consents.write. Returns Invalid naming the problem.
func (s *Service) CheckImport(ctx context.Context, purposes []string, policyVersion string) error {
	if _, err := authz.Require(ctx, s.catalog, "consents.write"); err != nil {
		return err
	}
	if len(purposes) == 0 {
		return nil
	}
	if policyVersion == "" {
		return problem.InvalidField("policy_version", "is required with consent columns: name the privacy-policy version the list was collected under")
	}
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return err
	}
	granted := true
	for _, purpose := range purposes {
		in := Input{Purpose: purpose, Granted: &granted, PolicyVersion: policyVersion, Source: SourceImport}
		p, err := in.check(s.catalog)
		if err != nil {
			return problem.InvalidField("consent", "%s", problem.Detail(err))
		}
		if _, err := policyFor(Policies(ps), in, p, s.now()); err != nil {
			return err
		}
	}
	return nil
}

// RecordImported appends imported consent choices to the ledger with source import, under
// policyVersion (checked with CheckImport first). It is idempotent: a choice already recorded
// from an import (same customer, purpose, answer and version) is not appended again, so
// running the same list twice — or resuming it — leaves one record per choice, and a choice
// the customer made since is not overridden by re-running an old list. A "no" is recorded as
// a refusal; it puts the customer's contacts on the suppression list only when it withdraws a
// consent they had given, as any withdrawal does. A "yes" for a purpose the customer last
// refused by an unsubscribe or spam complaint is skipped, and so is one for a marketing
// purpose the customer last refused under an id merged with theirs (see carriedChoice). Needs consents.write. Returns how
// many records it appended; customers that do not exist are skipped, and a merged customer's
// choices are recorded by the customer answering for it.
func (s *Service) RecordImported(ctx context.Context, policyVersion string, choices []ImportChoice) (int, error) {
	a, err := authz.Require(ctx, s.catalog, "consents.write")
	if err != nil {
		return 0, err
	}
	if len(choices) == 0 {
		return 0, nil
	}
	ids := make([]string, 0, len(choices))
	seen := map[string]bool{}
	for _, c := range choices {
		if !seen[c.CustomerID] {
			seen[c.CustomerID] = true
			ids = append(ids, c.CustomerID)
		}
	}
	for attempt := 0; ; attempt++ {
		n, err := s.recordImported(ctx, a, policyVersion, ids, choices)
		if merged(err) && attempt < 3 {
			continue // a customer was merged, or its merge undone, while the list was decided: decide again
		}
		return n, err
	}
}

// recordImported is one attempt of RecordImported, for the customers ids of the choices.
func (s *Service) recordImported(ctx context.Context, a authz.Actor, policyVersion string, ids []string, choices []ImportChoice) (int, error) {
	// A merged customer's choices go to the customer answering for it, and are weighed
	// against that customer's ledger.
	l, err := s.readLedger(ctx, ids, "")
	if err != nil {
		return 0, err
	}
	answer := make(map[string]string, len(ids))
	exist := make(map[string]bool, len(ids))
	for j, id := range ids {
		answer[id] = l.answer[j]
		exist[l.answer[j]] = l.exist[j]
	}
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return 0, err
	}
	type key struct {
		customer, purpose string
		granted           bool
	}
	done := map[key]bool{}
	latest := map[[2]string]*Record{}
	// For each customer and purpose, the newest refusal Steward carried or kept that the
	// person made (see carriedChoice), and the newest consent that was not imported: until
	// the person opts in afresh, that refusal holds against imported "yes"es, however many
	// imports come between, as a suppression entry does after their own withdrawal.
	carried, fresh := map[[2]string]int64{}, map[[2]string]int64{}
	seen := map[*Record]bool{}
	for _, recs := range l.records {
		for _, r := range recs {
			if r.Kind != KindConsent || seen[r] {
				continue
			}
			seen[r] = true
			if r.Source == SourceImport && r.PolicyVersion == policyVersion {
				done[key{r.CustomerID, r.Purpose, r.Granted}] = true
			}
			k := [2]string{r.CustomerID, r.Purpose}
			if latest[k] == nil || r.Seq > latest[k].Seq {
				latest[k] = r
			}
			switch {
			case carriedChoice(r):
				carried[k] = max(carried[k], r.Seq)
			case r.Granted && r.Source != SourceImport:
				fresh[k] = max(fresh[k], r.Seq)
			}
		}
	}
	type pending struct {
		r        Record
		withdraw bool
		// via is the id the row named, when a merge redirected it (see Append.Via).
		via string
	}
	var work []pending
	now := s.now()
	for _, c := range choices {
		named := c.CustomerID
		c.CustomerID = answer[c.CustomerID]
		via := ""
		if named != c.CustomerID {
			via = named
		}
		k := key{c.CustomerID, c.Purpose, c.Granted}
		if done[k] || !exist[c.CustomerID] {
			continue
		}
		done[k] = true
		p, ok := s.catalog.Purpose(c.Purpose)
		if !ok {
			return 0, problem.InvalidField("consent", "unknown purpose %q", c.Purpose)
		}
		pk := [2]string{c.CustomerID, c.Purpose}
		prev := latest[pk]
		if c.Granted && (prev != nil && !prev.Granted && eventRefusal(prev) || p.Marketing && carried[pk] > fresh[pk]) {
			// The customer unsubscribed or complained since the list was collected, or opted
			// out under an id merged with this one (carried or kept by Steward, where their
			// own withdrawal would have listed the address): an old "yes" never overrides
			// what they did.
			continue
		}
		work = append(work, pending{r: Record{CustomerID: c.CustomerID, Kind: KindConsent, Purpose: c.Purpose, Granted: c.Granted,
			PolicyVersion: policyVersion, Source: SourceImport, At: now, ActorID: a.ID, RequestID: audit.RequestID(ctx)},
			withdraw: p.Marketing && prev != nil && prev.Granted, via: via})
	}
	// Signing receipts is most of the work before the write: it runs on every processor.
	errs := make([]error, len(work))
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(work))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(work); i += workers {
				errs[i] = s.seal(&work[i].r, ps)
			}
		}(w)
	}
	wg.Wait()
	byCustomer := map[string]*Append{}
	for i := range work {
		if errs[i] != nil {
			return 0, errs[i]
		}
		r := work[i].r
		// One append per customer and id the rows named it by: each redirected one is
		// checked to be merged still when it is stored.
		group := r.CustomerID + "\x00" + work[i].via
		ap := byCustomer[group]
		if ap == nil {
			ap = &Append{CustomerID: r.CustomerID, Via: work[i].via}
			byCustomer[group] = ap
		}
		if err := s.appendRecord(ctx, ap, r, work[i].withdraw); err != nil {
			return 0, err
		}
	}
	order := make([]string, 0, len(byCustomer))
	for group := range byCustomer {
		order = append(order, group)
	}
	sort.Strings(order)
	all := make([]Append, 0, len(order))
	n := 0
	for _, group := range order {
		if err := s.sealAppend(ctx, byCustomer[group]); err != nil {
			if problem.Is(err, problem.NotFound) {
				continue // erased while the import ran, as below
			}
			return 0, err
		}
		all = append(all, *byCustomer[group])
		n += len(byCustomer[group].Records)
	}
	err = s.store.AppendConsents(ctx, all)
	if !problem.Is(err, problem.NotFound) {
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	// A customer was erased while the import ran: append the others one by one.
	n = 0
	for _, ap := range all {
		err := s.store.AppendConsent(ctx, ap)
		if problem.Is(err, problem.NotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		n += len(ap.Records)
	}
	return n, nil
}

// appendRecord adds r (a new consent record, sealed) to ap with its audit entry. When
// suppress is set and r withdraws consent, the customer's contacts go on the suppression list
// with it, as every withdrawal of a marketing purpose does.
func (s *Service) appendRecord(ctx context.Context, ap *Append, r Record, suppress bool) error {
	if suppress && !r.Granted {
		sup, err := s.withdrawalSuppressions(ctx, r.CustomerID, r.Purpose, SuppressWithdrawal, r.ActorID, r.At)
		if err != nil {
			return err
		}
		ap.Suppressions = append(ap.Suppressions, sup...)
	}
	ap.Records = append(ap.Records, r)
	ap.Entries = append(ap.Entries, s.recordEntry(ctx, &r))
	return nil
}
