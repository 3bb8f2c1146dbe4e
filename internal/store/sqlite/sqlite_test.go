package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/store"
	"github.com/stewardhq/steward/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Engine {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "steward.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestAccessTrailKeepsMainFileUnchanged: audited reads append to the access trail file, so
// the main file — whose readers would otherwise drop their page caches — does not change;
// changes still write their entries to the main file, in the same transaction.
func TestAccessTrailKeepsMainFileUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "steward.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	watch, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	conn, err := watch.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	version := func() (v int64) {
		if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	for i := 0; i < 20; i++ {
		if err := db.Audit().AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, "c", []string{"email"}, "")); err != nil {
			t.Fatal(err)
		}
	}
	if got := version(); got != before {
		t.Fatalf("main file changed by reads: data_version %d, want %d", got, before)
	}
	now := time.Now()
	r := &customer.Record{ID: "0190a000-0000-7000-8000-000000000001", Version: 1, MasterVersion: 1, Key: []byte{1},
		Sealed: map[string][]byte{}, CreatedAt: now, UpdatedAt: now}
	if err := db.Customers().CreateCustomer(ctx, r, []audit.Entry{audit.New(ctx, audit.ActionCustomerCreate, r.ID, nil, "")}); err != nil {
		t.Fatal(err)
	}
	if got := version(); got == before {
		t.Fatal("main file unchanged by a create")
	}
	// The create's transaction linked the journaled reads ahead of its own entry.
	var inMain, inAccess int
	watch.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&inMain)
	if _, err := os.Stat(AccessPath(path)); err != nil {
		t.Fatal(err)
	}
	acc, err := sql.Open("sqlite", "file:"+AccessPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	acc.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&inAccess)
	if inMain != 1 || inAccess != 20 {
		t.Fatalf("got %d entries in the main file and %d in the access trail, want 1 and 20", inMain, inAccess)
	}
	list, err := db.Audit().ListAudit(ctx, audit.Filter{Limit: 100})
	if err != nil || len(list) != 21 || list[0].Action != audit.ActionCustomerCreate {
		t.Fatalf("got %d entries (%v), want 21, the create newest", len(list), err)
	}
}

// TestWALStaysBounded: under a steady stream of commits the WAL must keep restarting from its
// beginning instead of growing. The test drives the checkpointer's rounds itself, so nothing
// depends on how fast the machine is: each round falls due after checkpointCommits commits,
// its copy cannot take the frames committed after a reader's snapshot (as it cannot take
// those committed while it runs), and only the writer's catch-up lets the WAL restart. The
// restarts are counted by the WAL's own checkpoint sequence number, which SQLite raises
// each time it starts the log afresh.
func TestWALStaysBounded(t *testing.T) {
	ctx := context.Background()
	r := newWALRig(t, 1000, false)
	var snapshot *sql.Tx
	r.c.copied = func() { snapshot.Rollback() }
	start := walCheckpointSeq(t, r.db+"-wal")
	var first int64
	const rounds = 6
	for round := 1; round <= rounds; round++ {
		// The writer signals a round after checkpointCommits commits (seen by the next commit
		// at the latest: it signals after answering).
		if n := r.commitUntilDue(checkpointCommits + 1); n < 0 {
			t.Fatalf("round %d: no checkpoint due after %d commits, want one every %d", round, checkpointCommits+1, checkpointCommits)
		}
		// A reader holds a snapshot while more commits land, so the copy leaves their frames.
		var err error
		snapshot, err = r.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := snapshot.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			r.commit()
		}
		r.c.round()
		r.commit() // the writer catches up after this commit…
		r.commit() // …so this one starts the WAL afresh
		if got := walCheckpointSeq(t, r.db+"-wal") - start; got != uint32(round) {
			t.Fatalf("after %d checkpoint rounds the WAL restarted %d times: it never restarts", round, got)
		}
		size := fileSize(t, r.db+"-wal")
		if round == 1 {
			first = size
		} else if size > first+first/2 {
			t.Fatalf("round %d: WAL grew from %d to %d bytes", round, first, size)
		}
	}
}

// TestWALBoundedBySize: commits of hundreds of pages each (an ingest batch, a flush of the
// access journal) make a checkpoint due once the WAL holds checkpointBytes, long before
// checkpointCommits of them, round after round, and the WAL file stays about that size.
func TestWALBoundedBySize(t *testing.T) {
	// Restored after the rig's writer has stopped (cleanups run last first).
	saved := checkpointBytes
	t.Cleanup(func() { checkpointBytes = saved })
	checkpointBytes = 8 << 20 // a shorter run; the mechanism is the same
	const row = 256 << 10     // some 65 pages a commit
	r := newWALRig(t, row, true)
	most := int(checkpointBytes/row) + 2*checkpointLook
	for round := 1; round <= 4; round++ {
		n := r.commitUntilDue(most)
		if n < 0 {
			t.Fatalf("round %d: no checkpoint due after %d commits of %d KiB, want one per %d MiB of WAL", round, most, row>>10, checkpointBytes>>20)
		}
		if n >= checkpointCommits {
			t.Fatalf("round %d: due only after %d commits", round, n)
		}
		r.c.round()
		r.commit() // the writer catches up…
		r.commit() // …and the WAL restarts
		if size := fileSize(t, r.db+"-wal"); size > checkpointBytes+int64((checkpointLook+4)*row) {
			t.Fatalf("round %d: WAL file of %d bytes, want about %d", round, size, checkpointBytes)
		}
		if l := walLength(r.db); l > 4*row {
			t.Fatalf("round %d: after the restart the WAL holds %d bytes of frames", round, l)
		}
	}
}

// walRig is a group-commit writer on a fresh database with a checkpointer whose rounds the
// test runs itself, so nothing depends on how fast the machine is.
type walRig struct {
	t      *testing.T
	c      *checkpointer
	reader *sql.DB
	db     string // the database file; its WAL is db+"-wal"
	commit func()
}

// newWALRig commits rows of rowBytes random bytes each; bySize hands the checkpointer the
// database whose WAL length it watches.
func newWALRig(t *testing.T, rowBytes int, bySize bool) *walRig {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	open := func(extra string) *sql.DB {
		db, err := sql.Open("sqlite", dsn+extra)
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	write := open("&_pragma=wal_autocheckpoint(0)" + writerMark)
	if _, err := write.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	r := &walRig{t: t, reader: open("&_pragma=query_only(1)"), db: path}
	g, err := startGroupCommit(ctx, write, noCore{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.stop() })
	var dbs []string
	if bySize {
		dbs = []string{path}
	}
	r.c = newCheckpointer(g, open(""), dbs...) // not started: the test runs the rounds
	r.commit = func() {
		t.Helper()
		if err := g.Update(ctx, nil, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES (randomblob($1))`, rowBytes)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// commitUntilDue commits until a checkpoint round is due and returns how many commits that
// took, or -1 if none fell due within most.
func (r *walRig) commitUntilDue(most int) int {
	r.t.Helper()
	for n := 0; ; n++ {
		select {
		case <-r.c.due:
			return n
		default:
		}
		if n > most {
			return -1
		}
		r.commit()
	}
}

// walCheckpointSeq reads the checkpoint sequence number from the header of the WAL file at
// path: SQLite raises it every time the log restarts from its beginning.
func walCheckpointSeq(t *testing.T, path string) uint32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 32 {
		t.Fatalf("%s holds %d bytes, no WAL header", path, len(b))
	}
	return binary.BigEndian.Uint32(b[12:16])
}

func TestRestrictionsMigrate(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	storetest.RestrictionsMigrate(t, "sqlite", filepath.Join(t.TempDir(), "old.db"), ms, "")
}

func TestSearchBlocksMigrate(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	storetest.SearchBlocksMigrate(t, "sqlite", filepath.Join(t.TempDir(), "old.db"), ms, "", func(t *testing.T, path string) *store.Engine {
		db, err := Open(context.Background(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

// TestDeferredReferencesMigrate: migration 0009 rebuilds the blind index and the identities
// with references checked at commit; what they held stays, the trigger that reads the blind
// index still fires, erasing a customer still takes its rows with it, and a dangling reference
// still cannot commit.
func TestDeferredReferencesMigrate(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "old.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if err := store.Migrate(ctx, db, ms[:8], ""); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tokens := map[string]int{"c1": 101, "c2": 102}
	for id, token := range tokens {
		exec(`INSERT INTO customers (id, version, master_version, dkey, sealed, plain, created_at, updated_at) VALUES ($1, 1, 1, x'00', x'00', '{}', 1, 1)`, id)
		exec(`INSERT INTO blind_index (field, token, customer_id) VALUES ('email', $1, $2)`, token, id)
		exec(`INSERT INTO identities (kind, token, customer_id, sealed, created_at) VALUES ('email', $1, $2, x'01', 5)`, []byte("tok-"+id), id)
	}
	if err := store.Migrate(ctx, db, ms, ""); err != nil {
		t.Fatal(err)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if b, i := count(`SELECT count(*) FROM blind_index`), count(`SELECT count(*) FROM identities WHERE sealed = x'01' AND created_at = 5`); b != 2 || i != 2 {
		t.Fatalf("after the migration: %d blind-index rows and %d identities, want 2 and 2", b, i)
	}
	for _, table := range []string{"blind_index", "identities"} {
		if n := count(`SELECT count(*) FROM sqlite_schema WHERE name = $1 AND sql LIKE '%DEFERRABLE INITIALLY DEFERRED%'`, table); n != 1 {
			t.Fatalf("%s's reference is not deferred", table)
		}
		if n := count(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = $1`, table+"_customer"); n != 1 {
			t.Fatalf("%s lost its customer index", table)
		}
	}
	// The suppression trigger reaches the customer through the rebuilt blind index.
	exec(`INSERT INTO suppressions (hash, token, field, purpose, source, at, actor_id) VALUES ('h', $1, 'email', 'marketing', 'api', 1, 'a')`, tokens["c1"])
	if n := count(`SELECT decision_seq FROM customers WHERE id = 'c1'`); n != 1 {
		t.Fatalf("decision_seq after a matching suppression: %d, want 1", n)
	}
	exec(`DELETE FROM customers WHERE id = 'c2'`)
	if b, i := count(`SELECT count(*) FROM blind_index WHERE customer_id = 'c2'`), count(`SELECT count(*) FROM identities WHERE customer_id = 'c2'`); b+i != 0 {
		t.Fatalf("deleting a customer left %d blind-index rows and %d identities", b, i)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO blind_index (field, token, customer_id) VALUES ('email', 1, 'nobody'), ('phone', 2, 'nobody')`); err != nil {
		t.Fatalf("the dangling insert failed at once, not at commit: %v", err)
	}
	if err := tx.Commit(); err == nil || !isConstraint(err) {
		t.Fatalf("a dangling reference committed or failed otherwise: %v", err)
	}
	if n := count(`SELECT count(*) FROM blind_index WHERE customer_id = 'nobody'`); n != 0 {
		t.Fatalf("%d dangling rows stored", n)
	}
}
