package store_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/store"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/postgres"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// TestTrailReadAsOfOneMoment: verification reads the checkpoints, the heads and the entries
// of the trail while others keep appending (other nodes, jobs). Entries appended after the
// heads were read, before the scan, must not be scanned: beyond their chain's recorded head
// they read as inserted, and a sound trail failed verification (seen in the fault suite with
// every node's jobs writing). The appends here happen exactly there, on both engines.
func TestTrailReadAsOfOneMoment(t *testing.T) {
	ctx := authz.WithActor(context.Background(), authz.System)
	engines := map[string]func(t *testing.T) *store.Engine{
		"sqlite": func(t *testing.T) *store.Engine {
			db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "steward.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return db
		},
		"postgres": func(t *testing.T) *store.Engine {
			db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return db
		},
	}
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			defer db.Close()
			_, key, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			db.SetAuditSealer(&audit.Sealer{Key: key, Every: 4})
			appendSome := func(from, n int) {
				for i := from; i < from+n; i++ {
					e := audit.New(ctx, audit.ActionCustomerCreate, fmt.Sprintf("0190a000-0000-7000-8000-%012d", i), nil, "")
					if err := db.Audit().AppendAudit(ctx, e); err != nil {
						t.Fatal(err)
					}
				}
			}
			appendSome(0, 30)
			verify := func(appendMeanwhile bool) int64 {
				t.Helper()
				var checked int64
				err := db.Audit().ReadTrail(ctx, func(cps []audit.Checkpoint, heads []audit.SealedHead, scan func(func(*audit.Entry) error) error) error {
					if appendMeanwhile {
						appendSome(1000, 20)
					}
					v := audit.NewVerifier(cps, heads, key.Public().(ed25519.PublicKey), audit.HeadKey(key))
					v.Every = 4
					if err := scan(v.Add); err != nil {
						return err
					}
					if err := v.Finish(); err != nil {
						return err
					}
					checked = v.Checked()
					return nil
				})
				if err != nil {
					t.Fatalf("verify (appending meanwhile: %v): %v", appendMeanwhile, err)
				}
				return checked
			}
			if got := verify(true); got != 30 {
				t.Fatalf("verified %d entries while 20 were appended, want the 30 there when it began", got)
			}
			if got := verify(false); got != 50 {
				t.Fatalf("verified %d entries afterwards, want 50", got)
			}
		})
	}
}
