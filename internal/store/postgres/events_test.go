package postgres

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ingest"
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
