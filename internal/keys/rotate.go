package keys

import (
	"context"
	"errors"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/job"
)

// RewrapJob is the job kind that moves every customer's data key to the primary master.
const RewrapJob = "keys.rewrap"

// RewrapBatchSize bounds one step of the rewrap job: small enough that a step commits quickly
// and a crash repeats little, large enough to amortise the transaction.
const RewrapBatchSize = 500

// Rotator rotates the master key and queues the rewrap.
type Rotator struct {
	manager  *Manager
	jobs     job.Store
	keyStore customer.KeyStore
	catalog  *catalog.Catalog
}

// NewRotator builds a rotator; every argument is required.
func NewRotator(m *Manager, jobs job.Store, ks customer.KeyStore, cat *catalog.Catalog) (*Rotator, error) {
	if m == nil || jobs == nil || ks == nil || cat == nil {
		return nil, errors.New("key rotator: manager, job store, key store and catalog are required")
	}
	return &Rotator{manager: m, jobs: jobs, keyStore: ks, catalog: cat}, nil
}

// Start rotates the master key and queues the rewrap job, which the job runner (in the server,
// or the command line) carries out and resumes after a crash.
func (r *Rotator) Start(ctx context.Context) (job.Job, error) {
	if _, err := authz.Require(ctx, r.catalog, "keys.rotate"); err != nil {
		return job.Job{}, err
	}
	if _, err := r.manager.Rotate(ctx); err != nil {
		return job.Job{}, err
	}
	total, err := r.keyStore.CountCustomers(ctx)
	if err != nil {
		return job.Job{}, err
	}
	j := job.Job{ID: ident.New(), Kind: RewrapJob, Total: total}
	if err := r.jobs.CreateJob(ctx, j); err != nil {
		return job.Job{}, err
	}
	return r.jobs.GetJob(ctx, j.ID)
}

// Step is the rewrap job's step for the job runner.
func (r *Rotator) Step(ctx context.Context, j job.Job) (string, int64, error) {
	// The node running the job may not have made the rotation: make sure it wraps with the
	// newest master, or the job would "rewrap" keys to the version they already have.
	if err := r.manager.Refresh(ctx); err != nil {
		return j.Cursor, 0, err
	}
	next, n, err := r.manager.RewrapBatch(ctx, r.keyStore, j.Cursor, RewrapBatchSize)
	return next, int64(n), err
}
