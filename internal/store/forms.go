package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/stewardhq/steward/internal/forms"
	"github.com/stewardhq/steward/internal/problem"
)

// Forms is the repository of hosted forms' pending confirmations.
type Forms struct{ *core }

var _ forms.Store = (*Forms)(nil)

// AddConfirmation implements forms.Store; expired confirmations go in the same transaction,
// so the table holds only links that may still be used.
func (db *Forms) AddConfirmation(ctx context.Context, c forms.Confirmation) error {
	ps, _ := json.Marshal(c.Purposes)
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM form_confirmations WHERE expires_at <= $1`, micros(c.RequestedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO form_confirmations (token_hash, customer_id, form, purposes, policy_version, requested_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.TokenHash, c.CustomerID, c.Form, string(ps), c.PolicyVersion, micros(c.RequestedAt), micros(c.ExpiresAt))
		return err
	})
}

// TakeConfirmation implements forms.Store.
func (db *Forms) TakeConfirmation(ctx context.Context, tokenHash []byte) (forms.Confirmation, error) {
	var c forms.Confirmation
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var ps string
		var req, exp int64
		err := tx.QueryRowContext(ctx, `DELETE FROM form_confirmations WHERE token_hash = $1
			RETURNING customer_id, form, purposes, policy_version, requested_at, expires_at`, tokenHash).
			Scan(&c.CustomerID, &c.Form, &ps, &c.PolicyVersion, &req, &exp)
		if errors.Is(err, sql.ErrNoRows) {
			return problem.NotFoundf("no such confirmation")
		}
		if err != nil {
			return err
		}
		c.TokenHash, c.RequestedAt, c.ExpiresAt = tokenHash, fromMicros(req), fromMicros(exp)
		return json.Unmarshal([]byte(ps), &c.Purposes)
	})
	return c, err
}
