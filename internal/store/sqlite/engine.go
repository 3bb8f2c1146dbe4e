package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/stewardhq/steward/internal/backup"
	"github.com/stewardhq/steward/internal/store"
)

// backend is SQLite's store.Backend: the database and access trail files at path.
type backend struct {
	path  string
	write *sql.DB
}

func (b *backend) Name() string { return Name }

// Migrations lists the main file's migrations and the access trail file's: each file records
// its own.
func (b *backend) Migrations() ([]store.MigrationSet, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	acc, err := AccessMigrations()
	if err != nil {
		return nil, err
	}
	return []store.MigrationSet{{File: filepath.Base(b.path), List: ms},
		{File: filepath.Base(AccessPath(b.path)), Schema: accessSchema, List: acc}}, nil
}

// Backup images both files, each read page by page inside a read transaction of its own and
// streamed into the backup; each holds its own audit chains, so each image is consistent on
// its own. The main file's snapshot is taken first, and the order matters: its heads and
// checkpoints anchor the access trail as committed before them, which the access image,
// taken after, therefore holds. The journals of every process serving meanwhile follow, whose latest reads are not
// linked yet: a restore replays each from the point the restored trail records it linked to,
// so every entry lands there once. The files are named as Restore expects them.
func (b *backend) Backup(ctx context.Context, _ string) ([]backup.File, func(), error) {
	var files []backup.File
	var snaps []*PageSnapshot
	done := func() {
		for _, s := range snaps {
			s.Close()
		}
	}
	for _, f := range []backup.File{{Name: backupMain, Path: b.path}, {Name: backupAccess, Path: AccessPath(b.path)}} {
		snap, err := OpenPageSnapshot(ctx, f.Path)
		if err != nil {
			done()
			return nil, nil, err
		}
		snaps = append(snaps, snap)
		files = append(files, backup.File{Name: f.Name, Size: snap.Size, Stream: func(w io.Writer) error {
			_, err := snap.WriteTo(ctx, w)
			return err
		}})
	}
	journals, err := JournalFiles(b.path)
	if err != nil {
		done()
		return nil, nil, fmt.Errorf("backup: %w", err)
	}
	for _, p := range journals {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue // wholly linked and deleted meanwhile: its entries are in the images
		}
		if err != nil {
			done()
			return nil, nil, fmt.Errorf("backup: %w", err)
		}
		files = append(files, backup.File{Name: filepath.Base(p), Size: int64(len(data)), Stream: func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}})
	}
	return files, done, nil
}

// Compact rebuilds the file so the pages that held erased customers' rows are gone, not just
// marked free, then folds the WAL in.
func (b *backend) Compact(ctx context.Context) error {
	if _, err := b.write.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return checkpoint(ctx, b.write)
}

// Forget checkpoints both files and truncates their write-ahead logs. The writer deletes with
// secure_delete, so the pages it writes hold zeros where an erased row was, but the WAL
// still holds the frames written before the deletion, the row's old page images among them,
// until it is reset. A TRUNCATE checkpoint copies the zeroed pages into the database files
// and cuts the WAL to nothing. It must wait for readers still on an older snapshot, holding
// the writer meanwhile, so it waits at most forgetWait rather than the usual busy timeout,
// and fails when a reader stays (a backup's long read, say): asking again later finishes it.
func (b *backend) Forget(ctx context.Context) error {
	conn, err := b.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, forgetWait.Milliseconds())); err != nil {
		return err
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA busy_timeout = %d`, busyTimeoutMS))
	}()
	for _, schema := range []string{"main", accessSchema} {
		var busy, logFrames, done int
		if err := conn.QueryRowContext(ctx, `PRAGMA `+schema+`.wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
			return fmt.Errorf("checkpoint %s: %w", schema, err)
		}
		if busy != 0 {
			return fmt.Errorf("checkpoint %s: a reader holds the write-ahead log", schema)
		}
	}
	return nil
}

// forgetWait is how long Forget waits for readers on an older snapshot; every write waits
// as long behind it.
const forgetWait = time.Second

// decisionTrust is how long the decision cache uses an entry without comparing it with the
// database. Writes made through this process drop entries at once; the comparison only
// catches another process writing the same file (a command run against a serving data
// directory), which is seen within this time.
const decisionTrust = time.Second

func (b *backend) DecisionTrust() time.Duration { return decisionTrust }

func (b *backend) CustomerTablesSQL() string {
	return `SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c WHERE m.type = 'table' AND c.name = 'customer_id'` +
		` UNION SELECT m.name FROM ` + accessSchema + `.sqlite_master m JOIN pragma_table_info(m.name, '` + accessSchema + `') c WHERE m.type = 'table' AND c.name = 'customer_id'`
}

// The names of the two database files inside a backup.
const (
	backupMain   = "steward.db"
	backupAccess = "steward-access.db"
)

// Restore puts the database files of a backup unpacked into staging in place of those of the
// database at path. The replaced files are moved into a hidden directory beside them until
// the caller knows how the restore went: undo puts them back, discard deletes them. No copy
// of the replaced database outlives a restore that succeeded: it would hold customers
// erased after the restore, out of the erasure ledger's reach. The replaced installation's
// journals go aside with its files; the backup's come in. Steward must not be serving the
// database meanwhile.
func Restore(path, staging string) (undo, discard func() error, err error) {
	dir := filepath.Dir(path)
	kept, err := os.MkdirTemp(dir, ".pre-restore-")
	if err != nil {
		return nil, nil, fmt.Errorf("restore: %w", err)
	}
	main, acc := filepath.Base(path), filepath.Base(AccessPath(path))
	names := []string{main, main + "-wal", main + "-shm", acc, acc + "-wal", acc + "-shm"}
	for _, p := range []string{path, filepath.Join(staging, backupMain)} {
		js, err := JournalFiles(p)
		if err != nil {
			return nil, nil, fmt.Errorf("restore: %w", err)
		}
		for _, j := range js {
			names = append(names, filepath.Base(j))
		}
	}
	var moved []string
	undo = func() error {
		var errs []error
		for _, n := range names {
			_ = os.Remove(filepath.Join(dir, n))
		}
		for _, n := range moved {
			errs = append(errs, os.Rename(filepath.Join(kept, n), filepath.Join(dir, n)))
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		return os.Remove(kept)
	}
	for _, n := range names {
		err := os.Rename(filepath.Join(dir, n), filepath.Join(kept, n))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			_ = undo()
			return nil, nil, fmt.Errorf("restore: %w", err)
		}
		moved = append(moved, n)
	}
	restored := map[string]string{backupMain: main, backupAccess: acc}
	js, err := JournalFiles(filepath.Join(staging, backupMain))
	if err != nil {
		_ = undo()
		return nil, nil, fmt.Errorf("restore: %w", err)
	}
	for _, j := range js {
		restored[filepath.Base(j)] = filepath.Base(j)
	}
	for from, to := range restored {
		if err := os.Rename(filepath.Join(staging, from), filepath.Join(dir, to)); err != nil {
			_ = undo()
			return nil, nil, fmt.Errorf("restore: %w", err)
		}
	}
	discard = func() error { return os.RemoveAll(kept) }
	return undo, discard, nil
}
