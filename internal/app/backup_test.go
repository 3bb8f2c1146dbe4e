package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/backup"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

func TestBackupEraseRestoreSQLite(t *testing.T)   { testBackupEraseRestore(t, "") }
func TestBackupEraseRestorePostgres(t *testing.T) { testBackupEraseRestore(t, pgtest.URL(t)) }

// testBackupEraseRestore: create → backup → erase → restore. The erased customer stays gone,
// look-ups by email find nothing, the restored installation holds neither their data key nor
// their ciphertexts, and the audit trail verifies.
func testBackupEraseRestore(t *testing.T, db string) {
	e := newEnv(t, db)
	ctx := context.Background()
	e.publish(policyV1)
	id := e.create(ada)
	other := e.create(`{"email":"grace@example.com","first_name":"Grace"}`)
	rec, err := e.app.Store.Customers().GetCustomer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "before-erasure.stwbak")
	if _, err := e.app.Backup(ctx, out); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(out)
	for _, p := range []string{"Lovelace", "QQ123456C", "grace@example.com"} {
		if bytes.Contains(raw, []byte(p)) {
			t.Fatalf("backup holds %q in clear", p)
		}
	}
	rid := e.request(`{"type":"erasure","customer_id":"` + id + `"}`)
	if code, body := e.verifyAndComplete(rid, ""); code != 200 {
		t.Fatalf("erase: %d %s", code, body)
	}
	e.srv.Close()
	e.app.Close()

	cfg := config.Default()
	cfg.Data, cfg.DB = e.dir, config.Secret(db)
	// A tampered backup is refused and changes nothing.
	bad := filepath.Join(t.TempDir(), "bad.stwbak")
	tampered := append([]byte{}, raw...)
	tampered[len(tampered)-50] ^= 1
	_ = os.WriteFile(bad, tampered, 0o600)
	if _, err := Restore(ctx, cfg, bad, nil); !errors.Is(err, backup.ErrCorrupt) {
		t.Fatalf("tampered restore: got %v, want ErrCorrupt", err)
	}
	if _, err := VerifyBackup(ctx, cfg, out); err != nil {
		t.Fatalf("verify: %v", err)
	}

	rep, err := Restore(ctx, cfg, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replayed != 1 {
		t.Fatalf("got %d erasures replayed, want 1", rep.Replayed)
	}
	a, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sys := authz.WithActor(ctx, authz.System)
	if _, err := a.Customers.Get(sys, id, ""); !problem.Is(err, problem.Gone) {
		t.Fatalf("erased customer after restore: got %v, want Gone", err)
	}
	if views, err := a.Customers.Find(sys, "email", "ada.lovelace@example.com", "", 0); err != nil || len(views) != 0 {
		t.Fatalf("look-up after restore: %v %v", views, err)
	}
	if _, err := a.Customers.Get(sys, other, ""); err != nil {
		t.Fatalf("other customer after restore: %v", err)
	}
	if ok, _ := a.Rights.IsSuppressed(sys, "email", "ada.lovelace@example.com"); !ok {
		t.Error("erased address not suppressed after restore")
	}
	// The marketing suppression the erasure made came back with the replay: a re-import of
	// the address with an old consent does not bring marketing back.
	again, err := a.Customers.Create(sys, map[string]any{"email": "Ada.Lovelace@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := a.Consents.Record(sys, again.ID, consent.Input{Purpose: "marketing_email", Granted: &yes, PolicyVersion: "2026-01", Source: consent.SourceImport}); err != nil {
		t.Fatal(err)
	}
	if d, err := a.Consents.May(sys, again.ID, "marketing_email"); err != nil || d.Reason != consent.ReasonSuppressed {
		t.Errorf("re-imported after restore: got %+v %v, want suppressed", d, err)
	}
	if _, err := a.Store.Customers().GetCustomer(ctx, id); !problem.Is(err, problem.NotFound) {
		t.Fatalf("restored database still holds the profile: %v", err)
	}
	if _, err := a.Vault.OpenFor(sys, id, "customers", "email", rec.Sealed["email"]); !problem.Is(err, problem.Gone) {
		t.Fatalf("old ciphertext: got %v, want Gone (no key left to open it)", err)
	}
	if _, err := a.Audit.Verify(ctx); err != nil {
		t.Fatalf("audit after restore: %v", err)
	}
	if db == "" {
		// Both restored files (streamed page by page from a live database) are sound.
		var verdict string
		if err := a.Store.Read().QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&verdict); err != nil || verdict != "ok" {
			t.Fatalf("restored database: integrity_check %q %v", verdict, err)
		}
		// The wrapped key and the ciphertexts are not in the restored files, not even in free pages.
		for _, name := range []string{"steward.db", "steward-access.db"} {
			b, _ := os.ReadFile(filepath.Join(cfg.Data, name))
			if bytes.Contains(b, rec.Key) || bytes.Contains(b, rec.Sealed["email"]) {
				t.Errorf("%s still holds the erased customer's key or ciphertext", name)
			}
		}
	}
	acts := strings.Join(func() []string {
		es, _ := a.Store.Audit().ListAudit(ctx, audit.Filter{CustomerID: id, Limit: 100})
		var out []string
		for _, x := range es {
			out = append(out, x.Action)
		}
		return out
	}(), " ")
	if !strings.Contains(acts, "customer.erase.replay") {
		t.Errorf("replay not audited: %s", acts)
	}
}

func TestScheduledBackupRotation(t *testing.T) {
	e := newEnv(t, "")
	e.create(`{"email":"rot@example.com"}`)
	dir := filepath.Join(t.TempDir(), "backups")
	for i := 0; i < 3; i++ {
		name, err := e.app.ScheduledBackup(context.Background(), dir, 2)
		if err != nil {
			t.Fatal(err)
		}
		// Names carry the second; give each an older, distinct one so the next is newer.
		_ = os.Rename(name, filepath.Join(dir, "steward-2000010"+string(rune('1'+i))+"T000000"+BackupExt))
	}
	name, err := e.app.ScheduledBackup(context.Background(), dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"+BackupExt))
	want := []string{filepath.Join(dir, "steward-20000103T000000"+BackupExt), name}
	if len(files) != 2 || files[0] != want[0] || files[1] != want[1] {
		t.Fatalf("got %v, want %v", files, want)
	}
	if _, err := VerifyBackup(context.Background(), config.Config{Data: e.dir, Root: "local"}, name); err != nil {
		t.Fatal(err)
	}
}

// TestBackupHoldsJournaledReads: a backup taken by another process (`steward backup` next to
// a running server) holds the server's latest reads, which are still in its journal rather
// than the trail, and the restore links each of them exactly once.
func TestBackupHoldsJournaledReads(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	id := e.create(ada)
	cfg := config.Default()
	cfg.Data = e.dir
	// The backup process opens first: opening replays nothing of the server's (its journal is
	// locked to it).
	b, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sys := authz.WithActor(ctx, authz.Actor{ID: "reader", Role: "support"})
	const reads = 200
	for i := 0; i < reads; i++ {
		if _, err := e.app.Customers.Get(sys, id, ""); err != nil {
			t.Fatal(err)
		}
	}
	journals, err := sqlite.JournalFiles(cfg.SQLitePath())
	if err != nil || len(journals) < 2 {
		t.Fatalf("journal files %v %v, want the server's and the backup's", journals, err)
	}
	out := filepath.Join(t.TempDir(), "live.stwbak")
	if _, err := b.Backup(ctx, out); err != nil {
		t.Fatal(err)
	}
	b.Close()
	e.srv.Close()
	e.app.Close()

	if _, err := Restore(ctx, cfg, out, nil); err != nil {
		t.Fatal(err)
	}
	a, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	entries, err := a.Store.Audit().ListAudit(ctx, audit.Filter{CustomerID: id, ActorID: "reader", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != reads {
		t.Fatalf("restored trail holds %d of the %d reads made before the backup", len(entries), reads)
	}
	if _, err := a.Audit.Verify(ctx); err != nil {
		t.Fatalf("audit after restore: %v", err)
	}
}
