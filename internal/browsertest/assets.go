package browsertest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// assetsDir is test/browser under the module root: its package.json and package-lock.json pin
// the npm packages the browser tests load, and npm ci installs them into its node_modules.
func assetsDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "test", "browser"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// installOnce keeps one test binary from running npm ci twice.
var installOnce sync.Mutex

// Asset returns the path of a file of an npm package the browser tests pin in
// test/browser/package.json, such as "axe-core/axe.min.js". When node_modules lacks it (.ci/run
// installs it first; a developer's first run may not have), it runs npm ci there, under a lock
// file so that test binaries of several packages running at once do not install over each
// other. Without npm the test skips, or fails under CI.
func Asset(t testing.TB, rel string) string {
	t.Helper()
	dir, err := assetsDir()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "node_modules", filepath.FromSlash(rel))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	installOnce.Lock()
	defer installOnce.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		missing(t, "npm is not installed: browser tests load "+rel+" from npm (apt-get install -y npm, or run npm ci in test/browser)")
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(path); err == nil {
		return path // another test binary installed it while this one waited
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("npm ci in %s did not install %s", dir, rel)
	}
	return path
}
