// Package sqlite opens Steward's embedded database: a SQLite file in the data directory, in
// WAL mode, with one writer connection and a pool of readers.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/stewardhq/steward/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune durability against speed.
type Options struct {
	// Synchronous is "NORMAL" (default: in WAL mode a commit survives a crash of Steward but
	// the last commits may be lost if the machine loses power) or "FULL" (every commit is
	// fsynced, about ten times slower on ordinary disks).
	Synchronous string
}

// Open opens (creating if needed) and migrates the database at path.
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
	// Then a 64 MiB page cache per connection and memory-mapped reads, so hot pages are not
	// fetched with a system call each time.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(" + sync + ")&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)"
	write, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	read, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, err
	}
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

// Migrations returns the embedded migrations.
func Migrations() ([]store.Migration, error) { return store.Migrations(migrations, "migrations") }

// Dialect is SQLite's.
var Dialect = store.Dialect{
	Name:        "sqlite",
	AuditChains: 1,
	GroupCommit: true,
	JSONTable:   "json_each($%d) AS j",
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
	_, err := db.Write().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}
