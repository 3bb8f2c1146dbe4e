package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/stewardhq/steward/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options locate what backups need besides the database.
type Options struct {
	// Bin is the directory of pg_dump and pg_restore; empty looks them up (see Tool).
	Bin string
}

// Open connects to url and migrates the schema.
func Open(ctx context.Context, url string, opts Options) (*store.Engine, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	ms, err := Migrations()
	if err != nil {
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
	if err != nil {
		db.Close()
		return nil, err
	}
	return store.New(ctx, store.Options{Dialect: Dialect, Write: db, Read: db, Backend: &backend{url: url, bin: opts.Bin},
		UnsealedHeads: unsealed})
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
	Name:        Name,
	ForUpdate:   " FOR UPDATE",
	SkipLocked:  " FOR UPDATE SKIP LOCKED",
	AuditChains: 8,
	JSONTable:   "jsonb_array_elements_text($%d::jsonb) AS j(value)",
	IsUnique:    func(err error) bool { return code(err) == "23505" },
	IsRetryable: func(err error) bool { c := code(err); return c == "40001" || c == "40P01" },
}
