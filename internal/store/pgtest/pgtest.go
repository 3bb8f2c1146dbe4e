// Package pgtest starts a throwaway PostgreSQL cluster from the system's binaries for tests:
// initdb and pg_ctl on a loopback port in a temporary directory, stopped when the test binary
// ends. No mocks: the store contract suite runs against the real engine.
//
// Set STEWARD_TEST_POSTGRES to a URL to use an existing server instead. When the binaries are
// missing the tests skip, except under CI=true, where PostgreSQL is required and they fail.
package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

var (
	once     sync.Once
	baseURL  string
	dataDir  string
	startErr error
	dbSeq    atomic.Int64
)

// URL returns the URL of a new, empty database on the shared test cluster.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if startErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is required under CI: %v", startErr)
		}
		t.Skipf("PostgreSQL not available (%v); set STEWARD_TEST_POSTGRES or install postgresql", startErr)
	}
	name := fmt.Sprintf("steward_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	db, err := sql.Open("pgx", baseURL+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return baseURL + "/" + name + "?sslmode=disable"
}

// DataDir is the cluster's data directory (empty when using STEWARD_TEST_POSTGRES), for tests
// that inspect PostgreSQL's files.
func DataDir() string { return dataDir }

// Stop stops the cluster; call it from TestMain after m.Run.
func Stop() {
	if dataDir == "" {
		return
	}
	cmd := command("pg_ctl", "-D", dataDir, "-m", "immediate", "-w", "stop")
	_ = cmd.Run()
	_ = os.RemoveAll(filepath.Dir(dataDir))
}

func start() {
	if u := os.Getenv("STEWARD_TEST_POSTGRES"); u != "" {
		baseURL = strings.TrimRight(u, "/")
		return
	}
	bin, err := binDir()
	if err != nil {
		startErr = err
		return
	}
	dir, err := os.MkdirTemp("", "steward-pg-")
	if err != nil {
		startErr = err
		return
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		startErr = err
		return
	}
	asRoot := os.Geteuid() == 0
	if asRoot {
		u, err := user.Lookup("postgres")
		if err != nil {
			startErr = fmt.Errorf("running as root needs the postgres user: %w", err)
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			startErr = err
			return
		}
	}
	data := filepath.Join(dir, "data")
	pathEnv = bin
	if out, err := command("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput(); err != nil {
		startErr = fmt.Errorf("initdb: %v: %s", err, out)
		return
	}
	// The port is free when chosen, not necessarily when the server binds it: test packages
	// running side by side open listeners of their own meanwhile. A server that lost its port
	// so is started again on another.
	var port int
	for attempt := 1; ; attempt++ {
		if port, err = freePort(); err != nil {
			startErr = err
			return
		}
		log := filepath.Join(dir, "server.log")
		_ = os.Remove(log)
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", port, dir)
		out, err := command("pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start").CombinedOutput()
		if err == nil {
			break
		}
		if b, _ := os.ReadFile(log); attempt < 5 && bytes.Contains(b, []byte("Address already in use")) {
			continue
		}
		startErr = fmt.Errorf("pg_ctl start: %v: %s", err, out)
		return
	}
	dataDir = data
	baseURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		db, err := sql.Open("pgx", baseURL+"/postgres?sslmode=disable")
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
		}
		if err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	startErr = fmt.Errorf("server did not answer")
}

var pathEnv string

// command runs a PostgreSQL binary, as the postgres user when we are root (initdb refuses root).
func command(name string, args ...string) *exec.Cmd {
	full := filepath.Join(pathEnv, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", full}, args...)...)
	}
	return exec.Command(full, args...)
}

func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("initdb not found")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
