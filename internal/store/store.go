package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/problem"
)

// Dialect is what both engines express differently in the SQL they share. What only one engine
// needs (SQLite's group commit, access journal and statement rewriting) is not here but in
// Options, supplied by that engine alone.
type Dialect struct {
	// Name names the engine for operators (logs, backups, migrate status); no code decides
	// anything by it.
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
	// IsRetryable reports a serialization failure or deadlock that is safe to retry.
	IsRetryable func(error) bool
	// IsUnavailable, when set, reports that the database could not be reached or went away
	// (a server stopped, a failover, a cut network). Such a failure becomes 503 with
	// Retry-After rather than 500: the client may try again, on this node or another, and a
	// write that failed so was never acknowledged.
	IsUnavailable func(error) bool
	// PurgeEvents, when set, runs first in every retention purge of events, outside its
	// transaction: PostgreSQL drops whole months of expired events there (and creates the
	// coming months' partitions), returning how many events went.
	PurgeEvents func(ctx context.Context, db *sql.DB, now time.Time) (int64, error)
	// EventMonths, when set, runs before events are inserted, outside their transaction, with
	// the times they were received: PostgreSQL makes sure each one's month has its partition,
	// so an event received beyond the months made ahead (a node whose clock or purge job ran
	// late) is stored rather than refused.
	EventMonths func(ctx context.Context, db *sql.DB, received []time.Time) error
	// JSONTable is a table expression "j" whose column "value" yields the strings of the JSON
	// array bound as parameter %d, so that thousands of ids travel as one parameter: binding
	// them one by one costs more than the look-ups themselves.
	JSONTable string
	// Snapshots says readers see MVCC snapshots of concurrent writers (PostgreSQL): a row can
	// commit after a row with a larger id was already read, so a feed read by increasing ids
	// must look behind its high-water mark (see Segments.Changed). SQLite commits one writer
	// at a time, in id order.
	Snapshots bool
	// ClaimLocks, when set, is a statement taking a transaction-scoped lock on each integer
	// of the JSON array bound as $1, in order, so that creates claiming the same index token
	// on several connections queue instead of both seeing it free (see checkClaims). Empty
	// where one writer runs at a time (SQLite).
	ClaimLocks string
	// PlanEach, when set, is passed as the first argument of the look-ups of many keys at once
	// (an IN list: identifiers, index tokens, a batch's customers), telling the driver to have
	// them planned for the values of each call rather than prepared once (PostgreSQL: pgx's
	// QueryExecModeExec). A prepared statement's plan is made for the table sizes of its first
	// executions: made on a new database, it scanned whole tables, and look-ups of
	// identifiers took 100 ms each once a few tens of thousands of rows had arrived, until
	// the database next analysed the tables.
	PlanEach any
	// ListsNumbered, when set, reads the highest number search_lists has given (0 when none),
	// where one writer runs at a time (SQLite): a large transaction then numbers its lists
	// itself, and inserts them and their tokens without reading the numbers back.
	ListsNumbered string
	// CopyRows, when set, inserts rows into a table over the connection a write transaction
	// runs on, inside that transaction, by the engine's bulk path (PostgreSQL's COPY); see
	// core.copyRows. Write transactions then run on a connection of their own, which the
	// transaction's context carries.
	CopyRows func(ctx context.Context, conn *sql.Conn, table string, cols []string, rows [][]any) error
	// StalledCommits, when set, counts the commits of Steward's database user that have
	// waited longer than StalledCommitWait (its $1, in seconds) for something other than the
	// database itself: PostgreSQL's wait for a synchronous standby. Such a commit waits for
	// as long as the standby is away, and every write after it does too: readiness then
	// fails (Engine.Ping), so that a load balancer stops sending requests that would hang.
	StalledCommits string
}

// StalledCommitWait is how long a commit may wait for a synchronous standby before the node
// reports itself not ready (Dialect.StalledCommits). Commits normally wait milliseconds; a
// standby catching up after a pause may take a second or two.
const StalledCommitWait = 3 * time.Second

// core is what every repository shares: the pools, the prepared statements, the write
// transaction wrapper and the audit append that runs inside it. Repositories embed it, so a
// domain's SQL reads db.query, db.update and db.appendAudit as it always did, while each
// repository's exported methods are exactly its domain's store interface.
type core struct {
	write  *sql.DB // SQLite: a single connection, so writers queue in Go instead of on locks
	read   *sql.DB
	bulk   *sql.DB // reads that sweep many rows once; see Options.Bulk
	d      Dialect
	sealer atomic.Pointer[audit.Sealer]
	// before runs when the core closes, ahead of closing statements and pools (see
	// Extension.Close); closers close the pools.
	before, closers []func() error
	stmts           sync.Map // query text → *sql.Stmt, per pool
	closed          atomic.Bool
	// loyaltyRules are what merges need of the loyalty programme (see SetLoyaltyRules).
	loyaltyRules atomic.Pointer[loyalty.TransferRules]
	// forget is the backend's Forget, for erasures.
	forget func(ctx context.Context) error
	// writer, when set, runs write transactions instead of begin/commit/retry (see Writer).
	writer Writer
	// creates, on an engine without a writer, gathers concurrent creates into shared
	// transactions (see createBatcher).
	creates *createBatcher
	// access, when set, takes the entries appended on their own (see AccessLog).
	access AccessLog
	// rw, when set, adapts statement text to the engine (see Rewriter); customerPK is its
	// CustomerPK.
	rw         Rewriter
	customerPK string
	// accessSchema names the attached database holding the access chain (see
	// Options.AccessSchema); empty when every chain lives in the main database.
	accessSchema string
	// accessBlockBits and accessBlockIndex are Options.AccessBlockBits and AccessBlockIndex.
	accessBlockBits  uint
	accessBlockIndex string
	// mainSQL and accessSQL are the audit statements for the main chains and the access chain.
	mainSQL, accessSQL chainSQL
	// customerRows, indexRows, keyRows and identityRows insert new customers, their
	// blind-index entries, their duplicate-matching keys and stitched identifiers.
	customerRows, indexRows, keyRows, termRows, identityRows rowStatements
	// searchRows insert search tokens; listRows insert customers' pending token lists and
	// listUpserts store merged ones (see search.go).
	searchRows, listRows, listUpserts rowStatements
	// listReturning insert lists moved straight away and return their numbers; listNumbered
	// insert them under numbers given by Steward (see Dialect.ListsNumbered).
	listReturning, listNumbered rowStatements
	// searchPending is about how many lists wait to be moved (see mergeAt): those this
	// process left since its last move, and those found waiting by its first write
	// (searchCounted).
	searchPending atomic.Int64
	searchCounted atomic.Bool
	// pending caches the pending lists searches read, by number (see pendingLists).
	pending pendingCache
	// watcher hears of committed changes to decision inputs (see core.transact).
	watcher atomic.Pointer[DecisionWatcher]
	// committedAccess is the access chain's head as last committed by this process, which
	// the main chains anchor (see accessAnchor); nil until known.
	committedAccess atomic.Pointer[audit.Head]
	// owed are the chains whose unsealed head this process may seal: it wrote them before
	// the sealer was installed, or upgraded the database from before sealed heads.
	owedMu sync.Mutex
	owed   map[int]bool
}

type stmtKey struct {
	pool *sql.DB
	q    string
}

// prepared returns a cached prepared statement: parsing SQL costs more than running the
// small queries on the hot paths, so every statement is prepared once per pool.
func (db *core) prepared(ctx context.Context, pool *sql.DB, q string) (*sql.Stmt, error) {
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
func (db *core) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := db.prepared(ctx, db.read, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// queryRow is query for one row.
func (db *core) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := db.prepared(ctx, db.read, q)
	if err != nil {
		return db.read.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// prepareWrites prepares the hot write statements while no transaction holds the writer: on
// SQLite the write pool has one connection, so preparing from inside a transaction would wait
// for itself.
func (db *core) prepareWrites(ctx context.Context) error {
	qs := []string{db.customerUpdate(), indexDelete}
	if db.d.PlanEach == nil { // else planned per call (see txLookup)
		for _, n := range rowBatches {
			qs = append(qs, claimHoldersSQL(n))
		}
	}
	for _, rs := range []rowStatements{db.customerRows, db.indexRows, db.keyRows, db.termRows, db.identityRows, db.searchRows, db.listRows, db.listReturning, db.listNumbered} {
		qs = append(qs, rs.stmts...)
	}
	qs = append(qs, keyStatements()...)
	qs = append(qs, activityStatements()...)
	qs = append(qs, orderStatements()...)
	qs = append(qs, db.ledgerStatements()...)
	for _, c := range []chainSQL{db.mainSQL, db.accessSQL} {
		if c.head != "" {
			qs = append(qs, c.head+db.d.ForUpdate, c.headUpdate)
			qs = append(qs, c.inserts.stmts...)
		}
	}
	if db.accessSchema != "" {
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
func (db *core) txStmt(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt {
	if st, ok := db.stmts.Load(stmtKey{db.write, q}); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	return nil
}

// txExec runs a statement in tx, prepared when it is one of the hot writes.
func (db *core) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := db.txStmt(ctx, tx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, db.native(q), args...)
}

// txLookup runs a look-up of many keys at once in tx: planned for its values where the
// engine asks for it (Dialect.PlanEach), prepared otherwise.
func (db *core) txLookup(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if db.d.PlanEach != nil {
		return tx.QueryContext(ctx, q, append([]any{db.d.PlanEach}, args...)...)
	}
	if st := db.txStmt(ctx, tx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, db.native(q), args...)
}

// txLookupRow is txLookup for a query returning one row.
func (db *core) txLookupRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if db.d.PlanEach != nil {
		return tx.QueryRowContext(ctx, q, append([]any{db.d.PlanEach}, args...)...)
	}
	return db.txQueryRow(ctx, tx, q, args...)
}

// txQueryRow is txExec for a query returning one row.
func (db *core) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := db.txStmt(ctx, tx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, db.native(q), args...)
}

// native returns q as the engine runs it best (see Rewriter.Native).
func (db *core) native(q string) string {
	if db.rw == nil {
		return q
	}
	return db.rw.Native(q)
}

// chainSQL is the SQL for one chain's tables, which live in the main database or in the
// access database.
type chainSQL struct {
	head, headUpdate, checkpoint string
	// inserts adds entries, many to a statement (see appendChain and flushAudit).
	inserts rowStatements
}

func (db *core) newChainSQL(schema string, explicitID bool) chainSQL {
	if schema != "" {
		schema += "."
	}
	cols := chainColumns
	if explicitID {
		cols += `, id`
	}
	return chainSQL{
		head:       `SELECT seq, hash, mac, anchor_chain, anchor_seq, anchor_hash FROM ` + schema + `audit_heads WHERE chain = $1`,
		inserts:    db.rowStatements(`INSERT INTO `+schema+`audit_log (`+cols+`)`, strings.Count(cols, ",")+1, ""),
		headUpdate: `UPDATE ` + schema + `audit_heads SET seq = $1, hash = $2, mac = $3, anchor_chain = $4, anchor_seq = $5, anchor_hash = $6 WHERE chain = $7`,
		checkpoint: `INSERT INTO ` + schema + `audit_checkpoints (chain, seq, hash, at, signature, anchor_chain, anchor_seq, anchor_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
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

func (db *core) rowStatements(head string, cols int, tail string) rowStatements {
	rs := rowStatements{cols: cols, stmts: make([]string, len(rowBatches))}
	for i, n := range rowBatches {
		rs.stmts[i] = db.valuesSQL(head, cols, n, tail)
	}
	return rs
}

// insertRows inserts the rows whose values are args, in statements of rs.
func (db *core) insertRows(ctx context.Context, tx *sql.Tx, rs rowStatements, args []any) error {
	return rs.each(args, func(q string, args []any) error {
		_, err := db.txExec(ctx, tx, q, args...)
		return err
	})
}

// each calls fn with the statements of rs that insert the rows whose values are args, the
// largest first, and the values each takes.
func (rs rowStatements) each(args []any, fn func(q string, args []any) error) error {
	for len(args) > 0 {
		rows := len(args) / rs.cols
		i := len(rowBatches) - 1
		for rowBatches[i] > rows {
			i--
		}
		n := rowBatches[i] * rs.cols
		if err := fn(rs.stmts[i], args[:n]); err != nil {
			return err
		}
		args = args[n:]
	}
	return nil
}

// flushAudit inserts the audit entries a group transaction's writers linked: consecutive
// entries of one chain share statements of up to 64 rows. One insert per entry was a third of
// the single writer's time when many callers each appended one access entry.
func (db *core) flushAudit(ctx context.Context, tx *sql.Tx, rows []auditRow) error {
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
func (db *core) chainSQL(chain int) *chainSQL {
	if db.accessSchema != "" && chain == db.d.AuditChains {
		return &db.accessSQL
	}
	return &db.mainSQL
}

// auditCustomer is the table and condition selecting the entries about one customer (param:
// the parameter naming them) in the audit table of src, one of auditSources: "FROM … WHERE …".
func (db *core) auditCustomer(src, param string) string {
	if src == "" || db.accessBlockBits == 0 {
		return `FROM ` + src + `audit_log WHERE customer_id = ` + param
	}
	return `FROM ` + src + `audit_log INDEXED BY ` + db.accessBlockIndex + ` WHERE ` + AccessCustomerSQL(src, db.accessBlockBits, param)
}

func (db *core) auditSources() []string {
	if db.accessSchema == "" {
		return []string{""}
	}
	return []string{"", db.accessSchema + "."}
}

// newCore wraps already-migrated connections and prepares the hot write statements.
func newCore(ctx context.Context, o Options) (*core, error) {
	db := &core{write: o.Write, read: o.Read, bulk: o.Bulk, d: o.Dialect, rw: o.SQL, accessSchema: o.AccessSchema, accessBlockBits: o.AccessBlockBits, accessBlockIndex: o.AccessBlockIndex}
	if o.SQL != nil {
		db.customerPK = o.SQL.CustomerPK()
	}
	db.owed = map[int]bool{}
	if o.UnsealedHeads {
		for _, c := range db.chains() {
			db.owed[c] = true
		}
	}
	db.mainSQL = db.newChainSQL("", o.AccessSchema != "")
	if o.AccessSchema != "" {
		db.accessSQL = db.newChainSQL(o.AccessSchema, true)
	}
	db.customerRows = db.rowStatements(`INSERT INTO customers (`+customerColumns+`)`, 8, "")
	db.indexRows = db.rowStatements(`INSERT INTO blind_index (field, token, customer_id)`, 3, ` ON CONFLICT DO NOTHING`)
	db.keyRows = db.rowStatements(`INSERT INTO match_keys (token, customer_id)`, 2, ` ON CONFLICT DO NOTHING`)
	db.termRows = db.rowStatements(`INSERT INTO match_terms (kind, token, customer_id)`, 3, ` ON CONFLICT DO NOTHING`)
	db.searchRows = db.rowStatements(`INSERT INTO search_tokens (token, first, n, nums)`, 4, "")
	db.listRows = db.rowStatements(`INSERT INTO search_lists (customer_id, tokens, merged)`, 3, "")
	db.listReturning = db.rowStatements(`INSERT INTO search_lists (customer_id, tokens, merged)`, 3, ` RETURNING customer_id, num`)
	db.listNumbered = db.rowStatements(`INSERT INTO search_lists (num, customer_id, tokens, merged)`, 4, "")
	db.listUpserts = db.rowStatements(`INSERT INTO search_lists (customer_id, tokens, merged)`, 3,
		` ON CONFLICT (customer_id) DO UPDATE SET tokens = excluded.tokens, merged = excluded.merged`)
	db.identityRows = db.rowStatements(`INSERT INTO identities (kind, token, customer_id, sealed, created_at)`, 5, "")
	db.closers = append(db.closers, o.Write.Close)
	if o.Read != o.Write {
		db.closers = append(db.closers, o.Read.Close)
	}
	if o.Bulk != nil {
		db.closers = append(db.closers, o.Bulk.Close)
	}
	if err := db.prepareWrites(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the pools; closing twice is harmless.
func (db *core) Close() error {
	if !db.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	// The engine's own parts go first: the access journal still writes its last entries
	// through the writer and the prepared statements.
	for _, c := range db.before {
		errs = append(errs, c())
	}
	db.stmts.Range(func(_, v any) bool {
		errs = append(errs, v.(*sql.Stmt).Close())
		return true
	})
	for _, c := range db.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// TxFunc is one writer's work inside a write transaction. With an engine's Writer it may
// share its transaction with other writers' functions and run twice (see Writer), so it must
// use the ctx it is given and touch nothing but the transaction.
type TxFunc = func(ctx context.Context, tx *sql.Tx) error

// update runs fn in a write transaction (see transact) for writes that change no
// permission-decision input.
func (db *core) update(ctx context.Context, fn TxFunc) error { return db.transact(ctx, nil, nil, fn) }

// changes are the permission-decision inputs a write changes: customers whose consent,
// suppression matches or existence changed, and whether a policy was published. A write
// collects them, inside its function where they are only known there.
type changes struct {
	ids      []string
	policies bool
}

func (c *changes) add(ids ...string) { c.ids = append(c.ids, ids...) }

// transact is the one write path. It runs fn in a write transaction, through the engine's
// Writer when it has one and otherwise in a transaction of its own, retrying serialization
// failures a few times; create, when set, is what fn inserts (see Writer). Once the write
// returns, the decision watcher hears of ch, so a cache in this process drops what the write
// changed before the writer's caller hears back. It hears whether the write committed or
// not: forgetting too much only costs a reload, and no write method has to remember to tell.
func (db *core) transact(ctx context.Context, create *Creation, ch *changes, fn TxFunc) error {
	var err error
	if db.writer != nil {
		err = db.translate(db.writer.Update(ctx, create, fn))
	} else {
		err = db.retry(ctx, fn)
	}
	if ch != nil {
		db.notify(ch)
	}
	return err
}

// transactSerializable is transact for an engine without a single writer (see Writer), in
// a serializable transaction: what fn reads then cannot change under it before it commits,
// which checks that read rows to decide what to write need (see checkClaims). A transaction
// the engine gives up on as not serializable is run again, like any retryable failure.
func (db *core) transactSerializable(ctx context.Context, ch *changes, fn TxFunc) error {
	err := db.retryWith(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable}, fn)
	if ch != nil {
		db.notify(ch)
	}
	return err
}

func (db *core) retry(ctx context.Context, fn TxFunc) error { return db.retryWith(ctx, nil, fn) }

func (db *core) retryWith(ctx context.Context, opts *sql.TxOptions, fn TxFunc) error {
	for attempt := 0; ; attempt++ {
		err := db.tryUpdate(ctx, opts, fn)
		if err != nil && db.d.IsRetryable(err) && attempt < 8 {
			time.Sleep(time.Duration(1+rand.IntN(5<<attempt)) * time.Millisecond)
			continue
		}
		return db.translate(err)
	}
}

func (db *core) tryUpdate(ctx context.Context, opts *sql.TxOptions, fn TxFunc) error {
	var tx *sql.Tx
	var err error
	if db.d.CopyRows == nil {
		tx, err = db.write.BeginTx(ctx, opts)
	} else {
		var conn *sql.Conn
		if conn, tx, err = db.beginOnConn(ctx, opts); err == nil {
			defer conn.Close()
			ctx = context.WithValue(ctx, txConnKey{}, conn)
		}
	}
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// txConnKey carries, in a write transaction's context, the connection it runs on, for the
// engine's bulk path (Dialect.CopyRows).
type txConnKey struct{}

// beginOnConn takes a connection of its own from the write pool and begins a transaction on
// it. A pooled connection whose server side went away (a restart, a failover, a terminated
// backend) fails at the begin, before anything is written: driver.ErrBadConn, or the
// server's last word on it (Dialect.IsUnavailable). The next connection is tried then, up to
// as many as the pool may hold, so that the idle connections a restart left behind fail
// one by one here instead of failing writes; a connection that cannot be made at all ends it.
func (db *core) beginOnConn(ctx context.Context, opts *sql.TxOptions) (*sql.Conn, *sql.Tx, error) {
	for attempt := 0; ; attempt++ {
		conn, err := db.write.Conn(ctx)
		if err != nil {
			return nil, nil, err
		}
		tx, err := conn.BeginTx(ctx, opts)
		if err == nil {
			return conn, tx, nil
		}
		stale := errors.Is(err, driver.ErrBadConn) || db.d.IsUnavailable != nil && db.d.IsUnavailable(err)
		if stale {
			// A connection whose server side is gone is not handed out again.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
		if !stale || attempt >= max(db.write.Stats().MaxOpenConnections, 3) {
			return nil, nil, err
		}
	}
}

// copyMinRows is the fewest rows worth the bulk path: COPY takes two round trips, and up to
// a statement's worth of rows goes in one (rowBatches).
const copyMinRows = 65

// copyRows inserts n rows (row(i) giving each one's values for cols) into table by the
// engine's bulk path, inside the write transaction ctx belongs to, and reports whether it
// did: where the engine has none, the rows are few, or ctx is not a write transaction's
// (SQLite's group commit), the caller inserts them by statements. Columns the rows leave
// out take their defaults, as in an INSERT. On PostgreSQL, COPY of a batch's events cost
// the database less than their multi-row inserts: it parses and plans nothing per row.
func (db *core) copyRows(ctx context.Context, table string, cols []string, n int, row func(i int) []any) (bool, error) {
	conn, ok := ctx.Value(txConnKey{}).(*sql.Conn)
	if !ok || db.d.CopyRows == nil || n < copyMinRows {
		return false, nil
	}
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = row(i)
	}
	return true, db.d.CopyRows(ctx, conn, table, cols, rows)
}

// translate turns driver errors into problem kinds; errors that already have a kind pass.
func (db *core) translate(err error) error {
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
	case db.d.IsUnavailable != nil && db.d.IsUnavailable(err):
		return problem.Wrap(problem.Unavailable, err, "database unavailable, retry")
	}
	return problem.Wrap(problem.Internal, err, "database error")
}

// appendAudit links entries that go with a change onto one of the main chains inside tx.
func (db *core) appendAudit(ctx context.Context, tx *sql.Tx, entries []audit.Entry) error {
	chain := 0
	if db.d.AuditChains > 1 {
		// A transaction shared by several writers appends to one chain: spread over all of
		// them, it would lock every chain's head, and conflict with every other transaction.
		shared := sharedFrom(ctx)
		if shared != nil && shared.chain > 0 {
			chain = shared.chain - 1
		} else {
			chain = rand.IntN(db.d.AuditChains)
			if shared != nil {
				shared.chain = chain + 1
			}
		}
	}
	return db.appendChain(ctx, tx, chain, entries)
}

// appendChain links entries onto chain inside tx. The chain head row is read with a lock (on
// PostgreSQL), so concurrent appenders to one chain queue and never fork it. Under group
// commit the head is read once and written once per transaction (see sharedTx). The head is
// written sealed (audit.Sealer.Seal) and, on a main chain of an engine that keeps the access
// chain in a file of its own, anchoring the access chain's committed head; so do the
// checkpoints signed here.
func (db *core) appendChain(ctx context.Context, tx *sql.Tx, chain int, entries []audit.Entry) error {
	_, _, err := db.appendChainHead(ctx, tx, chain, entries)
	return err
}

// appendChainHead is appendChain, returning also the head it wrote and whether it sealed it
// with sealer, the sealer in force (false under group commit, where the head is written
// later).
func (db *core) appendChainHead(ctx context.Context, tx *sql.Tx, chain int, entries []audit.Entry) (h audit.Head, sealer *audit.Sealer, err error) {
	if len(entries) == 0 {
		return audit.Head{}, nil, nil
	}
	q := db.chainSQL(chain)
	shared := sharedFrom(ctx)
	sealer = db.sealer.Load()
	head, tainted, ok := shared.head(chain)
	if !ok {
		sh, err := db.readHead(ctx, tx, chain)
		if err != nil {
			return audit.Head{}, nil, err
		}
		head = sh.Head
		tainted = sealer != nil && !db.trusted(sealer, sh)
		shared.setBase(head)
	}
	if tainted {
		// A head this process cannot vouch for: the chain goes on, but no seal and no
		// checkpoint vouches for what came before, so verification keeps failing there.
		sealer = nil
	}
	explicitID := db.accessSchema != ""
	var nextID int64
	if explicitID {
		if nextID, err = db.nextAuditID(ctx, tx, shared); err != nil {
			return audit.Head{}, nil, err
		}
	}
	var anchor audit.Head
	anchored := false
	anchorOnce := func() error {
		if anchored {
			return nil
		}
		anchored = true
		var err error
		anchor, err = db.accessAnchor(ctx, tx, chain, shared)
		return err
	}
	// Entries are chained one by one, then inserted many to a statement (under group commit,
	// with every other writer's, just before the commit): an import appends thousands at once,
	// and one statement per entry was most of their cost.
	var args []any
	var cps []*audit.Checkpoint
	for i := range entries {
		e := &entries[i]
		if sealer.Due(head.Seq + 1) {
			if err := anchorOnce(); err != nil {
				return audit.Head{}, nil, err
			}
		}
		var cp *audit.Checkpoint
		head, cp = sealer.Append(head, e, anchor)
		row := auditValues(e)
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
		return audit.Head{}, nil, fmt.Errorf("insert audit entry: %w", err)
	}
	for _, cp := range cps {
		if _, err := tx.ExecContext(ctx, q.checkpoint, cp.Chain, cp.Seq, cp.Hash, cp.Time.UnixMicro(), cp.Signature,
			cp.Anchor.Chain, cp.Anchor.Seq, bytesOrEmpty(cp.Anchor.Hash)); err != nil {
			return audit.Head{}, nil, fmt.Errorf("insert audit checkpoint: %w", err)
		}
	}
	if explicitID {
		if shared != nil {
			shared.nextID = nextID
		}
	}
	if shared != nil {
		// Group commit writes the head once, just before the transaction commits.
		shared.setHead(head, q.headUpdate, tainted)
		return head, nil, nil
	}
	if err := anchorOnce(); err != nil {
		return audit.Head{}, nil, err
	}
	if err := db.writeHead(ctx, tx, q.headUpdate, audit.SealedHead{Head: head, Anchor: anchor}, tainted); err != nil {
		return audit.Head{}, nil, err
	}
	return head, sealer, nil
}

// chainColumns are the audit_log columns an append writes, in the order of auditValues.
const chainColumns = `chain, seq, at, actor_id, actor_role, action, customer_id, target, fields, purpose, request_id, outcome, prev_hash, hash`

// auditValues is e's values in the order of chainColumns.
func auditValues(e *audit.Entry) []any {
	return []any{e.Chain, e.Seq, e.Time.UnixMicro(), e.ActorID, e.ActorRole, e.Action, e.CustomerID, e.Target,
		encodeList(e.Fields), e.Purpose, e.RequestID, e.Outcome, e.PrevHash, e.Hash}
}

// readHead reads chain's stored head, locked until the transaction ends where the engine
// locks rows.
func (db *core) readHead(ctx context.Context, tx *sql.Tx, chain int) (audit.SealedHead, error) {
	sh := audit.SealedHead{Head: audit.Head{Chain: chain}}
	if err := db.txQueryRow(ctx, tx, db.chainSQL(chain).head+db.d.ForUpdate, chain).
		Scan(&sh.Seq, &sh.Hash, &sh.MAC, &sh.Anchor.Chain, &sh.Anchor.Seq, &sh.Anchor.Hash); err != nil {
		return sh, fmt.Errorf("read audit head: %w", err)
	}
	return sh, nil
}

// trusted reports whether an append may extend sh and seal the result: an empty chain, a
// head sealed with the key, or a head this process owes a seal (see SealHeads).
func (db *core) trusted(sealer *audit.Sealer, sh audit.SealedHead) bool {
	if sh.Seq == 0 || sealer.Verify(sh) {
		return true
	}
	db.owedMu.Lock()
	defer db.owedMu.Unlock()
	return db.owed[sh.Chain]
}

// chains returns every audit chain's number.
func (db *core) chains() []int {
	n := max(db.d.AuditChains, 1)
	if db.accessSchema != "" {
		n++
	}
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// writeHead writes h with the statement update, sealed unless the chain is tainted. Without
// a sealer (before the keyset is open) the head is written unsealed and this process owes
// it a seal.
func (db *core) writeHead(ctx context.Context, tx *sql.Tx, update string, h audit.SealedHead, tainted bool) error {
	sealer := db.sealer.Load()
	var mac []byte
	switch {
	case sealer == nil:
		db.owedMu.Lock()
		db.owed[h.Chain] = true
		db.owedMu.Unlock()
	case !tainted:
		mac = sealer.Seal(h)
	}
	if _, err := db.txExec(ctx, tx, update, h.Seq, h.Hash, bytesOrEmpty(mac), h.Anchor.Chain, h.Anchor.Seq,
		bytesOrEmpty(h.Anchor.Hash), h.Chain); err != nil {
		return fmt.Errorf("update audit head: %w", err)
	}
	return nil
}

// sealHeads implements Engine.SealHeads.
func (db *core) sealHeads(ctx context.Context) error {
	sealer := db.sealer.Load()
	if sealer == nil {
		return errors.New("seal audit heads: no sealer installed")
	}
	db.owedMu.Lock()
	var owed []int
	for c := range db.owed {
		owed = append(owed, c)
	}
	db.owedMu.Unlock()
	if len(owed) == 0 {
		return nil
	}
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		shared := sharedFrom(ctx)
		for _, chain := range owed {
			if _, _, ok := shared.head(chain); ok {
				continue // appended to in this transaction, and sealed with it
			}
			sh, err := db.readHead(ctx, tx, chain)
			if err != nil {
				return err
			}
			if sh.Seq == 0 || sealer.Verify(sh) {
				continue
			}
			anchor, err := db.accessAnchor(ctx, tx, chain, shared)
			if err != nil {
				return err
			}
			if err := db.writeHead(ctx, tx, db.chainSQL(chain).headUpdate, audit.SealedHead{Head: sh.Head, Anchor: anchor}, false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	db.owedMu.Lock()
	for _, c := range owed {
		delete(db.owed, c)
	}
	db.owedMu.Unlock()
	return nil
}

// bytesOrEmpty keeps NOT NULL blob columns non-null when there is nothing to store.
func bytesOrEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// accessAnchor returns what a write to chain anchors: nothing, unless chain is a main chain
// of an engine keeping the access chain apart (see Options.AccessSchema), which anchors the
// access chain's head as committed before this transaction. A committed head, not the one
// this transaction moves it to: the two files commit one after the other, and a crash between
// them must not leave the main trail vouching for access entries that never reached the disk.
// A head older than the newest (another process's appends, not yet seen here) only vouches
// for less.
func (db *core) accessAnchor(ctx context.Context, tx *sql.Tx, chain int, b *Batch) (audit.Head, error) {
	access := db.d.AuditChains
	if db.accessSchema == "" || chain == access {
		return audit.Head{}, nil
	}
	if h, ok := b.base(access); ok {
		return h, nil
	}
	if h := db.committedAccess.Load(); h != nil {
		return *h, nil
	}
	sh, err := db.readHead(ctx, tx, access)
	if err != nil {
		return audit.Head{}, err
	}
	h := sh.Head
	db.committedAccess.CompareAndSwap(nil, &h)
	return h, nil
}

// Committed implements Core: the access chain head a committed batch wrote is what the next
// writes to the main chains anchor.
func (db *core) Committed(b *Batch) {
	if db.accessSchema == "" || b == nil {
		return
	}
	if h, ok := b.heads[db.d.AuditChains]; ok {
		head := h.head
		db.committedAccess.Store(&head)
	}
}

func maxAuditID(src string) string { return `SELECT MAX(id) FROM ` + src + `audit_log` }

// nextAuditID returns the next entry id of the one sequence over all audit tables. It is read
// inside the write transaction, which holds every database's write lock, so no other writer
// (another process included) can take the same id.
func (db *core) nextAuditID(ctx context.Context, tx *sql.Tx, shared *Batch) (int64, error) {
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
func collect[T any, D interface{ translate(error) error }](db D, rows *sql.Rows, err error, scan func(row rowScanner) (T, error)) ([]T, error) {
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

// scanOne reads a row's single column, for collect.
func scanOne[T any](row rowScanner) (T, error) {
	var v T
	err := row.Scan(&v)
	return v, err
}

// rowScanner is a row of a query: *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }
