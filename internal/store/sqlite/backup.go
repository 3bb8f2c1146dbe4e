package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"modernc.org/sqlite"
)

// Snapshot copies the database file at path to dst with SQLite's online backup API: a
// consistent copy taken in one read transaction, while writers carry on (WAL mode). Call it
// for the main file and for the access trail file (AccessPath): each holds its own audit
// chains, so each copy is consistent on its own.
func Snapshot(ctx context.Context, path, dst string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		b, ok := dc.(interface {
			NewBackup(string) (*sqlite.Backup, error)
		})
		if !ok {
			return fmt.Errorf("snapshot: driver has no backup API")
		}
		bk, err := b.NewBackup(dst)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", path, err)
		}
		for {
			more, err := bk.Step(-1)
			if err != nil {
				_ = bk.Finish()
				return fmt.Errorf("snapshot %s: %w", path, err)
			}
			if !more {
				break
			}
		}
		return bk.Finish()
	})
}
