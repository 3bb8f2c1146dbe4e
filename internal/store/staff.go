package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/staff"
)

// Staff is the repository of staff accounts and their sessions.
type Staff struct{ *core }

var _ staff.Store = (*Staff)(nil)

const accountColumns = `id, email, role, password_hash, totp, disabled, failures, locked_until, created_at, via`

func scanAccount(row rowScanner) (staff.Account, error) {
	var a staff.Account
	var locked, created int64
	err := row.Scan(&a.ID, &a.Email, &a.Role, &a.PasswordHash, &a.TOTP, &a.Disabled, &a.Failures, &locked, &created, &a.Via)
	if errors.Is(err, sql.ErrNoRows) {
		return a, problem.NotFoundf("no such staff account")
	}
	if locked != 0 {
		a.LockedUntil = fromMicros(locked)
	}
	a.CreatedAt = fromMicros(created)
	return a, err
}

func lockedMicros(a staff.Account) int64 {
	if a.LockedUntil.IsZero() {
		return 0
	}
	return micros(a.LockedUntil)
}

// AddAccount implements staff.Store.
func (db *Staff) AddAccount(ctx context.Context, a staff.Account, entries []audit.Entry) error {
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff_accounts WHERE email = $1`, a.Email).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return problem.Conflictf("a staff account with this e-mail address exists already")
		}
		return db.insertAccount(ctx, tx, a, entries)
	})
	return err
}

func (db *Staff) insertAccount(ctx context.Context, tx *sql.Tx, a staff.Account, entries []audit.Entry) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO staff_accounts (`+accountColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		a.ID, a.Email, a.Role, a.PasswordHash, a.TOTP, a.Disabled, a.Failures, lockedMicros(a), micros(a.CreatedAt), a.Via); err != nil {
		return err
	}
	return db.appendAudit(ctx, tx, entries)
}

// AccountByEmail implements staff.Store.
func (db *Staff) AccountByEmail(ctx context.Context, email string) (staff.Account, error) {
	return scanAccount(db.queryRow(ctx, `SELECT `+accountColumns+` FROM staff_accounts WHERE email = $1`, email))
}

// Account implements staff.Store.
func (db *Staff) Account(ctx context.Context, id string) (staff.Account, error) {
	return scanAccount(db.queryRow(ctx, `SELECT `+accountColumns+` FROM staff_accounts WHERE id = $1`, id))
}

// UpdateAccount implements staff.Store.
func (db *Staff) UpdateAccount(ctx context.Context, a staff.Account, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE staff_accounts SET role = $1, password_hash = $2, totp = $3, disabled = $4, failures = $5, locked_until = $6 WHERE id = $7`,
			a.Role, a.PasswordHash, a.TOTP, a.Disabled, a.Failures, lockedMicros(a), a.ID); err != nil {
			return err
		}
		if a.Disabled {
			if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE account_id = $1`, a.ID); err != nil {
				return err
			}
			// The keys the person made go with their access.
			if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE owner = $2 AND revoked_at IS NULL`,
				micros(time.Now()), "staff:"+a.ID); err != nil {
				return err
			}
		}
		if len(entries) == 0 {
			return nil
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

const sessionColumns = `hash, account_id, stage, csrf, pending, created_at, seen_at, expires_at, auth_at, next_path, ceremony`

// AddSession implements staff.Store.
func (db *Staff) AddSession(ctx context.Context, s staff.Session) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE expires_at <= $1`, micros(s.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO staff_sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			s.Hash, s.AccountID, s.Stage, s.CSRF, s.Pending, micros(s.CreatedAt), micros(s.SeenAt), micros(s.ExpiresAt), optMicros(s.AuthAt), s.Next, s.Ceremony)
		return err
	})
}

// Session implements staff.Store.
func (db *Staff) Session(ctx context.Context, hash []byte) (staff.Session, error) {
	var s staff.Session
	var c, seen, exp, auth int64
	err := db.queryRow(ctx, `SELECT `+sessionColumns+` FROM staff_sessions WHERE hash = $1`, hash).
		Scan(&s.Hash, &s.AccountID, &s.Stage, &s.CSRF, &s.Pending, &c, &seen, &exp, &auth, &s.Next, &s.Ceremony)
	if errors.Is(err, sql.ErrNoRows) {
		return s, problem.NotFoundf("no such session")
	}
	if err != nil {
		return s, db.translate(err)
	}
	s.CreatedAt, s.SeenAt, s.ExpiresAt = fromMicros(c), fromMicros(seen), fromMicros(exp)
	if auth != 0 {
		s.AuthAt = fromMicros(auth)
	}
	return s, nil
}

// UpdateSession implements staff.Store.
func (db *Staff) UpdateSession(ctx context.Context, s staff.Session) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE staff_sessions SET stage = $1, pending = $2, seen_at = $3, auth_at = $4, next_path = $5, ceremony = $6 WHERE hash = $7`,
			s.Stage, s.Pending, micros(s.SeenAt), optMicros(s.AuthAt), s.Next, s.Ceremony, s.Hash)
		return err
	})
}

// DeleteSession implements staff.Store.
func (db *Staff) DeleteSession(ctx context.Context, hash []byte) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE hash = $1`, hash)
		return err
	})
}

// DeleteSessions implements staff.Store.
func (db *Staff) DeleteSessions(ctx context.Context, accountID string, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE account_id = $1`, accountID); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}
