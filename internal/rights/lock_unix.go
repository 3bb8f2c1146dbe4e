//go:build unix

package rights

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock, released when the file is closed.
func lockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }
