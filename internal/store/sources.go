package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/source"
)

// Sources is the repository of connected platforms and their delivery counters.
type Sources struct{ *core }

var _ source.Store = (*Sources)(nil)

const sourceColumns = `id, kind, name, role, master_version, data_key, secret, created_at, received, stored, refused, duplicates, ignored, last_error, last_error_at`

// CreateSource implements source.Store.
func (db *Sources) CreateSource(ctx context.Context, r source.Record, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sources (id, kind, name, role, master_version, data_key, secret, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.ID, r.Kind, r.Name, r.Role, r.MasterVersion, r.Key, r.Secret, micros(r.CreatedAt)); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

func scanSource(row rowScanner) (source.Record, error) {
	var r source.Record
	var at, errAt int64
	err := row.Scan(&r.ID, &r.Kind, &r.Name, &r.Role, &r.MasterVersion, &r.Key, &r.Secret, &at, &r.Received, &r.Stored, &r.Refused,
		&r.Duplicates, &r.Ignored, &r.LastError, &errAt)
	r.CreatedAt = fromMicros(at)
	if errAt != 0 {
		r.LastErrorAt = fromMicros(errAt)
	}
	r.Endpoint = source.Endpoint(r.ID)
	return r, err
}

// GetSource implements source.Store.
func (db *Sources) GetSource(ctx context.Context, id string) (source.Record, error) {
	r, err := scanSource(db.queryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, problem.NotFoundf("source not found")
	}
	if err != nil {
		return r, db.translate(err)
	}
	return r, nil
}

// ListSources implements source.Store.
func (db *Sources) ListSources(ctx context.Context) ([]source.Record, error) {
	rows, err := db.query(ctx, `SELECT `+sourceColumns+` FROM sources ORDER BY created_at, id`)
	return collect(db, rows, err, scanSource)
}

// AddSourceCounts implements source.Store. The sums are added in the statement, so counts
// from several nodes never overwrite each other; the last error only replaces an older one.
func (db *Sources) AddSourceCounts(ctx context.Context, id string, c source.Counts, lastError string, at time.Time) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sources SET received = received + $1, stored = stored + $2, refused = refused + $3,
			duplicates = duplicates + $4, ignored = ignored + $5,
			last_error = CASE WHEN $6 <> '' AND $7 >= last_error_at THEN $6 ELSE last_error END,
			last_error_at = CASE WHEN $6 <> '' AND $7 >= last_error_at THEN $7 ELSE last_error_at END
			WHERE id = $8`, c.Received, c.Stored, c.Refused, c.Duplicates, c.Ignored, lastError, micros(at), id)
		return err
	})
}
