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

// AddPasskey implements staff.PasskeyStore.
func (db *Staff) AddPasskey(ctx context.Context, p staff.Passkey, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff_passkeys WHERE id = $1`, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return problem.Conflictf("this passkey is enrolled already")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO staff_passkeys (id, account_id, name, credential, created_at, used_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			p.ID, p.AccountID, p.Name, p.Credential, micros(p.CreatedAt), optMicros(p.UsedAt)); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// PasskeyHolders implements staff.PasskeyStore.
func (db *Staff) PasskeyHolders(ctx context.Context) ([]string, error) {
	rows, err := db.query(ctx, `SELECT DISTINCT account_id FROM staff_passkeys`)
	return collect(db, rows, err, scanOne[string])
}

// Passkeys implements staff.PasskeyStore, oldest first.
func (db *Staff) Passkeys(ctx context.Context, accountID string) ([]staff.Passkey, error) {
	rows, err := db.query(ctx, `SELECT id, account_id, name, credential, created_at, used_at FROM staff_passkeys WHERE account_id = $1 ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []staff.Passkey
	for rows.Next() {
		var p staff.Passkey
		var c, u int64
		if err := rows.Scan(&p.ID, &p.AccountID, &p.Name, &p.Credential, &c, &u); err != nil {
			return nil, err
		}
		p.CreatedAt = fromMicros(c)
		if u != 0 {
			p.UsedAt = fromMicros(u)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// UpdatePasskey implements staff.PasskeyStore.
func (db *Staff) UpdatePasskey(ctx context.Context, p staff.Passkey) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE staff_passkeys SET credential = $1, used_at = $2 WHERE id = $3 AND account_id = $4`,
			p.Credential, optMicros(p.UsedAt), p.ID, p.AccountID)
		return err
	})
}

// DeletePasskey implements staff.PasskeyStore.
func (db *Staff) DeletePasskey(ctx context.Context, accountID string, id []byte, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM staff_passkeys WHERE id = $1 AND account_id = $2`, id, accountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return problem.NotFoundf("you have no such passkey")
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// AddInvite implements staff.InviteStore.
func (db *Staff) AddInvite(ctx context.Context, inv staff.Invite, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_invites WHERE expires_at <= $1`, micros(inv.CreatedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO staff_invites (hash, email, role, invited_by, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, 0)`,
			inv.Hash, inv.Email, inv.Role, inv.InvitedBy, micros(inv.CreatedAt), micros(inv.ExpiresAt)); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// Invite implements staff.InviteStore.
func (db *Staff) Invite(ctx context.Context, hash []byte) (staff.Invite, error) {
	var inv staff.Invite
	var c, e, u int64
	err := db.queryRow(ctx, `SELECT hash, email, role, invited_by, created_at, expires_at, used_at FROM staff_invites WHERE hash = $1`, hash).
		Scan(&inv.Hash, &inv.Email, &inv.Role, &inv.InvitedBy, &c, &e, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return inv, problem.NotFoundf("no such invitation")
	}
	if err != nil {
		return inv, db.translate(err)
	}
	inv.CreatedAt, inv.ExpiresAt = fromMicros(c), fromMicros(e)
	if u != 0 {
		inv.UsedAt = fromMicros(u)
	}
	return inv, nil
}

// AcceptInvite implements staff.InviteStore: the invitation is claimed by a conditional
// update, so two browsers opening one link make one account.
func (db *Staff) AcceptInvite(ctx context.Context, hash []byte, a staff.Account, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE staff_invites SET used_at = $1 WHERE hash = $2 AND used_at = 0`, micros(a.CreatedAt), hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return problem.Conflictf("this invitation has been used already")
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff_accounts WHERE email = $1`, a.Email).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return problem.Conflictf("a staff account with this e-mail address exists already")
		}
		return db.insertAccount(ctx, tx, a, entries)
	})
}

// ConsumeOnce implements staff.Store.
func (db *Staff) ConsumeOnce(ctx context.Context, id string, expires time.Time) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sso_seen WHERE expires_at <= $1`, micros(time.Now())); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO staff_sso_seen (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, micros(expires))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return problem.Conflictf("this answer from the identity provider was used already")
		}
		return nil
	})
}

// RecordAudit implements staff.Store.
func (db *Staff) RecordAudit(ctx context.Context, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return db.appendAudit(ctx, tx, entries)
	})
}
