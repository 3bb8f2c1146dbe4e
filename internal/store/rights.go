package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
)

// Rights is the data-subject rights' repository: requests, exports, legal holds and the
// erasure ledger.
type Rights struct{ *core }

var _ rights.Store = (*Rights)(nil)
var _ customer.ErasureLedger = (*Rights)(nil)
var _ rights.Rows = (*Rights)(nil)

// BeginErasure implements rights.Store.
func (db *Rights) BeginErasure(ctx context.Context, e rights.LedgerEntry, suppress []rights.Suppression, entries []audit.Entry) ([]rights.Outcome, error) {
	var out []rights.Outcome
	ch := changes{ids: []string{e.CustomerID}}
	hashes, _ := json.Marshal(e.Hashes)
	marketing, _ := json.Marshal(e.Marketing)
	report, _ := json.Marshal(e.Report)
	err := db.transact(ctx, nil, &ch, func(ctx context.Context, tx *sql.Tx) error {
		out = nil // with group commit this may run twice
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM erasure_ledger WHERE customer_id = $1`, e.CustomerID).Scan(&one)
		if err == nil {
			return problem.Conflictf("customer is already in the erasure ledger")
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// The links into this customer go with its row (ON DELETE CASCADE), and with them
		// the only record of whose the merged-in rows are: those customers are erased first.
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM customer_links WHERE merged_into = $1 LIMIT 1`, e.CustomerID).Scan(&one)
		if err == nil {
			return rights.ErrMergedInto
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO erasure_ledger (customer_id, erased_at, request_id, reason, hashes, marketing, state, report, completed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)`, e.CustomerID, micros(e.ErasedAt), e.RequestID, e.Reason, string(hashes), string(marketing), rights.LedgerErasing, string(report)); err != nil {
			return err
		}
		for _, s := range suppress {
			if _, err := tx.ExecContext(ctx, `INSERT INTO erasure_suppression (kind, hash, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				s.Kind, s.Hash, micros(e.ErasedAt)); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM blind_index WHERE customer_id = $1`, e.CustomerID)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		out = append(out, rights.Outcome{Table: "blind_index", Deleted: n})
		if n, err = db.eraseSearch(ctx, tx, e.CustomerID); err != nil {
			return err
		}
		out = append(out, rights.Outcome{Table: "search_tokens", Deleted: n})
		// Consent records stay as proof, but not their evidence: the sealed part would no
		// longer open once the key below is gone, and is emptied anyway, with the clear
		// columns (references Steward wrote, or evidence a start-up has not sealed yet).
		if _, err := tx.ExecContext(ctx, `UPDATE consent_records SET evidence = $2, form_id = '', user_agent = '', tcf = '', gpp = ''
			WHERE customer_id = $1`, e.CustomerID, []byte{}); err != nil {
			return err
		}
		// The wrapped data key is a column of this row: deleting it is the crypto-shredding.
		if res, err = tx.ExecContext(ctx, `DELETE FROM customers WHERE id = $1`, e.CustomerID); err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		out = append(out, rights.Outcome{Table: "customers", Deleted: n, Why: "profile and its data key destroyed"})
		return db.appendAudit(ctx, tx, entries)
	})
	return out, err
}

// MergeTree implements rights.Store.
func (db *Rights) MergeTree(ctx context.Context, id string) (string, []string, error) {
	return db.customerTree(ctx, id)
}

// MergedInto implements rights.Store.
func (db *Rights) MergedInto(ctx context.Context, id string) ([]string, error) {
	ids, err := tree(id, func(c string) (*sql.Rows, error) {
		return db.query(ctx, `SELECT customer_id FROM customer_links WHERE merged_into = $1`, c)
	})
	if err != nil {
		return nil, db.translate(err)
	}
	return ids[1:], nil
}

// SaveErasureReport implements rights.Store.
func (db *Rights) SaveErasureReport(ctx context.Context, customerID string, r rights.Report) error {
	b, _ := json.Marshal(r)
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE erasure_ledger SET report = $1 WHERE customer_id = $2`, string(b), customerID)
		return err
	})
}

// FinishErasure implements rights.Store.
func (db *Rights) FinishErasure(ctx context.Context, customerID string, r rights.Report, at time.Time, entries []audit.Entry) error {
	b, _ := json.Marshal(r)
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE erasure_ledger SET report = $1, state = $2, completed_at = $3 WHERE customer_id = $4 AND state = $5`,
			string(b), rights.LedgerErased, micros(at), customerID, rights.LedgerErasing)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // another node finished it
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

const ledgerColumns = `customer_id, erased_at, request_id, reason, hashes, marketing, state, report, completed_at`

func scanLedger(row rowScanner) (rights.LedgerEntry, error) {
	var e rights.LedgerEntry
	var erased, completed int64
	var hashes, marketing, report string
	if err := row.Scan(&e.CustomerID, &erased, &e.RequestID, &e.Reason, &hashes, &marketing, &e.State, &report, &completed); err != nil {
		return e, err
	}
	e.ErasedAt = fromMicros(erased)
	if completed > 0 {
		e.CompletedAt = fromMicros(completed)
	}
	if err := json.Unmarshal([]byte(hashes), &e.Hashes); err != nil {
		return e, err
	}
	if err := json.Unmarshal([]byte(marketing), &e.Marketing); err != nil {
		return e, err
	}
	return e, json.Unmarshal([]byte(report), &e.Report)
}

// Forget implements rights.Store.
func (db *Rights) Forget(ctx context.Context) error { return db.forget(ctx) }

// LedgerEntry implements rights.Store.
func (db *Rights) LedgerEntry(ctx context.Context, customerID string) (rights.LedgerEntry, error) {
	e, err := scanLedger(db.queryRow(ctx, `SELECT `+ledgerColumns+` FROM erasure_ledger WHERE customer_id = $1`, customerID))
	if errors.Is(err, sql.ErrNoRows) {
		return e, problem.NotFoundf("customer is not in the erasure ledger")
	}
	return e, db.translate(err)
}

// LedgerEntries implements rights.Store.
func (db *Rights) LedgerEntries(ctx context.Context, after string, limit int) ([]rights.LedgerEntry, error) {
	rows, err := db.query(ctx, `SELECT `+ledgerColumns+` FROM erasure_ledger WHERE customer_id > $1 ORDER BY customer_id LIMIT $2`, after, limit)
	return collect(db, rows, err, scanLedger)
}

// Erased implements customer.ErasureLedger.
func (db *Rights) Erased(ctx context.Context, customerID string) (bool, error) {
	return db.exists(ctx, `SELECT 1 FROM erasure_ledger WHERE customer_id = $1`, customerID)
}

// Suppressed implements rights.Store.
func (db *Rights) Suppressed(ctx context.Context, kind string, hash []byte) (bool, error) {
	return db.exists(ctx, `SELECT 1 FROM erasure_suppression WHERE kind = $1 AND hash = $2`, kind, hash)
}

func (db *Rights) exists(ctx context.Context, q string, args ...any) (bool, error) {
	var one int
	err := db.queryRow(ctx, q, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, db.translate(err)
}

// LegalHold implements rights.Store.
func (db *Rights) LegalHold(ctx context.Context, customerID string) (rights.Hold, error) {
	h := rights.Hold{CustomerID: customerID}
	var at int64
	err := db.queryRow(ctx, `SELECT reason, actor_id, created_at FROM legal_holds WHERE customer_id = $1`, customerID).Scan(&h.Reason, &h.ActorID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return h, problem.NotFoundf("customer is not under legal hold")
	}
	h.CreatedAt = fromMicros(at)
	return h, db.translate(err)
}

// SetLegalHold implements rights.Store.
func (db *Rights) SetLegalHold(ctx context.Context, h rights.Hold, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO legal_holds (customer_id, reason, actor_id, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason, actor_id = excluded.actor_id, created_at = excluded.created_at`,
			h.CustomerID, h.Reason, h.ActorID, micros(h.CreatedAt)); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// ReleaseLegalHold implements rights.Store.
func (db *Rights) ReleaseLegalHold(ctx context.Context, customerID string, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM legal_holds WHERE customer_id = $1`, customerID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return problem.NotFoundf("customer is not under legal hold")
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// LegalHolds implements rights.Store.
func (db *Rights) LegalHolds(ctx context.Context) ([]rights.Hold, error) {
	rows, err := db.query(ctx, `SELECT customer_id, reason, actor_id, created_at FROM legal_holds ORDER BY customer_id`)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []rights.Hold
	for rows.Next() {
		var h rights.Hold
		var at int64
		if err := rows.Scan(&h.CustomerID, &h.Reason, &h.ActorID, &at); err != nil {
			return nil, db.translate(err)
		}
		h.CreatedAt = fromMicros(at)
		out = append(out, h)
	}
	return out, db.translate(rows.Err())
}

const requestColumns = `id, type, state, customer_id, jurisdiction, source, contact_hash, token_hash, token_expires, reason, result, version, due_at, created_at, updated_at, verified_at, closed_at, opened_by`

func scanRequest(row rowScanner) (*rights.Request, error) {
	r := &rights.Request{}
	var tokenExp, due, created, updated, verified, closed int64
	var result string
	if err := row.Scan(&r.ID, &r.Type, &r.State, &r.CustomerID, &r.Jurisdiction, &r.Source, &r.ContactHash, &r.TokenHash, &tokenExp,
		&r.Reason, &result, &r.Version, &due, &created, &updated, &verified, &closed, &r.OpenedBy); err != nil {
		return nil, err
	}
	r.TokenExpires, r.DueAt, r.CreatedAt, r.UpdatedAt = fromMicros(tokenExp), fromMicros(due), fromMicros(created), fromMicros(updated)
	if verified > 0 {
		r.VerifiedAt = fromMicros(verified)
	}
	if closed > 0 {
		r.ClosedAt = fromMicros(closed)
	}
	if result != "" {
		r.Result = json.RawMessage(result)
	}
	return r, nil
}

func optMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CreateRequest implements rights.Store.
func (db *Rights) CreateRequest(ctx context.Context, r *rights.Request, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := insertRequest(ctx, tx, r); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// insertRequest writes a new request row: the one statement both ways of opening a request
// use, so a column added to requests is written by both.
func insertRequest(ctx context.Context, tx *sql.Tx, r *rights.Request) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO requests (`+requestColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		r.ID, r.Type, r.State, r.CustomerID, r.Jurisdiction, r.Source, nonNil(r.ContactHash), nonNil(r.TokenHash), optMicros(r.TokenExpires),
		r.Reason, string(r.Result), r.Version, micros(r.DueAt), micros(r.CreatedAt), micros(r.UpdatedAt), optMicros(r.VerifiedAt), optMicros(r.ClosedAt), r.OpenedBy)
	return err
}

// CreateSelfRequest implements rights.Store. On SQLite the count and the insert run on the one
// writer, so concurrent requests for one contact are counted exactly; on PostgreSQL two
// transactions that count at the same moment can both insert, so a burst can pass the limit by
// the number of requests in flight at once (which the portal's per-client limit bounds).
func (db *Rights) CreateSelfRequest(ctx context.Context, r *rights.Request, entries []audit.Entry, since time.Time, limit int) (bool, error) {
	created := false
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		created = false
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests WHERE contact_hash = $1 AND source = $2 AND created_at >= $3`,
			nonNil(r.ContactHash), rights.SourceCustomer, micros(since)).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return nil
		}
		if err := insertRequest(ctx, tx, r); err != nil {
			return err
		}
		created = true
		return db.appendAudit(ctx, tx, entries)
	})
	return created, err
}

// UpdateRequest implements rights.Store.
func (db *Rights) UpdateRequest(ctx context.Context, r *rights.Request, prev int64, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET state = $1, token_hash = $2, token_expires = $3, reason = $4, result = $5, version = $6,
			updated_at = $7, verified_at = $8, closed_at = $9 WHERE id = $10 AND version = $11`,
			r.State, nonNil(r.TokenHash), optMicros(r.TokenExpires), r.Reason, string(r.Result), r.Version, micros(r.UpdatedAt),
			optMicros(r.VerifiedAt), optMicros(r.ClosedAt), r.ID, prev)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return problem.Conflictf("request was changed concurrently; reload it")
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// GetRequest implements rights.Store.
func (db *Rights) GetRequest(ctx context.Context, id string) (*rights.Request, error) {
	r, err := scanRequest(db.queryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, problem.NotFoundf("request not found")
	}
	return r, db.translate(err)
}

// RequestByToken implements rights.Store.
func (db *Rights) RequestByToken(ctx context.Context, tokenHash []byte) (*rights.Request, error) {
	r, err := scanRequest(db.queryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE token_hash = $1`, tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, problem.NotFoundf("request not found")
	}
	return r, db.translate(err)
}

// ListRequests implements rights.Store.
func (db *Rights) ListRequests(ctx context.Context, f rights.RequestFilter) ([]*rights.Request, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	if f.State != "" {
		add("state = ?", f.State)
	}
	if f.Type != "" {
		add("type = ?", f.Type)
	}
	if f.CustomerID != "" {
		add("customer_id = ?", f.CustomerID)
	}
	if !f.DueBefore.IsZero() {
		add("due_at < ?", micros(f.DueBefore))
		where = append(where, "state NOT IN ('completed', 'rejected')")
	}
	q := `SELECT ` + requestColumns + ` FROM requests`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	q += ` ORDER BY due_at, id LIMIT $` + strconv.Itoa(len(args))
	rows, err := db.read.QueryContext(ctx, q, args...)
	return collect(db, rows, err, scanRequest)
}

// RequestCounts implements rights.Store.
func (db *Rights) RequestCounts(ctx context.Context, now, soon time.Time) (rights.RequestStats, error) {
	st := rights.RequestStats{Open: map[string]int64{}}
	rows, err := db.query(ctx, `SELECT state, COUNT(*), SUM(CASE WHEN due_at <= $1 THEN 1 ELSE 0 END), SUM(CASE WHEN due_at > $1 AND due_at < $2 THEN 1 ELSE 0 END)
		FROM requests WHERE state NOT IN ('completed', 'rejected') GROUP BY state`, micros(now), micros(soon))
	if err != nil {
		return st, db.translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n, overdue, dueSoon int64
		if err := rows.Scan(&state, &n, &overdue, &dueSoon); err != nil {
			return st, db.translate(err)
		}
		st.Open[state], st.Overdue, st.DueSoon = n, st.Overdue+overdue, st.DueSoon+dueSoon
	}
	return st, db.translate(rows.Err())
}

// SaveExport implements rights.Store.
func (db *Rights) SaveExport(ctx context.Context, x rights.Export, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO exports (id, request_id, customer_id, token_hash, blob, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			x.ID, x.RequestID, x.CustomerID, x.TokenHash, x.Blob, micros(x.CreatedAt), micros(x.ExpiresAt)); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// GetExport implements rights.Store.
func (db *Rights) GetExport(ctx context.Context, id string) (rights.Export, error) {
	x := rights.Export{ID: id}
	var created, expires int64
	err := db.queryRow(ctx, `SELECT request_id, customer_id, token_hash, blob, created_at, expires_at FROM exports WHERE id = $1`, id).
		Scan(&x.RequestID, &x.CustomerID, &x.TokenHash, &x.Blob, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return x, problem.NotFoundf("export not found")
	}
	x.CreatedAt, x.ExpiresAt = fromMicros(created), fromMicros(expires)
	return x, db.translate(err)
}

// DeleteExpiredExports implements rights.Store.
func (db *Rights) DeleteExpiredExports(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM exports WHERE expires_at <= $1`, micros(now))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
