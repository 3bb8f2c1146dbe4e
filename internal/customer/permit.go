package customer

import (
	"context"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/problem"
)

// Permissions is the one permission decision: whether a customer's data may be used for a
// purpose at all, given the purpose's legal basis and what the customer has said — consents and
// their withdrawal, objections, restrictions, Global Privacy Control, the suppression list.
// The consent ledger implements it. The role checks stay here; this decision is about the
// customer, not the caller.
type Permissions interface {
	// Permit returns nil when the customer's data may be used for purpose, Forbidden naming
	// the reason when it may not, and another kind when no decision could be made.
	Permit(ctx context.Context, customerID, purpose string) error
}

// OptOuts records the opt-out signals a request relays for the customer it creates, changes
// or reads (Global Privacy Control): the consent ledger implements it. A create or change stores
// the opt-out in its own transaction, so a request never leaves a customer written without the
// opt-out it carried, nor an error answered for a customer that was written; a read records it
// before the customer is opened, and only once the caller is known to be allowed the read.
type OptOuts interface {
	// OptOut returns the ledger append recording the signal ctx relays for customerID, nil
	// when it relays none or the ledger holds it already; isNew says the customer is being
	// created and has no records yet.
	OptOut(ctx context.Context, customerID string, isNew bool) (*consent.Append, error)
	// RecordOptOut stores the signal ctx relays, if any, for an existing customer.
	RecordOptOut(ctx context.Context, customerID string) error
}

// permit asks the permission decision before anything is revealed for purpose, so a withdrawn
// consent stops reveals on the very next read.
func (s *Service) permit(ctx context.Context, id, purpose string) error {
	if purpose == "" {
		return nil
	}
	return s.permissions.Permit(ctx, id, purpose)
}

// PermitReveal is the permission decision for data of the customer kept outside the profile
// (events, orders) that is about to be revealed for purpose: nil to go ahead, Forbidden
// naming the reason otherwise, and then the refusal is audited as a denied reveal, as a
// refused reveal of the profile is. An empty purpose (a masked read) needs no decision.
func (s *Service) PermitReveal(ctx context.Context, id, purpose string) error {
	if err := s.permit(ctx, id, purpose); err != nil {
		return s.denied(ctx, err, id, purpose)
	}
	return nil
}

// renderPermitted renders one look-up match. When the permission decision refuses purpose for
// this customer the match is shown masked, says why, and the refusal is returned as an audit
// entry, as a refused reveal of a single customer is.
func (s *Service) renderPermitted(ctx context.Context, r *Record, values map[string]any, purpose string) (View, *audit.Entry, error) {
	err := s.permit(ctx, r.ID, purpose)
	if err == nil {
		return s.render(ctx, r, values, purpose), nil, nil
	}
	if !problem.Is(err, problem.Forbidden) {
		return View{}, nil, err
	}
	v := s.render(ctx, r, values, "")
	v.Purpose, v.Denied = purpose, problem.Detail(err)
	e := audit.New(ctx, audit.ActionCustomerReveal, r.ID, nil, purpose)
	e.Outcome = audit.OutcomeDenied
	return v, &e, nil
}
