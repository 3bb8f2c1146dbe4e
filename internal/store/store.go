package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/problem"
)

// Dialect is what differs between engines.
type Dialect struct {
	Name string
	// ForUpdate locks the rows a SELECT reads until the transaction ends (PostgreSQL); SQLite
	// has one writer, so it needs nothing.
	ForUpdate string
	// SkipLocked lets several nodes claim jobs without waiting on each other.
	SkipLocked string
	// AuditChains is how many audit chains writers spread over. Each append locks one chain's
	// head, so several chains let several nodes append at once.
	AuditChains int
	// IsUnique reports a unique-constraint violation.
	IsUnique func(error) bool
	// GroupCommit merges concurrent writers' transactions into one commit. It pays off where
	// one connection writes (SQLite): the commit, not the statements, is the cost.
	GroupCommit bool
	// IsRetryable reports a serialization failure or deadlock that is safe to retry.
	IsRetryable func(error) bool
	// IsConstraint reports a violated constraint of any kind. Under group commit a reference
	// checked at commit fails the whole transaction, and the writer then runs its writers
	// one by one to find whose it was (see groupCommit.run). Only GroupCommit engines use it.
	IsConstraint func(error) bool
	// AccessSchema, when set, names an attached database holding one more chain, numbered
	// AuditChains, for the entries appended on their own: reads, look-ups, listings and
	// refusals. Entries that go with a change stay with the change. On SQLite every commit to
	// a file throws away every other connection's page cache for that file, so audited reads
	// written to the main file would make every read start cold. Entry ids are then given by
	// Steward, one sequence over both databases, so the trail still reads in one order.
	AccessSchema string
	// CustomerPK follows the customers table's name where whole rows are read or written by
	// id, to make the engine use the primary key (see DB.customersByID).
	CustomerPK string
	// JSONTable is a table expression "j" whose column "value" yields the strings of the JSON
	// array bound as parameter %d, so that thousands of ids travel as one parameter: binding
	// them one by one costs more than the look-ups themselves.
	JSONTable string
	// BareParams makes statements whose numbered parameters appear exactly once each, in
	// order ($1, $2, … $n), run with bare "?" parameters instead (see DB.native).
	BareParams bool
	// FailInserts makes multi-row inserts keep the rows before a failing one instead of
	// undoing the statement (SQLite's INSERT OR FAIL). Undoing needs a statement journal: a
	// copy of every page the statement touches, a sixth of the single writer's time on
	// creates. Steward never carries on after a failed statement (its transaction, or the
	// writer's savepoint, is rolled back), so the rows kept never commit.
	FailInserts bool
}

// DB implements the domain stores over one engine.
type DB struct {
	write   *sql.DB // SQLite: a single connection, so writers queue in Go instead of on locks
	read    *sql.DB
	bulk    *sql.DB // reads that sweep many rows once; see SetBulkReader
	d       Dialect
	sealer  atomic.Pointer[audit.Sealer]
	closers []func() error
	stmts   sync.Map // query text → *sql.Stmt, per pool
	group   *groupCommit
	closed  atomic.Bool
	// mainSQL and accessSQL are the audit statements for the main chains and the access chain.
	mainSQL, accessSQL chainSQL
	bare               sync.Map // statement text -> its native form (see native)
	// customerRows, indexRows, keyRows and identityRows insert new customers, their
	// blind-index entries, their duplicate-matching keys and stitched identifiers.
	customerRows, indexRows, keyRows, identityRows rowStatements
	// watcher hears of committed changes to decision inputs (see SetDecisionWatcher).
	watcher atomic.Pointer[DecisionWatcher]
	// ingestOnce prepares the ingest statements on first use (see IngestTx).
	ingestOnce sync.Once
	ingestErr  error
	// journal, when set, takes the entries appended on their own (see OpenAccessJournal).
	journal *accessJournal
}

type stmtKey struct {
	pool *sql.DB
	q    string
}

// prepared returns a cached prepared statement: parsing SQL costs more than running the
// small queries on the hot paths, so every statement is prepared once per pool.
func (db *DB) prepared(ctx context.Context, pool *sql.DB, q string) (*sql.Stmt, error) {
	k := stmtKey{pool, q}
	if st, ok := db.stmts.Load(k); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := pool.PrepareContext(ctx, db.native(q))
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(k, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// query runs a read on the read pool through a cached statement.
func (db *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := db.prepared(ctx, db.read, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// queryRow is query for one row.
func (db *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := db.prepared(ctx, db.read, q)
	if err != nil {
		return db.read.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// prepareWrites prepares the hot write statements while no transaction holds the writer: on
// SQLite the write pool has one connection, so preparing from inside a transaction would wait
// for itself.
func (db *DB) prepareWrites(ctx context.Context) error {
	qs := []string{db.customerUpdate(), indexDelete}
	for _, rs := range []rowStatements{db.customerRows, db.indexRows, db.keyRows, db.identityRows} {
		qs = append(qs, rs.stmts...)
	}
	qs = append(qs, keyStatements()...)
	for _, c := range []chainSQL{db.mainSQL, db.accessSQL} {
		if c.head != "" {
			qs = append(qs, c.head+db.d.ForUpdate, c.headUpdate)
			qs = append(qs, c.inserts.stmts...)
		}
	}
	if db.d.AccessSchema != "" {
		for _, src := range db.auditSources() {
			qs = append(qs, maxAuditID(src))
		}
	}
	for _, q := range qs {
		if _, err := db.prepared(ctx, db.write, q); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	return nil
}

// txStmt returns the prepared form of q bound to tx, or nil when q was not prepared up front.
func (db *DB) txStmt(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt {
	if st, ok := db.stmts.Load(stmtKey{db.write, q}); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	return nil
}

// txExec runs a statement in tx, prepared when it is one of the hot writes.
func (db *DB) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := db.txStmt(ctx, tx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, db.native(q), args...)
}

// txQueryRow is txExec for a query returning one row.
func (db *DB) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := db.txStmt(ctx, tx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, db.native(q), args...)
}

// native returns q as the engine runs it best. With Dialect.BareParams, a statement whose
// numbered parameters appear once each and in order is rewritten with bare "?" parameters:
// SQLite's driver looks a numbered parameter's name up in a list as long as the statement's
// parameters for every value it binds, so binding a 100-row insert of 1,000 values was
// quadratic and a seventh of the ingest's time. Statements that reuse a parameter are left as
// they are. Rewrites are remembered per statement text.
func (db *DB) native(q string) string {
	if !db.d.BareParams || !strings.Contains(q, "$") {
		return q
	}
	if v, ok := db.bare.Load(q); ok {
		return v.(string)
	}
	out := bareParams(q)
	db.bare.Store(q, out)
	return out
}

// bareParams rewrites $1 … $n, appearing once each in that order outside quoted text, as "?";
// any other use of numbered parameters returns q unchanged.
func bareParams(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	next := 1
	quote := byte(0)
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '$' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if n, err := strconv.Atoi(q[i+1 : j]); err != nil || n != next {
				return q
			}
			next++
			b.WriteByte('?')
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// chainSQL is the SQL for one chain's tables, which live in the main database or in the
// access database.
type chainSQL struct {
	head, headUpdate, checkpoint string
	// inserts adds entries, many to a statement (see appendChain and flushAudit).
	inserts rowStatements
}

func (db *DB) newChainSQL(schema string, explicitID bool) chainSQL {
	if schema != "" {
		schema += "."
	}
	cols := `chain, seq, at, actor_id, actor_role, action, customer_id, target, fields, purpose, request_id, outcome, prev_hash, hash`
	if explicitID {
		cols += `, id`
	}
	return chainSQL{
		head:       `SELECT seq, hash FROM ` + schema + `audit_heads WHERE chain = $1`,
		inserts:    db.rowStatements(`INSERT INTO `+schema+`audit_log (`+cols+`)`, strings.Count(cols, ",")+1, ""),
		headUpdate: `UPDATE ` + schema + `audit_heads SET seq = $1, hash = $2 WHERE chain = $3`,
		checkpoint: `INSERT INTO ` + schema + `audit_checkpoints (chain, seq, hash, at, signature) VALUES ($1, $2, $3, $4, $5)`,
	}
}

// rowStatements are prepared multi-row inserts: stmts[i] inserts rowBatches[i] rows of cols
// values each.
type rowStatements struct {
	cols  int
	stmts []string
}

// rowBatches are the row counts of the prepared multi-row inserts; any number of rows goes in
// as few of them as add up to it.
var rowBatches = []int{1, 2, 4, 8, 16, 32, 64}

func (db *DB) rowStatements(head string, cols int, tail string) rowStatements {
	rs := rowStatements{cols: cols, stmts: make([]string, len(rowBatches))}
	for i, n := range rowBatches {
		rs.stmts[i] = db.valuesSQL(head, cols, n, tail)
	}
	return rs
}

// insertRows inserts the rows whose values are args, in statements of rs.
func (db *DB) insertRows(ctx context.Context, tx *sql.Tx, rs rowStatements, args []any) error {
	for len(args) > 0 {
		rows := len(args) / rs.cols
		i := len(rowBatches) - 1
		for rowBatches[i] > rows {
			i--
		}
		n := rowBatches[i] * rs.cols
		if _, err := db.txExec(ctx, tx, rs.stmts[i], args[:n]...); err != nil {
			return err
		}
		args = args[n:]
	}
	return nil
}

// flushAudit inserts the audit entries a group transaction's writers linked: consecutive
// entries of one chain share statements of up to 64 rows. One insert per entry was a third of
// the single writer's time when many callers each appended one access entry.
func (db *DB) flushAudit(ctx context.Context, tx *sql.Tx, rows []auditRow) error {
	for len(rows) > 0 {
		run := 1
		for run < len(rows) && rows[run].c == rows[0].c {
			run++
		}
		args := make([]any, 0, run*rows[0].c.inserts.cols)
		for _, r := range rows[:run] {
			args = append(args, r.args...)
		}
		if err := db.insertRows(ctx, tx, rows[0].c.inserts, args); err != nil {
			return err
		}
		rows = rows[run:]
	}
	return nil
}

// chainSQL returns the statements for chain.
func (db *DB) chainSQL(chain int) *chainSQL {
	if db.d.AccessSchema != "" && chain == db.d.AuditChains {
		return &db.accessSQL
	}
	return &db.mainSQL
}

// AuditSources are the audit tables' schema prefixes ("" for main), in chain order; the last
// holds the entries appended on their own. Tests that tamper with the trail use them.
func (db *DB) AuditSources() []string { return db.auditSources() }

func (db *DB) auditSources() []string {
	if db.d.AccessSchema == "" {
		return []string{""}
	}
	return []string{"", db.d.AccessSchema + "."}
}

// New wraps already-migrated connections. write and read may be the same pool.
func New(ctx context.Context, write, read *sql.DB, d Dialect) (*DB, error) {
	db := &DB{write: write, read: read, d: d}
	db.mainSQL = db.newChainSQL("", d.AccessSchema != "")
	if d.AccessSchema != "" {
		db.accessSQL = db.newChainSQL(d.AccessSchema, true)
	}
	db.customerRows = db.rowStatements(`INSERT INTO customers (`+customerColumns+`)`, 8, "")
	db.indexRows = db.rowStatements(`INSERT INTO blind_index (field, token, customer_id)`, 3, ` ON CONFLICT DO NOTHING`)
	db.keyRows = db.rowStatements(`INSERT INTO match_keys (token, customer_id)`, 2, ` ON CONFLICT DO NOTHING`)
	db.identityRows = db.rowStatements(`INSERT INTO identities (kind, token, customer_id, sealed, created_at)`, 5, "")
	db.closers = append(db.closers, write.Close)
	if read != write {
		db.closers = append(db.closers, read.Close)
	}
	if err := db.prepareWrites(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if d.GroupCommit {
		for _, q := range []string{savepoint, rollbackTo, release} {
			if _, err := db.prepared(ctx, write, q); err != nil {
				db.Close()
				return nil, fmt.Errorf("prepare: %w", err)
			}
		}
		db.group = startGroupCommit(write, db.txStmt, db.flushAudit, db.insertCreations, d.IsConstraint)
		db.closers = append([]func() error{db.group.stop}, db.closers...)
	}
	return db, nil
}

// SetWriterHooks installs engine housekeeping paced by the group-commit writer; without
// group commit it does nothing.
func (db *DB) SetWriterHooks(h *WriterHooks) {
	if db.group != nil {
		db.group.hooks.Store(h)
	}
}

// BeforeClose registers fn to run when the store closes, before its pools close.
func (db *DB) BeforeClose(fn func() error) { db.closers = append([]func() error{fn}, db.closers...) }

// SetAuditSealer installs the checkpoint signer once the keyset is open; before that (at
// init) entries are linked but not checkpointed.
func (db *DB) SetAuditSealer(s *audit.Sealer) { db.sealer.Store(s) }

// Dialect names the engine.
func (db *DB) Dialect() Dialect { return db.d }

// Write exposes the write pool for engine-specific maintenance (checkpoints, backups).
func (db *DB) Write() *sql.DB { return db.write }

// Read exposes the read pool, for benchmarks that compare against plain queries.
func (db *DB) Read() *sql.DB { return db.read }

// Close closes the pools; closing twice is harmless.
func (db *DB) Close() error {
	if !db.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	db.stmts.Range(func(_, v any) bool {
		errs = append(errs, v.(*sql.Stmt).Close())
		return true
	})
	for _, c := range db.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// Ping checks that the engine answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return problem.Wrap(problem.Unavailable, err, "database unavailable")
	}
	return nil
}

// update runs fn in a write transaction, retrying serialization failures a few times. With
// group commit (SQLite) fn may share its transaction with other writers' functions, each in
// its own savepoint, so fn must use the ctx it is given: that one is never cancelled halfway
// through somebody else's commit.
func (db *DB) update(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if db.group != nil {
		return db.translate(db.group.do(ctx, fn))
	}
	for attempt := 0; ; attempt++ {
		err := db.tryUpdate(ctx, fn)
		if err != nil && db.d.IsRetryable(err) && attempt < 8 {
			time.Sleep(time.Duration(1+rand.IntN(5<<attempt)) * time.Millisecond)
			continue
		}
		return db.translate(err)
	}
}

func (db *DB) tryUpdate(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// translate turns driver errors into problem kinds; errors that already have a kind pass.
func (db *DB) translate(err error) error {
	if err == nil {
		return nil
	}
	var pe *problem.Error
	if errors.As(err, &pe) {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem.Wrap(problem.Unavailable, err, "request cancelled or timed out")
	case db.d.IsUnique(err):
		return problem.Wrap(problem.Conflict, err, "already exists")
	case db.d.IsRetryable(err):
		return problem.Wrap(problem.Unavailable, err, "database busy, retry")
	}
	return problem.Wrap(problem.Internal, err, "database error")
}

// appendAudit links entries that go with a change onto one of the main chains inside tx.
func (db *DB) appendAudit(ctx context.Context, tx *sql.Tx, entries []audit.Entry) error {
	chain := 0
	if db.d.AuditChains > 1 {
		chain = rand.IntN(db.d.AuditChains)
	}
	return db.appendChain(ctx, tx, chain, entries)
}

// appendChain links entries onto chain inside tx. The chain head row is read with a lock (on
// PostgreSQL), so concurrent appenders to one chain queue and never fork it. Under group
// commit the head is read once and written once per transaction (see sharedTx).
func (db *DB) appendChain(ctx context.Context, tx *sql.Tx, chain int, entries []audit.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	q := db.chainSQL(chain)
	shared := sharedFrom(ctx)
	head, ok := shared.head(chain)
	if !ok {
		head = audit.Head{Chain: chain}
		if err := db.txQueryRow(ctx, tx, q.head+db.d.ForUpdate, chain).Scan(&head.Seq, &head.Hash); err != nil {
			return fmt.Errorf("read audit head: %w", err)
		}
	}
	explicitID := db.d.AccessSchema != ""
	var nextID int64
	if explicitID {
		var err error
		if nextID, err = db.nextAuditID(ctx, tx, shared); err != nil {
			return err
		}
	}
	sealer := db.sealer.Load()
	// Entries are chained one by one, then inserted many to a statement (under group commit,
	// with every other writer's, just before the commit): an import appends thousands at once,
	// and one statement per entry was most of their cost.
	var args []any
	var cps []*audit.Checkpoint
	for i := range entries {
		e := &entries[i]
		var cp *audit.Checkpoint
		head, cp = sealer.Append(head, e)
		row := []any{e.Chain, e.Seq, e.Time.UnixMicro(), e.ActorID, e.ActorRole, e.Action, e.CustomerID, e.Target,
			encodeList(e.Fields), e.Purpose, e.RequestID, e.Outcome, e.PrevHash, e.Hash}
		if explicitID {
			e.ID = nextID
			nextID++
			row = append(row, e.ID)
		}
		if cp != nil {
			cps = append(cps, cp)
		}
		if shared != nil {
			shared.rows = append(shared.rows, auditRow{q, row})
			continue
		}
		args = append(args, row...)
	}
	if err := db.insertRows(ctx, tx, q.inserts, args); err != nil {
		return fmt.Errorf("insert audit entry: %w", err)
	}
	for _, cp := range cps {
		if _, err := tx.ExecContext(ctx, q.checkpoint, cp.Chain, cp.Seq, cp.Hash, cp.Time.UnixMicro(), cp.Signature); err != nil {
			return fmt.Errorf("insert audit checkpoint: %w", err)
		}
	}
	if explicitID {
		if shared != nil {
			shared.nextID = nextID
		}
	}
	if shared != nil {
		// Group commit writes the head once, just before the transaction commits.
		shared.setHead(head, q.headUpdate)
		return nil
	}
	if _, err := db.txExec(ctx, tx, q.headUpdate, head.Seq, head.Hash, chain); err != nil {
		return fmt.Errorf("update audit head: %w", err)
	}
	return nil
}

func maxAuditID(src string) string { return `SELECT MAX(id) FROM ` + src + `audit_log` }

// nextAuditID returns the next entry id of the one sequence over all audit tables. It is read
// inside the write transaction, which holds every database's write lock, so no other writer
// (another process included) can take the same id.
func (db *DB) nextAuditID(ctx context.Context, tx *sql.Tx, shared *sharedTx) (int64, error) {
	if shared != nil && shared.nextID > 0 {
		return shared.nextID, nil
	}
	var next int64 = 1
	for _, src := range db.auditSources() {
		var maxID sql.NullInt64
		if err := db.txQueryRow(ctx, tx, maxAuditID(src)).Scan(&maxID); err != nil {
			return 0, fmt.Errorf("read audit ids: %w", err)
		}
		next = max(next, maxID.Int64+1)
	}
	return next, nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// addIDs adds the single string column of every row to set.
func addIDs(rows *sql.Rows, set map[string]bool) error {
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		set[id] = true
	}
	return rows.Err()
}

// collect reads every row of a list query with scan, closes rows and translates errors: the
// loop every list query needs. err is the query's own error, so callers hand over both.
func collect[T any](db *DB, rows *sql.Rows, err error, scan func(row rowScanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, db.translate(err)
		}
		out = append(out, v)
	}
	return out, db.translate(rows.Err())
}

// rowScanner is a row of a query: *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }
