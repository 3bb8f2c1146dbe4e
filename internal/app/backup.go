package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/backup"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/store/postgres"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// BackupExt is the file extension of scheduled backups.
const BackupExt = ".stwbak"

// Backup writes an encrypted, authenticated backup of the installation to out: an online
// snapshot of both SQLite files (the database and the access trail), or a pg_dump of the
// PostgreSQL database. The file appears under its name only once complete and synced.
func (a *App) Backup(ctx context.Context, out string) (backup.Header, error) {
	// Erasures only the database knows go into the ledger file first, so that a restore of
	// this very backup onto another machine's data directory still honours them.
	if err := a.Rights.SyncLedger(ctx); err != nil {
		return backup.Header{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".steward-backup-")
	if err != nil {
		return backup.Header{}, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	// The engine says what a consistent copy is made of: on SQLite an online image of both
	// files and the journals of every process serving meanwhile, on PostgreSQL a pg_dump.
	files, release, err := a.Store.Backup(ctx, tmp)
	if err != nil {
		return backup.Header{}, err
	}
	defer release()
	partial := out + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return backup.Header{}, fmt.Errorf("backup: %w", err)
	}
	h, err := backup.Write(ctx, f, a.Keys.Root(), a.Store.Name(), files)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(partial, out)
	}
	if err != nil {
		_ = os.Remove(partial)
		return h, fmt.Errorf("backup: %w", err)
	}
	sys := authz.WithActor(ctx, authz.System)
	e := audit.New(sys, "backup.create", "", nil, "")
	e.Target = "backup:" + h.CreatedAt.Format(time.RFC3339)
	return h, a.Store.Audit().AppendAudit(sys, e)
}

// VerifyBackup checks every byte of a backup file with the installation's root key.
func VerifyBackup(ctx context.Context, cfg config.Config, file string) (backup.Header, error) {
	root, err := openRoot(cfg)
	if err != nil {
		return backup.Header{}, err
	}
	f, err := os.Open(file)
	if err != nil {
		return backup.Header{}, err
	}
	defer f.Close()
	return backup.Verify(ctx, f, root)
}

// RestoreReport says what a restore did.
type RestoreReport struct {
	Header   backup.Header
	Replayed int    // erasures replayed from the ledger
	Kept     string // where the replaced database files were moved (SQLite)
	Entries  int64  // audit entries verified
}

// Restore replaces the installation's database with the backup in file, then replays the
// erasure ledger kept outside the database, so nobody erased after the backup was taken comes
// back, and verifies the audit trail. The backup is verified in full before anything is
// replaced; with SQLite, the replaced files are moved to a pre-restore directory and put back
// if the restore fails. Steward must not be serving this data directory meanwhile.
func Restore(ctx context.Context, cfg config.Config, file string, log *slog.Logger) (RestoreReport, error) {
	var rep RestoreReport
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	root, err := openRoot(cfg)
	if err != nil {
		return rep, err
	}
	f, err := os.Open(file)
	if err != nil {
		return rep, err
	}
	defer f.Close()
	staging, err := os.MkdirTemp(cfg.Data, ".restore-")
	if err != nil {
		return rep, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(staging)
	if rep.Header, err = backup.Read(ctx, f, root, staging); err != nil {
		return rep, err
	}
	wantEngine := sqlite.Name
	if cfg.DB != "" {
		wantEngine = postgres.Name
	}
	if rep.Header.Engine != wantEngine {
		return rep, fmt.Errorf("restore: the backup is of a %s installation, this one uses %s", rep.Header.Engine, wantEngine)
	}
	var undo func() error
	if cfg.DB == "" {
		if rep.Kept, undo, err = sqlite.Restore(cfg.SQLitePath(), staging); err != nil {
			return rep, err
		}
	} else if err := postgres.RestoreBackup(ctx, cfg.PGBin, cfg.DB.Reveal(), staging); err != nil {
		return rep, err
	}
	err = replay(ctx, cfg, log, &rep)
	if err != nil && undo != nil {
		if uerr := undo(); uerr != nil {
			return rep, fmt.Errorf("%w (and putting the previous files back failed: %v; they are in %s)", err, uerr, rep.Kept)
		}
		rep.Kept = ""
	}
	return rep, err
}

// replay opens the restored installation and carries out every erasure of the ledger file.
func replay(ctx context.Context, cfg config.Config, log *slog.Logger, rep *RestoreReport) error {
	a, err := Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	sys := authz.WithActor(ctx, authz.System)
	if rep.Replayed, err = a.Rights.Replay(sys); err != nil {
		return fmt.Errorf("replay erasure ledger: %w", err)
	}
	// Pages that held erased customers' rows must be gone from the files, not just marked
	// free.
	if err := a.Store.Compact(ctx); err != nil {
		return err
	}
	vr, err := a.Audit.Verify(ctx)
	if err != nil {
		return fmt.Errorf("restored audit trail: %w", err)
	}
	rep.Entries = int64(vr.Entries)
	e := audit.New(sys, "backup.restore", "", nil, "")
	e.Target = fmt.Sprintf("backup:%s replayed:%d", rep.Header.CreatedAt.Format(time.RFC3339), rep.Replayed)
	return a.Store.Audit().AppendAudit(sys, e)
}

// ScheduledBackup writes a timestamped backup into dir and deletes the oldest beyond keep.
func (a *App) ScheduledBackup(ctx context.Context, dir string, keep int) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	name := filepath.Join(dir, "steward-"+time.Now().UTC().Format("20060102T150405")+BackupExt)
	if _, err := a.Backup(ctx, name); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return name, err
	}
	var olds []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "steward-") && strings.HasSuffix(e.Name(), BackupExt) {
			olds = append(olds, e.Name())
		}
	}
	sort.Strings(olds) // timestamps sort in time order
	for len(olds) > keep {
		if err := os.Remove(filepath.Join(dir, olds[0])); err != nil {
			return name, err
		}
		olds = olds[1:]
	}
	return name, nil
}
