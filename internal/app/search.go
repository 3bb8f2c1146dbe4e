package app

import (
	"context"
	"fmt"

	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/job"
)

// SearchReindexJob is the job kind that rebuilds every customer's search tokens from their
// stored values: after an upgrade that brought search to a database with customers in it (the
// server queues it when it starts), or on demand (`steward search reindex`).
const SearchReindexJob = "search.reindex"

// reindexBatch is how many customers one step of the reindex opens and rewrites, in one
// transaction: a crash repeats at most that many, and the tokens of that many, written in the
// index's order, share the index pages they land on.
const reindexBatch = 2000

// reindexStep is the reindex job's step. The step that finds no customer left records that
// the index is complete.
func (a *App) reindexStep(ctx context.Context, j job.Job) (string, int64, error) {
	next, n, err := a.Vault.ReindexSearch(ctx, j.Cursor, reindexBatch)
	if err != nil {
		return j.Cursor, 0, err
	}
	if next == "" {
		return "", 0, a.Vault.MarkSearchIndexBuilt(ctx)
	}
	return next, int64(n), nil
}

// StartReindex queues a rebuild of every customer's search tokens, or returns the one queued
// or running already, so that nodes starting together queue it once in the usual case (two
// rebuilds at once would only repeat work: each step is safe to repeat).
func (a *App) StartReindex(ctx context.Context) (job.Job, error) {
	jobs, err := a.Store.Jobs().ListJobs(ctx, 100)
	if err != nil {
		return job.Job{}, err
	}
	for _, j := range jobs {
		if j.Kind == SearchReindexJob && (j.State == job.Queued || j.State == job.Running) {
			return j, nil
		}
	}
	total, err := a.Store.Customers().CountCustomers(ctx)
	if err != nil {
		return job.Job{}, err
	}
	j := job.Job{ID: ident.New(), Kind: SearchReindexJob, Total: total}
	if err := a.Store.Jobs().CreateJob(ctx, j); err != nil {
		return job.Job{}, err
	}
	return a.Store.Jobs().GetJob(ctx, j.ID)
}

// queueReindex queues the reindex when customers stored before search existed have no tokens
// yet: the server's job runner builds the index in the background, and searches meanwhile find
// only the customers written since the upgrade and those the job has reached.
func (a *App) queueReindex(ctx context.Context) error {
	built, err := a.Vault.SearchIndexBuilt(ctx)
	if err != nil || built {
		return err
	}
	j, err := a.StartReindex(ctx)
	if err != nil {
		return fmt.Errorf("queue search reindex: %w", err)
	}
	a.Log.Info("search index incomplete: reindex job queued", "job", j.ID, "customers", j.Total)
	return nil
}
