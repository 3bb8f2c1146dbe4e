// Package authz is who is acting and what their role lets them do: the actor a request
// carries in its context, and the two checks every service makes before it acts, Require (a
// permission of the catalog's roles) and MayReveal (personal data for a purpose; MayRead for
// customer reads, where a generalised-only purpose needs no reveal permission). Services call
// it; adapters only put the authenticated actor into the context, so no handler decides about
// roles, and every service decides the same way.
package authz

import (
	"context"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

// Actor is whoever is acting: an API key, a staff user or the local command line. It travels
// in the context so that every service writes the same actor into its audit entries without
// each handler passing it along.
type Actor struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Role string `json:"role"`
}

// System is the actor for work that the operator starts from the command line on the data
// directory itself; holding the directory (and its root key) already grants owner power.
var System = Actor{ID: "system", Name: "command line", Role: "owner"}

type actorKey struct{}

// WithActor returns a context that carries a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx; ok is false when nobody is authenticated.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Require returns the actor in ctx, Unauthenticated when there is none and Forbidden when the
// actor's role lacks permission.
func Require(ctx context.Context, cat *catalog.Catalog, permission string) (Actor, error) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return a, problem.New(problem.Unauthenticated, "authentication required")
	}
	if !cat.RoleHas(a.Role, permission) {
		return a, problem.Forbiddenf("role %q lacks permission %q", a.Role, permission)
	}
	return a, nil
}

// MayReveal checks that the actor may see personal data in clear for purpose: the purpose
// exists (Invalid, naming the Steward-Purpose header, otherwise), the role holds
// customers.reveal and may act for the purpose (Forbidden otherwise). Asking to reveal for a
// purpose one may not act for is refused outright rather than silently masked, so the caller
// learns why. Whether the customer's own choices allow it is a separate decision (consent).
func MayReveal(ctx context.Context, cat *catalog.Catalog, purpose string) (Actor, error) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return a, problem.New(problem.Unauthenticated, "authentication required")
	}
	if _, ok := cat.Purpose(purpose); !ok {
		return a, problem.InvalidField("Steward-Purpose", "unknown purpose %q", purpose)
	}
	if !cat.RoleHas(a.Role, "customers.reveal") {
		return a, problem.Forbiddenf("role %q may not reveal personal data", a.Role)
	}
	if !cat.RoleMayActFor(a.Role, purpose) {
		return a, problem.Forbiddenf("role %q may not act for purpose %q", a.Role, purpose)
	}
	return a, nil
}

// MayRead checks that the actor may read customers for purpose, which may be empty: the
// role holds customers.read, and a purpose is checked as MayReveal checks it, except that a
// purpose marked generalized_only (analytics) needs no customers.reveal. Such a purpose is
// only ever shown generalised values (age bands, network prefixes, keyed tokens) and masked
// ones, never a value in clear, and seeing those is what a role that acts for it (the
// analyst) exists to do. Reads that would show values in clear for any purpose (events,
// identifiers) use MayReveal.
func MayRead(ctx context.Context, cat *catalog.Catalog, purpose string) (Actor, error) {
	a, err := Require(ctx, cat, "customers.read")
	if err != nil || purpose == "" {
		return a, err
	}
	if p, ok := cat.Purpose(purpose); ok && p.GeneralizedOnly {
		if !cat.RoleMayActFor(a.Role, purpose) {
			return a, problem.Forbiddenf("role %q may not act for purpose %q", a.Role, purpose)
		}
		return a, nil
	}
	return MayReveal(ctx, cat, purpose)
}
