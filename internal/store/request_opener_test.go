package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stewardhq/steward/internal/store"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/postgres"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// TestRequestOpenerBackfill upgrades a database holding requests from before migration 0011
// on both engines: a staff request takes the actor of its request.create audit entry as its
// opener, so the four-eyes rule holds for requests already open at the upgrade; a
// self-service request and a staff request without an entry keep no opener.
func TestRequestOpenerBackfill(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var dsn, driver string
			var ms []store.Migration
			var err error
			if engine == "sqlite" {
				driver, dsn = "sqlite", "file:"+filepath.Join(t.TempDir(), "steward.db")
				ms, err = sqlite.Migrations()
			} else {
				driver, dsn = "pgx", pgtest.URL(t)
				ms, err = postgres.Migrations()
			}
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			db.SetMaxOpenConns(1)
			ctx := context.Background()
			var before []store.Migration
			for _, m := range ms {
				if m.Version < 11 {
					before = append(before, m)
				}
			}
			if err := store.Migrate(ctx, db, before, ""); err != nil {
				t.Fatal(err)
			}
			for _, r := range [][2]string{{"r-staff", "staff"}, {"r-self", "customer"}, {"r-lost", "staff"}} {
				if _, err := db.ExecContext(ctx, `INSERT INTO requests (id, type, state, customer_id, jurisdiction, source, contact_hash,
					token_hash, token_expires, reason, result, version, due_at, created_at, updated_at, verified_at, closed_at)
					VALUES ($1, 'access', 'received', 'c1', 'gdpr', $2, $3, $3, 0, '', '', 1, 1, 1, 1, 0, 0)`, r[0], r[1], []byte{}); err != nil {
					t.Fatal(err)
				}
			}
			for i, a := range [][3]string{{"request.create", "request:r-staff", "key:opener"}, {"request.create", "request:r-self", "portal"},
				{"request.verify", "request:r-lost", "key:verifier"}} {
				if _, err := db.ExecContext(ctx, `INSERT INTO audit_log (chain, seq, at, actor_id, actor_role, action, customer_id, target,
					fields, purpose, request_id, outcome, prev_hash, hash) VALUES (1, $1, 1, $2, 'dpo', $3, 'c1', $4, '', 'privacy_requests', '', 'ok', $5, $5)`,
					i+1, a[2], a[0], a[1], []byte{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := store.Migrate(ctx, db, ms, ""); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[string]string{"r-staff": "key:opener", "r-self": "", "r-lost": ""} {
				var got string
				if err := db.QueryRowContext(ctx, `SELECT opened_by FROM requests WHERE id = $1`, id).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s: opened_by %q, want %q", id, got, want)
				}
			}
		})
	}
}
