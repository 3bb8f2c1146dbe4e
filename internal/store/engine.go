package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/backup"
	"github.com/stewardhq/steward/internal/problem"
)

// Engine is an opened database: the repositories over it, and what only the engine knows
// how to do (backups, compaction, its migration files). sqlite.Open and postgres.Open return
// one; the composition root hands each service the repository its domain declares, and asks
// the Engine, never the engine's name, for anything engine-specific.
type Engine struct {
	db      *core
	backend Backend

	customers  *Customers
	consents   *Consents
	ingest     *Ingest
	rights     *Rights
	duplicates *Duplicates
	audit      *Audit
	jobs       *Jobs
	keysets    *Keysets
	apiKeys    *APIKeys
	imports    *Imports
	sources    *Sources
	segments   *Segments
	quality    *Quality
	forms      *Forms
	portal     *Portal
	staff      *Staff
}

// Backend is what an engine package contributes to its Engine.
type Backend interface {
	// Name names the engine for operators: logs, backup headers, migrate status.
	Name() string
	// Migrations lists each database file's migrations (SQLite keeps the access trail in a
	// file of its own).
	Migrations() ([]MigrationSet, error)
	// Backup returns the files of a consistent copy of the database, staging what it must
	// write first in dir, and a function that releases what the copy holds open once the
	// files are written. Called after the access log is synced.
	Backup(ctx context.Context, dir string) ([]backup.File, func(), error)
	// Compact makes deleted rows unrecoverable from the database files, after a restore
	// replayed erasures (SQLite rebuilds its file; PostgreSQL needs nothing).
	Compact(ctx context.Context) error
	// Forget removes the earlier versions of rows just deleted from the engine's own logs
	// where it can, so that an erased customer's wrapped data key does not outlive the
	// erasure in a file (SQLite: a checkpoint that truncates both write-ahead logs;
	// PostgreSQL: nothing, see docs/security.md). It fails when a long read holds the log
	// back; calling it again later finishes the job.
	Forget(ctx context.Context) error
	// DecisionTrust is how long a cached permission decision may be used without comparing it
	// with the database: zero where other nodes may write at any moment (PostgreSQL).
	DecisionTrust() time.Duration
	// CustomerTablesSQL selects the names of the tables, in every schema Steward uses, that
	// have a customer_id column.
	CustomerTablesSQL() string
}

// MigrationSet is one database file's migrations.
type MigrationSet struct {
	File   string // as operators know it: steward.db, steward-access.db, database
	Schema string // the schema it is attached under; "" for the main one
	List   []Migration
}

// Options are what an engine package opens the core with. The hooks are SQLite's: PostgreSQL
// leaves them unset and gets plain transactions and statements.
type Options struct {
	Dialect Dialect
	// Write and Read may be the same pool. Bulk, when set, serves reads of many rows at once
	// (bulk permission checks; see core.queryMany). SQLite opens it with a small page cache:
	// such a read touches each page once, so a large cache only costs allocating every page
	// and, after the next write anywhere, freeing them all, which measured slower than the
	// reads themselves.
	Write, Read, Bulk *sql.DB
	Backend           Backend
	// SQL adapts statement text to the engine; nil runs it as written.
	SQL Rewriter
	// AccessSchema, when set, names an attached database holding one more audit chain,
	// numbered Dialect.AuditChains, for the entries appended on their own: reads, look-ups,
	// listings and refusals. Entries that go with a change stay with the change. Entry ids
	// are then given by Steward, one sequence over both databases, so the trail still reads
	// in one order. It stays a core option because the chain layout is the audit trail's.
	AccessSchema string
	// AccessBlockBits, when set, says the access chain's index by customer leads with each
	// entry's block, id >> AccessBlockBits, as the engine indexes it to keep the inserts of
	// a flush together (see the sqlite package's access migration 0004): a customer's
	// entries there are read block by block.
	AccessBlockBits uint
	// AccessBlockIndex names that index, for the reads that must use it: an engine
	// planning without statistics may take another.
	AccessBlockIndex string
	// UnsealedHeads says the database predates sealed audit heads and is being upgraded by
	// this process: its heads carry no seal yet, and SealHeads seals them as they are.
	UnsealedHeads bool
	// GroupAccess appends the audit entries of concurrent reads together, a transaction for
	// all those waiting (see groupAccess), for an engine without an Extension.Access.
	GroupAccess bool
	// Extend, when set, runs once the core exists and returns the engine's write path and
	// access log.
	Extend func(ctx context.Context, c Core) (Extension, error)
}

// Extension is an engine's replacement for parts of the core's write path.
type Extension struct {
	// Writer runs every write transaction instead of the core's begin/commit/retry.
	Writer Writer
	// Access takes the audit entries appended on their own instead of a write transaction.
	Access AccessLog
	// Close runs when the engine closes, in order, before the core closes its statements and
	// pools.
	Close []func() error
}

// Writer runs write transactions for the core. SQLite's merges concurrent callers'
// functions into shared transactions (group commit), where the commit, not the statements,
// is the cost of the single writer connection.
type Writer interface {
	// Update runs fn in a write transaction and returns once it committed or failed. create,
	// when not nil, is all fn inserts; a Writer may instead insert several callers' creations
	// together with Core.InsertCreations. Under a shared transaction, fn's ctx must carry the
	// transaction's Batch.
	Update(ctx context.Context, create *Creation, fn TxFunc) error
}

// AccessLog takes the audit entries appended on their own (reads, look-ups, listings) off the
// write path; SQLite's journals them to a file and links them into the trail with the next
// write transaction.
type AccessLog interface {
	// Append returns once entries are durable as a committed transaction would be.
	Append(ctx context.Context, entries []audit.Entry) error
	// Sync links every entry appended so far into the trail: everything that reads the
	// trail calls it first.
	Sync(ctx context.Context) error
}

// Rewriter adapts the shared statement text to an engine.
type Rewriter interface {
	// Native returns q as the engine runs it best. It is called on hot paths and must
	// remember its answers.
	Native(q string) string
	// MultiRowInsert returns the head of a multi-row insert ("INSERT INTO t (...)") as the
	// engine should run it.
	MultiRowInsert(head string) string
	// CustomerPK follows the customers table's name (and alias) where whole rows are read or
	// written by id, to make the engine use the primary key (see core.customersByID).
	CustomerPK() string
}

// Core is the part of the core an engine's Writer and AccessLog call.
type Core interface {
	// InsertCreations inserts the customers of several callers' creations in a few multi-row
	// statements, with their audit entries; ctx carries the transaction's Batch.
	InsertCreations(ctx context.Context, tx *sql.Tx, cs []*Creation) error
	// FinishBatch writes what the batch's writers deferred, just before the commit.
	FinishBatch(ctx context.Context, tx *sql.Tx, b *Batch) error
	// Committed hears that the batch's transaction committed.
	Committed(b *Batch)
	// AppendAccess links entries onto the access chain inside tx.
	AppendAccess(ctx context.Context, tx *sql.Tx, entries []audit.Entry) error
	// Sealed reports whether the audit signing key is installed, so that checkpoints due
	// among entries appended now are signed.
	Sealed() bool
	// Update runs fn through the write path, Writer included.
	Update(ctx context.Context, fn TxFunc) error
}

// AppendAccess implements Core.
func (db *core) AppendAccess(ctx context.Context, tx *sql.Tx, entries []audit.Entry) error {
	return db.appendChain(ctx, tx, db.d.AuditChains, entries)
}

// Sealed implements Core.
func (db *core) Sealed() bool { return db.sealer.Load() != nil }

// Update implements Core.
func (db *core) Update(ctx context.Context, fn TxFunc) error { return db.update(ctx, fn) }

// New opens the core over already-migrated pools and builds the repositories.
func New(ctx context.Context, o Options) (*Engine, error) {
	if o.Backend == nil {
		return nil, errors.New("store: an engine needs a backend")
	}
	db, err := newCore(ctx, o)
	if err != nil {
		return nil, err
	}
	if o.Extend != nil {
		x, err := o.Extend(ctx, db)
		if err != nil {
			db.Close()
			return nil, err
		}
		db.writer, db.access = x.Writer, x.Access
		db.before = x.Close
	}
	if db.writer == nil {
		db.creates = newCreateBatcher(db)
		db.before = append(db.before, db.creates.stop)
	}
	if o.GroupAccess && db.access == nil {
		db.access = &groupAccess{db: db}
	}
	db.forget = o.Backend.Forget
	return &Engine{db: db, backend: o.Backend,
		customers: &Customers{db}, consents: &Consents{db}, ingest: &Ingest{core: db}, rights: &Rights{db},
		duplicates: &Duplicates{db}, audit: &Audit{db}, jobs: &Jobs{db}, keysets: &Keysets{db},
		apiKeys: &APIKeys{db}, imports: &Imports{db}, quality: &Quality{db}, forms: &Forms{db}, portal: &Portal{db}, staff: &Staff{db}, sources: &Sources{db}, segments: &Segments{db}}, nil
}

// Customers implements customer.Store and customer.KeyStore.
func (e *Engine) Customers() *Customers { return e.customers }

// Consents implements consent.Store.
func (e *Engine) Consents() *Consents { return e.consents }

// Ingest implements ingest.Store.
func (e *Engine) Ingest() *Ingest { return e.ingest }

// Rights implements rights.Store and customer.ErasureLedger.
func (e *Engine) Rights() *Rights { return e.rights }

// Duplicates implements duplicate.Store.
func (e *Engine) Duplicates() *Duplicates { return e.duplicates }

// Audit implements audit.Store.
func (e *Engine) Audit() *Audit { return e.audit }

// Jobs implements job.Store.
func (e *Engine) Jobs() *Jobs { return e.jobs }

// Keysets implements keys.Store.
func (e *Engine) Keysets() *Keysets { return e.keysets }

// APIKeys implements auth.Store.
func (e *Engine) APIKeys() *APIKeys { return e.apiKeys }

// Imports implements importer.Uploads.
func (e *Engine) Imports() *Imports { return e.imports }

// Sources implements source.Store.
func (e *Engine) Sources() *Sources { return e.sources }

// Segments implements the segment stores.
func (e *Engine) Segments() *Segments { return e.segments }

// Quality implements quality.MonitorStore.
func (e *Engine) Quality() *Quality { return e.quality }

// Forms implements forms.Store.
func (e *Engine) Forms() *Forms { return e.forms }

// Portal implements portal.Store.
func (e *Engine) Portal() *Portal { return e.portal }

// Staff implements staff.Store.
func (e *Engine) Staff() *Staff { return e.staff }

// Name names the engine for operators.
func (e *Engine) Name() string { return e.backend.Name() }

// SetAuditSealer installs the checkpoint signer once the keyset is open; before that (at
// init) entries are linked but not checkpointed and heads are written unsealed. Call
// SealHeads next.
func (e *Engine) SetAuditSealer(s *audit.Sealer) { e.db.sealer.Store(s) }

// SealHeads seals the heads this process wrote before the sealer was installed (at init), or
// found unsealed because it upgraded the database (see Options.UnsealedHeads). Only those:
// a head found unsealed otherwise was written by someone without the key, and stays unsealed
// so that verification keeps naming what it cannot vouch for.
func (e *Engine) SealHeads(ctx context.Context) error { return e.db.sealHeads(ctx) }

// SetDecisionWatcher installs the watcher that hears of changed permission-decision inputs;
// nil removes it.
func (e *Engine) SetDecisionWatcher(w DecisionWatcher) { e.db.setDecisionWatcher(w) }

// DecisionTrust is how long a cached decision may be used without asking the database.
func (e *Engine) DecisionTrust() time.Duration { return e.backend.DecisionTrust() }

// Ping checks that the engine answers, for readiness probes, and that its commits are not
// held up (Dialect.StalledCommits).
func (e *Engine) Ping(ctx context.Context) error {
	if err := e.db.read.PingContext(ctx); err != nil {
		return problem.Wrap(problem.Unavailable, err, "database unavailable")
	}
	if e.db.d.StalledCommits == "" {
		return nil
	}
	var stalled int // how many is not said: the reason stays the same while it lasts
	if err := e.db.read.QueryRowContext(ctx, e.db.d.StalledCommits, StalledCommitWait.Seconds()).Scan(&stalled); err != nil {
		return problem.Wrap(problem.Unavailable, err, "database unavailable")
	}
	if stalled > 0 {
		return problem.New(problem.Unavailable, "commits have waited more than %s for a synchronous standby", StalledCommitWait)
	}
	return nil
}

// Close closes the engine; closing twice is harmless.
func (e *Engine) Close() error { return e.db.Close() }

// SyncAccess moves every audit entry appended on its own into the trail now, for backups and
// tests that copy or read the database files as they are.
func (e *Engine) SyncAccess(ctx context.Context) error { return e.db.syncAccess(ctx) }

// Backup syncs the access log and returns the files of a consistent copy and a function to
// call once they are written (see Backend.Backup).
func (e *Engine) Backup(ctx context.Context, dir string) ([]backup.File, func(), error) {
	if err := e.SyncAccess(ctx); err != nil {
		return nil, nil, err
	}
	return e.backend.Backup(ctx, dir)
}

// Compact see Backend.Compact.
func (e *Engine) Compact(ctx context.Context) error { return e.backend.Compact(ctx) }

// MigrationFileStatus is one database file's migrations and when each was applied.
type MigrationFileStatus struct {
	File   string
	Status []Migration
}

// MigrationStatus lists, for each database file, the migrations and when each was applied.
func (e *Engine) MigrationStatus(ctx context.Context) ([]MigrationFileStatus, error) {
	sets, err := e.backend.Migrations()
	if err != nil {
		return nil, err
	}
	var out []MigrationFileStatus
	for _, s := range sets {
		st, err := MigrationStatus(ctx, e.db.write, s.List, s.Schema)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.File, err)
		}
		out = append(out, MigrationFileStatus{File: s.File, Status: st})
	}
	return out, nil
}

// Write exposes the write pool, for tests that inspect or damage rows directly and for the
// engine package's maintenance.
func (e *Engine) Write() *sql.DB { return e.db.write }

// SearchPostings reads every token's customer numbers from search_tokens' blocks: what tests
// and checks read to hold an erasure to leaving no number of the customer behind, since SQL
// cannot look inside a block.
func (e *Engine) SearchPostings(ctx context.Context) (map[int64][]int64, error) {
	rows, err := e.db.write.QueryContext(ctx, `SELECT token, first, n, nums FROM search_tokens ORDER BY token, first`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][]int64{}
	for rows.Next() {
		var tok int64
		var b block
		if err := rows.Scan(&tok, &b.first, &b.n, &b.nums); err != nil {
			return nil, err
		}
		if out[tok], err = b.decode(out[tok]); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

// Read exposes the read pool, for benchmarks that compare against plain queries.
func (e *Engine) Read() *sql.DB { return e.db.read }

// AuditSources are the audit tables' schema prefixes ("" for main), in chain order; the last
// holds the entries appended on their own. Tests that tamper with the trail use them.
func (e *Engine) AuditSources() []string { return e.db.auditSources() }

// CustomerTables lists every table, in every schema Steward uses, that has a customer_id
// column, plus customers itself and search_tokens (whose rows name a customer's search
// number): what the rights registry must cover.
func (e *Engine) CustomerTables(ctx context.Context) ([]string, error) {
	return e.db.customerTables(ctx, e.backend.CustomerTablesSQL())
}

// Loyalty is the loyalty programme's repository.
func (e *Engine) Loyalty() *Loyalty { return &Loyalty{e.db} }
