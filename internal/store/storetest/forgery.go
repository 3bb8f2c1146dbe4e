package storetest

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/store"
)

// forge plays an attacker who can write the database but holds no audit key: SHA-256 needs
// no key, so it links an entry properly after the stored head of chain (in the audit tables
// prefixed src) and moves the head along, as Steward would, except for the head's seal. It
// returns the forged entry's position and a function that puts everything back.
func forge(t *testing.T, db *store.Engine, src string, chain int) (int64, func()) {
	t.Helper()
	h := audit.Head{Chain: chain}
	if err := db.Write().QueryRowContext(ctx, fmt.Sprintf(`SELECT seq, hash FROM %saudit_heads WHERE chain = $1`, src), chain).
		Scan(&h.Seq, &h.Hash); err != nil {
		t.Fatal(err)
	}
	var id int64
	for _, s := range db.AuditSources() {
		var m int64
		if err := db.Write().QueryRowContext(ctx, fmt.Sprintf(`SELECT COALESCE(MAX(id), 0) FROM %saudit_log`, s)).Scan(&m); err != nil {
			t.Fatal(err)
		}
		id = max(id, m+1000)
	}
	e := audit.Entry{Time: time.Now().UTC().Truncate(time.Microsecond), ActorID: "key:forger", ActorRole: "owner",
		Action: audit.ActionCustomerRead, CustomerID: "forged", Outcome: audit.OutcomeOK}
	next := audit.Link(h, &e)
	exec(t, db, fmt.Sprintf(`INSERT INTO %saudit_log (id, chain, seq, at, actor_id, actor_role, action, customer_id, target, fields,
		purpose, request_id, outcome, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', '[]', '', '', $9, $10, $11)`, src),
		id, e.Chain, e.Seq, e.Time.UnixMicro(), e.ActorID, e.ActorRole, e.Action, e.CustomerID, e.Outcome, e.PrevHash, e.Hash)
	exec(t, db, fmt.Sprintf(`UPDATE %saudit_heads SET seq = $1, hash = $2 WHERE chain = $3`, src), next.Seq, next.Hash, chain)
	return e.Seq, func() {
		exec(t, db, fmt.Sprintf(`DELETE FROM %saudit_log WHERE id = $1`, src), id)
		exec(t, db, fmt.Sprintf(`UPDATE %saudit_heads SET seq = $1, hash = $2 WHERE chain = $3`, src), h.Seq, h.Hash, chain)
	}
}

func exec(t *testing.T, db *store.Engine, q string, args ...any) {
	t.Helper()
	if _, err := db.Write().ExecContext(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// wantBreak fails unless err is a *audit.Break at chain and seq whose reason contains reason.
func wantBreak(t *testing.T, err error, chain int, seq int64, reason string) {
	t.Helper()
	var b *audit.Break
	if !errors.As(err, &b) {
		t.Fatalf("got %v, want a break at chain %d entry %d", err, chain, seq)
	}
	if b.Chain != chain || b.Seq != seq || !strings.Contains(b.Reason, reason) {
		t.Fatalf("got %v, want a break at chain %d entry %d (%s)", err, chain, seq, reason)
	}
}

// headOf returns the chain of src with the most entries (the lowest numbered of them), and
// its head.
func headOf(t *testing.T, db *store.Engine, src string) audit.Head {
	t.Helper()
	var h audit.Head
	if err := db.Write().QueryRowContext(ctx, fmt.Sprintf(`SELECT chain, seq, hash FROM %saudit_heads ORDER BY seq DESC, chain LIMIT 1`, src)).
		Scan(&h.Chain, &h.Seq, &h.Hash); err != nil {
		t.Fatal(err)
	}
	return h
}

const unvouched = "vouched for by no signed checkpoint and no sealed chain head"

// testAuditForgedEmpty: on a fresh database, an entry forged into a chain that has none yet,
// in every audit file, fails verification at that entry; with it removed the trail verifies.
func testAuditForgedEmpty(t *testing.T, db *store.Engine) {
	s, key := signer(t)
	db.SetAuditSealer(s)
	svc := auditService(db, key)
	for _, src := range db.AuditSources() {
		h := headOf(t, db, src)
		seq, undo := forge(t, db, src, h.Chain)
		if seq != 1 {
			t.Fatalf("got a chain with %d entries, want an empty one", seq-1)
		}
		_, err := svc.Verify(ctx)
		wantBreak(t, err, h.Chain, 1, unvouched)
		if list, _ := db.Audit().ListAudit(ctx, audit.Filter{CustomerID: "forged", Limit: 10}); len(list) != 1 {
			t.Fatalf("got %d forged entries listed, want the 1 verify names", len(list))
		}
		undo()
		if _, err := svc.Verify(ctx); err != nil {
			t.Fatalf("intact trail failed: %v", err)
		}
	}
}

// testAuditForgedTail: entries forged after a chain's last signed checkpoint fail
// verification at the first entry after that checkpoint, the sealed head no longer matching.
func testAuditForgedTail(t *testing.T, db *store.Engine) {
	s, key := signer(t)
	db.SetAuditSealer(s)
	svc := auditService(db, key)
	fillAudit(t, db, 60)
	for i := 0; i < 60; i++ {
		if err := db.Customers().CreateCustomer(ctx, record(id(i), int64(i)), []audit.Entry{entry(audit.ActionCustomerCreate, id(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Verify(ctx); err != nil {
		t.Fatalf("intact trail failed: %v", err)
	}
	for _, src := range db.AuditSources() {
		// A chain past its first checkpoint whose tail does not end at one.
		var h audit.Head
		for i := 0; ; i++ {
			err := db.Write().QueryRowContext(ctx, fmt.Sprintf(`SELECT chain, seq, hash FROM %saudit_heads
				WHERE seq > $1 AND seq %% $1 <> 0 ORDER BY seq DESC, chain LIMIT 1`, src), s.Every).Scan(&h.Chain, &h.Seq, &h.Hash)
			if err == nil {
				break
			}
			if !errors.Is(err, sql.ErrNoRows) || i == 100 {
				t.Fatal(err)
			}
			n := 200 + i
			if err := db.Customers().CreateCustomer(ctx, record(id(n), int64(n)), []audit.Entry{entry(audit.ActionCustomerCreate, id(n))}); err != nil {
				t.Fatal(err)
			}
			fillAudit(t, db, 1)
		}
		_, undo := forge(t, db, src, h.Chain)
		_, err := svc.Verify(ctx)
		wantBreak(t, err, h.Chain, h.Seq/s.Every*s.Every+1, unvouched)
		undo()
		if _, err := svc.Verify(ctx); err != nil {
			t.Fatalf("intact trail failed: %v", err)
		}
	}
}

// testAuditForgeryNotLaundered: the next legitimate appends after a forgery extend the forged
// chains, but must not seal (or checkpoint) what they cannot vouch for, or the forgery would
// pass from then on.
func testAuditForgeryNotLaundered(t *testing.T, db *store.Engine) {
	s, key := signer(t)
	s.Every = 1000 // no checkpoint due: only the heads' seals could vouch
	db.SetAuditSealer(s)
	for _, src := range db.AuditSources() {
		rows, err := db.Write().QueryContext(ctx, fmt.Sprintf(`SELECT chain FROM %saudit_heads ORDER BY chain`, src))
		if err != nil {
			t.Fatal(err)
		}
		var chains []int
		for rows.Next() {
			var c int
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			chains = append(chains, c)
		}
		rows.Close()
		for _, c := range chains {
			forge(t, db, src, c)
		}
	}
	// Append until every chain was extended past its forged entry (engines with several
	// chains pick one at random).
	for i := 0; ; i++ {
		var short int
		for _, src := range db.AuditSources() {
			var n int
			if err := db.Write().QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM %saudit_heads WHERE seq < 2`, src)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			short += n
		}
		if short == 0 {
			break
		}
		if i == 500 {
			t.Fatalf("%d chains never appended to", short)
		}
		if err := db.Customers().CreateCustomer(ctx, record(id(i), int64(i)), []audit.Entry{entry(audit.ActionCustomerCreate, id(i))}); err != nil {
			t.Fatal(err)
		}
		fillAudit(t, db, 1)
	}
	_, err := auditService(db, key).Verify(ctx)
	wantBreak(t, err, 0, 1, unvouched)
}
