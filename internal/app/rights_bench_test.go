package app

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/ingest"

	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// seedCustomers creates n customers through the service, a thousand per transaction.
func seedCustomers(b *testing.B, a *App, n int) []string {
	b.Helper()
	ctx := authz.WithActor(context.Background(), authz.System)
	var ids []string
	for start := 0; start < n; start += 1000 {
		batch := make([]map[string]any, 0, 1000)
		for i := start; i < min(n, start+1000); i++ {
			batch = append(batch, benchPerson(i))
		}
		got, err := a.Customers.CreateBatch(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, got...)
	}
	return ids
}

// BenchmarkErasure erases one customer per iteration (ledger file and row, suppression hashes,
// profile and key, blind index, every registered table, audit), against a plain delete of the
// same customer's rows in one transaction.
func BenchmarkErasure(b *testing.B) {
	a := benchApp(b, b.TempDir())
	defer a.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	ids := seedCustomers(b, a, 2*b.N)
	plain := ids[b.N:]
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := a.Rights.Erase(ctx, ids[i], "", "benchmark"); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	db := a.Store.Write()
	start = time.Now()
	for _, id := range plain {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(`DELETE FROM blind_index WHERE customer_id = $1`, id); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(`DELETE FROM customers WHERE id = $1`, id); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	base := time.Since(start) / time.Duration(len(plain))
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/erasure")
	b.ReportMetric(float64(base.Microseconds())/1000, "ms/plain_delete")
	b.ReportMetric(float64(base)/float64(per), "ratio")
}

// BenchmarkAccessExport completes one verified access request per iteration: every field
// decrypted with its catalog metadata, every registered table's section, JSON and HTML in a
// zip, sealed under the customer's key, stored, audited; against a plain read of the row.
func BenchmarkAccessExport(b *testing.B) {
	a := benchApp(b, b.TempDir())
	defer a.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	ids := seedCustomers(b, a, b.N)
	per := timeExports(b, a, ids)
	start := time.Now()
	for _, id := range ids {
		if _, err := a.Store.Customers().GetCustomer(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	base := time.Since(start) / time.Duration(len(ids))
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/export")
	b.ReportMetric(float64(base.Microseconds())/1000, "ms/plain_read")
	b.ReportMetric(float64(base)/float64(per), "ratio")
}

// BenchmarkBackup writes an encrypted backup of the look-up benchmark's population
// (STEWARD_BENCH_CUSTOMERS; make bench holds 1M customers) against a plain SQLite online backup
// of the same two files.
func BenchmarkBackup(b *testing.B) {
	populate(b)
	a, n := lookupApp, lookupN
	ctx := context.Background()
	out := b.TempDir()
	var ours, plain time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := a.Backup(ctx, filepath.Join(out, "b.stwbak")); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		start = time.Now()
		main := a.Config.SQLitePath()
		for j, p := range []string{main, sqlite.AccessPath(main)} {
			dst := filepath.Join(out, "plain"+strconv.Itoa(j)+".db")
			_ = os.Remove(dst)
			if err := sqlite.Snapshot(ctx, p, dst); err != nil {
				b.Fatal(err)
			}
		}
		plain += time.Since(start)
	}
	st, _ := os.Stat(filepath.Join(out, "b.stwbak"))
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "ms/backup")
	b.ReportMetric(float64(plain.Milliseconds())/float64(b.N), "ms/plain_backup")
	b.ReportMetric(float64(ours)/float64(plain), "ratio")
	b.ReportMetric(float64(n), "customers")
	b.ReportMetric(float64(st.Size())/1e6, "MB")
}

// seedEventfulCustomers makes n customers with events events each, sent as tracking batches of
// identify, page and track calls from one known user, as a shop's site would.
func seedEventfulCustomers(b *testing.B, a *App, n, events int) []string {
	b.Helper()
	ctx := authz.WithActor(context.Background(), authz.System)
	ids := make([]string, n)
	for c := range n {
		for start := 0; start < events; start += ingest.MaxBatchEvents / 5 {
			var body bytes.Buffer
			body.WriteString(`{"batch":[`)
			for k := start; k < min(events, start+ingest.MaxBatchEvents/5); k++ {
				if k > start {
					body.WriteByte(',')
				}
				switch {
				case k == 0:
					fmt.Fprintf(&body, `{"type":"identify","messageId":"m-%d-%d","userId":"member-%d","traits":{"email":"member%d@example.com","firstName":"Ada","lastName":"Byron"}}`, c, k, c, c)
				case k%3 == 0:
					fmt.Fprintf(&body, `{"type":"page","messageId":"m-%d-%d","userId":"member-%d","name":"Product","properties":{"path":"/p/%d","title":"Boots"},"context":{"ip":"203.0.113.%d"}}`, c, k, c, k%500, k%250)
				default:
					fmt.Fprintf(&body, `{"type":"track","messageId":"m-%d-%d","userId":"member-%d","event":"Product Viewed","properties":{"product_id":"p-%d","price":19.99,"currency":"EUR"}}`, c, k, c, k%500)
				}
			}
			body.WriteString(`]}`)
			req, err := ingest.Parse(ingest.KindBatch, body.Bytes(), time.Now())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := a.Ingest.Ingest(ctx, ingest.Batch{KeyID: "bench", Messages: req.Messages, ReceivedAt: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
		if err := a.Store.Read().QueryRowContext(ctx, `SELECT customer_id FROM events GROUP BY customer_id ORDER BY max(id) DESC LIMIT 1`).Scan(&ids[c]); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// eventfulCount is how many events each customer of the 10k-event benchmarks has
// (STEWARD_BENCH_EVENTS, default 10,000).
func eventfulCount() int {
	if v, err := strconv.Atoi(os.Getenv("STEWARD_BENCH_EVENTS")); err == nil && v > 0 {
		return v
	}
	return 10000
}

// BenchmarkErasureEventful erases customers who each have 10k events, against a plain delete of
// another such customer's event and profile rows in one transaction.
func BenchmarkErasureEventful(b *testing.B) {
	a := benchApp(b, b.TempDir())
	defer a.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	events := eventfulCount()
	ids := seedEventfulCustomers(b, a, 2*b.N, events)
	b.ResetTimer()
	start := time.Now()
	for _, id := range ids[:b.N] {
		if _, err := a.Rights.Erase(ctx, id, "", "benchmark"); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	db := a.Store.Write()
	start = time.Now()
	for _, id := range ids[b.N:] {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{`DELETE FROM events WHERE customer_id = $1`, `DELETE FROM identities WHERE customer_id = $1`,
			`DELETE FROM blind_index WHERE customer_id = $1`, `DELETE FROM customers WHERE id = $1`} {
			if _, err := tx.Exec(q, id); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	base := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/erasure")
	b.ReportMetric(float64(base.Microseconds())/1000, "ms/plain_delete")
	b.ReportMetric(float64(base)/float64(per), "ratio")
	b.ReportMetric(float64(events), "events")
}

// BenchmarkAccessExportEventful completes access requests of customers who each have 10k
// events (every event opened and written out as JSON, CSV-free access export with the HTML
// report), against a plain read of the same event rows.
func BenchmarkAccessExportEventful(b *testing.B) {
	a := benchApp(b, b.TempDir())
	defer a.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	events := eventfulCount()
	ids := seedEventfulCustomers(b, a, b.N, events)
	per := timeExports(b, a, ids)
	start := time.Now()
	for _, id := range ids {
		rows, err := a.Store.Read().QueryContext(ctx, `SELECT id, type, name, at, plain, sealed FROM events WHERE customer_id = $1`, id)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var (
				eid, at          int64
				typ, name, plain string
				sealed           []byte
			)
			if err := rows.Scan(&eid, &typ, &name, &at, &plain, &sealed); err != nil {
				b.Fatal(err)
			}
			n++
		}
		rows.Close()
		if n != events {
			b.Fatalf("customer has %d events, want %d", n, events)
		}
	}
	base := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/export")
	b.ReportMetric(float64(base.Microseconds())/1000, "ms/plain_read")
	b.ReportMetric(float64(base)/float64(per), "ratio")
	b.ReportMetric(float64(events), "events")
}

// timeExports opens and verifies an access request for each customer, then times completing
// them (the export itself) and returns the time per export; the timer is stopped on return.
func timeExports(b *testing.B, a *App, ids []string) time.Duration {
	b.Helper()
	ctx := authz.WithActor(context.Background(), authz.System)
	reqs := make([]string, len(ids))
	for i, id := range ids {
		r, err := a.Rights.Create(ctx, rights.NewRequest{Type: rights.TypeAccess, CustomerID: id})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Rights.Verify(ctx, r.ID); err != nil {
			b.Fatal(err)
		}
		reqs[i] = r.ID
	}
	b.ResetTimer()
	start := time.Now()
	for _, id := range reqs {
		if _, err := a.Rights.Complete(ctx, id, rights.Completion{}); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(len(ids))
	b.StopTimer()
	return per
}
