package keys

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/store/sqlite"
	"github.com/stewardhq/steward/internal/vault"
)

// TestOtherNodeSeesRotation: two managers over one database, as two nodes; after one rotates,
// the other wraps new data keys with the new master once its keyset is stale, and opens keys
// wrapped by the new master at once.
func TestOtherNodeSeesRotation(t *testing.T) {
	ctx := audit.WithActor(context.Background(), audit.System)
	dir := t.TempDir()
	if err := vault.CreateLocalRoot(filepath.Join(dir, "root.key")); err != nil {
		t.Fatal(err)
	}
	root, err := vault.OpenLocalRoot(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "steward.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := Init(ctx, root, db, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, root, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	_, w, err := a.NewDataKey("c1")
	if err != nil || w.MasterVersion != 2 {
		t.Fatalf("rotating node wraps with v%d (%v), want v2", w.MasterVersion, err)
	}
	if _, err := b.OpenDataKey(ctx, "c1", w); err != nil {
		t.Fatalf("other node cannot open a key wrapped by the new master: %v", err)
	}
	b.mu.Lock()
	b.loadedAt = time.Now().Add(-2 * RefreshEvery)
	b.mu.Unlock()
	_, w, err = b.NewDataKey("c2")
	if err != nil || w.MasterVersion != 2 {
		t.Fatalf("other node wraps with v%d (%v) after refreshing, want v2", w.MasterVersion, err)
	}
}
