package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/store"
	"github.com/stewardhq/steward/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.DB {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "steward.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestAccessTrailKeepsMainFileUnchanged: audited reads append to the access trail file, so
// the main file — whose readers would otherwise drop their page caches — does not change;
// changes still write their entries to the main file, in the same transaction.
func TestAccessTrailKeepsMainFileUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "steward.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := audit.WithActor(context.Background(), audit.System)
	watch, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	conn, err := watch.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	version := func() (v int64) {
		if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	for i := 0; i < 20; i++ {
		if err := db.AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, "c", []string{"email"}, "")); err != nil {
			t.Fatal(err)
		}
	}
	if got := version(); got != before {
		t.Fatalf("main file changed by reads: data_version %d, want %d", got, before)
	}
	now := time.Now()
	r := &customer.Record{ID: "0190a000-0000-7000-8000-000000000001", Version: 1, MasterVersion: 1, Key: []byte{1},
		Sealed: map[string][]byte{}, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateCustomer(ctx, r, []audit.Entry{audit.New(ctx, audit.ActionCustomerCreate, r.ID, nil, "")}); err != nil {
		t.Fatal(err)
	}
	if got := version(); got == before {
		t.Fatal("main file unchanged by a create")
	}
	// The create's transaction linked the journaled reads ahead of its own entry.
	var inMain, inAccess int
	watch.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&inMain)
	if _, err := os.Stat(AccessPath(path)); err != nil {
		t.Fatal(err)
	}
	acc, err := sql.Open("sqlite", "file:"+AccessPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	acc.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&inAccess)
	if inMain != 1 || inAccess != 20 {
		t.Fatalf("got %d entries in the main file and %d in the access trail, want 1 and 20", inMain, inAccess)
	}
	list, err := db.ListAudit(ctx, audit.Filter{Limit: 100})
	if err != nil || len(list) != 21 || list[0].Action != audit.ActionCustomerCreate {
		t.Fatalf("got %d entries (%v), want 21, the create newest", len(list), err)
	}
}

// TestWALStaysBounded: under a steady stream of commits the WAL must keep restarting from its
// beginning, so its file stops growing however long the stream runs.
func TestWALStaysBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "steward.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := audit.WithActor(context.Background(), audit.System)
	write := func(n int) {
		for i := 0; i < n; i++ {
			if err := db.AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, fmt.Sprintf("c%d", i), []string{"email"}, "")); err != nil {
				t.Fatal(err)
			}
			// Reads are journaled; linking them into the trail is the commit.
			if err := db.FlushAccessJournal(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(3000)
	first := fileSize(t, AccessPath(path)+"-wal")
	write(12000)
	if got := fileSize(t, AccessPath(path)+"-wal"); got > first*2 {
		t.Fatalf("WAL grew from %d to %d bytes over four times as many commits: it never restarts", first, got)
	}
}

func TestRestrictionsMigrate(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	storetest.RestrictionsMigrate(t, "sqlite", filepath.Join(t.TempDir(), "old.db"), ms, "")
}
