package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
)

// DeleteRows implements rights.Rows.
func (db *Rights) DeleteRows(ctx context.Context, table, id string) (int64, error) {
	t, ok := customerRows[table]
	if !ok {
		return 0, fmt.Errorf("no customer rows in table %q", table)
	}
	if table == "segment_members" {
		return db.leaveSegments(ctx, id)
	}
	var n int64
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if t.remove != nil {
			var err error
			n, err = t.remove(db.core, ctx, tx, id)
			return err
		}
		res, err := tx.ExecContext(ctx, db.native(`DELETE FROM `+table+` WHERE `+t.where), id)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// CountRows implements rights.Rows; the audit trail is counted in every database holding it,
// after the access log is synced.
func (db *Rights) CountRows(ctx context.Context, table, id string) (int64, error) {
	t, ok := customerRows[table]
	if !ok {
		return 0, fmt.Errorf("no customer rows in table %q", table)
	}
	if t.count != nil {
		return t.count(db.core, ctx, id)
	}
	var total int64
	srcs := []string{""}
	if table == "audit_log" {
		srcs = db.auditSources()
		if err := db.syncAccess(ctx); err != nil {
			return 0, err
		}
	}
	for _, src := range srcs {
		from := `FROM ` + src + table + ` WHERE ` + t.where
		if table == "audit_log" {
			from = db.auditCustomer(src, "$1")
		}
		var n int64
		if err := db.queryRow(ctx, `SELECT COUNT(*) `+from, id).Scan(&n); err != nil {
			return 0, db.translate(err)
		}
		total += n
	}
	return total, nil
}

// AnonymiseRequests implements rights.Rows.
func (db *Rights) AnonymiseRequests(ctx context.Context, id string) (int64, error) {
	var n int64
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET contact_hash = $1, token_hash = $1, token_expires = 0 WHERE customer_id = $2`, []byte{}, id)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// customerTables lists every table, in every schema Steward uses, that has a customer_id
// column (selected by q), plus customers itself: what the rights registry must cover.
func (db *core) customerTables(ctx context.Context, q string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, q)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	// customers names its customer by id, and search_tokens holds the numbers of customers'
	// search lists in blocks (see searchblock.go): neither has a customer_id column.
	set := map[string]bool{"customers": true, "search_tokens": true}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, db.translate(err)
		}
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, db.translate(rows.Err())
}
