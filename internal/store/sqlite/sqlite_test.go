package sqlite

import (
	"bytes"
	"context"
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

// TestBackgroundCheckpoint: the writer never checkpoints, so committed pages must reach the
// database file through the background checkpointer while the store stays open.
func TestBackgroundCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "steward.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	time.Sleep(2 * checkpointEvery) // let the migrations' pages settle first
	before := fileSize(t, path)
	ctx := audit.WithActor(context.Background(), audit.System)
	for i := 0; i < 50; i++ {
		now := time.Now()
		r := &customer.Record{ID: fmt.Sprintf("0190a000-0000-7000-8000-%012d", i), Version: 1, MasterVersion: 1,
			Key: bytes.Repeat([]byte{1}, 60), Sealed: map[string][]byte{"email": bytes.Repeat([]byte{2}, 400)}, CreatedAt: now, UpdatedAt: now}
		if err := db.CreateCustomer(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for fileSize(t, path) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes: nothing checkpointed", before)
		}
		time.Sleep(checkpointEvery / 2)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
