package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/stewardhq/steward/internal/audit"
)

// AppendAudit implements audit.Store.
func (db *DB) AppendAudit(ctx context.Context, entries ...audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.appendAudit(ctx, tx, entries) })
}

const auditColumns = `id, chain, seq, at, actor_id, actor_role, action, customer_id, target, fields, purpose, request_id, outcome, prev_hash, hash`

// ListAudit implements audit.Store.
func (db *DB) ListAudit(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	if f.CustomerID != "" {
		add("customer_id = ?", f.CustomerID)
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		add("at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", micros(f.Until))
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	q := `SELECT ` + auditColumns + ` FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	q += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, db.translate(err)
		}
		out = append(out, e)
	}
	return out, db.translate(rows.Err())
}

func scanEntry(rows *sql.Rows) (audit.Entry, error) {
	var e audit.Entry
	var at int64
	var fields string
	err := rows.Scan(&e.ID, &e.Chain, &e.Seq, &at, &e.ActorID, &e.ActorRole, &e.Action, &e.CustomerID, &e.Target,
		&fields, &e.Purpose, &e.RequestID, &e.Outcome, &e.PrevHash, &e.Hash)
	e.Time = fromMicros(at)
	e.Fields = decodeList(fields)
	return e, err
}

// ScanAudit implements audit.Store.
func (db *DB) ScanAudit(ctx context.Context, fn func(*audit.Entry) error) error {
	rows, err := db.read.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log ORDER BY chain, seq`)
	if err != nil {
		return db.translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return db.translate(err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return db.translate(rows.Err())
}

// AuditHeads implements audit.Store.
func (db *DB) AuditHeads(ctx context.Context) ([]audit.Head, error) {
	rows, err := db.query(ctx, `SELECT chain, seq, hash FROM audit_heads ORDER BY chain`)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []audit.Head
	for rows.Next() {
		var h audit.Head
		if err := rows.Scan(&h.Chain, &h.Seq, &h.Hash); err != nil {
			return nil, db.translate(err)
		}
		out = append(out, h)
	}
	return out, db.translate(rows.Err())
}

// AuditCheckpoints implements audit.Store.
func (db *DB) AuditCheckpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT chain, seq, hash, at, signature FROM audit_checkpoints ORDER BY chain, seq`)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		var c audit.Checkpoint
		var at int64
		if err := rows.Scan(&c.Chain, &c.Seq, &c.Hash, &at, &c.Signature); err != nil {
			return nil, db.translate(err)
		}
		c.Time = fromMicros(at)
		out = append(out, c)
	}
	return out, db.translate(rows.Err())
}
