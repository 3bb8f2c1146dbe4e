package app

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/segment"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// segmentCustomers is the population of the segment benchmarks (STEWARD_BENCH_SEGMENT_CUSTOMERS;
// 100,000 unless set).
func segmentCustomers() int {
	if n, err := strconv.Atoi(os.Getenv("STEWARD_BENCH_SEGMENT_CUSTOMERS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

var (
	segOnce sync.Once
	segApp  *App
	segID   string
	segN    int
)

// segmentPerson is customer i of the segment benchmarks: a spread of genders, ages and regions
// so that about one in forty is a woman of 25–34 in Scotland.
func segmentPerson(i int) map[string]any {
	genders := []string{"female", "male", "female", "non_binary"}
	regions := []string{"Scotland", "Wales", "London", "Yorkshire", "Ulster"}
	return map[string]any{"email": fmt.Sprintf("seg%d@example.com", i), "first_name": "Benedict", "gender": genders[i%4],
		"birth_date": fmt.Sprintf("%d-03-17", 1950+i%60), "region": regions[(i/4)%5], "country": "GB"}
}

// populateSegments fills a database once: customers through CreateBatch, then orders and
// order events written straight into their tables (each customer i has i%4 orders in the last
// 90 days), and the same facts in a plain table — the baseline every benchmark compares with:
// one row per customer with the attributes in clear and the order count.
func populateSegments(b *testing.B) {
	segOnce.Do(func() {
		segN = segmentCustomers()
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("steward-bench-segments-%d", segN))
		segApp = benchApp(b, dir)
		a := segApp
		fill(b, a, segN, segmentPerson)
		db := a.Store.Write()
		var have int
		_ = db.QueryRow(`SELECT COUNT(*) FROM bench_segment_plain`).Scan(&have)
		if have < segN {
			start := time.Now()
			now := time.Now().UTC()
			if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS bench_segment_plain (id TEXT PRIMARY KEY, gender TEXT, age_band TEXT, region TEXT, orders INTEGER)`); err != nil {
				b.Fatal(err)
			}
			rows, err := db.Query(`SELECT id FROM customers ORDER BY created_at, id`)
			if err != nil {
				b.Fatal(err)
			}
			var ids []string
			for rows.Next() {
				var id string
				_ = rows.Scan(&id)
				ids = append(ids, id)
			}
			rows.Close()
			for start := 0; start < len(ids); start += 5000 {
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				for i := start; i < min(start+5000, len(ids)); i++ {
					p := segmentPerson(i)
					birth, _ := time.Parse("2006-01-02", p["birth_date"].(string))
					band := customer.AgeBand(birth, now)
					for k := range i % 4 {
						at := now.Add(-time.Duration(5+k*25) * 24 * time.Hour).UnixMicro()
						oid := "o-" + ids[i] + "-" + strconv.Itoa(k)
						mustExec(b, tx, `INSERT INTO orders (order_id, customer_id, status, currency, total, tax, shipping, discount, refunded, items, placed_at, updated_at)
							VALUES ($1, $2, 'completed', 'GBP', 40, 0, 0, 0, 0, '[{"product_id":"scarf","category":"knitwear","price":40,"quantity":1}]', $3, $3)`, oid, ids[i], at)
						mustExec(b, tx, `INSERT INTO events (customer_id, key_id, type, name, category, at, received_at, expires_at, plain)
							VALUES ($1, 'bench', 'track', 'Order Completed', 'behavioural', $2, $2, 0, '{}')`, ids[i], at)
					}
					mustExec(b, tx, `INSERT INTO bench_segment_plain (id, gender, age_band, region, orders) VALUES ($1, $2, $3, $4, $5)`,
						ids[i], p["gender"], band, p["region"], i%4)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			fmt.Fprintf(os.Stderr, "orders, events and the plain table in %s\n", time.Since(start).Round(time.Second))
		}
		ctx := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "analyst"})
		segs, err := a.Segments.List(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range segs {
			if s.Name == benchSegmentName {
				segID = s.ID
			}
		}
		if segID == "" {
			var r segment.Rule
			r.And = []segment.Rule{{Field: "gender", Op: "eq", Value: "female"}, {Field: "birth_date", Op: "eq", Value: "25_34"},
				{Field: "region", Op: "eq", Value: "Scotland"}, {Event: &segment.EventMatch{Name: "Order Completed", WithinDays: 90}, Op: "gte", Value: 2.0}}
			s, err := a.Segments.Create(ctx, segment.Input{Name: benchSegmentName, Purpose: "analytics", Rule: &r})
			if err != nil {
				b.Fatal(err)
			}
			segID = s.ID
			if err := a.Segments.Refresh(authz.WithActor(context.Background(), authz.System)); err != nil {
				b.Fatal(err)
			}
		}
		if err := sqlite.Checkpoint(context.Background(), a.Store); err != nil {
			b.Fatal(err)
		}
	})
}

const benchSegmentName = "Scottish women 25-34, two orders in 90 days"

// plainRule is the benchmark segment's rule as one query over the plain table.
const plainRule = `SELECT id FROM bench_segment_plain WHERE gender = 'female' AND age_band = '25_34' AND region = 'Scotland' AND orders >= 2`

func mustExec(b *testing.B, tx *sql.Tx, q string, args ...any) {
	if _, err := tx.Exec(q, args...); err != nil {
		b.Fatal(err)
	}
}

// plainCount runs the rule over the plain table and counts the rows.
func plainCount(b *testing.B, db *sql.DB) (int, time.Duration) {
	start := time.Now()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM (` + plainRule + `)`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n, time.Since(start)
}

// BenchmarkSegmentCount: GET /v1/segments/{id}/count through the service (the members kept
// current) against counting the same rule over the plain table.
func BenchmarkSegmentCount(b *testing.B) {
	populateSegments(b)
	a := segApp
	ctx := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "analyst"})
	var c segment.Count
	start := time.Now()
	for b.Loop() {
		var err error
		if c, err = a.Segments.Count(ctx, segID); err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(start) / time.Duration(b.N)
	n, base := plainCount(b, a.Store.Read())
	if c.Count == nil || int(*c.Count) != n {
		b.Fatalf("count: got %v, the plain table says %d", c.Count, n)
	}
	b.ReportMetric(float64(took.Microseconds())/1000, "ms/count")
	b.ReportMetric(float64(base.Microseconds())/1000, "ms/plain_count")
	b.ReportMetric(float64(n), "members")
	b.ReportMetric(float64(segN), "customers")
	b.ReportMetric(base.Seconds()/took.Seconds(), "ratio")
}

// BenchmarkSegmentRefresh: a full refresh of the segment (every customer opened, decided and
// evaluated) against selecting the members of the same rule from the plain table.
func BenchmarkSegmentRefresh(b *testing.B) {
	populateSegments(b)
	a := segApp
	sys := authz.WithActor(context.Background(), authz.System)
	start, cpuStart := time.Now(), cpuTime()
	for b.Loop() {
		if err := a.Segments.Refresh(sys); err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(start) / time.Duration(b.N)
	cpu := (cpuTime() - cpuStart) / time.Duration(b.N)
	b.ReportMetric(cpu.Seconds(), "cpu_s/refresh")
	bstart := time.Now()
	rows, err := a.Store.Read().Query(plainRule)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
	}
	rows.Close()
	base := time.Since(bstart)
	b.ReportMetric(took.Seconds(), "s/refresh")
	b.ReportMetric(base.Seconds(), "s/plain_select")
	b.ReportMetric(float64(segN), "customers")
	b.ReportMetric(base.Seconds()/took.Seconds(), "ratio")
}

// BenchmarkTrend: orders per week over 90 days of the segment's members, against the same
// GROUP BY over the orders joined with the plain table's rule.
func BenchmarkTrend(b *testing.B) {
	populateSegments(b)
	a := segApp
	ctx := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "analyst"})
	start := time.Now()
	for b.Loop() {
		if _, err := a.Segments.Trend(ctx, segment.TrendQuery{Metric: segment.MetricOrders, Interval: "week", Segment: segID}); err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(start) / time.Duration(b.N)
	since := time.Now().AddDate(0, 0, -90).UnixMicro()
	bstart := time.Now()
	rows, err := a.Store.Read().Query(`SELECT o.placed_at / 604800000000, COUNT(*), COUNT(DISTINCT o.customer_id) FROM orders o
		JOIN (`+plainRule+`) p ON p.id = o.customer_id WHERE o.placed_at >= $1 GROUP BY 1`, since)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
	}
	rows.Close()
	base := time.Since(bstart)
	b.ReportMetric(float64(took.Microseconds())/1000, "ms/trend")
	b.ReportMetric(float64(base.Microseconds())/1000, "ms/plain_group_by")
	b.ReportMetric(float64(segN), "customers")
	b.ReportMetric(base.Seconds()/took.Seconds(), "ratio")
}

// BenchmarkSegmentIncremental: one customer's order event arrives and their memberships are
// decided again (the change feed read, the profile opened, the decision and the rule), against
// reading the same customer's plain row and order count.
func BenchmarkSegmentIncremental(b *testing.B) {
	populateSegments(b)
	a := segApp
	sys := authz.WithActor(context.Background(), authz.System)
	ids := lookupSample(b, a)
	if _, err := a.Segments.Sync(sys); err != nil { // finds where the change feed stands
		b.Fatal(err)
	}
	i := 0
	var took time.Duration
	for b.Loop() {
		id := ids[i%len(ids)]
		i++
		if _, err := a.Store.Write().Exec(`INSERT INTO events (customer_id, key_id, type, name, category, at, received_at, expires_at, plain)
			VALUES ($1, 'bench', 'track', 'Order Completed', 'behavioural', $2, $2, 0, '{}')`, id, time.Now().UnixMicro()); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		n, err := a.Segments.Sync(sys)
		if err != nil || n != 1 {
			b.Fatalf("sync: %d customers, %v", n, err)
		}
		took += time.Since(start)
	}
	took /= time.Duration(b.N)
	bstart := time.Now()
	for j := range 1000 {
		var g, band, r string
		var o int
		if err := a.Store.Read().QueryRow(`SELECT gender, age_band, region, orders FROM bench_segment_plain WHERE id = $1`, ids[j%len(ids)]).Scan(&g, &band, &r, &o); err != nil {
			b.Fatal(err)
		}
		var n int
		if err := a.Store.Read().QueryRow(`SELECT COUNT(*) FROM events WHERE customer_id = $1 AND at >= $2`, ids[j%len(ids)], time.Now().AddDate(0, 0, -90).UnixMicro()).Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
	base := time.Since(bstart) / 1000
	b.ReportMetric(float64(took.Microseconds())/1000, "ms/update")
	b.ReportMetric(float64(base.Microseconds())/1000, "ms/plain_read")
	b.ReportMetric(float64(segN), "customers")
	b.ReportMetric(base.Seconds()/took.Seconds(), "ratio")
}
