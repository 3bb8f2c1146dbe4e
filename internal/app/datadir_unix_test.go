//go:build unix

package app

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// TestReadOnlyRootKeyMount: a container mounts the root key read-only into the data
// directory, as a secret with mode 0400. The node starts and leaves the key as it is: it is
// private already, and the mount cannot be changed. Before, the start tried to make it 0600
// and stopped ("read-only file system"). Bind mounts need root (CI runs as root).
func TestReadOnlyRootKeyMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind-mounting the root key read-only needs root")
	}
	dir := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cfg.Data = dir
	ctx := context.Background()
	if _, err := Init(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "root.key")
	key, err := os.ReadFile(cfg.RootKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, key, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secret, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(secret, cfg.RootKeyPath(), "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("bind mount not permitted here: %v", err)
	}
	defer func() {
		if err := syscall.Unmount(cfg.RootKeyPath(), 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	}()
	if err := syscall.Mount("", cfg.RootKeyPath(), "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.RootKeyPath(), 0o600); err == nil {
		t.Fatal("the mount is writable: the test would prove nothing")
	}
	// Something else of the data directory loosened meanwhile is still tightened.
	if err := os.Chmod(filepath.Join(dir, "steward.db"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("a read-only root key of mode 0400 was refused: %v", err)
	}
	a.Close()
	info, err := os.Stat(cfg.RootKeyPath())
	if err != nil || info.Mode().Perm() != 0o400 {
		t.Fatalf("root key after the start: %v, %v", info.Mode(), err)
	}
	if info, err := os.Stat(filepath.Join(dir, "steward.db")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("database after the start: %v, %v", info.Mode(), err)
	}
}

// TestUnchangeableLooseEntryIsNamed: an entry open to other users that cannot be made
// private stops the start with its path, its mode and what to do.
func TestUnchangeableLooseEntryIsNamed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind-mounting a file read-only needs root")
	}
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(dst, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("bind mount not permitted here: %v", err)
	}
	defer func() { _ = syscall.Unmount(dst, 0) }()
	if err := syscall.Mount("", dst, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	_, err := privateDataDir(dir)
	if err == nil || !strings.Contains(err.Error(), dst) || !strings.Contains(err.Error(), "0644") || !strings.Contains(err.Error(), "mode 0400") {
		t.Fatalf("got %v, want an error naming %s, its mode and the remedy", err, dst)
	}
}

// TestOwnerLockedEntriesRepaired: an entry private but closed to its owner too (a database
// made 0400, a directory 0500) is set back to 0600 and 0700, or the node could not write it.
func TestOwnerLockedEntriesRepaired(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "imports")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "steward.db")
	if err := os.WriteFile(db, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(db, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sub, 0o500); err != nil {
		t.Fatal(err)
	}
	if n, err := privateDataDir(dir); err != nil || n != 2 {
		t.Fatalf("repaired %d entries (%v), want 2", n, err)
	}
	for path, want := range map[string]fs.FileMode{db: 0o600, sub: 0o700} {
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want %v", path, info.Mode().Perm(), err, want)
		}
	}
}
