package postgres

import (
	"context"
	"path/filepath"
	"time"

	"github.com/stewardhq/steward/internal/backup"
	"github.com/stewardhq/steward/internal/store"
)

// backend is PostgreSQL's store.Backend.
type backend struct {
	url, bin string
}

func (b *backend) Name() string { return Name }

func (b *backend) Migrations() ([]store.MigrationSet, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	return []store.MigrationSet{{File: "database", List: ms}}, nil
}

// Backup dumps the database into dir (see Dump).
func (b *backend) Backup(ctx context.Context, dir string) ([]backup.File, func(), error) {
	dst := filepath.Join(dir, backupDump)
	if err := Dump(ctx, b.bin, b.url, dst); err != nil {
		return nil, nil, err
	}
	return []backup.File{{Name: backupDump, Path: dst}}, func() {}, nil
}

// Compact does nothing: a restore loads the dump into fresh tables, which hold no pages of
// rows erased since.
func (b *backend) Compact(context.Context) error { return nil }

// Forget does nothing: the deleted row versions stay in the table's pages until VACUUM
// reuses them and in the server's WAL segments until they are recycled, which Steward does
// not control (docs/security.md says so).
func (b *backend) Forget(context.Context) error { return nil }

// DecisionTrust is zero: every check compares its cached entry's change counter with the
// database's, one indexed read, because other nodes may have changed it a moment ago. That
// keeps "withdrawal takes effect on the very next check" true across nodes and needs no
// notification channel, which distributed PostgreSQL-compatible engines lack.
func (b *backend) DecisionTrust() time.Duration { return 0 }

func (b *backend) CustomerTablesSQL() string {
	// A partition (a month of events) is part of its table, not a table of its own.
	return `SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'customer_id' AND table_schema = current_schema()
		AND table_name NOT IN (SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid)`
}

// backupDump is the dump's name inside a backup.
const backupDump = "steward.pgdump"

// RestoreBackup replaces the database at url with the dump of a backup unpacked into staging.
func RestoreBackup(ctx context.Context, binDir, url, staging string) error {
	return Restore(ctx, binDir, url, filepath.Join(staging, backupDump))
}
