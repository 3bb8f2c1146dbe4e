package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver

	"github.com/stewardhq/steward/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options locate what backups need besides the database.
type Options struct {
	// Bin is the directory of pg_dump and pg_restore; empty looks them up (see Tool).
	Bin string
}

// A node's connections: writeConns for write transactions, readConns for reads. Reads have
// a pool of their own because a write waiting for a row lock holds its connection while it
// waits, and some write transactions read outside themselves what is committed (ingest reads
// the consent decisions of the customers it merges): sharing one pool, enough writers
// waiting on such a transaction's locks could hold every connection while it waits for one
// more, and neither would ever move. A plain read waits for no row lock, so its pool always
// frees up. A node therefore opens at most writeConns + readConns connections (see
// docs/cluster.md for max_connections).
const (
	writeConns = 16
	readConns  = 12
)

// Open connects to url and migrates the schema.
func Open(ctx context.Context, url string, opts Options) (*store.Engine, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(writeConns)
	db.SetMaxIdleConns(writeConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	read, err := sql.Open("pgx", url)
	if err != nil {
		db.Close()
		return nil, err
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	ms, err := Migrations()
	if err != nil {
		db.Close()
		read.Close()
		return nil, err
	}
	// The exclusive table lock makes nodes that start together apply each migration once; it
	// is taken only at start, never on a hot path.
	// A node that finds the database from before sealed audit heads seals them once it holds
	// the keyset (Engine.SealHeads); nodes starting with it may do so too, which is harmless.
	unsealed, err := store.Upgrading(ctx, db, store.SealedHeadsVersion)
	if err == nil {
		err = store.Migrate(ctx, db, ms, `LOCK TABLE schema_migrations IN EXCLUSIVE MODE`)
	}
	if err == nil {
		err = ensurePartitions(ctx, db, time.Now())
	}
	if err != nil {
		db.Close()
		read.Close()
		return nil, err
	}
	return store.New(ctx, store.Options{Dialect: Dialect, Write: db, Read: read, Backend: &backend{url: url, bin: opts.Bin},
		UnsealedHeads: unsealed, GroupAccess: true,
		Extend: func(context.Context, store.Core) (store.Extension, error) {
			return store.Extension{Close: []func() error{keepStatistics(db, statisticsEvery)}}, nil
		}})
}

// Migrations returns the embedded migrations.
func Migrations() ([]store.Migration, error) { return store.Migrations(migrations, "migrations") }

func code(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Name is the engine's name in logs and backup headers.
const Name = "postgres"

// Dialect is PostgreSQL's.
var Dialect = store.Dialect{
	Name:          Name,
	ForUpdate:     " FOR UPDATE",
	SkipLocked:    " FOR UPDATE SKIP LOCKED",
	AuditChains:   8,
	JSONTable:     "jsonb_array_elements_text($%d::jsonb) AS j(value)",
	ClaimLocks:    `SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT CAST(j.value AS BIGINT) AS k FROM jsonb_array_elements_text($1::jsonb) AS j(value)) t ORDER BY k`,
	IsUnique:      func(err error) bool { return code(err) == "23505" },
	IsRetryable:   func(err error) bool { c := code(err); return c == "40001" || c == "40P01" },
	IsUnavailable: unavailable,
	PurgeEvents:   purgeEvents,
	EventMonths:   eventMonths,
	CopyRows:      copyRows,
	Snapshots:     true,
	PlanEach:      pgx.QueryExecModeExec,
	// A commit waiting for the synchronous standby shows as wait event SyncRep; the commit
	// is its own statement, so query_start is when it began to wait, give or take the
	// flush of its WAL. Sessions of the same user are visible to it in full, and every
	// node connects as the same user.
	StalledCommits: `SELECT COUNT(*) FROM pg_stat_activity WHERE usename = current_user AND wait_event = 'SyncRep'
		AND query_start < now() - make_interval(secs => $1)`,
}

// unavailable reports a failure of the connection rather than of the statement: the server
// could not be reached, went away mid-statement, is shutting down or starting up, or is a
// standby that cannot take writes (the moment of a failover, before the node reconnects to the
// promoted server).
func unavailable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, sql.ErrConnDone), pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return true
	}
	c := code(err)
	// Class 08 is connection exceptions; 57P01-57P03 an administrator's shutdown, a crash
	// shutdown and "cannot connect now"; 25006 a write sent to a read-only server; 53300 too
	// many connections.
	return strings.HasPrefix(c, "08") || c == "57P01" || c == "57P02" || c == "57P03" || c == "25006" || c == "53300"
}

// copyRows implements store.Dialect.CopyRows with COPY over the transaction's connection.
func copyRows(ctx context.Context, conn *sql.Conn, table string, cols []string, rows [][]any) error {
	return conn.Raw(func(dc any) error {
		_, err := dc.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
		return err
	})
}
