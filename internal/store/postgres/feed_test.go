package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/store"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// openWithRaw opens Steward's store on a new test database, and a plain connection pool to it
// for what a test does behind the store's back; both close when the test ends.
func openWithRaw(t *testing.T) (*store.Engine, *sql.DB) {
	t.Helper()
	url := pgtest.URL(t)
	db, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return db, raw
}

// TestSegmentFeedSeesLateCommits: two writers take consent sequence numbers n and n+1; the one
// holding n+1 commits first and the feed reads it. A plain high-water mark now stands past n,
// so the withdrawal committed afterwards under n would be skipped until the next full refresh.
// The feed finds it on its next read, once, and keeps finding late rows while a transaction
// stays open across several reads — also for events, whose table is partitioned.
func TestSegmentFeedSeesLateCommits(t *testing.T) {
	ctx := context.Background()
	db, raw := openWithRaw(t)
	feed := db.Segments()
	read := func(cursor string) ([]string, string) {
		t.Helper()
		ids, next, err := feed.Changed(ctx, cursor, 100)
		if err != nil {
			t.Fatalf("changed: %v", err)
		}
		slices.Sort(ids)
		return ids, next
	}
	expect := func(cursor string, want ...string) string {
		t.Helper()
		ids, next := read(cursor)
		if !slices.Equal(ids, want) {
			t.Fatalf("feed read %v, want %v", ids, want)
		}
		return next
	}
	begin := func() *sql.Tx {
		t.Helper()
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	consent := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}, id, customer string) int64 {
		t.Helper()
		var seq int64
		err := q.QueryRowContext(ctx, `INSERT INTO consent_records (id, customer_id, kind, purpose, granted, policy_version, source,
			channel, at, form_id, user_agent, ip_hash, tcf, gpp, actor_id, request_id, receipt)
			VALUES ($1, $2, 'consent', 'marketing_email', false, 'v1', 'api', 'web', 0, '', '', '', '', '', '', '', '') RETURNING seq`,
			id, customer).Scan(&seq)
		if err != nil {
			t.Fatalf("insert consent: %v", err)
		}
		return seq
	}
	mustCommit := func(tx *sql.Tx) {
		t.Helper()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}

	cursor := expect("")

	// The smaller sequence number commits after the feed read the larger one.
	slow := begin()
	small := consent(slow, "r1", "withdrew-late")
	large := consent(raw, "r2", "withdrew-first")
	if small >= large {
		t.Fatalf("sequence numbers %d, %d: want the open transaction's smaller", small, large)
	}
	cursor = expect(cursor, "withdrew-first")
	mustCommit(slow)
	var naive int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM consent_records WHERE seq > $1`, large).Scan(&naive); err != nil || naive != 0 {
		t.Fatalf("a plain high-water mark at %d would read %d rows (%v), want 0: the skip", large, naive, err)
	}
	cursor = expect(cursor, "withdrew-late")
	cursor = expect(cursor) // read once, not again

	// A transaction stays open across several reads while later ones commit, on two sources.
	if _, err := raw.Exec(`INSERT INTO customers (id, version, master_version, dkey, sealed, plain, created_at, updated_at)
		VALUES ('c-long', 1, 1, ''::bytea, ''::bytea, '{}', 0, 0), ('c-quick', 1, 1, ''::bytea, ''::bytea, '{}', 0, 0)`); err != nil {
		t.Fatalf("insert customers: %v", err)
	}
	cursor = expect(cursor)
	event := func(tx *sql.Tx, customer string) {
		t.Helper()
		now := time.Now().UnixMicro()
		var exec interface {
			ExecContext(context.Context, string, ...any) (sql.Result, error)
		} = raw
		if tx != nil {
			exec = tx
		}
		if _, err := exec.ExecContext(ctx, `INSERT INTO events (customer_id, key_id, type, name, category, at, received_at, expires_at, plain)
			VALUES ($1, 'k', 'track', 'Order Completed', 'behavioural', $2, $2, 0, '{}')`, customer, now); err != nil {
			t.Fatalf("insert event: %v", err)
		}
	}
	long := begin()
	event(long, "c-long")
	consent(long, "r3", "long-consent")
	for i := range 3 {
		event(nil, "c-quick")
		consent(raw, "r-quick-"+string(rune('a'+i)), "quick")
		cursor = expect(cursor, "c-quick", "quick")
	}
	mustCommit(long)
	cursor = expect(cursor, "c-long", "long-consent")
	cursor = expect(cursor)

	// Once nothing is open the floors catch up with the marks: the window behind them closes.
	cursor = expect(expect(cursor))
	var c struct{ Marks, Floors [4]int64 }
	if err := json.Unmarshal([]byte(cursor), &c); err != nil {
		t.Fatal(err)
	}
	if c.Floors != c.Marks {
		t.Fatalf("floors %v, want the marks %v once no transaction is open", c.Floors, c.Marks)
	}
}
