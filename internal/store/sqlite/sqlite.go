package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/stewardhq/steward/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed access/*.sql
var access embed.FS

// Options tune durability against speed.
type Options struct {
	// Synchronous is "NORMAL" (default: in WAL mode a commit survives a crash of Steward but
	// the last commits may be lost if the machine loses power) or "FULL" (every commit is
	// fsynced, about ten times slower on ordinary disks).
	Synchronous string
}

// AccessPath is the file next to the main database that holds the access trail.
func AccessPath(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + "-access.db"
}

// Open opens (creating if needed) and migrates the database at path, and the access trail
// file next to it (see store.Options.AccessSchema), which every connection attaches.
func Open(ctx context.Context, path string, opts Options) (*store.Engine, error) {
	sync := strings.ToUpper(opts.Synchronous)
	if sync == "" {
		sync = "NORMAL"
	}
	if sync != "NORMAL" && sync != "FULL" {
		return nil, fmt.Errorf("sqlite synchronous must be NORMAL or FULL")
	}
	// Pragmas in order: busy_timeout first, so every later statement waits for a lock rather
	// than failing; then WAL, so readers never block the writer; then foreign keys, which
	// SQLite leaves off by default; then synchronous, which only means what we want in WAL.
	// Then a 64 MiB page cache for the writer, so hot pages are not fetched with a system
	// call each time; readers take 16 MiB each (below). (Memory-mapped reads measured slower
	// here: page faults cost more than reads.)
	pragmas := "_pragma=busy_timeout(" + strconv.Itoa(busyTimeoutMS) + ")&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(" + sync + ")&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)"
	dsn := "file:" + path + "?" + pragmas
	accessPath := AccessPath(path)
	for _, p := range []string{path, accessPath} {
		if err := createPrivate(p); err != nil {
			return nil, err
		}
	}
	// The access trail's migrations may rebuild an index of millions of entries: they sort in
	// temporary files, with a small cache (SQLite sorts as much in memory as the cache holds).
	// Sorting in memory took 418 MB to upgrade a trail of two million entries.
	migrating := strings.NewReplacer("temp_store(MEMORY)", "temp_store(FILE)", "cache_size(-65536)", "cache_size(-16384)").Replace(pragmas)
	if err := migrateAccess(ctx, "file:"+accessPath+"?"+migrating); err != nil {
		return nil, fmt.Errorf("access trail: %w", err)
	}
	drv := &sqlite.Driver{}
	drv.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, dsn string) error {
		return attachAccess(ctx, conn, accessPath, sync, strings.Contains(dsn, writerMark))
	})
	open := func(dsn string) *sql.DB { return sql.OpenDB(connector{drv, dsn}) }

	// The writer does not checkpoint by itself: a checkpoint copies the WAL's pages into the
	// database and syncs both files, and every writer queued behind it waits (up to a second
	// on slow disks). A background connection does the copying and syncing; the writer then
	// only catches up on its newest frames, so that the WAL can restart from its beginning
	// (see checkpointer).
	//
	write := open(dsn + writerMark + "&_pragma=secure_delete(ON)&_pragma=wal_autocheckpoint(0)")
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	// Readers keep 16 MiB of pages each: a write empties a reader's cache of the database it
	// changed before the reader's next transaction anyway, and the pages come back from the
	// system's file cache. Four readers of 64 MiB were most of a server's 585 MiB at a million
	// customers; with 16, look-ups there took as long and searches up to a fifth longer.
	read := open(strings.Replace(dsn, "cache_size(-65536)", "cache_size(-16384)", 1) + "&_pragma=query_only(1)")
	n := max(4, runtime.GOMAXPROCS(0)*2)
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	unsealed, err := store.Upgrading(ctx, write, store.SealedHeadsVersion)
	if err == nil {
		err = store.Migrate(ctx, write, ms, "")
	}
	if err != nil {
		write.Close()
		read.Close()
		return nil, err
	}
	// Bulk reads (a permission check of 100,000 customers) get a connection with a 2 MiB page
	// cache: they read each page once, and a large cache only adds the cost of filling it and
	// of emptying it after the next write.
	bulk, err := sql.Open("sqlite", strings.Replace(dsn, "cache_size(-65536)", "cache_size(-2048)", 1)+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		read.Close()
		return nil, err
	}
	bulk.SetMaxOpenConns(1)
	bulk.SetMaxIdleConns(1)
	b := &backend{path: path, write: write}
	return store.New(ctx, store.Options{
		Dialect: Dialect, Write: write, Read: read, Bulk: bulk, Backend: b,
		SQL: &statements{}, AccessSchema: accessSchema, AccessBlockBits: accessBlockBits,
		AccessBlockIndex: accessBlockIndex, UnsealedHeads: unsealed,
		Extend: func(ctx context.Context, core store.Core) (store.Extension, error) {
			return extend(ctx, core, write, read, open(dsn), path, sync == "FULL")
		},
	})
}

// extend starts what SQLite adds to the core: the group-commit writer, the background
// checkpointer it paces and the access journal. They close in the reverse order: the journal
// first, while the writer still runs to link its last entries.
func extend(ctx context.Context, core store.Core, write, read, ckpt *sql.DB, path string, full bool) (store.Extension, error) {
	g, err := startGroupCommit(ctx, write, core, isConstraint)
	if err != nil {
		ckpt.Close()
		return store.Extension{}, err
	}
	ckpt.SetMaxOpenConns(1)
	c := newCheckpointer(g, ckpt, path, AccessPath(path))
	c.start()
	j, err := openAccessJournal(ctx, core, g, write, read, journalPrefix(path), full)
	if err != nil {
		_ = c.stop()
		_ = g.stop()
		return store.Extension{}, err
	}
	return store.Extension{Writer: g, Access: j, Close: []func() error{j.close, c.stop, g.stop}}, nil
}

// checkpointCommits is how many commits pass between background checkpoints: at a few pages
// per commit, about as often as SQLite's own automatic checkpoint (1,000 pages).
const checkpointCommits = 256

// checkpointBytes is how much a database's WAL may take before a checkpoint falls due, however
// few the commits. An ingest batch or a flush of the access journal writes hundreds of pages
// in one commit: counting commits alone, the 256 flushes of a minute at 1,000 look-ups a
// second let the access trail's WAL reach a quarter of a gigabyte (229 MB was found after the
// look-up benchmarks), every page then copied in one burst. 64 MiB leaves the commit count in
// charge of ordinary writes (a run of webhook deliveries moved within the noise; at 16 MiB it
// lost 7–15% on disk to the extra rounds). A variable so that tests can lower it.
var checkpointBytes int64 = 64 << 20

// checkpointLook is how many commits pass between looks at the WALs' lengths (a read of each
// wal-index header, on the writer's goroutine).
const checkpointLook = 16

// checkpointer copies the WAL into the database files on its own connection whenever the
// writer has committed checkpointCommits times, then asks the writer to catch up on the few
// frames committed meanwhile. A passive checkpoint never blocks the writer or readers, but it
// cannot copy frames written while it runs; only the writer, between its transactions, can
// finish the job so that the WAL restarts instead of growing. Its catch-up is short because
// the bulk is already copied.
type checkpointer struct {
	db      *sql.DB
	due     chan struct{} // a round is due (see falls)
	catchUp *atomic.Bool  // set: the writer runs its catch-up before its next transaction
	// dbs are the databases whose WAL length also makes a round due; commits (since the last
	// round fell due) and base (each WAL's length then, in bytes) are the writer's alone.
	dbs     []string
	commits int
	base    []int64
	// copied, when set, runs between a round's copy and its request for the catch-up: tests
	// commit there what a busy writer commits while the copy runs.
	copied     func()
	quit, done chan struct{}
}

// newCheckpointer installs the checkpointer's hooks in g's writer, a round falling due after
// checkpointCommits commits or once the WAL of one of the databases dbs has taken
// checkpointBytes more; start runs its rounds.
func newCheckpointer(g *groupCommit, ckpt *sql.DB, dbs ...string) *checkpointer {
	c := &checkpointer{db: ckpt, due: make(chan struct{}, 1), catchUp: new(atomic.Bool),
		dbs: dbs, base: make([]int64, len(dbs)), quit: make(chan struct{}), done: make(chan struct{})}
	g.hooks.Store(&writerHooks{
		Every:      checkpointLook,
		OnCommits:  c.falls,
		Between:    c.catchUp,
		BetweenSQL: `PRAGMA wal_checkpoint(PASSIVE)`,
	})
	return c
}

// falls runs on the writer every checkpointLook commits and signals a round when enough
// commits have passed, or a WAL has taken checkpointBytes more than when the last round fell
// due (counted from its beginning again once it restarted).
func (c *checkpointer) falls() {
	c.commits += checkpointLook
	due := c.commits >= checkpointCommits
	lens := make([]int64, len(c.dbs))
	for i, db := range c.dbs {
		lens[i] = walLength(db)
		if lens[i] < c.base[i] {
			c.base[i] = 0 // restarted
		}
		due = due || lens[i]-c.base[i] >= checkpointBytes
	}
	if !due {
		return
	}
	c.commits, c.base = 0, lens
	select {
	case c.due <- struct{}{}:
	default: // one is already due
	}
}

// walLength is how many bytes of the WAL of the database at path hold frames, from the
// wal-index header in its -shm file (SQLite's documented WAL format: the last valid frame at
// offset 16 and the page size at offset 14, in native byte order); 0 if it cannot be read. The
// WAL file's own size does not say: a restarted WAL is written again from its beginning.
func walLength(path string) int64 {
	f, err := os.Open(path + "-shm")
	if err != nil {
		return 0
	}
	defer f.Close()
	var hdr [20]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return 0
	}
	page := int64(binary.NativeEndian.Uint16(hdr[14:16]))
	if page == 1 {
		page = 65536
	}
	return int64(binary.NativeEndian.Uint32(hdr[16:20])) * (page + 24)
}

// round copies what the WAL holds, then asks the writer to finish.
func (c *checkpointer) round() {
	// A busy or failed round only leaves more for the next one.
	_, _ = c.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
	if c.copied != nil {
		c.copied()
	}
	// A round that fell due while this one ran would start at once and collide with the
	// writer's catch-up, leaving the WAL unfinished again: drop it.
	select {
	case <-c.due:
	default:
	}
	c.catchUp.Store(true)
}

// start runs a round whenever one is due, until stop.
func (c *checkpointer) start() {
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.quit:
				return
			case <-c.due:
				c.round()
			}
		}
	}()
}

// stop ends the rounds and closes the checkpointer's connection.
func (c *checkpointer) stop() error {
	close(c.quit)
	<-c.done
	return c.db.Close()
}

// busyTimeoutMS is how long a statement waits for a lock before it fails.
const busyTimeoutMS = 10000

// accessSchema is the name the access trail file is attached under.
const accessSchema = "access"

// writerMark is in the writer's connection string only.
const writerMark = "&_txlock=immediate"

// JournalFiles lists the access journal files next to the database at path (see
// accessJournal), of every process.
func JournalFiles(path string) ([]string, error) { return journalFiles(journalPrefix(path)) }

// journalPrefix is where the access journal files of the database at path start: the access
// trail's path without its extension.
func journalPrefix(path string) string {
	acc := AccessPath(path)
	return strings.TrimSuffix(acc, filepath.Ext(acc))
}

// attachAccess attaches the access trail to a new connection, with the main file's settings.
// Readers seldom read the trail and get a small cache for it. The writer inserts every
// entry, each into a random leaf of the trail's customer index: its cache is as large as
// the main file's, or most inserts would first read their leaf back from the file.
func attachAccess(ctx context.Context, conn sqlite.ExecQuerierContext, path, sync string, writer bool) error {
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE $1 AS `+accessSchema, []driver.NamedValue{{Ordinal: 1, Value: path}}); err != nil {
		return fmt.Errorf("attach access trail: %w", err)
	}
	cache := "cache_size = -16384"
	if writer {
		cache = "cache_size = -65536"
	}
	for _, p := range []string{"synchronous = " + sync, cache} {
		if _, err := conn.ExecContext(ctx, `PRAGMA `+accessSchema+`.`+p, nil); err != nil {
			return fmt.Errorf("access trail: %w", err)
		}
	}
	return nil
}

// createPrivate creates the database file at path empty with mode 0600, or makes an existing
// one 0600. SQLite would create it 0644 (less the umask), and it creates the WAL and
// shared-memory files with the database file's mode: a private database file keeps all
// three private.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("make %s private: %w", filepath.Base(path), err)
	}
	return f.Close()
}

// migrateAccess creates or migrates the access trail file on a connection of its own, so its
// migrations are recorded in that file.
func migrateAccess(ctx context.Context, dsn string) error {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ms, err := AccessMigrations()
	if err != nil {
		return err
	}
	return store.Migrate(ctx, db, ms, "")
}

// AccessMigrations returns the embedded migrations of the access trail file, which every
// connection attaches as schema AccessSchema.
func AccessMigrations() ([]store.Migration, error) { return store.Migrations(access, "access") }

// AccessSchema is the schema name the access trail file is attached under.
const AccessSchema = accessSchema

// accessBlockBits is the size of the blocks of entry ids that lead the access trail's index
// by customer, as a power of two (access/0004 says why, and names the same size).
const accessBlockBits = 18

// accessBlockIndex is that index's name.
const accessBlockIndex = "audit_log_customer_block"

// connector opens connections through a driver of Steward's own, so the connection hook that
// attaches the access trail applies to these pools only.
type connector struct {
	drv *sqlite.Driver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

// Migrations returns the embedded migrations.
func Migrations() ([]store.Migration, error) { return store.Migrations(migrations, "migrations") }

// Dialect is SQLite's.
var Dialect = store.Dialect{
	Name:        Name,
	AuditChains: 1,
	JSONTable:   "json_each($%d) AS j",
	// AUTOINCREMENT keeps the highest number given in sqlite_sequence, even once its row is
	// gone, and moves it on when a list is inserted with a higher number.
	ListsNumbered: `SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'search_lists'), 0)`,
	IsUnique: func(err error) bool {
		var e *sqlite.Error
		if errors.As(err, &e) {
			c := e.Code()
			return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
		}
		return false
	},
	IsRetryable: func(err error) bool {
		var e *sqlite.Error
		if errors.As(err, &e) {
			c := e.Code() & 0xff
			return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
		}
		return false
	},
}

// Name is the engine's name in logs and backup headers.
const Name = "sqlite"

// isConstraint reports a violated constraint of any kind. Under group commit a reference
// checked at commit fails the whole transaction, and the writer then runs its writers one by
// one to find whose it was (see groupCommit.run).
func isConstraint(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// checkpoint moves the WAL into the main file and truncates it, for backups and tests that
// inspect the files.
func checkpoint(ctx context.Context, write *sql.DB) error {
	if _, err := write.ExecContext(ctx, `PRAGMA main.wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	_, err := write.ExecContext(ctx, `PRAGMA `+accessSchema+`.wal_checkpoint(TRUNCATE)`)
	return err
}

// Checkpoint moves the WAL of e, an SQLite engine, into the main files and truncates it, for
// tests that inspect the files.
func Checkpoint(ctx context.Context, e *store.Engine) error { return checkpoint(ctx, e.Write()) }
