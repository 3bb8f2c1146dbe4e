package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/problem"
)

// Jobs is the job queue's repository.
type Jobs struct{ *core }

var _ job.Store = (*Jobs)(nil)

const jobColumns = `id, kind, state, cursor, done, total, error, created_at, updated_at`

func scanJob(row rowScanner) (job.Job, error) {
	var j job.Job
	var created, updated int64
	err := row.Scan(&j.ID, &j.Kind, &j.State, &j.Cursor, &j.Done, &j.Total, &j.Error, &created, &updated)
	j.CreatedAt, j.UpdatedAt = fromMicros(created), fromMicros(updated)
	return j, err
}

// CreateJob implements job.Store.
func (db *Jobs) CreateJob(ctx context.Context, j job.Job) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, kind, state, cursor, done, total, error, owner, lease_until, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, '', '', 0, $7, $7)`, j.ID, j.Kind, job.Queued, j.Cursor, j.Done, j.Total, micros(time.Now()))
		return err
	})
}

// claimable selects the jobs the owner $1 may claim at time $3: queued ones not reserved for
// another node (see job.Job.Owner) or whose reservation ran out, and running ones whose lease
// ran out.
const claimable = `(state = 'queued' AND (owner = '' OR owner = $1 OR lease_until < $3)) OR (state = 'running' AND lease_until < $3)`

// reservedUntil is the lease_until a new job is stored with: its reservation, or none.
func reservedUntil(j job.Job) int64 {
	if j.Owner == "" || j.LeaseUntil.IsZero() {
		return 0
	}
	return micros(j.LeaseUntil)
}

// ClaimJob implements job.Store.
func (db *Jobs) ClaimJob(ctx context.Context, kinds []string, owner string, leaseUntil time.Time) (job.Job, error) {
	var j job.Job
	if len(kinds) == 0 {
		return j, problem.NotFoundf("no job")
	}
	now := micros(time.Now())
	args := []any{owner, micros(leaseUntil), now}
	ph := make([]string, len(kinds))
	for i, k := range kinds {
		args = append(args, k)
		ph[i] = "$" + strconv.Itoa(len(args))
	}
	q := `UPDATE jobs SET state = 'running', owner = $1, lease_until = $2, updated_at = $3
		WHERE id = (SELECT id FROM jobs WHERE kind IN (` + strings.Join(ph, ", ") + `)
			AND (` + claimable + `)
			ORDER BY created_at LIMIT 1` + db.d.SkipLocked + `)
		RETURNING ` + jobColumns
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRowContext(ctx, q, args...))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return j, problem.NotFoundf("no job")
	}
	return j, err
}

// ClaimJobByID implements job.Store.
func (db *Jobs) ClaimJobByID(ctx context.Context, id, owner string, leaseUntil time.Time) (job.Job, error) {
	var j job.Job
	now := micros(time.Now())
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRowContext(ctx, `UPDATE jobs SET state = 'running', owner = $1, lease_until = $2, updated_at = $3
			WHERE id = $4 AND (`+claimable+`)
			RETURNING `+jobColumns, owner, micros(leaseUntil), now, id))
		return err
	})
	if !errors.Is(err, sql.ErrNoRows) {
		return j, err
	}
	// Nothing claimed: say whether the job is unknown, ended or held by a live lease.
	j, err = db.GetJob(ctx, id)
	if err != nil {
		return j, err
	}
	if j.State == job.Running {
		return j, problem.Conflictf("job %s is being run elsewhere", id)
	}
	return j, problem.Conflictf("job %s has ended (%s)", id, j.State)
}

// CheckpointJob implements job.Store.
func (db *Jobs) CheckpointJob(ctx context.Context, id, owner, cursor string, done int64, leaseUntil time.Time) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET cursor = $1, done = $2, lease_until = $3, updated_at = $4 WHERE id = $5 AND owner = $6 AND state = 'running'`,
			cursor, done, micros(leaseUntil), micros(time.Now()), id, owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return problem.Conflictf("job lease lost")
		}
		return nil
	})
}

// FinishJob implements job.Store.
func (db *Jobs) FinishJob(ctx context.Context, id, owner, state, errText string, done int64) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET state = $1, error = $2, done = $3, updated_at = $4 WHERE id = $5 AND owner = $6`,
			state, errText, done, micros(time.Now()), id, owner)
		return err
	})
}

// GetJob implements job.Store.
func (db *Jobs) GetJob(ctx context.Context, id string) (job.Job, error) {
	j, err := scanJob(db.queryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, problem.NotFoundf("job not found")
	}
	return j, db.translate(err)
}

// ListJobs implements job.Store.
func (db *Jobs) ListJobs(ctx context.Context, limit int) ([]job.Job, error) {
	rows, err := db.query(ctx, `SELECT `+jobColumns+` FROM jobs ORDER BY created_at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []job.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, db.translate(err)
		}
		out = append(out, j)
	}
	return out, db.translate(rows.Err())
}
