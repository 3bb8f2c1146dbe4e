package consent

import (
	"context"
	"slices"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
)

// What a data-subject request records in the ledger when it is completed.
const (
	// RequestRestriction restricts processing (GDPR Article 18), or lifts the restriction.
	RequestRestriction = "restriction"
	// RequestObjection objects to processing based on legitimate interest, or to direct
	// marketing (GDPR Article 21).
	RequestObjection = "objection"
	// RequestOptOut opts out of the sale or sharing of personal information (CCPA/CPRA).
	RequestOptOut = "opt_out"
)

// Fulfilment is a completed restriction, objection or opt-out request, to be enforced by the
// permission decision.
type Fulfilment struct {
	RequestID string
	// Type is RequestRestriction, RequestObjection or RequestOptOut.
	Type string
	// Lift ends a restriction.
	Lift bool
	// Purposes are those objected to or opted out of. Empty means every legitimate-interest
	// purpose for an objection and every GPC-sensitive purpose for an opt-out.
	Purposes []string
	// Entries are the request's own audit entries, stored with the records.
	Entries []audit.Entry
}

// Fulfilled says what a fulfilment recorded, per purpose, for the request's result.
type Fulfilled struct {
	// Objected are the purposes now objected to; Withdrawn those whose consent was withdrawn
	// (an objection to a purpose that rests on consent); OptedOut those opted out of.
	Objected  []string `json:"objected,omitempty"`
	Withdrawn []string `json:"withdrawn,omitempty"`
	OptedOut  []string `json:"opted_out,omitempty"`
	// Restricted is set for a restriction: true placed, false lifted.
	Restricted *bool `json:"restricted,omitempty"`
	// Records are the ledger records' ids.
	Records []string `json:"records"`
}

// CheckFulfilment validates f without writing, so a request is refused before it is started.
func (s *Service) CheckFulfilment(f Fulfilment) error {
	_, err := s.fulfilmentPurposes(f)
	return err
}

// fulfilmentPurposes resolves the purposes f names, refusing those it cannot apply to.
func (s *Service) fulfilmentPurposes(f Fulfilment) ([]catalog.Purpose, error) {
	if f.Type == RequestRestriction {
		if len(f.Purposes) > 0 {
			return nil, problem.InvalidField("purposes", "a restriction covers every purpose but legal obligations; name none")
		}
		return nil, nil
	}
	names := f.Purposes
	if len(names) == 0 {
		switch f.Type {
		case RequestObjection:
			for _, p := range s.catalog.Purposes {
				if p.LegalBasis == catalog.LegitimateInterest {
					names = append(names, p.Name)
				}
			}
		case RequestOptOut:
			names = s.catalog.GPCPurposes()
		}
	}
	var out []catalog.Purpose
	for i, name := range names {
		p, ok := s.catalog.Purpose(name)
		switch {
		case !ok:
			return nil, problem.InvalidField("purposes", "unknown purpose %q", name)
		case slices.Index(names, name) != i:
			return nil, problem.InvalidField("purposes", "purpose %q is listed twice", name)
		case p.LegalBasis == catalog.Contract || p.LegalBasis == catalog.LegalObligation:
			return nil, problem.InvalidField("purposes", "%q rests on %s, which the customer cannot object to or opt out of", name, p.LegalBasis)
		case f.Type == RequestOptOut && p.LegalBasis != catalog.Consent:
			return nil, problem.InvalidField("purposes", "%q rests on %s; an opt-out of sale or sharing covers consent purposes: file an objection instead", name, p.LegalBasis)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, problem.InvalidField("purposes", "the catalog has no purpose this request could cover")
	}
	return out, nil
}

// Fulfil records a completed restriction, objection or opt-out request in the customer's
// ledger, with receipts, suppression entries for marketing purposes, and the request's audit
// entries, in one transaction, so that the very next decision enforces it:
//   - restriction: a restriction record (lifted with Lift); every purpose but legal
//     obligations is then denied as "restricted";
//   - objection: an objection record for each legitimate-interest or marketing purpose
//     ("objected"), and a consent withdrawal for a purpose that rests on consent alone
//     ("withdrawn");
//   - opt-out: a consent withdrawal for each sale/share purpose ("opted_out").
//
// Records name the request as their form (request:ID) and have source "request". Needs
// requests.manage. NotFound for an unknown customer; a merged one's records go to the customer
// answering for it.
func (s *Service) Fulfil(ctx context.Context, customerID string, f Fulfilment) (Fulfilled, error) {
	a, err := authz.Require(ctx, s.catalog, "requests.manage")
	if err != nil {
		return Fulfilled{}, err
	}
	if !ident.Valid(customerID) {
		return Fulfilled{}, problem.InvalidField("customer_id", "is not a valid customer id")
	}
	purposes, err := s.fulfilmentPurposes(f)
	if err != nil {
		return Fulfilled{}, err
	}
	return followMerges(ctx, customerID, func(ctx context.Context, id string) (Fulfilled, error) {
		return s.fulfil(ctx, a, id, f, purposes)
	})
}

// fulfil is Fulfil for one customer, once the request is checked.
func (s *Service) fulfil(ctx context.Context, a authz.Actor, customerID string, f Fulfilment, purposes []catalog.Purpose) (Fulfilled, error) {
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return Fulfilled{}, err
	}
	now := s.now()
	inForce, _ := Policies(ps).InForce(now)
	out := Fulfilled{Records: []string{}}
	ap := Append{CustomerID: customerID}
	add := func(kind, purpose string, granted bool) error {
		r := Record{CustomerID: customerID, Kind: kind, Purpose: purpose, Granted: granted, PolicyVersion: inForce.Version,
			Source: SourceRequest, At: now, Evidence: Evidence{FormID: "request:" + f.RequestID}, ActorID: a.ID, RequestID: audit.RequestID(ctx)}
		p, _ := s.catalog.Purpose(purpose)
		sup, err := s.choiceSuppressions(ctx, &r, p)
		if err != nil {
			return err
		}
		ap.Suppressions = append(ap.Suppressions, sup...)
		if err := s.seal(&r, ps); err != nil {
			return err
		}
		ap.Records = append(ap.Records, r)
		ap.Entries = append(ap.Entries, s.recordEntry(ctx, &r))
		out.Records = append(out.Records, r.ID)
		return nil
	}
	switch f.Type {
	case RequestRestriction:
		on := !f.Lift
		out.Restricted = &on
		if err := add(KindRestriction, "", f.Lift); err != nil {
			return Fulfilled{}, err
		}
	case RequestObjection:
		for _, p := range purposes {
			kind := KindObjection
			if p.LegalBasis == catalog.Consent && !p.Marketing {
				kind = KindConsent // consent alone carries it: objecting is withdrawing
				out.Withdrawn = append(out.Withdrawn, p.Name)
			} else {
				out.Objected = append(out.Objected, p.Name)
			}
			if err := add(kind, p.Name, false); err != nil {
				return Fulfilled{}, err
			}
		}
	case RequestOptOut:
		for _, p := range purposes {
			out.OptedOut = append(out.OptedOut, p.Name)
			if err := add(KindConsent, p.Name, false); err != nil {
				return Fulfilled{}, err
			}
		}
	default:
		return Fulfilled{}, problem.InvalidField("type", "a %q request records nothing in the consent ledger", f.Type)
	}
	ap.Entries = append(ap.Entries, f.Entries...)
	if err := s.sealAppend(ctx, &ap); err != nil {
		return Fulfilled{}, err
	}
	ap.Via = viaOf(ctx)
	if err := s.store.AppendConsent(ctx, ap); err != nil {
		return Fulfilled{}, err
	}
	return out, nil
}
