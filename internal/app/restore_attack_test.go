package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestRestoreRefusesTamperedLedgerSQLite(t *testing.T) { testRestoreLedgerAttacks(t, "") }
func TestRestoreRefusesTamperedLedgerPostgres(t *testing.T) {
	testRestoreLedgerAttacks(t, pgtest.URL(t))
}

// ledgerState is the erasure ledger file and its head as they are on disk.
type ledgerState struct{ file, head []byte }

func saveLedger(t *testing.T, cfg config.Config) ledgerState {
	t.Helper()
	f, err := os.ReadFile(cfg.LedgerPath())
	if err != nil {
		t.Fatal(err)
	}
	h, err := os.ReadFile(ledgerHeadPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return ledgerState{f, h}
}

func (s ledgerState) put(t *testing.T, cfg config.Config) {
	t.Helper()
	if err := os.WriteFile(cfg.LedgerPath(), s.file, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ledgerHeadPath(cfg), s.head, 0o600); err != nil {
		t.Fatal(err)
	}
}

func ledgerHeadPath(cfg config.Config) string {
	return strings.TrimSuffix(cfg.LedgerPath(), ".jsonl") + ".head"
}

// erasedIn opens the installation and reports, for each id, whether it is erased (Gone).
func erasedIn(t *testing.T, cfg config.Config, ids ...string) []bool {
	t.Helper()
	ctx := context.Background()
	a, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sys := authz.WithActor(ctx, authz.System)
	var out []bool
	for _, id := range ids {
		_, err := a.Customers.Get(sys, id, "")
		if err != nil && !problem.Is(err, problem.Gone) {
			t.Fatalf("get %s: %v", id, err)
		}
		out = append(out, problem.Is(err, problem.Gone))
	}
	return out
}

// testRestoreLedgerAttacks: the attacker holds a backup taken before two customers were
// erased and tries to bring them back by deleting, emptying, cutting or rolling back the
// erasure ledger file before restoring it. Each attempt is refused, naming the problem, and
// changes nothing; the replaced database's own ledger is replayed too; and no copy of the
// replaced database is left in the data directory.
func testRestoreLedgerAttacks(t *testing.T, db string) {
	e := newEnv(t, db)
	ctx := context.Background()
	ada := e.create(ada)
	grace := e.create(`{"email":"grace@example.com","first_name":"Grace","last_name":"Hopper"}`)
	keep := e.create(`{"email":"alan@example.com","first_name":"Alan"}`)
	old := filepath.Join(t.TempDir(), "before-erasures.stwbak")
	if _, err := e.app.Backup(ctx, old); err != nil {
		t.Fatal(err)
	}
	sys := authz.WithActor(ctx, authz.System)
	if _, err := e.app.Rights.Erase(sys, ada, "", "test"); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Data, cfg.DB = e.dir, config.Secret(db)
	afterOne := saveLedger(t, cfg)
	if _, err := e.app.Rights.Erase(sys, grace, "", "test"); err != nil {
		t.Fatal(err)
	}
	e.srv.Close()
	e.app.Close()
	intact := saveLedger(t, cfg)
	lines := bytes.SplitAfter(intact.file, []byte("\n"))

	attacks := []struct {
		name   string
		tamper func()
		want   string
		pgOK   bool // PostgreSQL accepts it: the file is brought up to the database's ledger
	}{
		{"file deleted", func() { _ = os.Remove(cfg.LedgerPath()) }, "missing", false},
		{"file and head deleted", func() { _ = os.Remove(cfg.LedgerPath()); _ = os.Remove(ledgerHeadPath(cfg)) }, "missing", false},
		{"file emptied", func() { _ = os.WriteFile(cfg.LedgerPath(), nil, 0o600) }, "cut short", false},
		{"last line removed", func() { _ = os.WriteFile(cfg.LedgerPath(), bytes.Join(lines[:1], nil), 0o600) }, "cut short", false},
		{"head deleted", func() { _ = os.Remove(ledgerHeadPath(cfg)) }, "head", false},
		{"first line removed", func() { _ = os.WriteFile(cfg.LedgerPath(), bytes.Join(lines[1:], nil), 0o600) }, "does not verify", false},
		{"file and head rolled back", func() { afterOne.put(t, cfg) }, "lacks 1 of the 2", true},
	}
	for _, at := range attacks {
		intact.put(t, cfg)
		at.tamper()
		before, _ := os.ReadFile(cfg.SQLitePath())
		_, err := Restore(ctx, cfg, old, nil)
		if db != "" && at.pgOK {
			if err != nil {
				t.Fatalf("%s: %v", at.name, err)
			}
			if got := erasedIn(t, cfg, ada, grace, keep); !got[0] || !got[1] || got[2] {
				t.Fatalf("%s: erased after the restore %v, want [true true false]", at.name, got)
			}
			continue
		}
		if !errors.Is(err, ErrLedgerUntrusted) || !strings.Contains(err.Error(), at.want) {
			t.Fatalf("%s: got %v, want a refusal naming %q", at.name, err, at.want)
		}
		if db == "" {
			if after, _ := os.ReadFile(cfg.SQLitePath()); !bytes.Equal(before, after) {
				t.Fatalf("%s: a refused restore changed the database", at.name)
			}
		}
	}

	// The replaced database's own ledger is replayed: with the file gone and the loss
	// accepted, both erasures are still carried out.
	intact.put(t, cfg)
	_ = os.Remove(cfg.LedgerPath())
	_ = os.Remove(ledgerHeadPath(cfg))
	rep, err := RestoreWith(ctx, cfg, old, nil, RestoreOptions{AcceptIncompleteLedger: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replayed != 2 || len(rep.Warnings) == 0 {
		t.Fatalf("accepted restore: %d replayed, warnings %v; want 2 and a warning", rep.Replayed, rep.Warnings)
	}
	if got := erasedIn(t, cfg, ada, grace, keep); !got[0] || !got[1] || got[2] {
		t.Fatalf("erased after the accepted restore %v, want [true true false]", got)
	}
	// The rebuilt file serves the next restore.
	rep, err = Restore(ctx, cfg, old, nil)
	if err != nil || rep.Replayed != 2 {
		t.Fatalf("restore over the rebuilt ledger: %d replayed, %v", rep.Replayed, err)
	}
	if db == "" {
		ents, _ := os.ReadDir(cfg.Data)
		for _, d := range ents {
			if strings.Contains(d.Name(), "pre-restore") {
				t.Fatalf("a restore left %s in the data directory", d.Name())
			}
		}
	}
}

func TestRestoreKeepsNoClearCopySQLite(t *testing.T)   { testRestoreKeepsNoClearCopy(t, "") }
func TestRestoreKeepsNoClearCopyPostgres(t *testing.T) { testRestoreKeepsNoClearCopy(t, pgtest.URL(t)) }

// testRestoreKeepsNoClearCopy: a customer present when a restore runs and erased afterwards
// is in no file of the data directory (the replaced database is not kept), and when the
// operator asks to keep the replaced database, the copy is an encrypted backup whose restore
// replays the erasure ledger, so the customer stays erased.
func testRestoreKeepsNoClearCopy(t *testing.T, db string) {
	e := newEnv(t, db)
	ctx := context.Background()
	first := e.create(`{"email":"first@example.com","first_name":"First"}`)
	old := filepath.Join(t.TempDir(), "old.stwbak")
	if _, err := e.app.Backup(ctx, old); err != nil {
		t.Fatal(err)
	}
	later := e.create(`{"email":"grace@example.com","first_name":"Grace","last_name":"Hopper","national_id":"QQ654321C"}`)
	rec, err := e.app.Store.Customers().GetCustomer(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	needles := [][]byte{rec.Key, []byte("QQ654321C"), []byte("Hopper")}
	for _, c := range rec.Sealed {
		needles = append(needles, c)
	}
	e.srv.Close()
	e.app.Close()
	cfg := config.Default()
	cfg.Data, cfg.DB = e.dir, config.Secret(db)

	// Restore the old backup, keeping the replaced database (which holds later) encrypted.
	kept := filepath.Join(t.TempDir(), "replaced.stwbak")
	rep, err := RestoreWith(ctx, cfg, old, nil, RestoreOptions{KeepPrevious: kept})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kept != kept {
		t.Fatalf("kept %q, want %q", rep.Kept, kept)
	}
	raw, _ := os.ReadFile(kept)
	for _, n := range needles[1:3] {
		if bytes.Contains(raw, n) {
			t.Fatalf("the kept copy holds %q in clear", n)
		}
	}
	// Put the newer state back from the kept copy, then erase later.
	if _, err := Restore(ctx, cfg, kept, nil); err != nil {
		t.Fatal(err)
	}
	a, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sys := authz.WithActor(ctx, authz.System)
	if _, err := a.Rights.Erase(sys, later, "", "test"); err != nil {
		t.Fatal(err)
	}
	if db == "" {
		if got := filesHolding(t, cfg.Data, needles...); len(got) > 0 {
			t.Fatalf("after restores and the erasure, %v still hold the erased customer's key or data", got)
		}
	}
	a.Close()
	// The kept copy brings later back only through a restore, which erases them again.
	if _, err := Restore(ctx, cfg, kept, nil); err != nil {
		t.Fatal(err)
	}
	if got := erasedIn(t, cfg, later, first); !got[0] || got[1] {
		t.Fatalf("after restoring the kept copy: erased %v, want [true false]", got)
	}
	if db == "" {
		if got := filesHolding(t, cfg.Data, needles...); len(got) > 0 {
			t.Fatalf("after restoring the kept copy, %v hold the erased customer's key or data", got)
		}
	}
}

// TestRestoreOntoNewMachine: a data directory holding only the root key and a copy of the
// ledger file and head (the machine was lost) is restored, and the ledger is replayed. A copy
// cut short is refused with the restored keys and leaves nothing behind; without any copy the
// restore is refused unless the loss is accepted.
func TestRestoreOntoNewMachine(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	ada := e.create(ada)
	keep := e.create(`{"email":"alan@example.com","first_name":"Alan"}`)
	old := filepath.Join(t.TempDir(), "old.stwbak")
	if _, err := e.app.Backup(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Rights.Erase(authz.WithActor(ctx, authz.System), ada, "", "test"); err != nil {
		t.Fatal(err)
	}
	e.srv.Close()
	e.app.Close()
	src := config.Default()
	src.Data = e.dir
	saved := saveLedger(t, src)

	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "new")
	newMachine := func() {
		_ = os.RemoveAll(cfg.Data)
		_ = os.MkdirAll(cfg.Data, 0o700)
		key, _ := os.ReadFile(src.RootKeyPath())
		_ = os.WriteFile(cfg.RootKeyPath(), key, 0o600)
	}
	newMachine()
	if _, err := Restore(ctx, cfg, old, nil); !errors.Is(err, ErrLedgerUntrusted) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("no ledger copy: got %v, want a refusal naming the missing file", err)
	}
	newMachine()
	cut := saved
	cut.file = nil
	cut.put(t, cfg)
	if _, err := Restore(ctx, cfg, old, nil); !errors.Is(err, ErrLedgerUntrusted) || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("emptied ledger copy: got %v, want a refusal naming the cut", err)
	}
	if _, err := os.Stat(cfg.SQLitePath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused restore left a database behind: %v", err)
	}
	newMachine()
	saved.put(t, cfg)
	rep, err := Restore(ctx, cfg, old, nil)
	if err != nil || rep.Replayed != 1 {
		t.Fatalf("restore with the ledger copy: %d replayed, %v; want 1", rep.Replayed, err)
	}
	if got := erasedIn(t, cfg, ada, keep); !got[0] || got[1] {
		t.Fatalf("erased %v, want [true false]", got)
	}
	newMachine()
	rep, err = RestoreWith(ctx, cfg, old, nil, RestoreOptions{AcceptIncompleteLedger: true})
	if err != nil || len(rep.Warnings) == 0 {
		t.Fatalf("accepted restore without a ledger: %v, warnings %v", err, rep.Warnings)
	}
	if _, err := Restore(ctx, cfg, old, nil); err != nil {
		t.Fatalf("restore over the ledger rebuilt from the backup: %v", err)
	}
}
