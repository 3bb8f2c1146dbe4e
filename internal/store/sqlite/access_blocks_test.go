package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/store"
)

// TestAccessTrailReadsEveryBlock: the access trail's index by customer leads with the entry's
// block of ids (access/0004), so a customer's entries are read block by block. Entries in
// the first block, in blocks far apart and in the newest are all listed, newest first and
// page by page, and all counted for the customer's erasure report, through that index.
func TestAccessTrailReadsEveryBlock(t *testing.T) {
	ctx := authz.WithActor(context.Background(), authz.System)
	db, err := Open(ctx, filepath.Join(t.TempDir(), "steward.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	read := func(customer string) {
		t.Helper()
		if err := db.Audit().AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, customer, []string{"email"}, "")); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"c1", "c2", "c1", "c1"} {
		read(c)
	}
	listed := func(f audit.Filter) []int64 {
		t.Helper()
		es, err := db.Audit().ListAudit(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, e := range es {
			if e.CustomerID != f.CustomerID {
				t.Fatalf("listed %s's entry %d for %s", e.CustomerID, e.ID, f.CustomerID)
			}
			ids = append(ids, e.ID)
		}
		return ids
	}
	first := listed(audit.Filter{CustomerID: "c1", Limit: 100})
	if len(first) != 3 {
		t.Fatalf("c1 has %d entries in the first block, want 3", len(first))
	}
	// A trail of millions of entries, in few rows: entries of c1 in blocks 1 and 5, of c2
	// in block 9, with the ids Steward would have given them there.
	far := map[int64]string{1<<18 + 7: "c1", 5<<18 + 3: "c1", 9<<18 + 11: "c2"}
	for id, c := range far {
		if _, err := db.Write().ExecContext(ctx, `INSERT INTO access.audit_log (id, chain, seq, at, actor_id, actor_role, action,
			customer_id, target, fields, purpose, request_id, outcome, prev_hash, hash)
			VALUES ($1, 1, $1, 1, 'a', 'support', 'customer.read', $2, '', 'email', '', '', 'ok', x'00', x'00')`, id, c); err != nil {
			t.Fatal(err)
		}
	}
	// The next entries follow the newest id, in the newest block.
	read("c1")
	read("c2")
	all := listed(audit.Filter{CustomerID: "c1", Limit: 100})
	if len(all) != 6 || !slices.IsSortedFunc(all, func(a, b int64) int { return int(b - a) }) {
		t.Fatalf("c1's entries: %v, want six, newest first", all)
	}
	if all[0] < 9<<18 || all[1] != 5<<18+3 || all[2] != 1<<18+7 || !slices.Equal(all[3:], first) {
		t.Fatalf("c1's entries: %v, want the newest, then blocks 5 and 1, then %v", all, first)
	}
	var paged []int64
	for before := int64(0); ; {
		page := listed(audit.Filter{CustomerID: "c1", BeforeID: before, Limit: 2})
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		before = page[len(page)-1]
	}
	if !slices.Equal(paged, all) {
		t.Fatalf("paged two at a time: %v, want %v", paged, all)
	}
	// Every other filter, with the customer's, against the entries above.
	entries, err := db.Audit().ListAudit(ctx, audit.Filter{CustomerID: "c1", Limit: -1})
	if err != nil || len(entries) != len(all) {
		t.Fatalf("c1 with no limit: %d entries (%v), want %d", len(entries), err, len(all))
	}
	actor := entries[len(entries)-1].ActorID
	boundary := time.UnixMicro(2)
	for _, f := range []audit.Filter{
		{ActorID: "a"}, {ActorID: actor}, {Action: "customer.read"}, {Action: "customer.lookup"},
		{Since: boundary}, {Until: boundary}, {ActorID: "a", BeforeID: 5<<18 + 3}, {ActorID: actor, BeforeID: all[0]},
		{ActorID: "a", Action: "customer.read", Until: boundary, BeforeID: 5<<18 + 4, Limit: 1},
		{BeforeID: 1<<18 + 7}, {BeforeID: 1 << 18}, {Limit: 1}, {Limit: 0},
	} {
		f.CustomerID = "c1"
		var want []int64
		for _, e := range entries {
			if (f.ActorID == "" || e.ActorID == f.ActorID) && (f.Action == "" || e.Action == f.Action) &&
				(f.Since.IsZero() || !e.Time.Before(f.Since)) && (f.Until.IsZero() || e.Time.Before(f.Until)) &&
				(f.BeforeID == 0 || e.ID < f.BeforeID) {
				want = append(want, e.ID)
			}
		}
		limit := f.Limit
		if limit == 0 && (f.ActorID != "" || f.Action != "" || !f.Since.IsZero() || !f.Until.IsZero() || f.BeforeID != 0) {
			f.Limit, limit = 100, 100
		}
		if got := listed(f); !slices.Equal(got, want[:min(len(want), limit)]) {
			t.Errorf("%+v: listed %v, want %v", f, got, want[:min(len(want), limit)])
		}
	}
	for c, want := range map[string]int64{"c1": 6, "c2": 3} {
		n, err := db.Rights().CountRows(ctx, "audit_log", c)
		if err != nil || n != want {
			t.Fatalf("%s: counted %d entries (%v), want %d", c, n, err, want)
		}
	}
	// Both conditions are the index's: one probe per block, no scan of the trail, and a
	// block's entries in the index's order, no sort.
	counted := explain(t, db.Read(), `SELECT COUNT(*) FROM access.audit_log WHERE `+store.AccessCustomerSQL("access.", accessBlockBits, "$1"), "c1")
	if !strings.Contains(counted, "INDEX audit_log_customer_block (<expr>=? AND customer_id=?)") {
		t.Errorf("a customer's access entries are counted beyond their index:\n%s", counted)
	}
	// With an actor and a cursor, SQLite without statistics would take the actor's index, and
	// read the actor's history once per block: the statement names the index.
	for _, where := range []string{` WHERE customer_id = $1`, ` WHERE customer_id = $1 AND actor_id = $2 AND id < $3`} {
		args := []any{"c1", "a", 1 << 20}[:strings.Count(where, "$")]
		page := explain(t, db.Read(), store.AccessPageSQL("access.", accessBlockIndex, accessBlockBits, where, len(args)), append(args, 3, 5)...)
		if !strings.Contains(page, "INDEX audit_log_customer_block (<expr>=? AND customer_id=?") || strings.Contains(page, "TEMP B-TREE") {
			t.Errorf("a block of a customer's access entries is listed beyond its index:\n%s", page)
		}
	}
}

// explain returns SQLite's plan for q.
func explain(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "\n")
}

// TestAccessBlocksMigrate: a trail indexed by customer alone gets the index by block in its
// place, and keeps its entries.
func TestAccessBlocksMigrate(t *testing.T) {
	ms, err := AccessMigrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "access.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if err := store.Migrate(ctx, db, ms[:3], ""); err != nil {
		t.Fatal(err)
	}
	for i, id := range []int64{5, 3<<18 + 1, 3<<18 + 2} {
		if _, err := db.Exec(`INSERT INTO audit_log (id, chain, seq, at, actor_id, actor_role, action, customer_id, target, fields,
			purpose, request_id, outcome, prev_hash, hash) VALUES ($1, 1, $2, 1, 'a', 'support', 'customer.read', 'c1', '', '', '', '', 'ok', x'00', x'00')`, id, i+1); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Migrate(ctx, db, ms, ""); err != nil {
		t.Fatal(err)
	}
	var indexes []string
	rows, err := db.Query(`SELECT name FROM pragma_index_list('audit_log') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, name)
	}
	rows.Close()
	if !slices.Equal(indexes, []string{"audit_log_actor", "audit_log_customer_block"}) {
		t.Fatalf("indexes after the upgrade: %v", indexes)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM audit_log INDEXED BY audit_log_customer_block WHERE id >> 18 IN (0, 3) AND customer_id = 'c1'`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("found %d of c1's 3 entries by block (%v)", n, err)
	}
}

// TestAccessListingLeavesAConnection: a customer's listing reads the access trail in a read
// transaction, and prepares its statements before taking that transaction's connection.
// Prepared from inside it, a listing waited for a second connection: with all but one of
// the read pool's connections busy it waited for ever, and so did as many listings at once
// as the pool has connections, and every read queued behind them.
func TestAccessListingLeavesAConnection(t *testing.T) {
	ctx := authz.WithActor(context.Background(), authz.System)
	db, err := Open(ctx, filepath.Join(t.TempDir(), "steward.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Audit().AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, "c1", nil, "")); err != nil {
		t.Fatal(err)
	}
	held := db.Read().Stats().MaxOpenConnections - 1
	for range held {
		conn, err := db.Read().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
	}
	// A filter shape no statement was prepared for yet.
	deadline, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := db.Audit().ListAudit(deadline, audit.Filter{CustomerID: "c1", Action: audit.ActionCustomerRead, Limit: 5})
	if err != nil || len(list) != 1 {
		t.Fatalf("with %d of the read pool's connections busy, listed %d entries (%v), want 1", held, len(list), err)
	}
}
