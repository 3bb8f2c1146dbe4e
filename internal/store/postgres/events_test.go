package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/store"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// TestEventPartitionsDroppedWhole: events land in the partition of the month they were
// received in; the purge drops a past month whole once everything in it expired, keeps a past
// month holding an event kept until erasure or not yet expired (deleting its expired rows one
// by one), and never touches the current month's partition as a whole.
func TestEventPartitionsDroppedWhole(t *testing.T) {
	ctx := context.Background()
	db, raw := openWithRaw(t)
	now := time.Now().UTC()
	month := func(back int) time.Time { return monthStart(now).AddDate(0, -back, 3) }
	// Months received three and two months ago: the partitions a node running then made.
	if err := ensurePartitions(ctx, raw, month(3)); err != nil {
		t.Fatal(err)
	}
	ev := func(received, expires time.Time) ingest.EventRow {
		return ingest.EventRow{CustomerID: "c1", KeyID: "k1", Type: "track", Name: "Order Completed", Category: "behavioural",
			At: received, ReceivedAt: received, ExpiresAt: expires, Plain: []byte(`{}`)}
	}
	expired, kept := now.Add(-time.Hour), time.Time{}
	err := db.Ingest().IngestTx(ctx, func(ctx context.Context, tx ingest.Tx) error {
		rec := &customer.Record{ID: "c1", Version: 1, MasterVersion: 1, Key: []byte("wrapped"), Sealed: map[string][]byte{},
			CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateCustomers(ctx, []*customer.Record{rec}); err != nil {
			return err
		}
		return tx.InsertEvents(ctx, []ingest.EventRow{
			ev(month(3), expired), ev(month(3), expired), // all expired: dropped whole
			ev(month(2), expired), ev(month(2), kept), // one kept: the month stays, its expired row goes
			ev(now, expired), ev(now, now.Add(time.Hour)), // the current month: row by row
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	partition := func(m time.Time) string { return "events_" + m.Format("y2006m01") }
	for _, m := range []time.Time{month(3), month(2), now} {
		var n int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM ` + partition(m)).Scan(&n); err != nil || n != 2 {
			t.Fatalf("%s holds %d events (%v), want 2", partition(m), n, err)
		}
	}
	n, err := db.Ingest().PurgeIngest(ctx, now.Add(-24*time.Hour), now, 1000)
	if err != nil || n != 4 {
		t.Fatalf("purge: %d events (%v), want 4: two in a dropped month, one expired in each other", n, err)
	}
	var gone sql.NullString
	if err := raw.QueryRow(`SELECT to_regclass($1)::text`, partition(month(3))).Scan(&gone); err != nil || gone.Valid {
		t.Fatalf("the expired month's partition is still there (%v)", err)
	}
	var left int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&left); err != nil || left != 2 {
		t.Fatalf("left %d events (%v), want the kept one and the current month's unexpired one", left, err)
	}
	for _, m := range []time.Time{month(2), now, now.AddDate(0, monthsAhead, 0)} {
		if err := raw.QueryRow(`SELECT to_regclass($1)::text`, partition(m)).Scan(&gone); err != nil || !gone.Valid {
			t.Fatalf("partition %s missing (%v)", partition(m), err)
		}
	}
}

// TestEventPartitionsMigrateStoredEvents: an installation with events, from before the
// partitioning, keeps every event with its id through the migration, each in the month it was
// received in (the oldest two years back), and new events take ids after the old ones.
func TestEventPartitionsMigrateStoredEvents(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var before []store.Migration
	for _, m := range ms {
		if m.Version < 28 {
			before = append(before, m)
		}
	}
	if err := store.Migrate(ctx, raw, before, ""); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	old := now.AddDate(-2, 0, 0)
	if _, err := raw.Exec(`INSERT INTO customers (id, version, master_version, dkey, sealed, plain, created_at, updated_at) VALUES ('c1', 1, 1, '\x00', '\x00', '{}', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{old, old, now} {
		if _, err := raw.Exec(`INSERT INTO events (customer_id, key_id, type, name, category, at, received_at, expires_at, plain) VALUES ('c1', 'k', 'track', 'Order Completed', 'behavioural', $1, $1, 0, '{}')`, at.UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	var maxID int64
	if err := raw.QueryRow(`SELECT MAX(id) FROM events`).Scan(&maxID); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM events_` + old.Format("y2006m01")).Scan(&n); err != nil || n != 2 {
		t.Fatalf("the oldest month holds %d events (%v), want 2", n, err)
	}
	var ids string
	if err := raw.QueryRow(`SELECT string_agg(id::text, ',' ORDER BY id) FROM events`).Scan(&ids); err != nil || ids != fmt.Sprintf("%d,%d,%d", maxID-2, maxID-1, maxID) {
		t.Fatalf("ids after the migration: %s (%v)", ids, err)
	}
	var next int64
	if err := raw.QueryRow(`INSERT INTO events (customer_id, key_id, type, name, category, at, received_at, expires_at, plain) VALUES ('c1', 'k', 'track', 'x', 'behavioural', $1, $1, 0, '{}') RETURNING id`, now.UnixMicro()).Scan(&next); err != nil || next <= maxID {
		t.Fatalf("a new event's id %d (%v), want after %d", next, err, maxID)
	}
}
