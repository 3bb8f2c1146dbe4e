package consent

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

// SourceMerge marks records the ledger writes itself when two customers are merged as one
// person, or when such a merge is undone. Callers cannot send it: Input refuses it.
const SourceMerge = "merge"

// Carried is one record a merge appended to the winner's ledger, with what undoing the merge
// restores: the grant (and its policy version) the winner held before.
type Carried struct {
	RecordID string `json:"record_id"`
	Kind     string `json:"kind"`
	Purpose  string `json:"purpose,omitempty"`
	// PolicyVersion is the version of the winner's own consent before the merge, restored on
	// undo; empty for objections and restrictions.
	PolicyVersion string `json:"policy_version,omitempty"`
}

// Carry is what a merge adds to the winner's ledger, and what it was decided on.
type Carry struct {
	// Records are the refusals to append to the winner's ledger, ready to store (ids and
	// signed receipts).
	Records []Record
	// Carried says what undoing the merge restores for each of Records.
	Carried []Carried
	// Versions are the two customers' decision change counters (see Version.Customer), read
	// before the merge was decided; -1 for a customer not stored (yet). The merge's
	// transaction locks both customers and checks that the counters have not moved, failing
	// with ErrLedgerChanged otherwise: a withdrawal recorded for the loser, an address of
	// theirs put on the suppression list, or a change to their contacts between the decision
	// and the merge would else be left behind where nothing reads it any more. For an undo
	// (UnmergeRefusals), the counters of every ledger it read: the winner's, those above
	// it and the loser's; the undo's transaction checks them the same way.
	Versions map[string]int64
}

// MergeRecords returns the records that make winner, about to absorb loser, no more
// permitted than loser for any purpose: wherever the winner may go ahead and the loser may
// not (a withdrawal, an objection, a restriction, a GPC opt-out, a suppressed address, or a
// consent never given), the winner's ledger gets the loser's refusal, marked with source
// merge. An opt-out therefore always survives a merge, and a consent only one of the two gave
// does not stretch to the other's data. Later choices the customer makes on the merged
// profile count as usual. The records are not stored: the merge stores them in its own
// transaction, after checking Carry.Versions.
//
// With onlyRefusals, only choices the loser made count (a withdrawal, objection,
// restriction, GPC opt-out or suppressed address), not the absence of a consent: identity
// stitching uses it, because an anonymous visitor who signs in has chosen nothing, and
// taking that as a refusal would withdraw every consent of everyone who logs in.
func (s *Service) MergeRecords(ctx context.Context, winner, loser string, onlyRefusals bool) (Carry, error) {
	ids := []string{winner, loser}
	// The counters first: whatever changes after them moves them.
	versions, err := s.DecisionVersions(ctx, ids)
	if err != nil {
		return Carry{}, err
	}
	out := Carry{Versions: versions}
	led, err := s.readLedger(ctx, ids, "")
	if err != nil {
		return Carry{}, err
	}
	// A winner not stored yet is one the merging transaction creates: a customer with no
	// choices, which still takes every refusal it may otherwise go ahead against.
	led.exist[0] = true
	ds, err := s.decideAll(ctx, ids, led, s.catalog.Purposes, false)
	if err != nil {
		return Carry{}, err
	}
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return Carry{}, err
	}
	now := s.now()
	inForce, _ := Policies(ps).InForce(now)
	a, _ := authz.ActorFrom(ctx)
	// The loser's newest record of each kind and purpose: what decided its refusals.
	loserNewest := map[kindPurpose]*Record{}
	for _, r := range led.records[1] {
		k := kindPurpose{r.Kind, r.Purpose}
		if cur := loserNewest[k]; cur == nil || r.Seq > cur.Seq {
			loserNewest[k] = r
		}
	}
	// The record that decided the loser's refusal: an objection in force decides before any
	// consent record, whatever the purpose rests on (see decide).
	deciding := func(kind, purpose string) *Record {
		if o := loserNewest[kindPurpose{KindObjection, purpose}]; o != nil && !o.Granted {
			return o
		}
		return loserNewest[kindPurpose{kind, purpose}]
	}
	add := func(kind, purpose, restore, reason string) error {
		r := Record{CustomerID: winner, Kind: kind, Purpose: purpose, Granted: false, PolicyVersion: inForce.Version,
			Source: SourceMerge, At: now, ActorID: a.ID, RequestID: audit.RequestID(ctx),
			Evidence: carriedEvidence(reason, deciding(kind, purpose))}
		if err := s.seal(&r, ps); err != nil {
			return err
		}
		out.Records = append(out.Records, r)
		out.Carried = append(out.Carried, Carried{RecordID: r.ID, Kind: kind, Purpose: purpose, PolicyVersion: restore})
		return nil
	}
	restricted := false
	for i, p := range s.catalog.Purposes {
		w, l := ds[i][0], ds[i][1]
		// An undeliverable address is a fact about the address, not a choice: the winner's
		// own address decides for the winner.
		if !w.Allowed || l.Allowed || l.Reason == ReasonUnknownCustomer || l.Reason == ReasonUndeliverable {
			continue
		}
		if onlyRefusals && !refusal(l.Reason) {
			continue
		}
		switch {
		case l.Reason == ReasonRestricted:
			if !restricted {
				restricted = true
				if err := add(KindRestriction, "", "", l.Reason); err != nil {
					return Carry{}, err
				}
			}
		case p.LegalBasis == catalog.Consent:
			if err := add(KindConsent, p.Name, w.PolicyVersion, l.Reason); err != nil {
				return Carry{}, err
			}
		case p.LegalBasis == catalog.LegitimateInterest:
			if err := add(KindObjection, p.Name, "", l.Reason); err != nil {
				return Carry{}, err
			}
		}
	}
	return out, nil
}

// UnmergeRecords returns the records that give the winner of an undone merge back what the
// merge took: each carried refusal that is still the winner's newest record of its kind and
// purpose is lifted (a consent restored under the policy version it was given under). A
// refusal the customer has since repeated or overridden is left as the customer left it.
func (s *Service) UnmergeRecords(ctx context.Context, winner string, carried []Carried) ([]Record, error) {
	if len(carried) == 0 {
		return nil, nil
	}
	hist, err := s.store.CustomerRecords(ctx, winner)
	if err != nil {
		return nil, err
	}
	newest := map[string]string{}
	for _, r := range hist {
		newest[r.Kind+"\x00"+r.Purpose] = r.ID
	}
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	a, _ := authz.ActorFrom(ctx)
	var out []Record
	for _, c := range carried {
		if newest[c.Kind+"\x00"+c.Purpose] != c.RecordID {
			continue
		}
		r := Record{CustomerID: winner, Kind: c.Kind, Purpose: c.Purpose, Granted: true, PolicyVersion: c.PolicyVersion,
			Source: SourceMerge, At: now, ActorID: a.ID, RequestID: audit.RequestID(ctx)}
		if err := s.seal(&r, ps); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// DecisionVersions returns the customers' decision change counters (see Version.Customer) as
// committed, -1 for a customer not stored: a writer that decides from the ledger as
// committed compares them with what it reads under its locks.
func (s *Service) DecisionVersions(ctx context.Context, ids []string) (map[string]int64, error) {
	if len(ids) == 0 {
		return map[string]int64{}, nil
	}
	out, err := s.store.DecisionCounters(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = -1
		}
	}
	return out, nil
}

// UnmergeRefusals returns the records that give loser, standing on its own again once its
// merge into winner made at since is undone, the refusals recorded while it was merged in the
// ledgers that answered for it then: winner's and those of every customer winner has been
// merged into since. For every kind and purpose whose newest record there is a refusal made
// since then, and whose newest in loser's own ledger is not a refusal already, loser gets one
// too. Whose choice it was is not known — it may have come by loser's id, or be why the merge
// is undone — so both keep it; consents given meanwhile stay where they are. The records are
// ready to store (source merge, an unsubscribe's or complaint's event name kept as evidence)
// with the undo; each names the source it was first recorded with (see carriedEvidence).
func (s *Service) UnmergeRefusals(ctx context.Context, winner, loser string, since time.Time) (Carry, error) {
	// Each ledger's counter is read before the ledger (see Carry.Versions): the undo's
	// transaction checks them all under lock, so that a refusal recorded meanwhile in any of
	// them sends the undo back to be decided again rather than staying behind.
	out := Carry{Versions: map[string]int64{}}
	read := func(id string) (map[string]string, []Record, error) {
		v, err := s.DecisionVersions(ctx, []string{id})
		if err != nil {
			return nil, nil, err
		}
		out.Versions[id] = v[id]
		_, into, rs, err := s.store.DecisionRecords(ctx, []string{id}, "")
		return into, rs, err
	}
	var recs []Record
	for cur, depth := winner, 0; cur != ""; depth++ {
		if depth == maxMergeDepth {
			return Carry{}, problem.New(problem.Internal, "merge links form a cycle")
		}
		into, rs, err := read(cur)
		if err != nil {
			return Carry{}, err
		}
		recs = append(recs, rs...)
		cur = into[cur]
	}
	_, own, err := read(loser)
	if err != nil {
		return Carry{}, err
	}
	newest, ownNewest := newestOfEach(recs), newestOfEach(own)
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return Carry{}, err
	}
	now := s.now()
	inForce, _ := Policies(ps).InForce(now)
	a, _ := authz.ActorFrom(ctx)
	for k, r := range newest {
		if r.Granted || r.At.Before(since) {
			continue
		}
		if o := ownNewest[k]; o != nil && !o.Granted {
			continue
		}
		c := Record{CustomerID: loser, Kind: r.Kind, Purpose: r.Purpose, Granted: false, PolicyVersion: inForce.Version,
			Source: SourceMerge, At: now, ActorID: a.ID, RequestID: audit.RequestID(ctx)}
		switch src := originalSource(r); {
		case eventRefusal(r):
			c.Evidence.FormID = r.Evidence.FormID
		case src != SourceMerge:
			c.Evidence.FormID = carriedFrom + src
		}
		if err := s.seal(&c, ps); err != nil {
			return Carry{}, err
		}
		out.Records = append(out.Records, c)
	}
	sort.Slice(out.Records, func(i, j int) bool {
		return out.Records[i].Kind+out.Records[i].Purpose < out.Records[j].Kind+out.Records[j].Purpose
	})
	return out, nil
}

// kindPurpose is what a record decides about: its kind and purpose.
type kindPurpose struct{ kind, purpose string }

// newestOfEach keeps the newest of recs (by ledger order) of each kind and purpose.
func newestOfEach(recs []Record) map[kindPurpose]*Record {
	out := map[kindPurpose]*Record{}
	for i := range recs {
		r := &recs[i]
		k := kindPurpose{r.Kind, r.Purpose}
		if cur := out[k]; cur == nil || r.Seq > cur.Seq {
			out[k] = r
		}
	}
	return out
}

// RecordEntry is the audit entry of a record the caller stores itself.
func (s *Service) RecordEntry(ctx context.Context, r *Record) audit.Entry {
	return s.recordEntry(ctx, r)
}

// ownRefusal reports whether a denial reason can be a choice the customer made: a refusal
// that is not a restriction or a listed address.
func ownRefusal(reason string) bool {
	return refusal(reason) && reason != ReasonSuppressed && reason != ReasonRestricted
}

// refusal reports whether a denial reason is a choice the customer made (or a list their
// address is on), as opposed to a consent not given or given under an old policy.
func refusal(reason string) bool {
	switch reason {
	case ReasonWithdrawn, ReasonObjected, ReasonRestricted, ReasonGPCOptOut, ReasonOptedOut, ReasonSuppressed, ReasonUnsubscribed, ReasonComplained:
		return true
	}
	return false
}

// carriedEvidence is the evidence of a refusal a merge carries, given the reason the loser
// was refused for and the loser's record that decided it (nil for none). For an unsubscribe
// or a spam complaint it names the event; for any other choice the loser made itself, the
// source it was first recorded with (see originalSource). The merged customer's decision
// then still says what the person did (gpc_opt_out, opted_out), and an imported "yes" does
// not override it (see RecordImported). A refusal that only says the loser never consented,
// or that its address is listed, carries nothing: it is not the person's choice.
func carriedEvidence(reason string, r *Record) Evidence {
	switch {
	case reason == ReasonUnsubscribed:
		return Evidence{FormID: "event:" + eventUnsubscribedName}
	case reason == ReasonComplained:
		return Evidence{FormID: "event:" + eventComplaintName}
	case r == nil || r.Granted || !ownRefusal(reason):
		return Evidence{}
	}
	if src := originalSource(r); src != SourceMerge {
		return Evidence{FormID: carriedFrom + src}
	}
	return Evidence{}
}

// carriedFrom prefixes, in the evidence of a refusal Steward carried or kept with source
// merge, the source the refusal was first recorded with.
const carriedFrom = "carried:"

// originalSource is the source r was first recorded with: for a refusal a merge carried or
// an undo kept, the one its evidence names (see carriedEvidence), else its own. A carried
// refusal without one (a consent never given) stays SourceMerge.
func originalSource(r *Record) string {
	if r.Source == SourceMerge && !r.Granted {
		if src, ok := strings.CutPrefix(r.Evidence.FormID, carriedFrom); ok && src != "" {
			return src
		}
	}
	return r.Source
}

// carriedChoice reports whether r is a refusal Steward carried or kept with source merge
// that the person made themselves, and not by an imported list: an imported "yes" does not
// override it for a marketing purpose, as the suppression list stops one after the
// person's own withdrawal.
func carriedChoice(r *Record) bool {
	if r.Source != SourceMerge || r.Granted {
		return false
	}
	src := originalSource(r)
	return src != SourceMerge && src != SourceImport
}
