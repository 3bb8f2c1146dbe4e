package job

import (
	"context"
	"errors"
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
	// Owner and LeaseUntil, on a job being created, reserve it for one node until then: a job
	// whose input only that node holds (an uploaded file) is claimed by no other node while the
	// reservation lasts, and by any once it ran out (the node died).
	Owner      string    `json:"-"`
	LeaseUntil time.Time `json:"-"`
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
	store Store
	owner string // a node-unique name
	lease time.Duration
	steps map[string]Step
	log   *slog.Logger
}

// RunnerDeps is what a runner is built from.
type RunnerDeps struct {
	Store Store
	// Owner names this node in leases; it must be unique among the nodes sharing the store.
	Owner string
	// Lease is how long a claim lasts without a checkpoint; zero is a minute.
	Lease time.Duration
	// Steps are the kinds this runner carries out, each with its step.
	Steps map[string]Step
	// Log, when set, hears of failed jobs.
	Log *slog.Logger
}

// NewRunner builds a runner; the store, an owner and at least one step are required.
func NewRunner(d RunnerDeps) (*Runner, error) {
	if d.Store == nil || d.Owner == "" {
		return nil, errors.New("job runner: a store and an owner are required")
	}
	if d.Lease <= 0 {
		d.Lease = time.Minute
	}
	steps := make(map[string]Step, len(d.Steps))
	for k, st := range d.Steps {
		steps[k] = st
	}
	return &Runner{store: d.Store, owner: d.Owner, lease: d.Lease, steps: steps, log: d.Log}, nil
}

// Owner is the node name the runner claims jobs under.
func (r *Runner) Owner() string { return r.owner }

// Lease is how long the runner's claims last between checkpoints.
func (r *Runner) Lease() time.Duration { return r.lease }

func (r *Runner) kinds() []string {
	ks := make([]string, 0, len(r.steps))
	for k := range r.steps {
		ks = append(ks, k)
	}
	return ks
}

// RunOne claims one job and runs it to the end; it returns false when there was nothing to do.
func (r *Runner) RunOne(ctx context.Context) (bool, error) {
	lease := r.lease
	if lease <= 0 {
		lease = time.Minute
	}
	j, err := r.store.ClaimJob(ctx, r.kinds(), r.owner, time.Now().Add(lease))
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
	lease := r.lease
	if lease <= 0 {
		lease = time.Minute
	}
	j, err := r.store.ClaimJobByID(ctx, id, r.owner, time.Now().Add(lease))
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
	j, err := r.store.GetJob(ctx, id)
	if err != nil || j.State != Running {
		return
	}
	_ = r.store.CheckpointJob(ctx, id, r.owner, j.Cursor, j.Done, time.Now())
}

// Run drives a claimed job step by step, checkpointing after each.
func (r *Runner) Run(ctx context.Context, j Job) error {
	step, ok := r.steps[j.Kind]
	if !ok {
		return fmt.Errorf("no step for job kind %q", j.Kind)
	}
	lease := r.lease
	if lease <= 0 {
		lease = time.Minute
	}
	for {
		next, n, err := step(ctx, j)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // stopped: leave it running; the lease runs out and it resumes
			}
			if ferr := r.store.FinishJob(ctx, j.ID, r.owner, Failed, err.Error(), j.Done); ferr != nil {
				return ferr
			}
			return err
		}
		j.Done += n
		if next == "" {
			return r.store.FinishJob(ctx, j.ID, r.owner, Done, "", j.Done)
		}
		j.Cursor = next
		if err := r.store.CheckpointJob(ctx, j.ID, r.owner, j.Cursor, j.Done, time.Now().Add(lease)); err != nil {
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
			if err != nil && ctx.Err() == nil && r.log != nil {
				r.log.Error("job failed", "err", err)
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
