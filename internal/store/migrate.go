package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migration is one numbered, forward-only schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
	Applied time.Time // zero when pending
}

// Migrations reads NNNN_name.sql files from dir in fsys, in order.
func Migrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		b, err := fs.ReadFile(fsys, dir+"/"+name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: rest, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	// Versions are unique and ascending. A gap is allowed because features developed side by
	// side reserve their numbers up front (imports took 6 while 5 was still being written), and
	// each migration is recorded and applied by its own version, so the one filling the gap is
	// applied when it arrives.
	for i, m := range out {
		if m.Version < 1 || i > 0 && m.Version == out[i-1].Version {
			return nil, fmt.Errorf("migration %d: versions must be unique positive numbers", m.Version)
		}
	}
	return out, nil
}

// Migrate applies the pending migrations, each in its own transaction with its bookkeeping
// row, so a crash never leaves half a migration. lock, if not empty, is run first in each
// transaction so that several nodes starting at once apply each migration exactly once.
func Migrate(ctx context.Context, db *sql.DB, ms []Migration, lock string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := applyOne(ctx, db, m, lock); err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// Upgrading reports whether db was migrated before but not yet to version: an existing
// installation about to take that migration, which some migrations need to know (see
// Options.UnsealedHeads).
func Upgrading(ctx context.Context, db *sql.DB, version int) (bool, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return false, fmt.Errorf("create schema_migrations: %w", err)
	}
	var n, has int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(CASE WHEN version = $1 THEN 1 END) FROM schema_migrations`, version).
		Scan(&n, &has); err != nil {
		return false, err
	}
	return n > 0 && has == 0, nil
}

// SealedHeadsVersion is the migration that adds sealed audit heads, on both engines.
const SealedHeadsVersion = 10

func applyOne(ctx context.Context, db *sql.DB, m Migration, lock string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if lock != "" {
		if _, err := tx.ExecContext(ctx, lock); err != nil {
			return err
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.Version, m.Name, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

// MigrationStatus returns every known migration with its applied time, if applied. schema
// names an attached database ("" for the main one) whose migrations to read.
func MigrationStatus(ctx context.Context, db *sql.DB, ms []Migration, schema string) ([]Migration, error) {
	if schema != "" {
		schema += "."
	}
	rows, err := db.QueryContext(ctx, `SELECT version, applied_at FROM `+schema+`schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[int]time.Time{}
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			return nil, err
		}
		applied[v] = time.UnixMicro(at).UTC()
	}
	out := append([]Migration(nil), ms...)
	for i := range out {
		out[i].Applied = applied[out[i].Version]
	}
	return out, rows.Err()
}
