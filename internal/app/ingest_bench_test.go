package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/importer"
)

// benchBatch is one /v1/batch body of n messages from a population of visitors: most are
// page views and track events of known visitors, some identify calls.
func benchBatch(seq, n int) []byte { return benchBatchFrom(seq, n, 0) }

// benchBatchFrom is benchBatch for another 20,000 visitors, numbered from base on, with
// message IDs of their own: a warm-up that stores what the timed batches will not meet.
func benchBatchFrom(seq, n, base int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"batch":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		k := seq*n + i
		visitor := base + (k*7919)%20000
		if base > 0 {
			k += base * 1000
		}
		switch k % 10 {
		case 0:
			fmt.Fprintf(&b, `{"type":"identify","messageId":"b-%d","anonymousId":"anon-%d","userId":"user-%d","traits":{"email":"visitor%d@example.com","firstName":"Vera"}}`, k, visitor, visitor, visitor)
		case 1, 2, 3:
			fmt.Fprintf(&b, `{"type":"page","messageId":"b-%d","anonymousId":"anon-%d","name":"Product","properties":{"path":"/p/%d","title":"Boots","url":"https://shop.example/p/%d"},"context":{"ip":"203.0.113.%d","userAgent":"Mozilla/5.0 (X11; Linux x86_64)"}}`, k, visitor, k%500, k%500, k%250)
		default:
			fmt.Fprintf(&b, `{"type":"track","messageId":"b-%d","anonymousId":"anon-%d","event":"Product Viewed","properties":{"product_id":"p-%d","sku":"SKU-%d","price":19.99,"currency":"EUR","category":"boots"},"context":{"ip":"203.0.113.%d"}}`, k, visitor, k%500, k%500, k%250)
		}
	}
	b.WriteString(`],"sentAt":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"}`)
	return b.Bytes()
}

// BenchmarkIngestBatchHTTP: sustained /v1/batch over loopback HTTP into SQLite — parse,
// minimise, stitch, seal, deduplicate, audit, one transaction per batch — from concurrent
// clients, against a plain insert of the same event rows (one transaction per batch) in the
// same run. It reports events/s, the ratio, and p99 batch latency.
func BenchmarkIngestBatchHTTP(b *testing.B) {
	a := benchApp(b, b.TempDir())
	defer a.Close()
	srv := httptest.NewServer(a.HTTP().Handler())
	defer srv.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	key, _, err := a.APIKeys.Create(ctx, "ingest", "bench")
	if err != nil {
		b.Fatal(err)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
	const perBatch, clients = 500, 8
	batches := max(1, b.N/perBatch)
	bodies := make([][]byte, batches)
	for i := range bodies {
		bodies[i] = benchBatch(i, perBatch)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	headers := map[string]string{"Authorization": auth, "Content-Type": "application/json"}
	post := func(body []byte) (int, time.Duration) {
		return timedPost(b, client, srv.URL+"/v1/batch", body, headers)
	}
	var mu sync.Mutex
	var lat []time.Duration
	var next atomic.Int64
	since := maxAuditID(b, a.Store.Write())
	b.ResetTimer()
	start, cpuStart := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= batches {
					return
				}
				code, d := post(bodies[i])
				if code != 200 {
					b.Errorf("batch %d: got %d", i, code)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took, cpu := time.Since(start), cpuTime()-cpuStart
	b.StopTimer()
	var stored int
	if err := a.Store.Write().QueryRow(`SELECT COUNT(*) FROM events`).Scan(&stored); err != nil || stored != batches*perBatch {
		b.Fatalf("stored %d events, want %d (%v)", stored, batches*perBatch, err)
	}
	cpuStart = cpuTime()
	base := plainEventInsert(b, a, batches, perBatch, clients)
	baseCPU := cpuTime() - cpuStart
	rowsBase, rows := plainIngestedRows(b, a, start, since, batches, clients)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99 := lat[min(len(lat)-1, len(lat)*99/100)]
	b.ReportMetric(float64(batches*perBatch)/took.Seconds(), "events/s")
	b.ReportMetric(float64(batches*perBatch)/base.Seconds(), "plain_events/s")
	b.ReportMetric(base.Seconds()/took.Seconds(), "ratio")
	b.ReportMetric(rowsBase.Seconds()/took.Seconds(), "rows_ratio")
	b.ReportMetric(base.Seconds()/rowsBase.Seconds(), "rows_ceiling")
	b.ReportMetric(float64(rows)/float64(batches*perBatch), "rows/event")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	// Processor time per event, the server's and the clients' together, and the plain
	// inserts': on a shared machine it varies less than throughput does.
	b.ReportMetric(float64(cpu.Microseconds())/float64(batches*perBatch), "cpu_us/event")
	b.ReportMetric(float64(baseCPU.Microseconds())/float64(batches*perBatch), "plain_cpu_us/event")
}

// plainEventInsert stores the same number of event rows the benchmark stored, copied from
// what it stored, one transaction per batch from the same number of clients.
func plainEventInsert(b *testing.B, a *App, batches, perBatch, clients int) time.Duration {
	b.Helper()
	db := a.Store.Write()
	if _, err := db.Exec(`CREATE TABLE bench_events AS SELECT * FROM events WHERE 1 = 0`); err != nil {
		b.Fatal(err)
	}
	type row struct {
		cust, key, typ, name, cat, plain string
		at, recv, exp                    int64
		sealed                           []byte
	}
	rows := make([]row, 0, perBatch)
	rs, err := db.Query(`SELECT customer_id, key_id, type, name, category, at, received_at, expires_at, plain, sealed FROM events LIMIT $1`, perBatch)
	if err != nil {
		b.Fatal(err)
	}
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.cust, &r.key, &r.typ, &r.name, &r.cat, &r.at, &r.recv, &r.exp, &r.plain, &r.sealed); err != nil {
			b.Fatal(err)
		}
		rows = append(rows, r)
	}
	rs.Close()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for int(next.Add(1)) <= batches {
				tx, err := db.Begin()
				if err != nil {
					b.Error(err)
					return
				}
				st, _ := tx.Prepare(`INSERT INTO bench_events (customer_id, key_id, type, name, category, at, received_at, expires_at, plain, sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`)
				for _, r := range rows {
					if _, err := st.Exec(r.cust, r.key, r.typ, r.name, r.cat, r.at, r.recv, r.exp, r.plain, r.sealed); err != nil {
						b.Error(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkIngestOverload sends from twice as many clients as the server takes requests at
// once and reports the peak heap and the share of requests told to retry: memory stays
// bounded because waiting requests hold their body's bytes only (parsed once they have a
// slot), at most four per slot in all.
func BenchmarkIngestOverload(b *testing.B) {
	a := benchApp(b, b.TempDir())
	defer a.Close()
	a.Config.TrackingSlots = 4
	srv := httptest.NewServer(a.HTTP().Handler())
	defer srv.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	key, _, err := a.APIKeys.Create(ctx, "ingest", "bench")
	if err != nil {
		b.Fatal(err)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
	const perBatch = 2000
	clients := 2 * a.Config.TrackingSlots * 4
	batches := max(clients, b.N/perBatch)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	var next, limited, ok atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= batches {
					return
				}
				req, _ := http.NewRequest("POST", srv.URL+"/v1/batch", bytes.NewReader(benchBatch(i, perBatch)))
				req.Header.Set("Authorization", auth)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					b.Errorf("got %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(stop)
	sampler.Wait()
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak_heap_MiB")
	b.ReportMetric(float64(limited.Load())/float64(max(1, ok.Load()+limited.Load())), "share_429")
}

// BenchmarkImportCSV: parse, map, validate, seal, index, stitch and audit customers from a
// CSV file, a thousand per transaction, against plain inserts of the same customer rows.
func BenchmarkImportCSV(b *testing.B) {
	a := benchApp(b, b.TempDir())
	defer a.Close()
	var csvBuf bytes.Buffer
	csvBuf.WriteString("\xef\xbb\xbfEmail;First;Last;Phone;City;Country\n")
	for i := 0; i < b.N; i++ {
		fmt.Fprintf(&csvBuf, "person%d@example.com;Benedict;\"Marchbanks\";+44 7911 1%05d;Leeds;GB\n", i, i%100000)
	}
	ctx := authz.WithActor(context.Background(), authz.System)
	b.ResetTimer()
	start := time.Now()
	r, err := importer.NewReader(bytes.NewReader(csvBuf.Bytes()))
	if err != nil {
		b.Fatal(err)
	}
	ms, err := importer.ParseMappings([]string{"Email=email", "First=first_name", "Last=last_name", "Phone=phone", "City=city", "Country=country"}, r.Header, a.Catalog)
	if err != nil {
		b.Fatal(err)
	}
	st, err := importer.Run(ctx, r, ms, a.Vault.Normalizer(), a.Ingest, importer.CSVRejects(io.Discard), importer.Options{KeyID: "bench"})
	if err != nil || st.Created != b.N {
		b.Fatalf("imported %+v: %v", st, err)
	}
	took := time.Since(start)
	b.StopTimer()
	base := plainInsert(b, a, b.N)
	b.ReportMetric(float64(b.N)/took.Seconds(), "rows/s")
	b.ReportMetric(float64(b.N)/base.Seconds(), "plain_rows/s")
	b.ReportMetric(base.Seconds()/took.Seconds(), "ratio")
}
