package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/problem"
)

// Imports is the repository of uploaded imports and their rejected rows.
type Imports struct{ *core }

var _ importer.Uploads = (*Imports)(nil)

// CreateImport implements importer.Uploads.
func (db *Imports) CreateImport(ctx context.Context, imp importer.Import, j job.Job, entries []audit.Entry) error {
	spec, err := json.Marshal(imp.Spec)
	if err != nil {
		return err
	}
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO imports (id, actor_id, actor_role, spec, master_version, spool_key, size, rows_total, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, imp.ID, imp.ActorID, imp.ActorRole, string(spec), imp.MasterVersion, imp.SpoolKey,
			imp.Size, imp.RowsTotal, micros(imp.CreatedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, kind, state, cursor, done, total, error, owner, lease_until, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, '', $8, $9, $7, $7)`, j.ID, j.Kind, job.Queued, j.Cursor, j.Done, j.Total, micros(imp.CreatedAt),
			j.Owner, reservedUntil(j)); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// GetImport implements importer.Uploads.
func (db *Imports) GetImport(ctx context.Context, id string) (importer.Import, error) {
	var imp importer.Import
	var spec string
	var at int64
	err := db.queryRow(ctx, `SELECT id, actor_id, actor_role, spec, master_version, spool_key, size, rows_total, created_at FROM imports WHERE id = $1`, id).
		Scan(&imp.ID, &imp.ActorID, &imp.ActorRole, &spec, &imp.MasterVersion, &imp.SpoolKey, &imp.Size, &imp.RowsTotal, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return imp, problem.NotFoundf("import not found")
	}
	if err != nil {
		return imp, db.translate(err)
	}
	imp.CreatedAt = fromMicros(at)
	if err := json.Unmarshal([]byte(spec), &imp.Spec); err != nil {
		return imp, err
	}
	return imp, nil
}

// ListImports implements importer.Uploads.
func (db *Imports) ListImports(ctx context.Context, limit int) ([]importer.Import, error) {
	rows, err := db.query(ctx, `SELECT id, actor_id, actor_role, spec, master_version, spool_key, size, rows_total, created_at FROM imports
		ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	return collect(db, rows, err, func(row rowScanner) (importer.Import, error) {
		var imp importer.Import
		var spec string
		var at int64
		if err := row.Scan(&imp.ID, &imp.ActorID, &imp.ActorRole, &spec, &imp.MasterVersion, &imp.SpoolKey, &imp.Size, &imp.RowsTotal, &at); err != nil {
			return imp, err
		}
		imp.CreatedAt = fromMicros(at)
		return imp, json.Unmarshal([]byte(spec), &imp.Spec)
	})
}

// AddRejects implements importer.Uploads.
func (db *Imports) AddRejects(ctx context.Context, importID string, rs []importer.Reject) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for from := 0; from < len(rs); from += rowsPerStatement {
			part := rs[from:min(from+rowsPerStatement, len(rs))]
			q := `INSERT INTO import_rejects (import_id, row, reason) VALUES `
			args := make([]any, 0, 1+2*len(part))
			args = append(args, importID)
			for i, r := range part {
				if i > 0 {
					q += ", "
				}
				q += "($1, " + placeholders(len(args)+1, 2) + ")"
				args = append(args, r.Row, r.Reason)
			}
			if _, err := tx.ExecContext(ctx, q+` ON CONFLICT (import_id, row) DO NOTHING`, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListRejects implements importer.Uploads.
func (db *Imports) ListRejects(ctx context.Context, importID string, afterRow, limit int) ([]importer.Reject, error) {
	rows, err := db.query(ctx, `SELECT row, reason FROM import_rejects WHERE import_id = $1 AND row > $2 ORDER BY row LIMIT $3`, importID, afterRow, limit)
	return collect(db, rows, err, func(row rowScanner) (importer.Reject, error) {
		var r importer.Reject
		err := row.Scan(&r.Row, &r.Reason)
		return r, err
	})
}

// AbandonCarts implements ingest.Tx: it marks the checkouts started before the time given with
// no order since and not marked yet, a bounded number at a time, and returns them.
func (t *ingestTx) AbandonCarts(ctx context.Context, startedBefore, at time.Time, limit int) ([]ingest.AbandonedCart, error) {
	rows, err := t.tx.QueryContext(ctx, `UPDATE checkouts SET abandoned_at = $1
		WHERE (customer_id, checkout_id) IN (SELECT customer_id, checkout_id FROM checkouts
			WHERE ordered_at = 0 AND abandoned_at = 0 AND started_at < $2 ORDER BY started_at LIMIT $3)
		RETURNING customer_id, checkout_id, started_at, value, currency`, micros(at), micros(startedBefore), limit)
	out, err := collect(t.db, rows, err, func(row rowScanner) (ingest.AbandonedCart, error) {
		var c ingest.AbandonedCart
		var started int64
		err := row.Scan(&c.CustomerID, &c.CheckoutID, &started, &c.Value, &c.Currency)
		c.StartedAt = fromMicros(started)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
