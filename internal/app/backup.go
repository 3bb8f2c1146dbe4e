package app

import (
	"context"
	"errors"
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
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
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
	Replayed int   // erasures replayed from the two ledgers
	Entries  int64 // audit entries verified
	// Kept is the encrypted backup of the replaced database, when one was asked for.
	Kept string
	// SetAside is where an untrusted erasure ledger file was moved when the operator
	// accepted an incomplete ledger.
	SetAside string
	// Warnings name what the operator accepted: the restore went ahead without one of the
	// two erasure ledgers.
	Warnings []string
}

// RestoreOptions are a restore's choices beyond the backup file.
type RestoreOptions struct {
	// KeepPrevious, when set, is where the database about to be replaced is first written
	// as an encrypted backup, like any other: it opens only with the root key and only
	// through a restore, which replays the erasure ledger. No unencrypted copy is kept.
	KeepPrevious string
	// AcceptIncompleteLedger lets a restore go ahead when the erasure ledger file is
	// missing, cut short, damaged, or lacks erasures the current database records, or when
	// the current database cannot be read: what remains of the two ledgers is replayed, and
	// the file is set aside and rebuilt from the database's ledger. Without it such a
	// restore is refused, because it could bring back customers erased since the backup.
	AcceptIncompleteLedger bool
}

// ErrLedgerUntrusted starts every refusal of a restore over an erasure ledger it cannot
// trust.
var ErrLedgerUntrusted = errors.New("restore refused")

// Restore is RestoreWith without options.
func Restore(ctx context.Context, cfg config.Config, file string, log *slog.Logger) (RestoreReport, error) {
	return RestoreWith(ctx, cfg, file, log, RestoreOptions{})
}

// RestoreWith replaces the installation's database with the backup in file, then replays
// the erasure ledger, so nobody erased after the backup was taken comes back, and verifies
// the audit trail. The ledger replayed is the union of the ledger file and the ledger table
// of the database being replaced: a deleted, emptied or cut file, or one that lacks what
// that database records, is refused before anything is replaced (see
// RestoreOptions.AcceptIncompleteLedger). The backup is verified in full first; with SQLite,
// the replaced files are put back if a later step fails, and deleted once it succeeded.
// Steward must not be serving this data directory meanwhile.
func RestoreWith(ctx context.Context, cfg config.Config, file string, log *slog.Logger, opts RestoreOptions) (RestoreReport, error) {
	var rep RestoreReport
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
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
	current, err := checkCurrent(ctx, cfg, log, opts, &rep)
	if err != nil {
		return rep, err
	}
	var undo, discard func() error
	if cfg.DB == "" {
		if undo, discard, err = sqlite.Restore(cfg.SQLitePath(), staging); err != nil {
			return rep, err
		}
	} else if err := postgres.RestoreBackup(ctx, cfg.PGBin, cfg.DB.Reveal(), staging); err != nil {
		return rep, err
	}
	err = replay(ctx, cfg, log, &rep, current, opts.AcceptIncompleteLedger)
	if err != nil && undo != nil {
		if uerr := undo(); uerr != nil {
			return rep, fmt.Errorf("%w (and putting the previous files back failed: %v)", err, uerr)
		}
		return rep, err
	}
	if err == nil && discard != nil {
		if derr := discard(); derr != nil {
			return rep, fmt.Errorf("restore: delete the replaced database files: %w", derr)
		}
	}
	return rep, err
}

// checkCurrent reads the erasure ledgers of the installation about to be replaced, refuses
// what it cannot trust, writes the encrypted copy of it asked for, and returns the entries
// of its database's ledger for the replay.
func checkCurrent(ctx context.Context, cfg config.Config, log *slog.Logger, opts RestoreOptions, rep *RestoreReport) ([]rights.LedgerEntry, error) {
	accept := opts.AcceptIncompleteLedger
	refuse := func(issue string) error {
		return fmt.Errorf("%w: %s; restoring could bring back customers erased since the backup was taken. "+
			"If nothing was tampered with (the file was lost with a disk, say), --accept-incomplete-ledger restores anyway, "+
			"replaying what remains and rebuilding the file from the database's ledger", ErrLedgerUntrusted, issue)
	}
	warn := func(issue string) {
		rep.Warnings = append(rep.Warnings, issue)
		log.Warn("restore accepted an incomplete erasure ledger", "problem", issue)
	}
	// Whether the file is there is decided before anything is opened, and the installation
	// is opened for restoring, which (unlike a normal start of an installation that has
	// erased nobody) does not create an empty ledger file in the gap.
	_, statErr := os.Stat(cfg.LedgerPath())
	fileMissing := errors.Is(statErr, os.ErrNotExist)
	exists, err := installed(ctx, cfg)
	if err != nil {
		if !accept {
			return nil, refuse(fmt.Sprintf("the database being replaced cannot be read (%v), so its erasure ledger cannot be replayed", err))
		}
		warn("the database being replaced could not be read; only the erasure ledger file is replayed")
		exists = false
	}
	if !exists {
		// Nothing to compare with: the file alone tells who was erased (it is verified with
		// the restored keys during the replay).
		if fileMissing && !accept {
			return nil, refuse("the erasure ledger file " + cfg.LedgerPath() + " is missing")
		}
		if opts.KeepPrevious != "" {
			return nil, errors.New("restore: --keep-previous: there is no current database to keep")
		}
		if fileMissing {
			warn("the erasure ledger file is missing and there is no database to rebuild it from: only the backup's own ledger is replayed")
		}
		return nil, nil
	}
	a, err := OpenWith(ctx, cfg, Options{Log: log, restoring: true})
	if err != nil {
		if !accept {
			return nil, refuse(fmt.Sprintf("the installation being replaced cannot be opened (%v), so its erasure ledger cannot be replayed", err))
		}
		warn("the installation being replaced could not be opened; only the erasure ledger file is replayed")
		return nil, nil
	}
	defer a.Close()
	c, err := a.Rights.CheckLedger(ctx)
	if err != nil {
		return nil, err
	}
	issue := ""
	switch {
	case fileMissing:
		issue = "the erasure ledger file " + cfg.LedgerPath() + " is missing"
	case c.FileErr != nil:
		issue = c.FileErr.Error()
	case c.Missing > 0 && cfg.DB == "":
		// With SQLite every erasure reaches the file before the database, so a file behind
		// the database was cut or replaced by an older copy. (With PostgreSQL, erasures made
		// on other nodes are only in the database until the next backup copies them over:
		// the sync below does that now.)
		issue = fmt.Sprintf("the erasure ledger file lacks %d of the %d erasures the database being replaced records (it was cut short or replaced by an older copy)", c.Missing, len(c.Database))
	}
	if issue != "" {
		if !accept {
			return nil, refuse(issue)
		}
		warn(issue)
		if rep.SetAside, err = a.Rights.RebuildLedger(ctx); err != nil {
			return nil, err
		}
	} else if err := a.Rights.SyncLedger(ctx); err != nil {
		return nil, err
	}
	if opts.KeepPrevious != "" {
		if _, err := a.Backup(ctx, opts.KeepPrevious); err != nil {
			return nil, fmt.Errorf("restore: keep the replaced database: %w", err)
		}
		rep.Kept = opts.KeepPrevious
	}
	return c.Database, nil
}

// installed reports whether the data directory already holds an installation a restore
// would replace: a database (SQLite file or PostgreSQL) holding a keyset. A database without
// one (a command run in an empty directory creates the SQLite file) holds no erasures.
func installed(ctx context.Context, cfg config.Config) (bool, error) {
	if cfg.DB == "" {
		if _, err := os.Stat(cfg.SQLitePath()); errors.Is(err, os.ErrNotExist) {
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer db.Close()
	_, _, err = db.Keysets().LoadKeyset(ctx)
	if problem.Is(err, problem.NotFound) {
		return false, nil
	}
	return err == nil, err
}

// replay opens the restored installation and carries out every erasure of the ledger file
// and of the replaced database's ledger (current). With accept, a ledger file that does not
// verify with the restored keys (or is missing) is set aside and rebuilt from the restored
// database's ledger first; without, the restore fails and, with SQLite, is undone.
func replay(ctx context.Context, cfg config.Config, log *slog.Logger, rep *RestoreReport, current []rights.LedgerEntry, accept bool) error {
	a, err := OpenWith(ctx, cfg, Options{Log: log, restoring: true})
	if err != nil {
		return err
	}
	defer a.Close()
	sys := authz.WithActor(ctx, authz.System)
	if accept {
		c, err := a.Rights.CheckLedger(sys)
		if err != nil {
			return err
		}
		if c.FileErr != nil {
			rep.Warnings = append(rep.Warnings, c.FileErr.Error())
			log.Warn("restore accepted an incomplete erasure ledger", "problem", c.FileErr.Error())
			moved, err := a.Rights.RebuildLedger(sys)
			if err != nil {
				return err
			}
			if moved != "" {
				rep.SetAside = moved
			}
		}
	}
	if rep.Replayed, err = a.Rights.Replay(sys, current); err != nil {
		untrusted := errors.Is(err, rights.ErrLedgerBroken) || errors.Is(err, rights.ErrLedgerCut) || errors.Is(err, rights.ErrLedgerMissing)
		if untrusted && cfg.DB == "" {
			// The previous files are put back: the refusal changes nothing.
			return fmt.Errorf("%w: %v (checked with the restored keys)", ErrLedgerUntrusted, err)
		}
		if cfg.DB != "" {
			return fmt.Errorf("replay erasure ledger: %w; the restored database is in place but not every erasure was replayed: fix the ledger (steward ledger check) and run the restore again", err)
		}
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
	if len(rep.Warnings) > 0 {
		e.Target += " ledger:incomplete-accepted"
	}
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
