package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
)

// batchSize is how many ids one IN list carries. Lists are padded to this size by repeating
// an id, so each query has one text and one prepared statement.
const batchSize = 500

// inList returns "$first, …, $(first+batchSize-1)".
func inList(first int) string {
	var b strings.Builder
	for i := 0; i < batchSize; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i))
	}
	return b.String()
}

// batches calls fn with successive chunks of ids, each padded to batchSize, as query
// arguments after the leading ones.
func batches(ids []string, lead []any, fn func(args []any) error) error {
	for start := 0; start < len(ids); start += batchSize {
		chunk := ids[start:min(start+batchSize, len(ids))]
		args := make([]any, 0, len(lead)+batchSize)
		args = append(args, lead...)
		for i := 0; i < batchSize; i++ {
			args = append(args, chunk[min(i, len(chunk)-1)])
		}
		if err := fn(args); err != nil {
			return err
		}
	}
	return nil
}

const policyColumns = `version, seq, effective_at, url, content_hash, language, controller_name, controller_contact, purposes, material_change, published_at, published_by`

func scanPolicy(row interface{ Scan(...any) error }, text *string) (consent.Policy, error) {
	var p consent.Policy
	var eff, pub int64
	var purposes, material string
	dest := []any{&p.Version, &p.Seq, &eff, &p.URL, &p.ContentHash, &p.Language, &p.Controller.Name, &p.Controller.Contact, &purposes, &material, &pub, &p.PublishedBy}
	if text != nil {
		dest = append(dest, text)
	}
	if err := row.Scan(dest...); err != nil {
		return p, err
	}
	p.EffectiveAt, p.PublishedAt = fromMicros(eff), fromMicros(pub)
	p.Purposes, p.MaterialChange = decodeList(purposes), decodeList(material)
	if p.MaterialChange == nil {
		p.MaterialChange = []string{}
	}
	return p, nil
}

// PublishPolicy implements consent.Store.
func (db *DB) PublishPolicy(ctx context.Context, p consent.Policy, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO policies (`+policyColumns+`, text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			p.Version, p.Seq, micros(p.EffectiveAt), p.URL, p.ContentHash, p.Language, p.Controller.Name, p.Controller.Contact,
			encodeList(p.Purposes), encodeList(p.MaterialChange), micros(p.PublishedAt), p.PublishedBy, p.Text); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// Policies implements consent.Store.
func (db *DB) Policies(ctx context.Context) ([]consent.Policy, error) {
	rows, err := db.query(ctx, `SELECT `+policyColumns+` FROM policies ORDER BY seq`)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []consent.Policy
	for rows.Next() {
		p, err := scanPolicy(rows, nil)
		if err != nil {
			return nil, db.translate(err)
		}
		out = append(out, p)
	}
	return out, db.translate(rows.Err())
}

// Policy implements consent.Store.
func (db *DB) Policy(ctx context.Context, version string) (consent.Policy, error) {
	var text string
	p, err := scanPolicy(db.queryRow(ctx, `SELECT `+policyColumns+`, text FROM policies WHERE version = $1`, version), &text)
	if errors.Is(err, sql.ErrNoRows) {
		return p, problem.NotFoundf("no policy version %q", version)
	}
	p.Text = text
	return p, db.translate(err)
}

const (
	recordColumns = `seq, id, customer_id, kind, purpose, granted, policy_version, source, channel, at, form_id, user_agent, ip_hash, tcf, gpp, actor_id, request_id, receipt`
	recordInsert  = `INSERT INTO consent_records (id, customer_id, kind, purpose, granted, policy_version, source, channel, at, form_id, user_agent, ip_hash, tcf, gpp, actor_id, request_id, receipt)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`
	suppressionInsert = `INSERT INTO suppressions (hash, field, purpose, source, at, actor_id) VALUES ($1, $2, $3, $4, $5, $6)`
)

// AppendConsent implements consent.Store. The customer's row is read with a lock (on
// PostgreSQL), which both proves the customer exists and serialises appends for one customer,
// so an expectation checked here still holds at commit.
func (db *DB) AppendConsent(ctx context.Context, a consent.Append) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM customers WHERE id = $1`+db.d.ForUpdate, a.CustomerID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return problem.NotFoundf("customer not found")
		}
		if err != nil {
			return err
		}
		for purpose, want := range a.Expect {
			var got int64
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM consent_records WHERE customer_id = $1 AND purpose = $2 AND kind = $3`,
				a.CustomerID, purpose, consent.KindConsent).Scan(&got); err != nil {
				return err
			}
			if got != want {
				return problem.Conflictf("the ledger changed concurrently; retry")
			}
		}
		for _, r := range a.Records {
			if r.CustomerID != a.CustomerID {
				return errors.New("append holds records of another customer")
			}
			ev := r.Evidence
			if _, err := tx.ExecContext(ctx, recordInsert, r.ID, r.CustomerID, r.Kind, r.Purpose, r.Granted, r.PolicyVersion, r.Source, r.Channel,
				micros(r.At), ev.FormID, ev.UserAgent, ev.IPHash, ev.TCF, ev.GPP, r.ActorID, r.RequestID, r.Receipt); err != nil {
				return err
			}
		}
		if err := db.insertSuppressions(ctx, tx, a.Suppressions); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a.Entries)
	})
}

func (db *DB) insertSuppressions(ctx context.Context, tx *sql.Tx, entries []consent.Suppression) error {
	for _, s := range entries {
		if _, err := tx.ExecContext(ctx, suppressionInsert, s.Hash, s.Field, s.Purpose, s.Source, micros(s.At), s.ActorID); err != nil {
			return err
		}
	}
	return nil
}

func scanRecord(rows *sql.Rows, full bool) (consent.Record, error) {
	var r consent.Record
	var at int64
	dest := []any{&r.Seq, &r.ID, &r.CustomerID, &r.Kind, &r.Purpose, &r.Granted, &r.PolicyVersion, &r.Source, &at}
	if full {
		ev := &r.Evidence
		dest = append(dest, &r.Channel, &ev.FormID, &ev.UserAgent, &ev.IPHash, &ev.TCF, &ev.GPP, &r.ActorID, &r.RequestID, &r.Receipt)
	}
	err := rows.Scan(dest...)
	r.At = fromMicros(at)
	return r, err
}

// CustomerRecords implements consent.Store.
func (db *DB) CustomerRecords(ctx context.Context, customerID string) ([]consent.Record, error) {
	rows, err := db.query(ctx, `SELECT seq, id, customer_id, kind, purpose, granted, policy_version, source, at,
		channel, form_id, user_agent, ip_hash, tcf, gpp, actor_id, request_id, receipt FROM consent_records WHERE customer_id = $1 ORDER BY seq`, customerID)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []consent.Record
	for rows.Next() {
		r, err := scanRecord(rows, true)
		if err != nil {
			return nil, db.translate(err)
		}
		out = append(out, r)
	}
	return out, db.translate(rows.Err())
}

// DecisionRecords implements consent.Store in one query per batch of ids. Each customer's rows
// fall in one batch, so they come back in ledger order.
func (db *DB) DecisionRecords(ctx context.Context, ids []string, purpose string) ([]consent.Record, error) {
	q := `SELECT seq, id, customer_id, kind, purpose, granted, policy_version, source, at FROM consent_records WHERE customer_id IN (` + inList(1) + `) ORDER BY seq`
	var lead []any
	if purpose != "" {
		q = `SELECT seq, id, customer_id, kind, purpose, granted, policy_version, source, at FROM consent_records
			WHERE customer_id IN (` + inList(3) + `) AND (purpose = $1 OR kind = $2) ORDER BY seq`
		lead = []any{purpose, consent.KindRestriction}
	}
	var out []consent.Record
	err := batches(ids, lead, func(args []any) error {
		rows, err := db.query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRecord(rows, false)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, db.translate(err)
}

// ExistingCustomers implements consent.Store.
func (db *DB) ExistingCustomers(ctx context.Context, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	err := batches(ids, nil, func(args []any) error {
		rows, err := db.query(ctx, `SELECT id FROM customers WHERE id IN (`+inList(1)+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out[id] = true
		}
		return rows.Err()
	})
	return out, db.translate(err)
}

// AddSuppressions implements consent.Store.
func (db *DB) AddSuppressions(ctx context.Context, entries []consent.Suppression, audit []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := db.insertSuppressions(ctx, tx, entries); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, audit)
	})
}

// HasSuppressions implements consent.Store.
func (db *DB) HasSuppressions(ctx context.Context, purpose string) (bool, error) {
	var one int
	err := db.queryRow(ctx, `SELECT 1 FROM suppressions WHERE purpose = $1 LIMIT 1`, purpose).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, db.translate(err)
}

// SuppressedAt implements consent.Store.
func (db *DB) SuppressedAt(ctx context.Context, purpose string, hashes [][]byte) (map[string]time.Time, error) {
	keys := make([]string, len(hashes))
	for i, h := range hashes {
		keys[i] = string(h)
	}
	out := map[string]time.Time{}
	q := `SELECT hash, MAX(at) FROM suppressions WHERE purpose = $1 AND hash IN (` + inList(2) + `) GROUP BY hash`
	err := batches(keys, []any{purpose}, func(args []any) error {
		for i := 1; i < len(args); i++ {
			args[i] = []byte(args[i].(string))
		}
		rows, err := db.query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h []byte
			var at int64
			if err := rows.Scan(&h, &at); err != nil {
				return err
			}
			out[string(h)] = fromMicros(at)
		}
		return rows.Err()
	})
	return out, db.translate(err)
}

// CustomersByID implements customer.Store: the stored customers among ids, in no particular
// order, in one query per batch.
func (db *DB) CustomersByID(ctx context.Context, ids []string) ([]*customer.Record, error) {
	var out []*customer.Record
	err := batches(ids, nil, func(args []any) error {
		rows, err := db.query(ctx, `SELECT `+customerColumns+` FROM customers WHERE id IN (`+inList(1)+`)`, args...)
		if err != nil {
			return err
		}
		recs, err := db.scanCustomers(rows)
		out = append(out, recs...)
		return err
	})
	return out, db.translate(err)
}

var _ consent.Store = (*DB)(nil)
