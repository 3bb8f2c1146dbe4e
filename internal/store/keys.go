package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/auth"
	"github.com/stewardhq/steward/internal/problem"
)

// APIKeys is the repository of staff API keys.
type APIKeys struct{ *core }

// Keysets keeps the wrapped keyset (keys.Store; asserted in a test, because importing the keys
// package here would bring the vault into the engines).
type Keysets struct{ *core }

var _ auth.Store = (*APIKeys)(nil)

// LoadKeyset implements keys.Store.
func (db *Keysets) LoadKeyset(ctx context.Context) ([]byte, int, error) {
	var blob []byte
	var bits int
	err := db.queryRow(ctx, `SELECT blob, index_bits FROM keyset WHERE id = 1`).Scan(&blob, &bits)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, problem.NotFoundf("no keyset: run steward init first")
	}
	return blob, bits, db.translate(err)
}

// SaveKeyset implements keys.Store.
func (db *Keysets) SaveKeyset(ctx context.Context, blob []byte, indexBits int, prev []byte, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := micros(time.Now())
		if prev == nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO keyset (id, blob, index_bits, updated_at) VALUES (1, $1, $2, $3)`, blob, indexBits, now)
			if err != nil && db.d.IsUnique(err) {
				return problem.Conflictf("already initialised")
			}
			if err != nil {
				return err
			}
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE keyset SET blob = $1, index_bits = $2, updated_at = $3 WHERE id = 1 AND blob = $4`, blob, indexBits, now, prev)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return problem.Conflictf("the keyset was changed concurrently; retry")
			}
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// CreateAPIKey implements auth.Store.
func (db *APIKeys) CreateAPIKey(ctx context.Context, k auth.Key, hash []byte, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var expires sql.NullInt64
		if k.ExpiresAt != nil {
			expires = sql.NullInt64{Int64: micros(*k.ExpiresAt), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, name, role, hint, hash, created_at, owner, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			k.ID, k.Name, k.Role, k.Hint, hash, micros(k.CreatedAt), k.Owner, expires); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

const keyColumns = `id, name, role, hint, created_at, revoked_at, owner, expires_at`

func scanKey(row rowScanner) (auth.Key, error) {
	var k auth.Key
	var created int64
	var revoked, expires sql.NullInt64
	err := row.Scan(&k.ID, &k.Name, &k.Role, &k.Hint, &created, &revoked, &k.Owner, &expires)
	k.CreatedAt = fromMicros(created)
	if expires.Valid {
		t := fromMicros(expires.Int64)
		k.ExpiresAt = &t
	}
	if revoked.Valid {
		t := fromMicros(revoked.Int64)
		k.RevokedAt = &t
	}
	return k, err
}

// APIKeyByHash implements auth.Store.
func (db *APIKeys) APIKeyByHash(ctx context.Context, hash []byte) (auth.Key, error) {
	k, err := scanKey(db.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, problem.NotFoundf("no such key")
	}
	return k, db.translate(err)
}

// ListAPIKeys implements auth.Store.
func (db *APIKeys) ListAPIKeys(ctx context.Context) ([]auth.Key, error) {
	rows, err := db.query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, id`)
	return collect(db, rows, err, scanKey)
}

// RevokeAPIKey implements auth.Store.
func (db *APIKeys) RevokeAPIKey(ctx context.Context, id string, at time.Time, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, micros(at), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return problem.NotFoundf("no active key with that id")
		}
		return db.appendAudit(ctx, tx, entries)
	})
}
