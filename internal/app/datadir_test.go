package app

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// filesHolding lists the files under dir whose bytes contain any of needles, as an attacker
// with a copy of the data directory would search it.
func filesHolding(t *testing.T, dir string, needles ...[]byte) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if len(n) > 0 && bytes.Contains(b, n) {
				out = append(out, path)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestErasedKeyInNoFileOfTheDataDirectory: once an erasure returns, with the server still
// running, no file of the data directory (database, WAL, shared memory, access trail,
// journals) holds the customer's wrapped data key or any of their ciphertexts. Before the
// fix the WAL kept the profile row's old page image until the server stopped.
func TestErasedKeyInNoFileOfTheDataDirectory(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	id := e.create(ada)
	rec, err := e.app.Store.Customers().GetCustomer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	needles := [][]byte{rec.Key, []byte("QQ123456C"), []byte("Lovelace")}
	for _, c := range rec.Sealed {
		needles = append(needles, c)
	}
	// The search finds the key while the customer exists: it looks where the key is.
	if got := filesHolding(t, e.dir, rec.Key); len(got) == 0 {
		t.Fatal("the wrapped key is in no file before the erasure: the search looks in the wrong place")
	}
	sys := authz.WithActor(ctx, authz.System)
	if _, err := e.app.Rights.Erase(sys, id, "", "test"); err != nil {
		t.Fatal(err)
	}
	if got := filesHolding(t, e.dir, needles...); len(got) > 0 {
		t.Fatalf("after the erasure returned, %v still hold the erased customer's wrapped key or data", got)
	}
}

// TestErasureDuringLongReadAsksAgain: while a long read (a backup's snapshot) holds the WAL,
// the erasure completes but answers Unavailable, because the wrapped key is still in the
// WAL; asked again once the read ended, it returns the report and the key is gone.
func TestErasureDuringLongReadAsksAgain(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	id := e.create(ada)
	rec, err := e.app.Store.Customers().GetCustomer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := sqlite.OpenPageSnapshot(ctx, filepath.Join(e.dir, "steward.db"))
	if err != nil {
		t.Fatal(err)
	}
	sys := authz.WithActor(ctx, authz.System)
	if _, err := e.app.Rights.Erase(sys, id, "", "test"); !problem.Is(err, problem.Unavailable) {
		snap.Close()
		t.Fatalf("erasure under a long read: got %v, want Unavailable", err)
	}
	snap.Close()
	if _, err := e.app.Customers.Get(sys, id, ""); !problem.Is(err, problem.Gone) {
		t.Fatalf("after the first answer: got %v, want Gone (the erasure itself is done)", err)
	}
	if _, err := e.app.Rights.Erase(sys, id, "", "test"); err != nil {
		t.Fatalf("asked again: %v", err)
	}
	if got := filesHolding(t, e.dir, rec.Key); len(got) > 0 {
		t.Fatalf("after asking again, %v hold the wrapped key", got)
	}
}

// TestOpenWithoutDatabaseMakesNone: a node's data directory on PostgreSQL holds the root key
// but no database; opened without --db (forgotten), Open refuses, naming both ways out, and
// leaves no empty SQLite database behind.
func TestOpenWithoutDatabaseMakesNone(t *testing.T) {
	src := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cfg.Data = src
	if _, err := Init(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(cfg.RootKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = t.TempDir()
	if err := os.WriteFile(cfg.RootKeyPath(), key, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "not initialised") || !strings.Contains(err.Error(), "--db") {
		t.Fatalf("got %v, want not initialised, naming --db", err)
	}
	entries, _ := os.ReadDir(cfg.Data)
	if len(entries) != 1 {
		t.Fatalf("the data directory holds %d entries after the refusal, want the root key alone", len(entries))
	}
}
