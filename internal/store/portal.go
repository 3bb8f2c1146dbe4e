package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stewardhq/steward/internal/portal"
	"github.com/stewardhq/steward/internal/problem"
)

// Portal is the repository of the privacy portal's links and sessions.
type Portal struct{ *core }

var _ portal.Store = (*Portal)(nil)

// AddLink implements portal.Store: the count and the insert share one transaction, so
// concurrent requests cannot pass the limit together. Tokens past their end go too.
func (db *Portal) AddLink(ctx context.Context, t portal.Token, since time.Time, max int) (bool, error) {
	stored := false
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		stored = false
		if _, err := tx.ExecContext(ctx, `DELETE FROM portal_tokens WHERE expires_at <= $1`, micros(t.CreatedAt)); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM portal_tokens WHERE customer_id = $1 AND kind = $2 AND created_at > $3`,
			t.CustomerID, portal.KindLink, micros(since)).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return nil
		}
		stored = true
		return db.insertToken(ctx, tx, t)
	})
	return stored, err
}

func (db *Portal) insertToken(ctx context.Context, tx *sql.Tx, t portal.Token) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO portal_tokens (hash, kind, customer_id, created_at, seen_at, expires_at, csrf) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.Hash, t.Kind, t.CustomerID, micros(t.CreatedAt), micros(t.SeenAt), micros(t.ExpiresAt), t.CSRF)
	return err
}

// AddSession implements portal.Store.
func (db *Portal) AddSession(ctx context.Context, t portal.Token) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.insertToken(ctx, tx, t) })
}

const tokenColumns = `hash, kind, customer_id, created_at, seen_at, expires_at, csrf`

func scanToken(row rowScanner) (portal.Token, error) {
	var t portal.Token
	var c, s, e int64
	err := row.Scan(&t.Hash, &t.Kind, &t.CustomerID, &c, &s, &e, &t.CSRF)
	if errors.Is(err, sql.ErrNoRows) {
		return t, problem.NotFoundf("no such link or session")
	}
	t.CreatedAt, t.SeenAt, t.ExpiresAt = fromMicros(c), fromMicros(s), fromMicros(e)
	return t, err
}

// Take implements portal.Store.
func (db *Portal) Take(ctx context.Context, kind string, hash []byte) (portal.Token, error) {
	var t portal.Token
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRowContext(ctx, `DELETE FROM portal_tokens WHERE hash = $1 AND kind = $2 RETURNING `+tokenColumns, hash, kind))
		return err
	})
	return t, err
}

// Session implements portal.Store.
func (db *Portal) Session(ctx context.Context, hash []byte) (portal.Token, error) {
	t, err := scanToken(db.queryRow(ctx, `SELECT `+tokenColumns+` FROM portal_tokens WHERE hash = $1 AND kind = $2`, hash, portal.KindSession))
	if err != nil && !problem.Is(err, problem.NotFound) {
		return t, db.translate(err)
	}
	return t, err
}

// Touch implements portal.Store.
func (db *Portal) Touch(ctx context.Context, hash []byte, seen time.Time) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE portal_tokens SET seen_at = $1 WHERE hash = $2`, micros(seen), hash)
		return err
	})
}
