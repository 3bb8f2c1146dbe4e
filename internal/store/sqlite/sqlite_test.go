package sqlite

import (
	"context"
	"path/filepath"
	"testing"

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
