package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
)

// Consents is the consent ledger's repository: policies, consent records, suppressions and the
// inputs of permission decisions.
type Consents struct{ *core }

var _ consent.Store = (*Consents)(nil)

// bulkMin is the number of ids from which a read goes to the bulk pool; below it the hot
// pages of the ordinary readers serve better.
const bulkMin = 1000

// queryMany runs a read over n ids on the pool that suits n.
func (db *core) queryMany(ctx context.Context, n int, q string, args ...any) (*sql.Rows, error) {
	pool := db.read
	if db.bulk != nil && n >= bulkMin {
		pool = db.bulk
	}
	st, err := db.prepared(ctx, pool, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// batchSize is how many ids one query carries. They travel as one JSON array parameter
// (Dialect.JSONTable): binding thousands of parameters one by one cost more than the look-ups.
const batchSize = 5000

// idList returns a subquery yielding the ids bound as parameter n.
func (db *core) idList(n int) string { return "SELECT j.value FROM " + fmt.Sprintf(db.d.JSONTable, n) }

// batches calls fn with successive chunks of ids, each encoded as a JSON array, as the query
// argument after the leading ones.
func batches(ids []string, lead []any, fn func(args []any) error) error {
	for start := 0; start < len(ids); start += batchSize {
		chunk, err := json.Marshal(ids[start:min(start+batchSize, len(ids))])
		if err != nil {
			return err
		}
		args := append(append(make([]any, 0, len(lead)+1), lead...), string(chunk))
		if err := fn(args); err != nil {
			return err
		}
	}
	return nil
}

const policyColumns = `version, seq, effective_at, url, content_hash, language, controller_name, controller_contact, purposes, material_change, published_at, published_by`

func scanPolicy(row rowScanner, text *string) (consent.Policy, error) {
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
func (db *Consents) PublishPolicy(ctx context.Context, p consent.Policy, entries []audit.Entry) error {
	return db.transact(ctx, nil, &changes{policies: true}, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO policies (`+policyColumns+`, text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			p.Version, p.Seq, micros(p.EffectiveAt), p.URL, p.ContentHash, p.Language, p.Controller.Name, p.Controller.Contact,
			encodeList(p.Purposes), encodeList(p.MaterialChange), micros(p.PublishedAt), p.PublishedBy, p.Text); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// Policies implements consent.Store.
func (db *Consents) Policies(ctx context.Context) ([]consent.Policy, error) {
	rows, err := db.query(ctx, `SELECT `+policyColumns+` FROM policies ORDER BY seq`)
	return collect(db, rows, err, func(r rowScanner) (consent.Policy, error) { return scanPolicy(r, nil) })
}

// Policy implements consent.Store.
func (db *Consents) Policy(ctx context.Context, version string) (consent.Policy, error) {
	var text string
	p, err := scanPolicy(db.queryRow(ctx, `SELECT `+policyColumns+`, text FROM policies WHERE version = $1`, version), &text)
	if errors.Is(err, sql.ErrNoRows) {
		return p, problem.NotFoundf("no policy version %q", version)
	}
	p.Text = text
	return p, db.translate(err)
}

const (
	recordInsertInto = `INSERT INTO consent_records (id, customer_id, kind, purpose, granted, policy_version, source, channel, at, form_id, user_agent, ip_hash, tcf, gpp, actor_id, request_id, receipt, evidence, requested_at)`
	recordInsert     = recordInsertInto + `
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`
	recordCols = 19
	// recordSelect is what scanRecord reads.
	recordSelect      = `seq, id, customer_id, kind, purpose, granted, policy_version, source, at, channel, form_id, user_agent, ip_hash, tcf, gpp, actor_id, request_id, receipt, evidence, requested_at`
	suppressionInsert = `INSERT INTO suppressions (hash, token, field, purpose, source, at, actor_id) VALUES ($1, $2, $3, $4, $5, $6, $7)`
)

// AppendConsent implements consent.Store. The customer's row is read with a lock (on
// PostgreSQL), which both proves the customer exists and serialises appends for one customer,
// so an expectation checked here still holds at commit.
func (db *Consents) AppendConsent(ctx context.Context, a consent.Append) error {
	ch := changes{ids: []string{a.CustomerID}}
	return db.transact(ctx, nil, &ch, func(ctx context.Context, tx *sql.Tx) error {
		return db.appendTx(ctx, tx, a, &ch)
	})
}

// appendTx stores one append inside tx, after checking its expectations: the body of
// AppendConsent, which a customer write that carries a relayed opt-out also runs in its own
// transaction (see Customers.CreateCustomerWith).
func (db *Consents) appendTx(ctx context.Context, tx *sql.Tx, a consent.Append, ch *changes) error {
	if a.Via != "" && a.Via != a.CustomerID {
		if err := db.checkVias(ctx, tx, []string{a.CustomerID}, []consent.Append{a}); err != nil {
			return err
		}
	}
	if err := db.lockCustomer(ctx, tx, a.CustomerID); err != nil {
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
	holders, err := db.insertConsent(ctx, tx, a)
	ch.add(holders...)
	return err
}

// AppendConsents implements consent.Store: the appends of an import batch in one transaction,
// their customers checked (and locked, on PostgreSQL) a few hundred per query, their records
// inserted fifty per statement and their audit entries appended together.
func (db *Consents) AppendConsents(ctx context.Context, as []consent.Append) error {
	var ids []string
	var records []any
	var sups []consent.Suppression
	var audits []audit.Entry
	var vias []consent.Append
	seen := map[string]bool{}
	for _, a := range as {
		if a.Expect != nil {
			return errors.New("AppendConsents does not check expectations")
		}
		if a.Via != "" && a.Via != a.CustomerID {
			vias = append(vias, consent.Append{CustomerID: a.CustomerID, Via: a.Via})
		}
		if !seen[a.CustomerID] {
			seen[a.CustomerID] = true
			ids = append(ids, a.CustomerID)
		}
		for _, r := range a.Records {
			if r.CustomerID != a.CustomerID {
				return errors.New("append holds records of another customer")
			}
			vals, err := recordValues(&r)
			if err != nil {
				return err
			}
			records = append(records, vals...)
		}
		sups = append(sups, a.Suppressions...)
		audits = append(audits, a.Entries...)
	}
	const idsPerQuery, recordsPerStatement = 500, 50
	ch := changes{ids: append([]string(nil), ids...)}
	return db.transact(ctx, nil, &ch, func(ctx context.Context, tx *sql.Tx) error {
		if len(vias) > 0 {
			if err := db.checkVias(ctx, tx, ids, vias); err != nil {
				return err
			}
		}
		for from := 0; from < len(ids); from += idsPerQuery {
			part := ids[from:min(from+idsPerQuery, len(ids))]
			rows, err := tx.QueryContext(ctx, `SELECT id FROM customers WHERE id IN (`+placeholders(1, len(part))+`)`+db.d.ForUpdate, anyArgs(part)...)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if n != len(part) {
				return problem.NotFoundf("customer not found")
			}
			if err := db.refuseMerged(ctx, tx, part); err != nil {
				return err
			}
		}
		for from := 0; from < len(records); from += recordCols * recordsPerStatement {
			part := records[from:min(from+recordCols*recordsPerStatement, len(records))]
			if _, err := tx.ExecContext(ctx, db.valuesSQL(recordInsertInto, recordCols, len(part)/recordCols, ""), part...); err != nil {
				return err
			}
		}
		holders, err := db.addSuppressions(ctx, tx, sups)
		if err != nil {
			return err
		}
		ch.add(holders...)
		return db.appendAudit(ctx, tx, audits)
	})
}

// lockCustomer reads the customer's row with a lock (on PostgreSQL): it proves the customer
// exists (NotFound otherwise) and serialises appends for one customer. The merge link is read
// by a statement of its own after the lock is held: on PostgreSQL each statement sees what
// committed before it began, so an append that waited for a merge's lock sees that merge's
// link, and is answered with *consent.Merged instead of writing where nothing reads.
func (db *Consents) lockCustomer(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM customers WHERE id = $1`+db.d.ForUpdate, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return problem.NotFoundf("customer not found")
	}
	if err != nil {
		return err
	}
	return db.refuseMerged(ctx, tx, []string{id})
}

// refuseMerged returns *consent.Merged for the first of ids merged into another customer,
// naming the customer at the top of its merge tree; nil when none is.
func (db *core) refuseMerged(ctx context.Context, tx *sql.Tx, ids []string) error {
	rows, err := tx.QueryContext(ctx, `SELECT customer_id, merged_into FROM customer_links WHERE customer_id IN (`+placeholders(1, len(ids))+`)`, anyArgs(ids)...)
	links, err := collect(db, rows, err, func(r rowScanner) (l [2]string, err error) { return l, r.Scan(&l[0], &l[1]) })
	if err != nil || len(links) == 0 {
		return err
	}
	top, err := db.topOf(ctx, tx, links[0][1])
	if err != nil {
		return err
	}
	return &consent.Merged{ID: links[0][0], Into: top}
}

// checkVias locks the customers ids and the ids the appends vias were sent to (Append.Via),
// all in id order as an undo locks them, and fails with consent.ErrUnmerged if one of those
// no longer answers to its append's customer. An undo then either committed first, and the
// link is gone here, or waits for the appends, and sees its counters moved.
func (db *core) checkVias(ctx context.Context, tx *sql.Tx, ids []string, vias []consent.Append) error {
	all := slices.Clone(ids)
	for _, v := range vias {
		all = append(all, v.Via)
	}
	if _, err := db.lockCustomers(ctx, tx, all); err != nil {
		return err
	}
	for _, v := range vias {
		top, err := db.topOf(ctx, tx, v.Via)
		if err != nil {
			return err
		}
		if top != v.CustomerID {
			return consent.Unmerged()
		}
	}
	return nil
}

// topOf is the customer at the top of id's merge tree, as tx reads the links: id itself when
// it is not merged.
func (db *core) topOf(ctx context.Context, tx *sql.Tx, id string) (string, error) {
	for depth := 0; ; depth++ {
		var next string
		err := tx.QueryRowContext(ctx, linkOf, id).Scan(&next)
		if errors.Is(err, sql.ErrNoRows) {
			return id, nil
		}
		if err != nil {
			return "", err
		}
		if depth == 64 {
			return "", problem.New(problem.Internal, "merge links form a cycle")
		}
		id = next
	}
}

// lockedCustomer is what lockCustomers reads of a customer it locked.
type lockedCustomer struct {
	version int64
	into    string
}

// lockCustomers locks the customers (on PostgreSQL, in id order; a transaction that locked
// some of them earlier in another order may meet a deadlock, which PostgreSQL breaks and the
// retry runs again) and reads each one's decision change counter and then, by a statement of
// its own, its merge link: on PostgreSQL each statement sees what committed before it began,
// so the link read is the one the lock now holds still. Customers not stored are absent.
func (db *core) lockCustomers(ctx context.Context, tx *sql.Tx, ids []string) (map[string]lockedCustomer, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make(map[string]lockedCustomer, len(ids))
	for from := 0; from < len(ids); from += 500 {
		part := ids[from:min(from+500, len(ids))]
		rows, err := tx.QueryContext(ctx, `SELECT id, decision_seq FROM customers WHERE id IN (`+placeholders(1, len(part))+`) ORDER BY id`+db.d.ForUpdate, anyArgs(part)...)
		type counter struct {
			id      string
			version int64
		}
		counters, err := collect(db, rows, err, func(r rowScanner) (c counter, err error) {
			err = r.Scan(&c.id, &c.version)
			return c, err
		})
		if err != nil {
			return nil, err
		}
		for _, c := range counters {
			out[c.id] = lockedCustomer{version: c.version}
		}
		rows, err = tx.QueryContext(ctx, `SELECT customer_id, merged_into FROM customer_links WHERE customer_id IN (`+placeholders(1, len(part))+`)`, anyArgs(part)...)
		links, err := collect(db, rows, err, func(r rowScanner) (l [2]string, err error) { return l, r.Scan(&l[0], &l[1]) })
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			if c, ok := out[l[0]]; ok {
				c.into = l[1]
				out[l[0]] = c
			}
		}
	}
	return out, nil
}

// insertConsent writes one append's records, suppressions and audit entries, and returns the
// customers whose contacts match the new suppressions (their decisions changed too).
func (db *Consents) insertConsent(ctx context.Context, tx *sql.Tx, a consent.Append) ([]string, error) {
	for _, r := range a.Records {
		if r.CustomerID != a.CustomerID {
			return nil, errors.New("append holds records of another customer")
		}
		vals, err := recordValues(&r)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, recordInsert, vals...); err != nil {
			return nil, err
		}
	}
	holders, err := db.addSuppressions(ctx, tx, a.Suppressions)
	if err != nil {
		return nil, err
	}
	return holders, db.appendAudit(ctx, tx, a.Entries)
}

// errClearEvidence is what a write of a record whose evidence was not sealed fails with.
var errClearEvidence = errors.New("consent record carries evidence that identifies a person unsealed")

// recordValues returns the insert arguments of r, in recordInsert's order. It refuses a record
// whose personal evidence was not sealed (consent.SealEvidence): the database only ever sees
// ciphertext of it, whichever writer forgot. The old clear columns are written empty.
func recordValues(r *consent.Record) ([]any, error) {
	if !consent.ClearEvidence(r) {
		return nil, errClearEvidence
	}
	ev := r.Evidence
	sealed := r.SealedEvidence
	if sealed == nil {
		sealed = []byte{}
	}
	var requested sql.NullInt64
	if ev.RequestedAt != nil {
		requested = sql.NullInt64{Int64: micros(*ev.RequestedAt), Valid: true}
	}
	return []any{r.ID, r.CustomerID, r.Kind, r.Purpose, r.Granted, r.PolicyVersion, r.Source, r.Channel,
		micros(r.At), ev.FormID, "", ev.IPHash, "", "", r.ActorID, r.RequestID, r.Receipt, sealed, requested}, nil
}

func scanRecord(rows rowScanner) (consent.Record, error) {
	var r consent.Record
	var at int64
	var requested sql.NullInt64
	ev := &r.Evidence
	err := rows.Scan(&r.Seq, &r.ID, &r.CustomerID, &r.Kind, &r.Purpose, &r.Granted, &r.PolicyVersion, &r.Source, &at,
		&r.Channel, &ev.FormID, &ev.UserAgent, &ev.IPHash, &ev.TCF, &ev.GPP, &r.ActorID, &r.RequestID, &r.Receipt, &r.SealedEvidence, &requested)
	r.At = fromMicros(at)
	if requested.Valid {
		t := fromMicros(requested.Int64)
		ev.RequestedAt = &t
	}
	if len(r.SealedEvidence) == 0 {
		r.SealedEvidence = nil
	}
	return r, err
}

// CustomerRecords implements consent.Store.
func (db *Consents) CustomerRecords(ctx context.Context, customerID string) ([]consent.Record, error) {
	rows, err := db.query(ctx, `SELECT `+recordSelect+` FROM consent_records WHERE customer_id = $1 ORDER BY seq`, customerID)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []consent.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, db.translate(err)
		}
		out = append(out, r)
	}
	return out, db.translate(rows.Err())
}

// unsealedWhere selects records whose clear evidence columns hold evidence that identifies a
// person; the partial index consent_records_unsealed has the same condition, so the scan at
// start reads only them.
const unsealedWhere = `(user_agent <> '' OR tcf <> '' OR gpp <> '' OR (form_id <> '' AND source NOT IN ('event', 'merge', 'request')))`

// UnsealedEvidence implements consent.Store.
func (db *Consents) UnsealedEvidence(ctx context.Context, after int64, limit int) ([]consent.Record, error) {
	rows, err := db.query(ctx, `SELECT `+recordSelect+` FROM consent_records
		WHERE `+unsealedWhere+` AND seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	return collect(db, rows, err, scanRecord)
}

// SealStoredEvidence implements consent.Store. The ledger's update trigger lets through only
// this change and erasure's blanking.
func (db *Consents) SealStoredEvidence(ctx context.Context, recs []consent.Record) error {
	if len(recs) == 0 {
		return nil
	}
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, r := range recs {
			if !consent.ClearEvidence(&r) {
				return errClearEvidence
			}
			sealed := r.SealedEvidence
			if sealed == nil {
				sealed = []byte{}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE consent_records SET evidence = $2, form_id = $3, user_agent = '', tcf = '', gpp = ''
				WHERE seq = $1`, r.Seq, sealed, r.Evidence.FormID); err != nil {
				return err
			}
		}
		return nil
	})
}

// DecisionRecords implements consent.Store with two queries per batch of ids, each answered
// from a covering index: the ids that are not customers (from a narrow index of ids on SQLite),
// and the records. Only rows that say something come back, which matters at 100,000 ids.
func (db *Consents) DecisionRecords(ctx context.Context, ids []string, purpose string) (map[string]bool, map[string]string, []consent.Record, error) {
	// The ids that are not customers (with no link), and those merged into another.
	missing := `SELECT j.value, COALESCE(l.merged_into, '') FROM ` + fmt.Sprintf(db.d.JSONTable, 1) + ` LEFT JOIN customer_links l ON l.customer_id = j.value
		WHERE l.customer_id IS NOT NULL OR NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = j.value)`
	cond, lead, n := "", []any(nil), 1
	if purpose != "" {
		cond, lead, n = " AND (r.purpose = $1 OR r.kind = $2)", []any{purpose, consent.KindRestriction}, 3
	}
	records := `SELECT r.customer_id, r.seq, r.kind, r.purpose, r.granted, r.policy_version, r.source, r.at FROM consent_records r
		WHERE r.customer_id IN (` + db.idList(n) + `)` + cond
	absent := map[string]bool{}
	var into map[string]string
	out := make([]consent.Record, 0, len(ids))
	err := batches(ids, nil, func(args []any) error {
		rows, err := db.queryMany(ctx, len(ids), missing, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, parent string
			if err := rows.Scan(&id, &parent); err != nil {
				return err
			}
			if parent == "" {
				absent[id] = true
				continue
			}
			if into == nil {
				into = map[string]string{}
			}
			into[id] = parent
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		rows, err = db.queryMany(ctx, len(ids), records, append(lead, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r consent.Record
			var at int64
			if err := rows.Scan(&r.CustomerID, &r.Seq, &r.Kind, &r.Purpose, &r.Granted, &r.PolicyVersion, &r.Source, &at); err != nil {
				return err
			}
			r.At = fromMicros(at)
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, nil, nil, db.translate(err)
	}
	if err := db.eventEvidence(ctx, out); err != nil {
		return nil, nil, nil, db.translate(err)
	}
	exist := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !absent[id] {
			exist[id] = true
		}
	}
	return exist, into, out, nil
}

// eventEvidence fills in the evidence of the refusals among recs that an event made (or a
// merge carried from one): it says which event it was, an unsubscribe or a spam complaint, and
// so the reason the decision gives. They are few, and read by their primary key apart from the
// rest, so that the records query stays answered from its covering index.
func (db *Consents) eventEvidence(ctx context.Context, recs []consent.Record) error {
	at := map[int64]int{}
	var keys []string
	for i := range recs {
		if r := &recs[i]; !r.Granted && (r.Source == consent.SourceEvent || r.Source == consent.SourceMerge) {
			at[r.Seq] = i
			keys = append(keys, strconv.FormatInt(r.Seq, 10))
		}
	}
	if len(keys) == 0 {
		return nil
	}
	q := `SELECT seq, form_id FROM consent_records WHERE seq IN (SELECT CAST(j.value AS BIGINT) FROM ` + fmt.Sprintf(db.d.JSONTable, 1) + `)`
	return batches(keys, nil, func(args []any) error {
		rows, err := db.queryMany(ctx, len(keys), q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var seq int64
			var form string
			if err := rows.Scan(&seq, &form); err != nil {
				return err
			}
			if i, ok := at[seq]; ok {
				recs[i].Evidence.FormID = form
			}
		}
		return rows.Err()
	})
}

// AddSuppressions implements consent.Store.
func (db *Consents) AddSuppressions(ctx context.Context, entries []consent.Suppression, audit []audit.Entry) error {
	var ch changes
	return db.transact(ctx, nil, &ch, func(ctx context.Context, tx *sql.Tx) error {
		holders, err := db.addSuppressions(ctx, tx, entries)
		if err != nil {
			return err
		}
		ch.add(holders...)
		return db.appendAudit(ctx, tx, audit)
	})
}

// hasSuppressions asks whether a purpose's suppression list holds anything. Ordered as its
// index is, so that the plan reads the index whatever the purpose: PostgreSQL plans a
// prepared statement once for every value, and without the order it scanned the whole list
// for a purpose listed nowhere, expecting to find a row of some purpose on the first page.
const hasSuppressions = `SELECT 1 FROM suppressions WHERE purpose = $1 ORDER BY purpose, field, token LIMIT 1`

// HasSuppressions implements consent.Store.
func (db *Consents) HasSuppressions(ctx context.Context, purpose string) (bool, error) {
	var one int
	err := db.queryRow(ctx, hasSuppressions, purpose).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, db.translate(err)
}

// SuppressionSuspects implements consent.Store. It goes from whichever side is smaller: from
// the listed tokens to the customers holding them, or from each customer's blind-index
// entries to the list.
func (db *Consents) SuppressionSuspects(ctx context.Context, purpose string, ids []string) (map[string]bool, error) {
	tokens := map[string][]int64{}
	listed := 0
	rows, err := db.queryMany(ctx, len(ids), `SELECT DISTINCT field, token FROM suppressions WHERE purpose = $1 LIMIT $2`, purpose, len(ids)+1)
	if err != nil {
		return nil, db.translate(err)
	}
	for rows.Next() {
		var field string
		var token int64
		if err := rows.Scan(&field, &token); err != nil {
			rows.Close()
			return nil, db.translate(err)
		}
		tokens[field] = append(tokens[field], token)
		listed++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.translate(err)
	}
	out := map[string]bool{}
	collect := func(q string, lead []any, keys []string) error {
		return batches(keys, lead, func(args []any) error {
			rows, err := db.queryMany(ctx, len(keys), q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			return addIDs(rows, out)
		})
	}
	if listed > len(ids) {
		err := collect(`SELECT DISTINCT b.customer_id FROM blind_index b
			WHERE b.customer_id IN (`+db.idList(2)+`) AND b.field IN ('`+consent.ContactEmail+`', '`+consent.ContactPhone+`')
			AND EXISTS (SELECT 1 FROM suppressions s WHERE s.purpose = $1 AND s.field = b.field AND s.token = b.token)`, []any{purpose}, ids)
		return out, db.translate(err)
	}
	for field, list := range tokens {
		keys := make([]string, len(list))
		for i, t := range list {
			keys[i] = strconv.FormatInt(t, 10)
		}
		if err := collect(`SELECT b.customer_id FROM blind_index b WHERE b.field = $1
			AND b.token IN (SELECT CAST(j.value AS BIGINT) FROM `+fmt.Sprintf(db.d.JSONTable, 2)+`)`, []any{field}, keys); err != nil {
			return nil, db.translate(err)
		}
	}
	wanted := make(map[string]bool, len(ids))
	for _, id := range ids {
		wanted[id] = true
	}
	for id := range out {
		if !wanted[id] {
			delete(out, id)
		}
	}
	return out, nil
}

// SuppressedAt implements consent.Store.
func (db *Consents) SuppressedAt(ctx context.Context, purpose string, hashes [][]byte) (map[string]time.Time, error) {
	keys := make([]string, len(hashes))
	for i, h := range hashes {
		keys[i] = hex.EncodeToString(h)
	}
	out := map[string]time.Time{}
	q := `SELECT hash, MAX(at) FROM suppressions WHERE purpose = $1 AND hash IN (` + db.idList(2) + `) GROUP BY hash`
	err := batches(keys, []any{purpose}, func(args []any) error {
		rows, err := db.queryMany(ctx, len(keys), q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h string
			var at int64
			if err := rows.Scan(&h, &at); err != nil {
				return err
			}
			b, err := hex.DecodeString(h)
			if err != nil {
				return err
			}
			out[string(b)] = fromMicros(at)
		}
		return rows.Err()
	})
	return out, db.translate(err)
}

// CustomersByID implements customer.Store: the stored customers among ids, in no particular
// order, in one query per batch.
func (db *Customers) CustomersByID(ctx context.Context, ids []string) ([]*customer.Record, error) {
	var out []*customer.Record
	err := batches(ids, nil, func(args []any) error {
		rows, err := db.queryMany(ctx, len(ids), `SELECT `+customerColumns+` FROM `+db.customersByID()+` WHERE id IN (`+db.idList(1)+`)`, args...)
		if err != nil {
			return err
		}
		recs, err := db.scanCustomers(rows)
		out = append(out, recs...)
		return err
	})
	return out, db.translate(err)
}
