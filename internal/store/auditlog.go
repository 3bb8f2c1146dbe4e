package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/stewardhq/steward/internal/audit"
)

// Audit is the audit trail's repository: appends that record access, listings, and the scans
// that verification reads. Appends that go with a change happen inside that change's own
// repository, in the same transaction.
type Audit struct{ *core }

var _ audit.Store = (*Audit)(nil)

// AppendAudit implements audit.Store.
// Entries appended on their own record access (reads, look-ups, listings, refusals), not a
// change; where the engine keeps an access chain apart (see Options.AccessSchema) they go there.
func (db *Audit) AppendAudit(ctx context.Context, entries ...audit.Entry) error {
	if db.access != nil && len(entries) > 0 {
		return db.access.Append(ctx, entries)
	}
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if db.accessSchema != "" {
			return db.appendChain(ctx, tx, db.d.AuditChains, entries)
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

const auditColumns = `id, chain, seq, at, actor_id, actor_role, action, customer_id, target, fields, purpose, request_id, outcome, prev_hash, hash`

// ListAudit implements audit.Store.
func (db *Audit) ListAudit(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	if err := db.syncAccess(ctx); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	if f.CustomerID != "" {
		add("customer_id = ?", f.CustomerID)
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		add("at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", micros(f.Until))
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, " AND ")
	}
	order := ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args)+1)
	if f.CustomerID == "" || db.accessBlockBits == 0 {
		q := db.auditUnion(`SELECT `+auditColumns+` FROM %saudit_log`+cond) + order
		rows, err := db.read.QueryContext(ctx, q, append(slices.Clip(args), f.Limit)...)
		return collect(db, rows, err, scanEntry)
	}
	// The main file's part and the access trail's blocks are read in one read transaction,
	// whose first statement reads both files: every statement then sees both as they were
	// then, as one statement over both would. Read apart, a listing could hold an access
	// entry committed after a change it left out, and paging past it would skip the change.
	// (SQLite opens the main file first. A change commits there before the access entries
	// its transaction linked, which have lower ids: a listing can miss a change it should
	// show only if two transactions commit between the two files' opens in that first
	// statement.) The block statement is prepared first: preparing it on the pool from
	// inside the transaction would wait for a second connection, and as many listings as
	// the pool has connections would each hold one and wait for ever.
	page, err := db.prepared(ctx, db.read, AccessPageSQL(db.accessSchema+".", db.accessBlockIndex, db.accessBlockBits, cond, len(args)))
	if err != nil {
		return nil, db.translate(err)
	}
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, db.translate(err)
	}
	defer tx.Rollback()
	var top, unused sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT (`+maxAuditID(db.accessSchema+".")+`), (`+maxAuditID("")+`)`).Scan(&top, &unused); err != nil {
		return nil, db.translate(err)
	}
	limit := f.Limit
	if limit < 0 { // SQLite's LIMIT -1: no limit
		limit = math.MaxInt
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log`+cond+order, append(slices.Clip(args), limit)...)
	out, err := collect(db, rows, err, scanEntry)
	if err != nil {
		return nil, err
	}
	more, err := db.accessByBlock(ctx, tx.StmtContext(ctx, page), top, f.BeforeID, limit, args)
	if err != nil {
		return nil, err
	}
	out = append(out, more...)
	slices.SortFunc(out, func(a, b audit.Entry) int { return cmp.Compare(b.ID, a.ID) })
	return out[:min(len(out), limit)], nil
}

// accessByBlock lists, with page (AccessPageSQL in the listing's transaction), the newest
// limit entries of the access trail below id before (when set) that meet page's conditions
// (args, a customer's among them), block by block from the newest up to top (see
// Options.AccessBlockBits). Within a block the index holds a customer's entries in id order,
// so a customer read a million times costs a page of entries, not a sort of the million.
func (db *Audit) accessByBlock(ctx context.Context, page *sql.Stmt, top sql.NullInt64, before int64, limit int, args []any) ([]audit.Entry, error) {
	last := top.Int64
	if before > 0 {
		last = min(last, before-1)
	}
	if !top.Valid || last < 0 {
		return nil, nil
	}
	var out []audit.Entry
	for b := last >> db.accessBlockBits; b >= 0 && len(out) < limit; b-- {
		rows, err := page.QueryContext(ctx, append(slices.Clip(args), b, limit-len(out))...)
		got, err := collect(db, rows, err, scanEntry)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// AccessPageSQL selects, newest first, the entries of one block that meet where (" WHERE …",
// with n parameters) in the access trail of schema (with its dot) indexed by block of 2^bits
// ids in index: the block is parameter n+1, the limit n+2. It names the index: SQLite,
// planning without statistics, took the actor's index for a customer's page with an actor
// and a cursor, and read the actor's whole history once per block.
func AccessPageSQL(schema, index string, bits uint, where string, n int) string {
	return `SELECT ` + auditColumns + ` FROM ` + schema + `audit_log INDEXED BY ` + index + where +
		` AND id >> ` + strconv.FormatUint(uint64(bits), 10) + ` = $` + strconv.Itoa(n+1) + ` ORDER BY id DESC LIMIT $` + strconv.Itoa(n+2)
}

// AccessCustomerSQL is the condition selecting every entry about one customer (param) in
// the access trail of schema (with its dot) indexed by block of 2^bits ids: every block from
// the first to the newest, one index probe each.
func AccessCustomerSQL(schema string, bits uint, param string) string {
	b := strconv.FormatUint(uint64(bits), 10)
	return `id >> ` + b + ` IN (WITH RECURSIVE b(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM b
		WHERE n < (SELECT MAX(id) >> ` + b + ` FROM ` + schema + `audit_log)) SELECT n FROM b) AND customer_id = ` + param
}

func scanEntry(rows rowScanner) (audit.Entry, error) {
	var e audit.Entry
	var at int64
	var fields string
	err := rows.Scan(&e.ID, &e.Chain, &e.Seq, &at, &e.ActorID, &e.ActorRole, &e.Action, &e.CustomerID, &e.Target,
		&fields, &e.Purpose, &e.RequestID, &e.Outcome, &e.PrevHash, &e.Hash)
	e.Time = fromMicros(at)
	e.Fields = decodeList(fields)
	return e, err
}

// ReadTrail implements audit.Store: the checkpoints, the heads and the entries are read in
// one read-only transaction, which on PostgreSQL is repeatable read, so all three are as of
// one snapshot. Read apart, as they were, an entry appended by another node (or a job)
// between reading the heads and scanning read as inserted beyond its chain's head, and
// verification failed on a sound trail. On SQLite the first statement reads both files, as
// in ListAudit.
func (db *Audit) ReadTrail(ctx context.Context, fn func(cps []audit.Checkpoint, heads []audit.SealedHead, scan func(func(*audit.Entry) error) error) error) error {
	if err := db.syncAccess(ctx); err != nil {
		return err
	}
	opts := &sql.TxOptions{ReadOnly: true}
	if db.d.Snapshots {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.read.BeginTx(ctx, opts)
	if err != nil {
		return db.translate(err)
	}
	defer tx.Rollback()
	cps, err := db.auditCheckpoints(ctx, tx)
	if err != nil {
		return err
	}
	heads, err := db.auditHeads(ctx, tx)
	if err != nil {
		return err
	}
	return fn(cps, heads, func(add func(*audit.Entry) error) error { return db.scanAudit(ctx, tx, add) })
}

func (db *Audit) scanAudit(ctx context.Context, tx *sql.Tx, fn func(*audit.Entry) error) error {
	rows, err := tx.QueryContext(ctx, db.auditUnion(`SELECT `+auditColumns+` FROM %saudit_log`)+` ORDER BY chain, seq`)
	if err != nil {
		return db.translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return db.translate(err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return db.translate(rows.Err())
}

func (db *Audit) auditHeads(ctx context.Context, tx *sql.Tx) ([]audit.SealedHead, error) {
	rows, err := tx.QueryContext(ctx, db.auditUnion(`SELECT chain, seq, hash, mac, anchor_chain, anchor_seq, anchor_hash FROM %saudit_heads`)+` ORDER BY chain`)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []audit.SealedHead
	for rows.Next() {
		var h audit.SealedHead
		if err := rows.Scan(&h.Chain, &h.Seq, &h.Hash, &h.MAC, &h.Anchor.Chain, &h.Anchor.Seq, &h.Anchor.Hash); err != nil {
			return nil, db.translate(err)
		}
		out = append(out, h)
	}
	return out, db.translate(rows.Err())
}

func (db *Audit) auditCheckpoints(ctx context.Context, tx *sql.Tx) ([]audit.Checkpoint, error) {
	rows, err := tx.QueryContext(ctx, db.auditUnion(`SELECT chain, seq, hash, at, signature, anchor_chain, anchor_seq, anchor_hash FROM %saudit_checkpoints`)+` ORDER BY chain, seq`)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		var c audit.Checkpoint
		var at int64
		if err := rows.Scan(&c.Chain, &c.Seq, &c.Hash, &at, &c.Signature, &c.Anchor.Chain, &c.Anchor.Seq, &c.Anchor.Hash); err != nil {
			return nil, db.translate(err)
		}
		c.Time = fromMicros(at)
		out = append(out, c)
	}
	return out, db.translate(rows.Err())
}

// auditUnion expands a select over one audit table (its schema prefix written %s) into a
// compound select over every database holding audit tables. Numbered parameters may repeat,
// so each part takes the same arguments; the caller adds one ORDER BY for the whole.
func (db *Audit) auditUnion(sel string) string {
	parts := make([]string, 0, 2)
	for _, src := range db.auditSources() {
		parts = append(parts, fmt.Sprintf(sel, src))
	}
	return strings.Join(parts, " UNION ALL ")
}

// syncAccess links the entries the access log holds into the trail, so that what follows
// reads every entry appended so far. Everything that reads the trail calls it.
func (db *core) syncAccess(ctx context.Context) error {
	if db.access == nil {
		return nil
	}
	return db.access.Sync(ctx)
}
