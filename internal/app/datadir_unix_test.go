//go:build unix

package app

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stewardhq/steward/internal/config"
)

// loosePermissions lists the entries under dir that another local user could read: a
// directory that is not 0700, a file that is not 0600.
func loosePermissions(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			out = append(out, path+" "+info.Mode().Perm().String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInitMakesExistingDirectoryPrivate: an operator makes the data directory with mkdir
// (0755 under the usual umask 022) and has put files in it (0644); init makes the directory
// 0700 and every file 0600, and so are the files made later while serving: the databases'
// WAL and shared-memory files, the access journals, the mail drop and backups written there.
func TestInitMakesExistingDirectoryPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dir, "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"README.txt", "notes/plan.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Data = dir
	cfg.Mail = config.Secret("file:")
	ctx := context.Background()
	if _, err := Init(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	if loose := loosePermissions(t, dir); len(loose) > 0 {
		t.Fatalf("after init: %v are readable by other users", loose)
	}
	a, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.ScheduledBackup(ctx, filepath.Join(dir, "backups"), 2); err != nil {
		t.Fatal(err)
	}
	if err := a.Rights.SyncLedger(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "steward.db-wal")); err != nil {
		t.Fatalf("no WAL while serving: %v", err)
	}
	if loose := loosePermissions(t, dir); len(loose) > 0 {
		t.Fatalf("while serving: %v are readable by other users", loose)
	}
	// A file loosened later (an operator's cp) is tightened at the next start; a loosened
	// root key is refused instead, as before, because it may already have been read.
	a.Close()
	_ = os.Chmod(filepath.Join(dir, "root.key"), 0o644)
	if _, err := Open(ctx, cfg, nil); err == nil {
		t.Fatal("a root key readable by others was accepted")
	}
	_ = os.Chmod(filepath.Join(dir, "root.key"), 0o600)
	_ = os.Chmod(filepath.Join(dir, "steward.db"), 0o644)
	_ = os.Chmod(dir, 0o755)
	b, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if loose := loosePermissions(t, dir); len(loose) > 0 {
		t.Fatalf("after a restart: %v are readable by other users", loose)
	}
}
