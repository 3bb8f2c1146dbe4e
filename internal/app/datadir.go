package app

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// privateDataDir makes the data directory 0700 and everything in it private to Steward's
// user (directories 0700, files 0600), whatever was there before: an operator may create the
// directory with mkdir (0755 under the usual umask) or copy files in with cp, and the root
// key, the databases, the erasure ledger and the mail and import spools must not be readable
// by other local users. It returns how many entries it had to tighten. Symbolic links are
// left alone: their targets are not the data directory's to change. An entry that cannot be
// changed but grants nothing to group or others is private already and is left as it is: a
// root key mounted read-only with mode 0400 (a container's secret) needs no change.
func privateDataDir(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() == want {
			return nil
		}
		if err := os.Chmod(path, want); err != nil {
			if info.Mode().Perm()&0o077 == 0 {
				return nil // private already, and read-only (a mounted secret)
			}
			return fmt.Errorf("%s is open to other users (mode %04o) and cannot be made private (mount it with mode 0400 or 0600): %w",
				path, info.Mode().Perm(), err)
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("make the data directory private: %w", err)
	}
	return n, nil
}
