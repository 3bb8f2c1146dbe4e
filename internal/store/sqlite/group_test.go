package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/store"
)

// A reference checked at commit fails a shared transaction without saying whose write broke
// it: the writer that wrote the dangling reference must fail alone, and every other writer of
// the same transaction must commit.
func TestGroupCommitDeferredReference(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "g.db")+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE parent (id TEXT PRIMARY KEY)`,
		`CREATE TABLE child (parent_id TEXT NOT NULL REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED, n INTEGER)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	g, err := startGroupCommit(context.Background(), db, noCore{},
		func(err error) bool { return strings.Contains(err.Error(), "FOREIGN KEY") })
	if err != nil {
		t.Fatal(err)
	}
	defer g.stop()

	// Many rounds, so that the dangling writer shares its transaction with others in most.
	const writers = 24
	var dangling, failed int
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		errs := make([]error, writers)
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				id := fmt.Sprintf("p%d-%d", round, i)
				errs[i] = g.Update(context.Background(), nil, func(ctx context.Context, tx *sql.Tx) error {
					if i == 7 {
						id = "missing" // a child whose parent no writer creates
					} else if _, err := tx.ExecContext(ctx, `INSERT INTO parent (id) VALUES ($1)`, id); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, `INSERT INTO child (parent_id, n) VALUES ($1, $2), ($1, $2)`, id, i)
					return err
				})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			switch {
			case i == 7 && err == nil:
				t.Fatalf("round %d: the dangling reference committed", round)
			case i == 7:
				dangling++
			case err != nil:
				t.Fatalf("round %d: writer %d failed with the dangling one: %v", round, i, err)
			}
		}
		if errs[7] != nil && !strings.Contains(errs[7].Error(), "FOREIGN KEY") {
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d dangling writers failed for another reason than the reference", failed)
	}
	var parents, children, orphans int
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM parent), (SELECT count(*) FROM child),
		(SELECT count(*) FROM child WHERE parent_id NOT IN (SELECT id FROM parent))`).Scan(&parents, &children, &orphans); err != nil {
		t.Fatal(err)
	}
	if want := 20 * (writers - 1); parents != want || children != 2*want || orphans != 0 {
		t.Fatalf("got %d parents, %d children (%d orphans), want %d and %d and none", parents, children, orphans, want, 2*want)
	}
	if dangling != 20 {
		t.Fatalf("dangling writer failed %d times, want 20", dangling)
	}
}

// noCore is a core with no audit trail and no customers, for testing the writer alone.
type noCore struct{}

func (noCore) InsertCreations(context.Context, *sql.Tx, []*store.Creation) error { return nil }
func (noCore) FinishBatch(context.Context, *sql.Tx, *store.Batch) error          { return nil }
func (noCore) AppendAccess(context.Context, *sql.Tx, []audit.Entry) error        { return nil }
func (noCore) Sealed() bool                                                      { return false }
func (noCore) Committed(*store.Batch)                                            {}
func (noCore) Update(context.Context, store.TxFunc) error                        { return nil }

// Writes queued when the store closes each get an answer, committed or refused, and none is
// left waiting; every write answered as committed is there.
func TestGroupCommitClosingAnswersEveryWrite(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "g.db")+"?_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	g, err := startGroupCommit(context.Background(), db, noCore{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.Update(context.Background(), nil, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO t (n) VALUES (?)`, i)
				return err
			})
		}()
		if i == n/2 {
			go g.stop()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("writes still waiting a minute after the writer stopped")
	}
	for i, err := range errs {
		var got int
		serr := db.QueryRow(`SELECT COUNT(*) FROM t WHERE n = ?`, i).Scan(&got)
		if serr != nil {
			t.Fatal(serr)
		}
		if err == nil && got != 1 {
			t.Fatalf("write %d was answered as committed but is not there", i)
		}
		if err != nil && (!errors.Is(err, errClosed) || got != 0) {
			t.Fatalf("write %d: %v, %d rows; want refused as closed and nothing written", i, err, got)
		}
	}
}
