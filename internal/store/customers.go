package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
)

// Customers is the customer profiles' repository: sealed values, blind-index entries and
// wrapped data keys.
type Customers struct{ *core }

var _ customer.Store = (*Customers)(nil)
var _ customer.KeyStore = (*Customers)(nil)

const (
	customerColumns = `id, version, master_version, dkey, sealed, plain, created_at, updated_at`
	indexDelete     = `DELETE FROM blind_index WHERE customer_id = $1`
)

// customerColumnsOfC is customerColumns of a customers table aliased c, for joins.
var customerColumnsOfC = "c." + strings.ReplaceAll(customerColumns, ", ", ", c.")

// CreateCustomer implements customer.Store.
func (db *Customers) CreateCustomer(ctx context.Context, r *customer.Record, entries []audit.Entry) error {
	return db.CreateCustomers(ctx, []*customer.Record{r}, entries)
}

// CreateCustomers implements customer.Store: all records or none. Under group commit, the
// creates of concurrent callers that share a transaction are inserted together (see
// Writer): a statement per customer, per table, was most of a create's time in
// the single writer.
func (db *Customers) CreateCustomers(ctx context.Context, recs []*customer.Record, entries []audit.Entry) error {
	// A decision cached while an id was unknown is stale now.
	ch := changes{ids: make([]string, len(recs))}
	for i, r := range recs {
		ch.ids[i] = r.ID
	}
	c := &Creation{recs: recs, entries: entries}
	// fn inserts alone, with its own context (and so its own transaction's audit state),
	// when the creation is not combined with others.
	fn := func(ctx context.Context, tx *sql.Tx) error {
		return db.InsertCreations(ctx, tx, []*Creation{c})
	}
	if db.creates != nil {
		err := db.translate(db.creates.create(ctx, c))
		db.notify(&ch)
		return err
	}
	if claimed(recs) && db.writer == nil && db.d.ClaimLocks == "" {
		return db.transactSerializable(ctx, &ch, fn)
	}
	return db.transact(ctx, c, &ch, fn)
}

// Creation is one caller's new customers and the audit entries that go with them, which an
// engine's Writer may insert together with other callers' (see Writer).
type Creation struct {
	recs    []*customer.Record
	entries []audit.Entry
}

// InsertCreations inserts the customers of cs, and their blind-index entries, a few
// multi-row statements for all of them, then links each creation's audit entries.
func (db *core) InsertCreations(ctx context.Context, tx *sql.Tx, cs []*Creation) error {
	if err := db.checkClaims(ctx, tx, cs); err != nil {
		return err
	}
	var rows, index, tokens []any
	for _, c := range cs {
		for _, r := range c.recs {
			rows = append(rows, r.ID, r.Version, r.MasterVersion, r.Key, encodeSealed(r.Sealed), encodePlain(r.Plain), micros(r.CreatedAt), micros(r.UpdatedAt))
			for _, ix := range r.Index {
				index = append(index, ix.Field, ix.Token, r.ID)
			}
			tokens = appendSearchLists(tokens, r)
		}
	}
	if err := db.insertRows(ctx, tx, db.customerRows, rows); err != nil {
		return err
	}
	if err := db.insertRows(ctx, tx, db.indexRows, index); err != nil {
		return err
	}
	if err := db.insertSearchLists(ctx, tx, tokens); err != nil {
		return err
	}
	for _, c := range cs {
		if err := db.appendAudit(ctx, tx, c.entries); err != nil {
			return err
		}
	}
	return nil
}

// lockClaims takes the engine's lock on each claimed token (Dialect.ClaimLocks), in order,
// so that two transactions claiming one token queue: the second reads the holders after the
// first committed, and sees its customer. Without the locks, a claim was only safe in a
// serializable transaction, and the database gave up many of those as not serialisable
// whenever creates on several connections read and wrote the same index pages.
func (db *core) lockClaims(ctx context.Context, tx *sql.Tx, tokens map[string][]int64) error {
	if db.d.ClaimLocks == "" {
		return nil
	}
	var keys []int64
	for field, toks := range tokens {
		for _, t := range toks {
			keys = append(keys, claimKey(field, t))
		}
	}
	_, err := db.txExec(ctx, tx, db.d.ClaimLocks, encodeTokens(keys))
	return err
}

// claimKey is the lock key of a field's index token: the token's own bits (already a keyed
// hash) mixed with the field's name, under a prefix of Steward's own.
func claimKey(field string, token int64) int64 {
	h := fnv.New64a()
	h.Write([]byte("steward claim\x00" + field + "\x00"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(token))
	h.Write(b[:])
	return int64(h.Sum64())
}

// claimHoldersSQL lists the customers whose blind-index entry for a field ($1) carries one of
// n tokens (from $2).
func claimHoldersSQL(n int) string {
	if n == 1 {
		return `SELECT token, customer_id FROM blind_index WHERE field = $1 AND token = $2`
	}
	return `SELECT token, customer_id FROM blind_index WHERE field = $1 AND token IN (` + placeholders(2, n) + `)`
}

// checkClaims refuses, with Conflict, a creation one of whose records claims an index token
// (customer.Claim) that a customer its creator did not see holds now: inside the inserting
// transaction, this is what keeps two concurrent creates of one new e-mail address from
// both succeeding. Within cs, a claim on a token that an earlier creation's records index
// fails too; under group commit that runs the creations again one by one (see Writer), so
// that the first one stands and the later one learns of it. The holders of all of cs's
// claims are read in a statement per field (and hundred tokens), not one per claim: the
// single writer's statements are what a create costs.
func (db *core) checkClaims(ctx context.Context, tx *sql.Tx, cs []*Creation) error {
	tokens := map[string][]int64{}
	for _, c := range cs {
		for _, r := range c.recs {
			for _, cl := range r.Claims {
				tokens[cl.Field] = append(tokens[cl.Field], cl.Token)
			}
		}
	}
	if len(tokens) == 0 {
		return nil
	}
	if err := db.lockClaims(ctx, tx, tokens); err != nil {
		return err
	}
	holders, err := db.claimHolders(ctx, tx, tokens)
	if err != nil {
		return err
	}
	var earlier map[customer.IndexEntry]bool
	for _, c := range cs {
		for _, r := range c.recs {
			for _, cl := range r.Claims {
				key := customer.IndexEntry{Field: cl.Field, Token: cl.Token}
				if earlier[key] {
					return problem.Conflictf("a customer with this %s was created meanwhile; retry", cl.Field)
				}
				for _, id := range holders[key] {
					if !slices.Contains(cl.Seen, id) {
						return problem.Conflictf("a customer with this %s was created meanwhile; retry", cl.Field)
					}
				}
			}
		}
		if len(cs) == 1 {
			break
		}
		if earlier == nil {
			earlier = map[customer.IndexEntry]bool{}
		}
		for _, r := range c.recs {
			for _, ix := range r.Index {
				earlier[ix] = true
			}
		}
	}
	return nil
}

// claimHolders returns who holds each of tokens (by field) in the blind index, inside tx.
func (db *core) claimHolders(ctx context.Context, tx *sql.Tx, tokens map[string][]int64) (map[customer.IndexEntry][]string, error) {
	out := map[customer.IndexEntry][]string{}
	for field, toks := range tokens {
		err := inChunks(field, toks, func(args []any, n int) error {
			// Prepared up front for every chunk size: compiling the statement anew for each
			// group commit was a third of what checking the claims cost the writer.
			rows, err := db.txLookup(ctx, tx, claimHoldersSQL(n), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var tok int64
				var id string
				if err := rows.Scan(&tok, &id); err != nil {
					return err
				}
				key := customer.IndexEntry{Field: field, Token: tok}
				out[key] = append(out[key], id)
			}
			return rows.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// claimed reports whether any record of recs claims an index token (see checkClaims).
func claimed(recs []*customer.Record) bool {
	for _, r := range recs {
		if len(r.Claims) > 0 {
			return true
		}
	}
	return false
}

// UpdateCustomer implements customer.Store.
func (db *Customers) UpdateCustomer(ctx context.Context, r *customer.Record, prevVersion int64, entries []audit.Entry) error {
	// The email or phone the suppression list matches may have changed.
	ch := changes{ids: []string{r.ID}}
	return db.transact(ctx, nil, &ch, func(ctx context.Context, tx *sql.Tx) error {
		if err := db.updateCustomerTx(ctx, tx, r, prevVersion); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// CreateCustomerWith implements customer.Store: the customer, its audit entries and the
// consent records of optOut in one transaction of its own (never shared under group commit,
// so a refused append fails this create alone).
func (db *Customers) CreateCustomerWith(ctx context.Context, r *customer.Record, entries []audit.Entry, optOut consent.Append) error {
	ch := changes{ids: []string{r.ID}}
	c := &Creation{recs: []*customer.Record{r}, entries: entries}
	fn := func(ctx context.Context, tx *sql.Tx) error {
		if err := db.InsertCreations(ctx, tx, []*Creation{c}); err != nil {
			return err
		}
		return (&Consents{db.core}).appendTx(ctx, tx, optOut, &ch)
	}
	if len(r.Claims) > 0 && db.writer == nil && db.d.ClaimLocks == "" {
		return db.transactSerializable(ctx, &ch, fn)
	}
	return db.transact(ctx, nil, &ch, fn)
}

// UpdateCustomerWith implements customer.Store: UpdateCustomer and the consent records of
// optOut in one transaction.
func (db *Customers) UpdateCustomerWith(ctx context.Context, r *customer.Record, prevVersion int64, entries []audit.Entry, optOut consent.Append) error {
	ch := changes{ids: []string{r.ID}}
	return db.transact(ctx, nil, &ch, func(ctx context.Context, tx *sql.Tx) error {
		if err := db.updateCustomerTx(ctx, tx, r, prevVersion); err != nil {
			return err
		}
		if err := db.appendAudit(ctx, tx, entries); err != nil {
			return err
		}
		return (&Consents{db.core}).appendTx(ctx, tx, optOut, &ch)
	})
}

// updateCustomerTx replaces a customer's row and index entries inside tx if its stored
// version is still prevVersion: NotFound if it does not exist, Conflict if it changed.
func (db *core) updateCustomerTx(ctx context.Context, tx *sql.Tx, r *customer.Record, prevVersion int64) error {
	res, err := db.txExec(ctx, tx, db.customerUpdate(),
		r.Version, r.MasterVersion, r.Key, encodeSealed(r.Sealed), encodePlain(r.Plain), micros(r.UpdatedAt), r.ID, prevVersion)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM customers WHERE id = $1`, r.ID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return problem.NotFoundf("customer not found")
		}
		if err != nil {
			return err
		}
		return problem.Conflictf("customer was changed concurrently; retry")
	}
	if r.IndexKept {
		return nil
	}
	if _, err := db.txExec(ctx, tx, indexDelete, r.ID); err != nil {
		return err
	}
	if err := db.insertIndex(ctx, tx, r); err != nil {
		return err
	}
	return db.replaceSearch(ctx, tx, r)
}

// insertIndex writes a record's blind-index entries in one statement: one statement per
// entry was a fifth of a create's time in the single SQLite writer.
func (db *core) insertIndex(ctx context.Context, tx *sql.Tx, r *customer.Record) error {
	args := make([]any, 0, 3*len(r.Index))
	for _, ix := range r.Index {
		args = append(args, ix.Field, ix.Token, r.ID)
	}
	return db.insertRows(ctx, tx, db.indexRows, args)
}

// GetCustomer implements customer.Store.
func (db *Customers) GetCustomer(ctx context.Context, id string) (*customer.Record, error) {
	rows, err := db.query(ctx, `SELECT COALESCE(l.merged_into, ''), `+customerColumnsOfC+` FROM customers c`+db.customerPK+`
		LEFT JOIN customer_links l ON l.customer_id = c.id WHERE c.id = $1`, id)
	if err != nil {
		return nil, db.translate(err)
	}
	recs, err := db.scanLinkedCustomers(rows)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, problem.NotFoundf("customer not found")
	}
	return recs[0], nil
}

// scanLinkedCustomers is scanCustomers for rows led by the customer each was merged into
// (empty for none), which it sets as the record's MergedInto.
func (db *core) scanLinkedCustomers(rows *sql.Rows) ([]*customer.Record, error) {
	var links []*string
	recs, err := db.scanLedCustomers(rows, func() []any {
		links = append(links, new(string))
		return []any{links[len(links)-1]}
	})
	for i, r := range recs {
		r.MergedInto = *links[i]
	}
	return recs, err
}

// FindCustomers implements customer.Store. Candidates come in customer id order because the
// index's key ends with the id; an ORDER BY would make SQLite build a temporary B-tree per
// look-up, which measured five times slower.
func (db *Customers) FindCustomers(ctx context.Context, field string, token int64, limit int) ([]*customer.Record, error) {
	rows, err := db.query(ctx, `SELECT COALESCE(l.merged_into, ''), `+customerColumnsOfC+`
		FROM blind_index b JOIN customers c`+db.customerPK+` ON c.id = b.customer_id LEFT JOIN customer_links l ON l.customer_id = c.id
		WHERE b.field = $1 AND b.token = $2 LIMIT $3`, field, token, limit)
	if err != nil {
		return nil, db.translate(err)
	}
	return db.scanLinkedCustomers(rows)
}

// ListCustomers implements customer.Store.
func (db *Customers) ListCustomers(ctx context.Context, after string, limit int) ([]*customer.Record, error) {
	rows, err := db.query(ctx, `SELECT `+customerColumns+` FROM `+db.customersByID()+` WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, db.translate(err)
	}
	return db.scanCustomers(rows)
}

// ListUnmerged implements customer.Store.
func (db *Customers) ListUnmerged(ctx context.Context, after string, limit int) ([]*customer.Record, error) {
	rows, err := db.query(ctx, `SELECT `+customerColumnsOfC+` FROM customers c`+db.customerPK+`
		WHERE c.id > $1 AND NOT EXISTS (SELECT 1 FROM customer_links l WHERE l.customer_id = c.id) ORDER BY c.id LIMIT $2`, after, limit)
	if err != nil {
		return nil, db.translate(err)
	}
	return db.scanCustomers(rows)
}

// CountCustomers implements customer.Store.
func (db *Customers) CountCustomers(ctx context.Context) (int64, error) {
	var n int64
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM customers`).Scan(&n)
	return n, db.translate(err)
}

func (db *core) scanCustomers(rows *sql.Rows) ([]*customer.Record, error) {
	return db.scanLedCustomers(rows, nil)
}

// scanLedCustomers is scanCustomers for rows with more columns before the customer's: lead,
// called before each row is read, returns where that row's go.
func (db *core) scanLedCustomers(rows *sql.Rows, lead func() []any) ([]*customer.Record, error) {
	defer rows.Close()
	var out []*customer.Record
	for rows.Next() {
		r := &customer.Record{}
		var sealed []byte
		var plain string
		var created, updated int64
		var dest []any
		if lead != nil {
			dest = lead()
		}
		if err := rows.Scan(append(dest, &r.ID, &r.Version, &r.MasterVersion, &r.Key, &sealed, &plain, &created, &updated)...); err != nil {
			return nil, db.translate(err)
		}
		var err error
		if r.Sealed, err = decodeSealed(sealed); err != nil {
			return nil, problem.Wrap(problem.Internal, err, "stored customer unreadable")
		}
		if r.Plain, err = decodePlain(plain); err != nil {
			return nil, problem.Wrap(problem.Internal, err, "stored customer unreadable")
		}
		r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, db.translate(err)
	}
	return out, nil
}

// CustomerKeys implements customer.KeyStore.
func (db *Customers) CustomerKeys(ctx context.Context, after string, limit int) ([]customer.WrappedKey, error) {
	rows, err := db.query(ctx, `SELECT id, master_version, dkey FROM `+db.customersByID()+` WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []customer.WrappedKey
	for rows.Next() {
		var k customer.WrappedKey
		if err := rows.Scan(&k.CustomerID, &k.MasterVersion, &k.Key); err != nil {
			return nil, db.translate(err)
		}
		out = append(out, k)
	}
	return out, db.translate(rows.Err())
}

// RewrapCustomerKeys implements customer.KeyStore. A key changed by a concurrent write since
// it was read is left alone: that write already used the primary master.
func (db *Customers) RewrapCustomerKeys(ctx context.Context, keys []customer.WrappedKey) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := db.txExec(ctx, tx, `UPDATE `+db.customersByID()+` SET master_version = $1, dkey = $2 WHERE id = $3 AND master_version = $4`,
				k.MasterVersion, k.Key, k.CustomerID, k.OldVersion); err != nil {
				return err
			}
		}
		return nil
	})
}

// customersByID names the customers table for reads and writes of whole rows by id. On SQLite
// it pins the primary key: the narrow id index that existence checks use would otherwise be
// chosen, and every row would then cost a second B-tree descent into the table.
func (db *core) customersByID() string { return "customers" + db.customerPK }

// customerUpdate also bumps the customer's decision counter: the store cannot see whether the
// email or phone changed, and the suppression list matches them.
func (db *core) customerUpdate() string {
	return `UPDATE ` + db.customersByID() + ` SET version = $1, master_version = $2, dkey = $3, sealed = $4, plain = $5, updated_at = $6,
		decision_seq = decision_seq + 1 WHERE id = $7 AND version = $8`
}
