package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/stewardhq/steward/internal/problem"
)

// States a job moves through.
const (
	Queued  = "queued"
	Running = "running"
	Done    = "done"
	Failed  = "failed"
)

// Job is one unit of long work.
type Job struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	State     string    `json:"state"`
	Cursor    string    `json:"cursor,omitempty"`
	Done      int64     `json:"done"`
	Total     int64     `json:"total"`
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store persists jobs. Claim must be safe with several nodes claiming at once.
type Store interface {
	CreateJob(ctx context.Context, j Job) error
	// ClaimJob takes the oldest queued job of one of kinds, or a running one whose lease
	// expired, marks it running with a lease until leaseUntil and returns it; NotFound when
	// there is none.
	ClaimJob(ctx context.Context, kinds []string, owner string, leaseUntil time.Time) (Job, error)
	// ClaimJobByID takes the job id as ClaimJob would, if it is queued or running under an
	// expired lease; NotFound for an unknown id, Conflict when it is held under a live lease
	// or has ended.
	ClaimJobByID(ctx context.Context, id, owner string, leaseUntil time.Time) (Job, error)
	// CheckpointJob records progress and extends the lease; it fails with Conflict when the
	// lease was lost to another owner.
	CheckpointJob(ctx context.Context, id, owner, cursor string, done int64, leaseUntil time.Time) error
	// FinishJob ends a job as done or failed, recording how many items it handled.
	FinishJob(ctx context.Context, id, owner, state, errText string, done int64) error
	GetJob(ctx context.Context, id string) (Job, error)
	ListJobs(ctx context.Context, limit int) ([]Job, error)
}

// Step runs one bounded piece of a job from cursor and returns the next cursor ("" when the
// job is complete) and how many items it handled.
type Step func(ctx context.Context, j Job) (next string, n int64, err error)

// Runner claims and runs jobs with its registered steps.
type Runner struct {
	Store Store
	Owner string // a node-unique name
	Lease time.Duration
	Steps map[string]Step
	Log   *slog.Logger
}

func (r *Runner) kinds() []string {
	ks := make([]string, 0, len(r.Steps))
	for k := range r.Steps {
		ks = append(ks, k)
	}
	return ks
}

// RunOne claims one job and runs it to the end; it returns false when there was nothing to do.
func (r *Runner) RunOne(ctx context.Context) (bool, error) {
	lease := r.Lease
	if lease <= 0 {
		lease = time.Minute
	}
	j, err := r.Store.ClaimJob(ctx, r.kinds(), r.Owner, time.Now().Add(lease))
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, r.Run(ctx, j)
}

// RunJob claims the job id and runs it here, to its end: a command that queued a job runs it
// in-process instead of waiting for a server's runner to take the oldest job of its kind. It
// returns ClaimJobByID's errors, or the step's. Stopped through ctx, it hands its lease back,
// so that the job can be resumed at once (by the same command run again, or by any runner)
// rather than after the lease runs out.
func (r *Runner) RunJob(ctx context.Context, id string) error {
	lease := r.Lease
	if lease <= 0 {
		lease = time.Minute
	}
	j, err := r.Store.ClaimJobByID(ctx, id, r.Owner, time.Now().Add(lease))
	if err != nil {
		return err
	}
	err = r.Run(ctx, j)
	if err != nil && ctx.Err() != nil {
		r.release(context.WithoutCancel(ctx), id)
	}
	return err
}

// release ends this runner's lease on a running job, keeping the cursor its step last
// checkpointed (steps may checkpoint on their own, so the runner's copy can be older).
func (r *Runner) release(ctx context.Context, id string) {
	j, err := r.Store.GetJob(ctx, id)
	if err != nil || j.State != Running {
		return
	}
	_ = r.Store.CheckpointJob(ctx, id, r.Owner, j.Cursor, j.Done, time.Now())
}

// Run drives a claimed job step by step, checkpointing after each.
func (r *Runner) Run(ctx context.Context, j Job) error {
	step, ok := r.Steps[j.Kind]
	if !ok {
		return fmt.Errorf("no step for job kind %q", j.Kind)
	}
	lease := r.Lease
	if lease <= 0 {
		lease = time.Minute
	}
	for {
		next, n, err := step(ctx, j)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // stopped: leave it running; the lease runs out and it resumes
			}
			if ferr := r.Store.FinishJob(ctx, j.ID, r.Owner, Failed, err.Error(), j.Done); ferr != nil {
				return ferr
			}
			return err
		}
		j.Done += n
		if next == "" {
			return r.Store.FinishJob(ctx, j.ID, r.Owner, Done, "", j.Done)
		}
		j.Cursor = next
		if err := r.Store.CheckpointJob(ctx, j.ID, r.Owner, j.Cursor, j.Done, time.Now().Add(lease)); err != nil {
			return err
		}
	}
}

// Loop runs jobs until ctx ends, polling every interval when idle.
func (r *Runner) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			ran, err := r.RunOne(ctx)
			if err != nil && ctx.Err() == nil && r.Log != nil {
				r.Log.Error("job failed", "err", err)
			}
			if !ran || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func isNotFound(err error) bool { return problem.Is(err, problem.NotFound) }
