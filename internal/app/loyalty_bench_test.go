package app

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/loyalty"
)

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*q))]
}

// BenchmarkLoyaltyTill is a till's visit, one per iteration on SQLite in process: the order is
// recorded for a member (the till's POST /v1/orders), and a redemption follows, which
// settles the order's points into the ledger first (earn) and then spends some of them
// (redeem), each in its own transaction with its audit entries. us_p99 is the whole visit,
// us_p99_earn_redeem the loyalty part alone (earn and redeem). The baseline is the plain
// insert of one ledger row in its own transaction, measured in the same run; ratio is the
// baseline's p99 over the visit's p99.
func BenchmarkLoyaltyTill(b *testing.B) {
	a := benchApp(b, b.TempDir())
	defer a.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	// A till serves many members: a hundred take turns, so no one member's order history
	// (whose figures every order recomputes) grows with the run.
	members := seedCustomers(b, a, 100)
	for _, id := range members {
		if _, err := a.Loyalty.Enrol(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	visits := make([]time.Duration, b.N)
	redeems := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := members[i%len(members)]
		start := time.Now()
		if _, err := a.Ingest.RecordOrder(ctx, "", ingest.TillOrder{CustomerID: id, OrderID: "B-" + strconv.Itoa(i), Currency: "GBP", Total: 250,
			Items: []ingest.OrderItem{{SKU: "MUG", Price: 250, Quantity: 1}}}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := a.Loyalty.Redeem(ctx, id, loyalty.RedeemInput{Points: 100, IdempotencyKey: "bench-redeem-" + strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
		visits[i], redeems[i] = time.Since(start), time.Since(mid)
	}
	b.StopTimer()
	plain := make([]time.Duration, b.N)
	db := a.Store.Write()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := db.Exec(`INSERT INTO loyalty_entries (customer_id, kind, points, balance, cause, ref, order_id, reason, actor, qualifying, expires_at, at, dedup)
			VALUES ($1, 'earn', 1, 1, 'order', $2, $2, '', '', 1, 0, $3, $4)`, "plain-"+strconv.Itoa(i), "P-"+strconv.Itoa(i), time.Now().UnixMicro(), "plain:"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		plain[i] = time.Since(start)
	}
	p99, base := quantile(visits, 0.99), quantile(plain, 0.99)
	b.ReportMetric(float64(quantile(visits, 0.5).Microseconds()), "us_p50")
	b.ReportMetric(float64(p99.Microseconds()), "us_p99")
	b.ReportMetric(float64(quantile(redeems, 0.5).Microseconds()), "us_p50_earn_redeem")
	b.ReportMetric(float64(quantile(redeems, 0.99).Microseconds()), "us_p99_earn_redeem")
	b.ReportMetric(float64(base.Microseconds()), "us_p99_plain_insert")
	b.ReportMetric(float64(base)/float64(p99), "ratio")
}

// seedLedger writes members' accounts and ledgers straight into the database, a thousand rows
// a statement: what is measured is reading and recomputing them, not writing them. Each
// member (named by name) gets entries entries of points each, at at.
func seedLedger(b *testing.B, db *sql.DB, members, entries int, points int64, name func(member int) string, at func(member int) time.Time) {
	b.Helper()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	var acc, ent []string
	var accArgs, entArgs []any
	flush := func(force bool) {
		if len(acc) > 0 && (force || len(acc) >= 1000) {
			if _, err := tx.Exec(`INSERT INTO loyalty_accounts (customer_id, balance, tier, tier_since, joined_at) VALUES `+strings.Join(acc, ","), accArgs...); err != nil {
				b.Fatal(err)
			}
			acc, accArgs = acc[:0], accArgs[:0]
		}
		if len(ent) > 0 && (force || len(ent) >= 1000) {
			if _, err := tx.Exec(`INSERT INTO loyalty_entries (customer_id, kind, points, balance, cause, ref, order_id, reason, actor, qualifying, expires_at, at, dedup) VALUES `+
				strings.Join(ent, ","), entArgs...); err != nil {
				b.Fatal(err)
			}
			ent, entArgs = ent[:0], entArgs[:0]
		}
	}
	for m := 0; m < members; m++ {
		id := name(m)
		when := at(m).UnixMicro()
		n := len(accArgs)
		acc = append(acc, fmt.Sprintf("($%d, $%d, 'bronze', $%d, $%d)", n+1, n+2, n+3, n+3))
		accArgs = append(accArgs, id, points*int64(entries), when)
		for k := 0; k < entries; k++ {
			n := len(entArgs)
			ent = append(ent, fmt.Sprintf("($%d, 'earn', $%d, $%d, 'order', $%d, $%d, '', '', 1, 0, $%d, $%d)", n+1, n+2, n+3, n+4, n+4, n+5, n+6))
			order := id + "-" + strconv.Itoa(k)
			entArgs = append(entArgs, id, points, points*int64(k+1), order, when, "seed:"+order)
			flush(false)
		}
		flush(false)
		if m%100_000 == 99_999 {
			flush(true)
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			if tx, err = db.Begin(); err != nil {
				b.Fatal(err)
			}
		}
	}
	flush(true)
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLoyaltyStatement reads the account of a member with 10,000 ledger entries (the
// balance checked against the ledger's sum, points expiring soon from every lot, the first
// page of the statement, the tier history), against a plain select of the same 10,000 rows.
func BenchmarkLoyaltyStatement(b *testing.B) {
	a := benchApp(b, b.TempDir())
	defer a.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	id := seedCustomers(b, a, 1)[0]
	seedLedger(b, a.Store.Write(), 1, 10_000, 3, func(int) string { return id }, func(int) time.Time { return time.Now() })
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		s, err := a.Loyalty.Get(ctx, id, 0, 50)
		if err != nil {
			b.Fatal(err)
		}
		if s.Balance != 30_000 || len(s.Statement) != 50 {
			b.Fatalf("balance %d, %d entries", s.Balance, len(s.Statement))
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		rows, err := a.Store.Read().Query(`SELECT id, kind, points, balance, cause, ref, order_id, at FROM loyalty_entries WHERE customer_id = $1 ORDER BY id`, id)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var eid, pts, bal, at int64
			var kind, cause, ref, order string
			if err := rows.Scan(&eid, &kind, &pts, &bal, &cause, &ref, &order, &at); err != nil {
				b.Fatal(err)
			}
			n++
		}
		rows.Close()
		if n != 10_000 {
			b.Fatalf("plain select read %d rows", n)
		}
	}
	base := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/statement")
	b.ReportMetric(float64(base.Microseconds())/1000, "ms/plain_select")
	b.ReportMetric(float64(base)/float64(per), "ratio")
}

// BenchmarkLoyaltyTierRecompute moves every member to the tier the rolling window gives them,
// over STEWARD_BENCH_MEMBERS members (default 1,000,000) with one qualifying entry each; one
// in twenty crossed the silver threshold and moves (a tier change and an audit entry each).
// The baseline is a plain aggregate of the same entries by member, in the same run.
func BenchmarkLoyaltyTierRecompute(b *testing.B) {
	members := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("STEWARD_BENCH_MEMBERS")); err == nil && v > 0 {
		members = v
	}
	a := benchApp(b, b.TempDir())
	defer a.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	now := time.Now()
	seedLedger(b, a.Store.Write(), members, 1, 100, func(m int) string { return fmt.Sprintf("m%09d", m) }, func(int) time.Time { return now.Add(-time.Hour) })
	// One member in twenty earned 500 more and crosses the silver threshold.
	if _, err := a.Store.Write().Exec(`INSERT INTO loyalty_entries (customer_id, kind, points, balance, cause, ref, order_id, reason, actor, qualifying, expires_at, at, dedup)
		SELECT customer_id, 'earn', 500, 600, 'order', 'x', 'x' || customer_id, '', '', 1, 0, $1, 'mover:' || customer_id FROM loyalty_accounts
		WHERE substr(customer_id, 9, 2) IN ('00', '20', '40', '60', '80')`, now.Add(-time.Hour).UnixMicro()); err != nil {
		b.Fatal(err)
	}
	if _, err := a.Store.Write().Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var per time.Duration
	moved := 0
	for i := 0; i < b.N; i++ {
		start := time.Now()
		n, err := a.Loyalty.RecomputeTiers(ctx)
		if err != nil {
			b.Fatal(err)
		}
		per += time.Since(start)
		moved += n
	}
	b.StopTimer()
	per /= time.Duration(b.N)
	start := time.Now()
	var rows, sum int64
	r, err := a.Store.Read().Query(`SELECT customer_id, SUM(points) FROM loyalty_entries WHERE qualifying = 1 AND at > $1 GROUP BY customer_id`,
		now.AddDate(0, -12, 0).UnixMicro())
	if err != nil {
		b.Fatal(err)
	}
	for r.Next() {
		var id string
		var s int64
		if err := r.Scan(&id, &s); err != nil {
			b.Fatal(err)
		}
		rows++
		sum += s
	}
	r.Close()
	base := time.Since(start)
	if rows != int64(members) {
		b.Fatalf("plain aggregate: %d members", rows)
	}
	b.ReportMetric(per.Seconds(), "s/recompute")
	b.ReportMetric(base.Seconds(), "s/plain_aggregate")
	b.ReportMetric(float64(members), "members")
	b.ReportMetric(float64(moved)/float64(b.N), "moved")
	b.ReportMetric(base.Seconds()/per.Seconds(), "ratio")
}
