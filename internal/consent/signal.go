package consent

import (
	"context"
	"slices"
	"sort"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

// Signal is what one tracking message says about consent: the choices a consent manager sent
// (Segment's context.consent.categoryPreferences) and whether the browser sent Global Privacy
// Control (Sec-GPC: 1).
type Signal struct {
	CustomerID string
	// Categories maps consent-manager categories to the visitor's choice; the catalog says
	// which purposes each category stands for (catalog.Purpose.ConsentCategories).
	Categories map[string]bool
	GPC        bool
	// Evidence is the message's context (user agent, IP), kept with the records as evidence
	// of how the choice arrived; the IP only as a keyed hash.
	Evidence EvidenceInput
	// Event is the opt-out the message itself stands for (an unsubscribe, a spam complaint,
	// a hard bounce), nil for any other message.
	Event *EventOptOut
	// Contacts are the customer's normalised email and phone (ContactEmail, ContactPhone) as
	// the transaction storing the message holds them: what an event opt-out puts on the
	// suppression or undeliverable list.
	Contacts map[string]string
	// Untrusted marks a signal from a browser-safe key. Its choices are recorded except a
	// grant for a purpose that reaches the customer by e-mail or text message: anyone can
	// send a message naming someone's address from a page, so such a grant needs a trusted
	// channel (a server-side key, staff, a confirmed form).
	Untrusted bool
}

// SignalRecords returns the ledger appends that tracking signals call for, one per customer,
// ready to store: ids, signed receipts, audit entries and, for a withdrawn marketing consent,
// suppression entries. The caller stores them in the transaction that stores the events that
// carried the signals, so a signal is recorded exactly when its message is.
//
// The rules, applied in the order the signals come:
//   - GPC withdraws every purpose the catalog marks gpc_opt_out (source gpc);
//   - a category choice of false withdraws the consent purposes answering to the category, or
//     objects to the legitimate-interest ones (source banner), under the policy version in
//     force if any;
//   - a choice of true gives consent under the policy version in force (or lifts an
//     objection), unless the purpose is not in that version, no version is in force, or the
//     same message carries GPC and the purpose is GPC-sensitive: a grant needs a notice the
//     visitor was shown, and the signal wins; nor, from a browser-safe key (Untrusted), for
//     a purpose with a channel (marketing by e-mail or text message);
//   - an event opt-out (see EventOptOut) withdraws what it concerns with source event, or
//     lists a hard-bounced address as undeliverable.
//
// A choice the ledger already holds (the newest record says the same, under the same version
// for a grant) records nothing, because consent managers repeat the visitor's choices on every
// message. Decisions are read as committed: a customer the caller creates in its transaction
// has none yet. pending are records the caller's transaction writes before these (refusals a
// merge carries), which count as the newest of their kind and purpose. Needs an
// authenticated caller (the write key relays the visitor's choice).
func (s *Service) SignalRecords(ctx context.Context, signals []Signal, pending ...Record) ([]Append, error) {
	a, ok := authz.ActorFrom(ctx)
	if !ok {
		return nil, problem.New(problem.Unauthenticated, "authentication required")
	}
	if len(signals) == 0 {
		return nil, nil
	}
	var ids []string
	for _, sig := range signals {
		if !slices.Contains(ids, sig.CustomerID) {
			ids = append(ids, sig.CustomerID)
		}
	}
	_, _, recs, err := s.store.DecisionRecords(ctx, ids, "")
	if err != nil {
		return nil, err
	}
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	inForce, _ := Policies(ps).InForce(now)
	b := signalBatch{s: s, ctx: ctx, ps: ps, inForce: inForce, latest: map[string]*Record{}, appends: map[string]*Append{}}
	for i := range recs {
		r := &recs[i]
		if r.Kind == KindRestriction {
			continue
		}
		k := latestKey(r.CustomerID, r.Kind, r.Purpose)
		if cur := b.latest[k]; cur == nil || r.Seq > cur.Seq {
			b.latest[k] = r
		}
	}
	for i := range pending {
		if r := &pending[i]; r.Kind != KindRestriction {
			b.latest[latestKey(r.CustomerID, r.Kind, r.Purpose)] = r
		}
	}
	for _, sig := range signals {
		ev, err := evidence(sig.Evidence, s.keys.KeyedHash)
		if err != nil {
			ev = Evidence{} // evidence of a signal is a courtesy; the choice is what counts
		}
		base := Record{CustomerID: sig.CustomerID, At: now, Evidence: ev, ActorID: a.ID, RequestID: audit.RequestID(ctx)}
		if sig.GPC {
			if err := b.gpc(base); err != nil {
				return nil, err
			}
		}
		if err := b.categories(base, sig); err != nil {
			return nil, err
		}
		if sig.Event != nil {
			if err := b.event(base, sig.Event, sig.Contacts); err != nil {
				return nil, err
			}
		}
	}
	out := make([]Append, 0, len(ids))
	for _, id := range ids {
		if ap := b.appends[id]; ap != nil {
			out = append(out, *ap)
		}
	}
	return out, nil
}

// signalBatch is the state of one SignalRecords call: the newest record of each customer,
// kind and purpose, including those the call has added, so that a choice repeated by several
// messages of one batch is recorded once.
type signalBatch struct {
	s       *Service
	ctx     context.Context
	ps      Policies
	inForce Policy
	latest  map[string]*Record // latestKey → newest record
	appends map[string]*Append // customer → what to store
}

func latestKey(customer, kind, purpose string) string {
	return customer + "\x00" + kind + "\x00" + purpose
}

// gpc withdraws every GPC-sensitive purpose not already refused.
func (b *signalBatch) gpc(base Record) error {
	for _, name := range b.s.catalog.GPCPurposes() {
		p, _ := b.s.catalog.Purpose(name)
		if prev := b.latest[latestKey(base.CustomerID, KindConsent, name)]; prev != nil && !prev.Granted {
			continue
		}
		r := base
		r.Kind, r.Purpose, r.Granted, r.PolicyVersion, r.Source = KindConsent, name, false, b.inForce.Version, SourceGPC
		if err := b.add(r, p); err != nil {
			return err
		}
	}
	return nil
}

// categories records the consent manager's choices, category by category in name order so
// that the ledger reads the same however the client ordered them.
func (b *signalBatch) categories(base Record, sig Signal) error {
	names := make([]string, 0, len(sig.Categories))
	for c := range sig.Categories {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		granted := sig.Categories[c]
		for _, p := range b.s.catalog.CategoryPurposes(c) {
			r := base
			r.Purpose, r.Granted, r.Source, r.PolicyVersion = p.Name, granted, SourceBanner, b.inForce.Version
			switch p.LegalBasis {
			case catalog.Consent:
				r.Kind = KindConsent
				if granted && (sig.GPC && p.GPCOptOut || !slices.Contains(b.inForce.Purposes, p.Name) || sig.Untrusted && p.Channel != "") {
					continue
				}
			case catalog.LegitimateInterest:
				r.Kind = KindObjection
			default:
				continue
			}
			prev := b.latest[latestKey(r.CustomerID, r.Kind, r.Purpose)]
			if prev == nil && r.Kind == KindObjection && granted {
				continue // no objection to lift
			}
			if prev != nil && prev.Granted == granted && (!granted || r.Kind == KindObjection || prev.PolicyVersion == r.PolicyVersion) {
				continue // the ledger already says so
			}
			if err := b.add(r, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// add seals r and adds it to its customer's append, with its audit entry and, when it
// withdraws a marketing consent the customer had given, their contacts on the suppression
// list, as every such withdrawal does.
func (b *signalBatch) add(r Record, p catalog.Purpose) error {
	k := latestKey(r.CustomerID, r.Kind, r.Purpose)
	prev := b.latest[k]
	if err := b.s.seal(&r, b.ps); err != nil {
		return err
	}
	ap := b.appends[r.CustomerID]
	if ap == nil {
		ap = &Append{CustomerID: r.CustomerID}
		b.appends[r.CustomerID] = ap
	}
	suppress := r.Kind == KindConsent && p.Marketing && prev != nil && prev.Granted
	if err := b.s.appendRecord(b.ctx, ap, r, suppress); err != nil {
		return err
	}
	b.latest[k] = &r
	return nil
}
