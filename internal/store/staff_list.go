package store

import (
	"context"

	"github.com/stewardhq/steward/internal/staff"
)

// Accounts implements staff.Store: every account, by e-mail address.
func (db *Staff) Accounts(ctx context.Context) ([]staff.Account, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+accountColumns+` FROM staff_accounts ORDER BY email`)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []staff.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, db.translate(err)
		}
		out = append(out, a)
	}
	return out, db.translate(rows.Err())
}
