// Package sqlite opens Steward's embedded database: a SQLite file in the data directory, in
// WAL mode, with one writer connection and a pool of readers.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

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
// file next to it (see store.Dialect.AccessSchema), which every connection attaches.
func Open(ctx context.Context, path string, opts Options) (*store.DB, error) {
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
	// Then a 64 MiB page cache per connection, so hot pages are not fetched with a system
	// call each time. (Memory-mapped reads measured slower here: page faults cost more than
	// reads.)
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(" + sync + ")&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)"
	dsn := "file:" + path + "?" + pragmas
	accessPath := AccessPath(path)
	if err := migrateAccess(ctx, "file:"+accessPath+"?"+pragmas); err != nil {
		return nil, fmt.Errorf("access trail: %w", err)
	}
	drv := &sqlite.Driver{}
	drv.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, _ string) error {
		return attachAccess(ctx, conn, accessPath, sync)
	})
	open := func(dsn string) *sql.DB { return sql.OpenDB(connector{drv, dsn}) }

	// The writer checkpoints as SQLite does by default, once the WAL holds 1,000 pages. A
	// background checkpointer was measured: it saved the writer a little copying, but it could
	// never catch up with a steady stream of writes (so the WAL grew without bound), and its
	// extra file syncs stalled the writer's own writes.
	//
	// The writer also overwrites deleted content (secure_delete): erasing a customer deletes
	// their wrapped data key, and crypto-shredding only holds if those bytes do not linger in
	// a page's free space for a later copy of the file to recover.
	write := open(dsn + "&_txlock=immediate&_pragma=secure_delete(ON)")
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	read := open(dsn + "&_pragma=query_only(1)")
	n := max(4, runtime.GOMAXPROCS(0)*2)
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx, write, ms, ""); err != nil {
		write.Close()
		read.Close()
		return nil, err
	}
	db, err := store.New(ctx, write, read, Dialect)
	if err != nil {
		return nil, err
	}
	// Bulk reads (a permission check of 100,000 customers) get two connections with a 2 MiB
	// page cache: they read each page once, and a large cache only adds the cost of filling
	// it and of emptying it after the next write.
	bulk, err := sql.Open("sqlite", strings.Replace(dsn, "cache_size(-65536)", "cache_size(-2048)", 1)+"&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, err
	}
	bulk.SetMaxOpenConns(1)
	bulk.SetMaxIdleConns(1)
	db.SetBulkReader(bulk)
	return db, nil
}

// accessSchema is the name the access trail file is attached under.
const accessSchema = "access"

// attachAccess attaches the access trail to a new connection, with the main file's settings.
func attachAccess(ctx context.Context, conn sqlite.ExecQuerierContext, path, sync string) error {
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE $1 AS `+accessSchema, []driver.NamedValue{{Ordinal: 1, Value: path}}); err != nil {
		return fmt.Errorf("attach access trail: %w", err)
	}
	for _, p := range []string{"synchronous = " + sync, "cache_size = -16384"} {
		if _, err := conn.ExecContext(ctx, `PRAGMA `+accessSchema+`.`+p, nil); err != nil {
			return fmt.Errorf("access trail: %w", err)
		}
	}
	return nil
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
	ms, err := store.Migrations(access, "access")
	if err != nil {
		return err
	}
	return store.Migrate(ctx, db, ms, "")
}

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
	Name:         "sqlite",
	AuditChains:  1,
	AccessSchema: accessSchema,
	GroupCommit:  true,
	JSONTable:    "json_each($%d) AS j",
	CustomerPK:   " INDEXED BY sqlite_autoindex_customers_1",
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

// Checkpoint moves the WAL into the main file and truncates it, for backups and tests that
// inspect the files.
func Checkpoint(ctx context.Context, db *store.DB) error {
	if _, err := db.Write().ExecContext(ctx, `PRAGMA main.wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	_, err := db.Write().ExecContext(ctx, `PRAGMA `+accessSchema+`.wal_checkpoint(TRUNCATE)`)
	return err
}
