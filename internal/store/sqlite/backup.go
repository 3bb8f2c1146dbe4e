package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"modernc.org/sqlite"
)

// Snapshot copies the database file at path to dst with SQLite's online backup API: a
// consistent copy taken in one read transaction, while writers carry on (WAL mode). It is the
// plain online backup that backups are measured against; backups themselves stream pages
// (see PageSnapshot).
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

// PageSnapshot is a consistent image of a database file, read page by page through SQLite
// inside one read transaction, so that a backup can stream it straight into its encrypted
// file. The backup API would first write a copy to disk, which the backup then read back:
// that copy was most of a backup's extra time over a plain online backup. Writers carry on
// meanwhile (WAL mode); checkpoints do not overwrite the pages this snapshot still needs.
type PageSnapshot struct {
	db    *sql.DB
	tx    *sql.Tx
	pages int64
	// Size is the image's length in bytes.
	Size int64
}

// OpenPageSnapshot starts a read transaction on the database at path and sizes its image.
// Close it when done.
func OpenPageSnapshot(ctx context.Context, path string) (*PageSnapshot, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)&_pragma=cache_size(-2048)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	s := &PageSnapshot{db: db}
	if s.tx, err = db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}); err != nil {
		db.Close()
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	// The first read starts the transaction's snapshot; the pages read later belong to it.
	var pageSize int64
	if err := s.tx.QueryRowContext(ctx, `SELECT page_count, page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&s.pages, &pageSize); err != nil {
		s.Close()
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	s.Size = s.pages * pageSize
	return s, nil
}

// WriteTo writes the image: every page, in order.
func (s *PageSnapshot) WriteTo(ctx context.Context, w io.Writer) (int64, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT pgno, data FROM sqlite_dbpage`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var written, want int64 = 0, 1
	for rows.Next() {
		var pgno int64
		var data sql.RawBytes
		if err := rows.Scan(&pgno, &data); err != nil {
			return written, err
		}
		if pgno != want {
			return written, fmt.Errorf("snapshot: page %d where page %d was expected", pgno, want)
		}
		want++
		n, err := w.Write(data)
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
	if err := rows.Err(); err != nil {
		return written, err
	}
	if want-1 != s.pages {
		return written, fmt.Errorf("snapshot: %d pages read of %d", want-1, s.pages)
	}
	return written, nil
}

// Close ends the read transaction.
func (s *PageSnapshot) Close() error {
	if s.tx != nil {
		_ = s.tx.Rollback()
	}
	return s.db.Close()
}
