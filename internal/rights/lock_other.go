//go:build !unix

package rights

import "os"

// lockFile is a no-op where advisory locks are not available: run one Steward per data
// directory there.
func lockFile(*os.File) error { return nil }
