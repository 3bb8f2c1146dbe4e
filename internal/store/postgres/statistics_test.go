package postgres

import (
	"context"
	"database/sql"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/store/pgtest"
)

// TestStatisticsKeptAsTablesGrow: a table that grew by thousands of rows since it was last
// analysed (here: never) is analysed, and the planner then knows its size; one that did not
// change since is left alone.
func TestStatisticsKeptAsTablesGrow(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, pgtest.URL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := db.Write()
	// Only Steward analyses the table here, whenever the server's autovacuum would wake.
	if _, err := w.ExecContext(ctx, `ALTER TABLE ingest_messages SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO ingest_messages (key_id, message_hash, received_at)
		SELECT 'k', decode(md5(g::text), 'hex'), g FROM generate_series(1, 5000) g`); err != nil {
		t.Fatal(err)
	}
	// The server counts changes as each session reports them, within a second or so.
	stale := func() bool {
		var n int64
		if err := w.QueryRowContext(ctx, `SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'ingest_messages'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n >= 5000
	}
	for deadline := time.Now().Add(30 * time.Second); !stale(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server never counted the 5,000 new rows")
		}
	}
	var before float64
	if err := w.QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE relname = 'ingest_messages'`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if before >= 0 {
		t.Fatalf("reltuples %v before any analysis, want -1 (never analysed)", before)
	}
	if err := analyzeStale(ctx, w); err != nil {
		t.Fatal(err)
	}
	var after float64
	var analysed time.Time
	if err := w.QueryRowContext(ctx, `SELECT c.reltuples, s.last_analyze FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
		WHERE c.relname = 'ingest_messages'`).Scan(&after, &analysed); err != nil {
		t.Fatal(err)
	}
	if after != 5000 {
		t.Fatalf("reltuples %v after the analysis, want 5000", after)
	}
	// Nothing changed since: a second pass leaves the table alone.
	if err := analyzeStale(ctx, w); err != nil {
		t.Fatal(err)
	}
	var again time.Time
	if err := w.QueryRowContext(ctx, `SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'ingest_messages'`).Scan(&again); err != nil {
		t.Fatal(err)
	}
	if !again.Equal(analysed) {
		t.Fatalf("analysed again at %v (first at %v) with nothing changed", again, analysed)
	}
}

// TestStatisticsStopWhileDatabaseHangs: a node closing while a pass waits on a database
// that stopped answering (a cut network that drops packets rather than refusing them) does
// not wait for it.
func TestStatisticsStopWhileDatabaseHangs(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Once frozen, bytes read on either side wait for thawed before being passed on.
	var frozen atomic.Bool
	thawed := make(chan struct{})
	pass := func(dst, src net.Conn) {
		defer dst.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if frozen.Load() {
					<-thawed
				}
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go relay(ln, u.Host, pass, nil)
	u.Host = ln.Addr().String()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	frozen.Store(true)
	var thaw sync.Once
	unfreeze := func() { close(thawed) }
	defer thaw.Do(unfreeze) // before the pool closes, which waits for queries in flight
	stop := keepStatistics(db, time.Millisecond)
	// Passes start every millisecond; after a while one is surely waiting on the database.
	time.Sleep(100 * time.Millisecond)
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("stopping waited on a database that does not answer")
	}
	thaw.Do(unfreeze)
}
