package consent

import (
	"slices"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
)

// Decision answers "may this customer's data be used for this purpose?", with the reason, so a
// caller can act on it and a person can understand it.
type Decision struct {
	CustomerID string             `json:"customer_id"`
	Purpose    string             `json:"purpose"`
	LegalBasis catalog.LegalBasis `json:"legal_basis"`
	Allowed    bool               `json:"allowed"`
	Reason     string             `json:"reason"`
	// PolicyVersion is the version the deciding consent was given under, or for
	// needs_reconsent the version that changed the purpose materially.
	PolicyVersion string `json:"policy_version,omitempty"`
	// Since is when the deciding record was made (or the suppression entry added); the
	// customer's history shows the record itself, with its receipt.
	Since *time.Time `json:"since,omitempty"`
}

// Reasons. Allowed decisions name the legal basis that carries them; denied ones name what
// stops them.
const (
	ReasonConsent            = "consent"
	ReasonContract           = "contract"
	ReasonLegitimateInterest = "legitimate_interest"
	ReasonLegalObligation    = "legal_obligation"

	ReasonUnknownCustomer = "unknown_customer"
	ReasonRestricted      = "restricted"
	ReasonObjected        = "objected"
	ReasonNoConsent       = "no_consent"
	ReasonWithdrawn       = "withdrawn"
	ReasonGPCOptOut       = "gpc_opt_out"
	// ReasonOptedOut is an opt-out of sale or sharing made by a data-subject request.
	ReasonOptedOut       = "opted_out"
	ReasonNeedsReconsent = "needs_reconsent"
	ReasonNotInPolicy    = "not_in_policy"
	ReasonSuppressed     = "suppressed"
	// ReasonUnsubscribed and ReasonComplained are refusals an event recorded: an unsubscribe
	// (from a message's link, a STOP reply) and a spam complaint.
	ReasonUnsubscribed = "unsubscribed"
	ReasonComplained   = "spam_complaint"
	// ReasonUndeliverable denies an email purpose while the customer's current address is on
	// the undeliverable list (it hard-bounced).
	ReasonUndeliverable = "undeliverable"
)

// facts are what the ledger and the suppression list say about one customer, for one purpose.
type facts struct {
	exists      bool
	consent     *Record // newest consent record for the purpose
	objection   *Record // newest objection record for the purpose
	restriction *Record // newest restriction
	// suppressedAt is when the customer's email or phone was last put on the suppression list
	// for the purpose; zero when it is not on it.
	suppressedAt time.Time
	// gpc is set when the request being served carries a Global Privacy Control signal.
	gpc bool
}

// fold keeps the newest record (by ledger order, whatever order they come in) of each kind
// that bears on purpose.
func (f *facts) fold(r *Record, purpose string) {
	newer := func(cur *Record) *Record {
		if cur == nil || r.Seq >= cur.Seq {
			return r
		}
		return cur
	}
	switch {
	case r.Kind == KindRestriction:
		f.restriction = newer(f.restriction)
	case r.Purpose != purpose:
	case r.Kind == KindConsent:
		f.consent = newer(f.consent)
	case r.Kind == KindObjection:
		f.objection = newer(f.objection)
	}
}

// decide is the permission rule, in one place. It is pure so that every combination of legal
// basis, ledger history, policy versions, GPC and suppression can be tested as a table.
func decide(p catalog.Purpose, ps Policies, f facts, customerID string, now time.Time) Decision {
	d := Decision{CustomerID: customerID, Purpose: p.Name, LegalBasis: p.LegalBasis}
	deny := func(reason string, r *Record) Decision {
		d.Reason = reason
		if r != nil {
			at := r.At
			d.Since = &at
		}
		return d
	}
	allow := func(reason string) Decision {
		d.Allowed, d.Reason = true, reason
		return d
	}
	if !f.exists {
		return deny(ReasonUnknownCustomer, nil)
	}
	// A restriction stops everything but what the law itself requires (GDPR Article 18(2)).
	if r := f.restriction; r != nil && !r.Granted && p.LegalBasis != catalog.LegalObligation {
		return deny(ReasonRestricted, r)
	}
	switch p.LegalBasis {
	case catalog.LegalObligation:
		return allow(ReasonLegalObligation)
	case catalog.Contract:
		return allow(ReasonContract)
	}
	if r := f.objection; r != nil && !r.Granted {
		if eventRefusal(r) {
			return deny(eventReason(r), r)
		}
		return deny(ReasonObjected, r)
	}
	if p.LegalBasis == catalog.LegitimateInterest {
		if p.Marketing && !f.suppressedAt.IsZero() {
			return suppressed(d, f.suppressedAt)
		}
		return allow(ReasonLegitimateInterest)
	}
	// Consent: the signal in this very request comes first, as the CCPA requires.
	if f.gpc && p.GPCOptOut {
		d.Reason = ReasonGPCOptOut
		return d
	}
	c := f.consent
	switch {
	case c == nil:
		return deny(ReasonNoConsent, nil)
	case !c.Granted && originalSource(c) == SourceGPC:
		return deny(ReasonGPCOptOut, c)
	case !c.Granted && originalSource(c) == SourceRequest && p.GPCOptOut:
		return deny(ReasonOptedOut, c)
	case eventRefusal(c):
		return deny(eventReason(c), c)
	case !c.Granted:
		return deny(ReasonWithdrawn, c)
	}
	d.PolicyVersion = c.PolicyVersion
	inForce, ok := ps.InForce(now)
	if !ok || !slices.Contains(inForce.Purposes, p.Name) {
		d.PolicyVersion = inForce.Version
		return deny(ReasonNotInPolicy, c)
	}
	_, i, known := ps.Find(c.PolicyVersion)
	if !known {
		return deny(ReasonNeedsReconsent, c)
	}
	if w, changed := ps.Supersedes(i, p.Name, now); changed {
		d.PolicyVersion = w.Version
		return deny(ReasonNeedsReconsent, c)
	}
	// A suppression outlives erasure: only a fresh opt-in made after the address was
	// suppressed lifts it, and an imported consent is never fresh.
	if p.Marketing && !f.suppressedAt.IsZero() && (c.Source == SourceImport || !c.At.After(f.suppressedAt)) {
		return suppressed(d, f.suppressedAt)
	}
	at := c.At
	d.Since = &at
	return allow(ReasonConsent)
}

func suppressed(d Decision, at time.Time) Decision {
	d.Allowed, d.Reason, d.Since = false, ReasonSuppressed, &at
	return d
}

// undeliverable denies d, an email purpose, because the customer's address hard-bounced at at.
func undeliverable(d Decision, at time.Time) Decision {
	d.Allowed, d.Reason, d.Since = false, ReasonUndeliverable, &at
	return d
}
