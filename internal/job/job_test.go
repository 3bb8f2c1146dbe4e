package job_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/problem"
)

// forEngines runs fn against a fresh store of every engine.
func forEngines(t *testing.T, fn func(t *testing.T, st job.Store)) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { fn(t, openStore(t, engine)) })
	}
}

func create(t *testing.T, st job.Store, id, kind string) {
	t.Helper()
	if err := st.CreateJob(context.Background(), job.Job{ID: id, Kind: kind, Total: 3}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, st job.Store, id string) job.Job {
	t.Helper()
	j, err := st.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// counter is a step over cursors "1", "2", … up to last, handling one item each time, that
// records every cursor it was called with.
type counter struct {
	last int
	mu   sync.Mutex
	seen []string
}

func (c *counter) step(_ context.Context, j job.Job) (string, int64, error) {
	c.mu.Lock()
	c.seen = append(c.seen, j.Cursor)
	c.mu.Unlock()
	n, _ := strconv.Atoi(j.Cursor)
	if n+1 >= c.last {
		return "", 1, nil
	}
	return strconv.Itoa(n + 1), 1, nil
}

func TestRunOneFindsNoWork(t *testing.T) {
	forEngines(t, func(t *testing.T, st job.Store) {
		ctx := context.Background()
		create(t, st, "other", "other.kind")
		for name, steps := range map[string]map[string]job.Step{
			"no steps":         nil,
			"no job of a kind": {"mine": (&counter{last: 1}).step},
		} {
			r := newRunner(t, job.RunnerDeps{Store: st, Owner: "node-a", Steps: steps})
			ran, err := r.RunOne(ctx)
			if ran || err != nil {
				t.Errorf("%s: got ran %v err %v, want false and nil", name, ran, err)
			}
		}
		if j := get(t, st, "other"); j.State != job.Queued {
			t.Errorf("job of an unregistered kind: got %s, want %s", j.State, job.Queued)
		}
	})
}

// TestRunCheckpointsEveryStep: the runner hands each step the cursor the previous one
// returned, sums the items handled and ends the job done.
func TestRunCheckpointsEveryStep(t *testing.T) {
	forEngines(t, func(t *testing.T, st job.Store) {
		ctx := context.Background()
		create(t, st, "j", "count")
		c := &counter{last: 4}
		r := newRunner(t, job.RunnerDeps{Store: st, Owner: "node-a", Steps: map[string]job.Step{"count": c.step}})
		ran, err := r.RunOne(ctx)
		if !ran || err != nil {
			t.Fatalf("got ran %v err %v, want true and nil", ran, err)
		}
		if got, want := fmt.Sprint(c.seen), "[ 1 2 3]"; got != want {
			t.Errorf("cursors: got %s, want %s", got, want)
		}
		j := get(t, st, "j")
		if j.State != job.Done || j.Done != 4 || j.Error != "" || j.Total != 3 {
			t.Errorf("got %+v, want done with 4 items", j)
		}
		// A finished job is never claimed again.
		if ran, err := r.RunOne(ctx); ran || err != nil {
			t.Errorf("after done: got ran %v err %v, want false and nil", ran, err)
		}
	})
}

// TestFailedStepFailsJob: a step's error ends the job failed with the error text and the
// items done before it, and the job is not retried.
func TestFailedStepFailsJob(t *testing.T) {
	forEngines(t, func(t *testing.T, st job.Store) {
		ctx := context.Background()
		create(t, st, "j", "flaky")
		boom := errors.New("upstream refused")
		step := func(_ context.Context, j job.Job) (string, int64, error) {
			if j.Cursor == "" {
				return "half", 2, nil
			}
			return j.Cursor, 0, boom
		}
		r := newRunner(t, job.RunnerDeps{Store: st, Owner: "node-a", Steps: map[string]job.Step{"flaky": step}})
		ran, err := r.RunOne(ctx)
		if !ran || !errors.Is(err, boom) {
			t.Fatalf("got ran %v err %v, want true and the step's error", ran, err)
		}
		j := get(t, st, "j")
		if j.State != job.Failed || j.Error != boom.Error() || j.Done != 2 || j.Cursor != "half" {
			t.Errorf("got %+v, want failed at cursor half with 2 done and the error text", j)
		}
		if ran, err := r.RunOne(ctx); ran || err != nil {
			t.Errorf("failed job claimed again: ran %v err %v", ran, err)
		}
	})
}

func TestRunRefusesUnknownKind(t *testing.T) {
	st := openStore(t, "sqlite")
	r := newRunner(t, job.RunnerDeps{Store: st, Owner: "node-a", Steps: map[string]job.Step{}})
	if err := r.Run(context.Background(), job.Job{ID: "x", Kind: "nobody.runs.this"}); err == nil {
		t.Fatal("got nil, want an error for a kind without a step")
	}
}

// TestStoppedRunnerLeavesJobToResume: a runner stopped mid-step leaves the job running (not
// failed); once its lease is over another node resumes from the last checkpoint.
func TestStoppedRunnerLeavesJobToResume(t *testing.T) {
	forEngines(t, func(t *testing.T, st job.Store) {
		create(t, st, "j", "count")
		ctx, stop := context.WithCancel(context.Background())
		step := func(ctx context.Context, j job.Job) (string, int64, error) {
			if j.Cursor == "" {
				return "1", 1, nil
			}
			stop() // the node is shutting down mid-step
			return j.Cursor, 0, ctx.Err()
		}
		a := newRunner(t, job.RunnerDeps{Store: st, Owner: "node-a", Steps: map[string]job.Step{"count": step}})
		if ran, err := a.RunOne(ctx); !ran || !errors.Is(err, context.Canceled) {
			t.Fatalf("got ran %v err %v, want true and context.Canceled", ran, err)
		}
		j := get(t, st, "j")
		if j.State != job.Running || j.Cursor != "1" || j.Done != 1 {
			t.Fatalf("got %+v, want running at cursor 1", j)
		}
		bg := context.Background()
		c := &counter{last: 3}
		b := newRunner(t, job.RunnerDeps{Store: st, Owner: "node-b", Steps: map[string]job.Step{"count": c.step}})
		// While node-a's lease lasts nobody else takes the job.
		if ran, err := b.RunOne(bg); ran || err != nil {
			t.Fatalf("live lease taken over: ran %v err %v", ran, err)
		}
		expireLease(t, st, j, "node-a")
		if ran, err := b.RunOne(bg); !ran || err != nil {
			t.Fatalf("resume: got ran %v err %v", ran, err)
		}
		if got, want := fmt.Sprint(c.seen), "[1 2]"; got != want {
			t.Errorf("resumed cursors: got %s, want %s", got, want)
		}
		if j := get(t, st, "j"); j.State != job.Done || j.Done != 3 {
			t.Errorf("got %+v, want done with 3 items", j)
		}
	})
}

// expireLease ends owner's lease on j now, as the passing of time would after the owner died.
func expireLease(t *testing.T, st job.Store, j job.Job, owner string) {
	t.Helper()
	if err := st.CheckpointJob(context.Background(), j.ID, owner, j.Cursor, j.Done, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
}

// TestExpiredLeaseIsTakenOver: a job whose owner's lease ran out is claimed by another node,
// which resumes at the checkpoint; the old owner can then neither checkpoint (Conflict) nor
// finish it.
func TestExpiredLeaseIsTakenOver(t *testing.T) {
	forEngines(t, func(t *testing.T, st job.Store) {
		ctx := context.Background()
		create(t, st, "j", "count")
		j, err := st.ClaimJob(ctx, []string{"count"}, "node-a", time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		j.Cursor, j.Done = "2", 2
		expireLease(t, st, j, "node-a")

		c := &counter{last: 4}
		// Node B claims and runs its first step; node A wakes up in the middle of it.
		var lateErr error
		step := func(ctx context.Context, j job.Job) (string, int64, error) {
			if j.Cursor == "2" {
				lateErr = st.CheckpointJob(ctx, "j", "node-a", "9", 9, time.Now().Add(time.Minute))
				// Whatever the store answers, a finish by the old owner must not take effect.
				_ = st.FinishJob(ctx, "j", "node-a", job.Failed, "node-a gave up", 9)
			}
			return c.step(ctx, j)
		}
		b := newRunner(t, job.RunnerDeps{Store: st, Owner: "node-b", Steps: map[string]job.Step{"count": step}})
		if ran, err := b.RunOne(ctx); !ran || err != nil {
			t.Fatalf("takeover: got ran %v err %v", ran, err)
		}
		if !problem.Is(lateErr, problem.Conflict) {
			t.Errorf("old owner's checkpoint: got %v, want Conflict", lateErr)
		}
		if got, want := fmt.Sprint(c.seen), "[2 3]"; got != want {
			t.Errorf("cursors after takeover: got %s, want %s", got, want)
		}
		if j := get(t, st, "j"); j.State != job.Done || j.Done != 4 || j.Error != "" {
			t.Errorf("got %+v, want done by node-b with 4 items", j)
		}
	})
}

// TestLostLeaseStopsRunner: when the lease is lost mid-job the runner's checkpoint fails
// with Conflict and it stops at once, leaving the job to its new owner.
func TestLostLeaseStopsRunner(t *testing.T) {
	forEngines(t, func(t *testing.T, st job.Store) {
		ctx := context.Background()
		create(t, st, "j", "count")
		calls := 0
		step := func(ctx context.Context, j job.Job) (string, int64, error) {
			calls++
			// While this step runs, node-a's lease runs out and node-b claims the job.
			expireLease(t, st, j, "node-a")
			if _, err := st.ClaimJob(ctx, []string{"count"}, "node-b", time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			return "next", 1, nil
		}
		a := newRunner(t, job.RunnerDeps{Store: st, Owner: "node-a", Steps: map[string]job.Step{"count": step}})
		ran, err := a.RunOne(ctx)
		if !ran || !problem.Is(err, problem.Conflict) {
			t.Fatalf("got ran %v err %v, want true and Conflict", ran, err)
		}
		if calls != 1 {
			t.Errorf("runner went on after losing its lease: %d steps", calls)
		}
		if j := get(t, st, "j"); j.State != job.Running || j.Cursor != "" {
			t.Errorf("got %+v, want still running for node-b from the start", j)
		}
	})
}

// TestTwoRunnersNeverShareAJob: runners of different owners claiming at once each run a
// different job; every job runs exactly once.
func TestTwoRunnersNeverShareAJob(t *testing.T) {
	forEngines(t, func(t *testing.T, st job.Store) {
		ctx := context.Background()
		const n = 24
		for i := range n {
			create(t, st, fmt.Sprintf("j%02d", i), "work")
		}
		var mu sync.Mutex
		runs := map[string][]string{} // job id -> owners whose step ran it
		runner := func(owner string) *job.Runner {
			step := func(_ context.Context, j job.Job) (string, int64, error) {
				mu.Lock()
				runs[j.ID] = append(runs[j.ID], owner)
				mu.Unlock()
				if j.Cursor == "" {
					return "half", 1, nil
				}
				return "", 1, nil
			}
			return newRunner(t, job.RunnerDeps{Store: st, Owner: owner, Lease: time.Minute, Steps: map[string]job.Step{"work": step}})
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, owner := range []string{"node-a", "node-b"} {
			r := runner(owner)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					ran, err := r.RunOne(ctx)
					if err != nil {
						errs <- err
						return
					}
					if !ran {
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i := range n {
			id := fmt.Sprintf("j%02d", i)
			owners := runs[id]
			if len(owners) != 2 || owners[0] != owners[1] {
				t.Errorf("job %s: steps run by %v, want both steps by one owner", id, owners)
			}
			if j := get(t, st, id); j.State != job.Done || j.Done != 2 {
				t.Errorf("job %s: got %+v, want done with 2", id, j)
			}
		}
	})
}

// TestLoopRunsQueuedJobsUntilStopped: the loop runs what is queued, goes on after a failed
// job (logging it), picks up work queued while idle, and returns when its context ends.
func TestLoopRunsQueuedJobsUntilStopped(t *testing.T) {
	st := openStore(t, "sqlite")
	create(t, st, "bad", "fail")
	create(t, st, "good", "work")
	finished := make(chan string, 4)
	steps := map[string]job.Step{
		"fail": func(context.Context, job.Job) (string, int64, error) {
			finished <- "bad"
			return "", 0, errors.New("step broke")
		},
		"work": func(_ context.Context, j job.Job) (string, int64, error) {
			finished <- j.ID
			return "", 1, nil
		},
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	r := newRunner(t, job.RunnerDeps{Store: st, Owner: "node-a", Steps: steps, Log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Loop(ctx, 5*time.Millisecond)
	}()
	waitFor := func(want ...string) {
		t.Helper()
		got := map[string]bool{}
		for len(got) < len(want) {
			select {
			case id := <-finished:
				got[id] = true
			case <-time.After(30 * time.Second):
				t.Fatalf("loop ran %v, want %v", got, want)
			}
		}
		for _, id := range want {
			if !got[id] {
				t.Fatalf("loop ran %v, want %v", got, want)
			}
		}
	}
	waitFor("bad", "good")
	create(t, st, "later", "work")
	waitFor("later")
	// A step's end is not yet its job's: the runner records the outcome after the step
	// returns, so wait for the record before stopping the loop.
	for deadline := time.Now().Add(30 * time.Second); get(t, st, "later").State != job.Done; {
		if time.Now().After(deadline) {
			t.Fatal("the loop ran the later job but never recorded it done")
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("loop did not return after its context ended")
	}
	for id, want := range map[string]string{"bad": job.Failed, "good": job.Done, "later": job.Done} {
		if j := get(t, st, id); j.State != want {
			t.Errorf("job %s: got %s, want %s", id, j.State, want)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !bytes.Contains(logs.Bytes(), []byte("step broke")) {
		t.Errorf("failed job not logged: %q", logs.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestGetAndListJobs(t *testing.T) {
	forEngines(t, func(t *testing.T, st job.Store) {
		ctx := context.Background()
		if _, err := st.GetJob(ctx, "missing"); !problem.Is(err, problem.NotFound) {
			t.Errorf("unknown job: got %v, want NotFound", err)
		}
		create(t, st, "a", "work")
		create(t, st, "b", "work")
		list, err := st.ListJobs(ctx, 1)
		if err != nil || len(list) != 1 {
			t.Fatalf("got %d jobs, %v; want 1", len(list), err)
		}
		list, _ = st.ListJobs(ctx, 10)
		if len(list) != 2 || list[0].State != job.Queued {
			t.Errorf("got %+v, want two queued jobs", list)
		}
	})
}
