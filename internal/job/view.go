package job

import (
	"context"
	"errors"
	"slices"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
)

// Viewer shows jobs to the people whose work they are. Each kind names the permissions a role
// needs to see its jobs (a key rotation needs keys.rotate, a duplicate scan what starting one
// needs); the queue itself knows no domain, so the composition root tells it. A job of a kind
// the caller may not see answers NotFound, exactly like an unknown id, so nobody learns of
// work outside their role.
type Viewer struct {
	store    Store
	catalog  *catalog.Catalog
	readers  map[string][]string
	fallback []string
}

// NewViewer builds a viewer. readers maps a kind to the permissions that must all be held to
// see its jobs; kinds not listed need all of fallback.
func NewViewer(store Store, cat *catalog.Catalog, readers map[string][]string, fallback ...string) (*Viewer, error) {
	if store == nil || cat == nil || len(fallback) == 0 {
		return nil, errors.New("job viewer: store, catalog and a fallback permission are required")
	}
	return &Viewer{store: store, catalog: cat, readers: readers, fallback: fallback}, nil
}

// Get returns one job. Unauthenticated without an actor; Forbidden when the caller's role may
// see no kind of job at all; NotFound for an unknown id or a job of a kind the role may not see.
func (v *Viewer) Get(ctx context.Context, id string) (Job, error) {
	a, ok := authz.ActorFrom(ctx)
	if !ok {
		return Job{}, problem.New(problem.Unauthenticated, "authentication required")
	}
	role := a.Role
	sees := func(perms []string) bool {
		return !slices.ContainsFunc(perms, func(p string) bool { return !v.catalog.RoleHas(role, p) })
	}
	seesSome := sees(v.fallback)
	for _, perms := range v.readers {
		seesSome = seesSome || sees(perms)
	}
	if !seesSome {
		return Job{}, problem.Forbiddenf("role %q lacks permission %q", role, v.fallback[0])
	}
	if !ident.Valid(id) {
		return Job{}, problem.NotFoundf("job not found")
	}
	j, err := v.store.GetJob(ctx, id)
	if err != nil {
		return Job{}, err
	}
	perms, ok := v.readers[j.Kind]
	if !ok {
		perms = v.fallback
	}
	if !sees(perms) {
		return Job{}, problem.NotFoundf("job not found")
	}
	return j, nil
}
