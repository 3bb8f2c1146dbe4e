package app

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// accessFiles are the access trail's database file and the WAL files beside it.
func accessFiles(cfg config.Config) []string {
	p := sqlite.AccessPath(cfg.SQLitePath())
	return []string{p, p + "-wal", p + "-shm"}
}

// copyFiles copies the files that exist from paths to the same names with suffix added, or
// back when back is set, removing a destination whose source does not exist.
func copyFiles(t *testing.T, paths []string, suffix string, back bool) {
	t.Helper()
	for _, p := range paths {
		from, to := p, p+suffix
		if back {
			from, to = to, from
		}
		b, err := os.ReadFile(from)
		if errors.Is(err, os.ErrNotExist) {
			os.Remove(to)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// activity makes reads (access trail) and changes (main trail) alternate, so that the main
// trail's heads and checkpoints anchor the access trail as it grows.
func activity(t *testing.T, a *App, rounds int) {
	t.Helper()
	ctx := context.Background()
	owner := authz.WithActor(ctx, authz.Actor{ID: "owner", Role: "owner"})
	reader := authz.WithActor(ctx, authz.Actor{ID: "reader", Role: "support"})
	for r := 0; r < rounds; r++ {
		id := createCustomer(t, a, owner)
		for i := 0; i < 40; i++ {
			if _, err := a.Customers.Get(reader, id, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A last change: the main trail anchors the access trail as committed before it.
	createCustomer(t, a, owner)
}

var n int

func createCustomer(t *testing.T, a *App, ctx context.Context) string {
	t.Helper()
	n++
	c, err := a.Customers.Create(ctx, map[string]any{"email": "person" + strconv.Itoa(n) + "@example.com", "first_name": "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// TestAccessTrailRemovalIsDetected: the access trail lives in a file of its own. Deleting
// it, emptying it (heads and checkpoints included), truncating it back to an older sealed
// state or swapping in an older copy of it leaves the main trail's heads and checkpoints
// vouching for access entries that are gone, and verify names the first of them. The
// untouched trail verifies.
func TestAccessTrailRemovalIsDetected(t *testing.T) {
	emptied := func(t *testing.T, cfg config.Config, _ audit.Head) {
		db, err := sql.Open("sqlite", sqlite.AccessPath(cfg.SQLitePath()))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range []string{`DELETE FROM audit_log`, `DELETE FROM audit_heads`, `DELETE FROM audit_checkpoints`, `DELETE FROM journal_flushed`} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name string
		// tamper acts on the closed data directory; older is the access trail's sealed head
		// when its older copy (suffix ".old") was taken.
		tamper  func(t *testing.T, cfg config.Config, older audit.Head)
		wantSeq func(older audit.Head) int64
	}{
		{"untouched", func(*testing.T, config.Config, audit.Head) {}, nil},
		{"file deleted", func(t *testing.T, cfg config.Config, _ audit.Head) {
			for _, p := range accessFiles(cfg) {
				os.Remove(p)
			}
		}, func(audit.Head) int64 { return 1 }},
		{"emptied", emptied, func(audit.Head) int64 { return 1 }},
		{"truncated to an older sealed head", func(t *testing.T, cfg config.Config, older audit.Head) {
			db, err := sql.Open("sqlite", sqlite.AccessPath(cfg.SQLitePath()))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`ATTACH DATABASE $1 AS old`, sqlite.AccessPath(cfg.SQLitePath())+".old"); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{`DELETE FROM audit_log WHERE seq > $1`, `DELETE FROM audit_checkpoints WHERE seq > $1`,
				`UPDATE audit_heads SET (seq, hash, mac) = (SELECT seq, hash, mac FROM old.audit_heads WHERE chain = audit_heads.chain) WHERE $1 >= 0`} {
				if _, err := db.Exec(q, older.Seq); err != nil {
					t.Fatal(err)
				}
			}
		}, func(older audit.Head) int64 { return older.Seq + 1 }},
		{"older copy", func(t *testing.T, cfg config.Config, _ audit.Head) {
			copyFiles(t, accessFiles(cfg), ".old", true)
		}, func(older audit.Head) int64 { return older.Seq + 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "")
			activity(t, e.app, 3)
			e.srv.Close()
			e.app.Close()
			cfg := config.Default()
			cfg.Data = e.dir
			copyFiles(t, accessFiles(cfg), ".old", false)
			older := accessHead(t, cfg)

			a, err := Open(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			activity(t, a, 3)
			if _, err := a.Audit.Verify(context.Background()); err != nil {
				t.Fatalf("intact trail: %v", err)
			}
			a.Close()

			tt.tamper(t, cfg, older)
			a, err = Open(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			_, err = a.Audit.Verify(context.Background())
			if tt.wantSeq == nil {
				if err != nil {
					t.Fatalf("got %v, want intact", err)
				}
				return
			}
			t.Log(err)
			var b *audit.Break
			if !errors.As(err, &b) {
				t.Fatalf("got %v, want the access trail's loss detected", err)
			}
			if want := tt.wantSeq(older); b.Chain != 1 || b.Seq != want || !strings.Contains(b.Reason, "older copy") {
				t.Fatalf("got %v, want a break at chain 1 entry %d naming the loss", err, want)
			}
		})
	}
}

// accessHead reads the access trail's head from the closed data directory.
func accessHead(t *testing.T, cfg config.Config) audit.Head {
	t.Helper()
	db, err := sql.Open("sqlite", sqlite.AccessPath(cfg.SQLitePath()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := audit.Head{Chain: 1}
	if err := db.QueryRow(`SELECT seq, hash FROM audit_heads WHERE chain = 1`).Scan(&h.Seq, &h.Hash); err != nil {
		t.Fatal(err)
	}
	if h.Seq == 0 {
		t.Fatal("the access trail is empty: nothing to lose")
	}
	return h
}

// TestAuditUpgradeSealsHeads: a data directory from before sealed heads (no seal, no anchor
// columns) verifies after the upgrade, its heads sealed by the process that migrated it. A
// seal removed later is not given back: a restart does not vouch for what it finds unsealed.
func TestAuditUpgradeSealsHeads(t *testing.T) {
	e := newEnv(t, "")
	activity(t, e.app, 2)
	e.srv.Close()
	e.app.Close()
	cfg := config.Default()
	cfg.Data = e.dir
	// Back to the schema before sealed heads, in both files.
	for _, f := range []struct {
		path    string
		version int
	}{{cfg.SQLitePath(), 10}, {sqlite.AccessPath(cfg.SQLitePath()), 3}} {
		db, err := sql.Open("sqlite", f.path)
		if err != nil {
			t.Fatal(err)
		}
		qs := []string{`DELETE FROM schema_migrations WHERE version = ` + strconv.Itoa(f.version)}
		for _, table := range []string{"audit_heads", "audit_checkpoints"} {
			for _, col := range []string{"mac", "anchor_chain", "anchor_seq", "anchor_hash"} {
				if table == "audit_checkpoints" && col == "mac" {
					continue
				}
				qs = append(qs, `ALTER TABLE `+table+` DROP COLUMN `+col)
			}
		}
		for _, q := range qs {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		db.Close()
	}
	a, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Audit.Verify(context.Background()); err != nil {
		t.Fatalf("upgraded trail: %v", err)
	}
	activity(t, a, 1)
	a.Close()

	// Someone removes the main chain's seal: reopening must not restore it.
	db, err := sql.Open("sqlite", cfg.SQLitePath())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_heads SET mac = x''`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	a, err = Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	activity(t, a, 1)
	_, err = a.Audit.Verify(context.Background())
	var b *audit.Break
	if !errors.As(err, &b) || b.Chain != 0 || !strings.Contains(b.Reason, "no sealed chain head") {
		t.Fatalf("got %v, want the main chain's tail unvouched", err)
	}
}
