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
//
// With scratch, the copy is a working file that is read once and deleted (the backup command
// encrypts it into the real backup, which it syncs): SQLite then keeps no journal for it and
// never syncs it, which saves a third of a backup's time.
func Snapshot(ctx context.Context, path, dst string, scratch bool) error {
	if scratch {
		dst = "file:" + dst + "?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-1024)"
	}
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
