package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

// Benchmarks report a ratio against a plain baseline measured in the same run on the same
// engine, so the numbers mean the same on a faster or slower machine. `make bench` turns the
// reported metrics into BENCH summary lines.

func benchApp(b *testing.B, dir string, configure ...func(*config.Config)) *App {
	b.Helper()
	// The collector's pace of a serving process (App.Serve sets it too).
	PaceCollector()
	cfg := config.Default()
	cfg.Data = dir
	for _, c := range configure {
		c(&cfg)
	}
	ctx := context.Background()
	if _, err := os.Stat(cfg.RootKeyPath()); err != nil {
		if _, err := Init(ctx, cfg, nil); err != nil {
			b.Fatal(err)
		}
	}
	a, err := Open(ctx, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// Callers is how many goroutines call at once in the benchmarks, as concurrent requests do in
// a server; baselines run with the same number.
const callers = 16

// parallel calls fn(0…n-1) from callers goroutines.
func parallel(n int, fn func(i int)) { parallelN(n, callers, fn) }

// parallelN calls fn(0…n-1) from workers goroutines.
func parallelN(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// benchPerson is the i-th synthetic customer; e-mail and phone are unique for i from -1 to
// 999,998, since a create of a number another customer has is refused.
func benchPerson(i int) map[string]any {
	return map[string]any{
		"email": fmt.Sprintf("person%d@example.com", i), "first_name": "Benedict", "last_name": "Marchbanks",
		"phone": fmt.Sprintf("+44 7400 %06d", (i+1)%1000000), "birth_date": "1984-03-17", "city": "Leeds", "country": "GB",
	}
}

// plainInsert stores the same row a create stores, without validation, encryption, index or
// audit: the baseline the create target is measured against.
func plainInsert(b *testing.B, a *App, n int) time.Duration {
	return plainInsertN(b, a, n, callers)
}

// plainInsertN is plainInsert from workers goroutines.
func plainInsertN(b *testing.B, a *App, n, workers int) time.Duration {
	b.Helper()
	db := a.Store.Write()
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS bench_plain AS SELECT * FROM customers WHERE 1 = 0`); err != nil {
		b.Fatal(err)
	}
	var row struct {
		version, master int64
		dkey, sealed    []byte
		plain           string
	}
	if err := db.QueryRow(`SELECT version, master_version, dkey, sealed, plain FROM customers LIMIT 1`).Scan(&row.version, &row.master, &row.dkey, &row.sealed, &row.plain); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	parallelN(n, workers, func(i int) {
		now := time.Now().UnixMicro()
		if _, err := db.Exec(`INSERT INTO bench_plain (id, version, master_version, dkey, sealed, plain, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			fmt.Sprintf("plain-%d-%d", n, i), row.version, row.master, row.dkey, row.sealed, row.plain, now, now); err != nil {
			b.Error(err)
		}
	})
	return time.Since(start)
}

// BenchmarkCreateCustomer: validate, normalise, encrypt seven fields under a new data key,
// blind-index email and phone, and audit, one customer per call, on SQLite.
//
// Creates share the single writer's transactions (group commit), so throughput depends on how
// many are in flight: each caller waits for the commit of its own create, and a closed loop of
// 16 callers leaves the writer idle whenever the callers it has just answered are still
// preparing their next creates. The capacity figure is measured with createCallers in flight,
// as a server sees under load from many clients; the 16-caller figure is reported alongside,
// with each create's latency at capacity. The baseline runs with the same number of callers.
func BenchmarkCreateCustomer(b *testing.B) {
	a := benchApp(b, b.TempDir())
	defer a.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	if _, err := a.Customers.Create(ctx, benchPerson(-1)); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	run := func(workers, from int, record bool) time.Duration {
		start := time.Now()
		parallelN(b.N, workers, func(i int) {
			t0 := time.Now()
			if _, err := a.Customers.Create(ctx, benchPerson(from+i)); err != nil {
				b.Error(err)
			}
			if record {
				lat[i] = time.Since(t0)
			}
		})
		return time.Since(start)
	}
	took := run(createCallers, 0, true)
	took16 := run(callers, b.N, false)
	b.StopTimer()
	base := plainInsertN(b, a, b.N, createCallers)
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/took.Seconds(), "creates/s")
	b.ReportMetric(float64(b.N)/took16.Seconds(), "creates/s_16_callers")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "us_p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "us_p99")
	b.ReportMetric(float64(b.N)/base.Seconds(), "plain_inserts/s")
	b.ReportMetric(base.Seconds()/took.Seconds(), "ratio")
}

// createCallers is how many creates are in flight when the create benchmark measures capacity.
const createCallers = 64

var (
	lookupOnce sync.Once
	lookupApp  *App
	lookupN    int
	lookupIDs  []string
)

// lookupCustomers is how many customers the look-up benchmark holds; make bench sets 1M.
func lookupCustomers() int {
	if n, err := strconv.Atoi(os.Getenv("STEWARD_BENCH_CUSTOMERS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// populate fills a database once per run through CreateBatch (validated, sealed, indexed
// and audited like any create, a thousand per transaction) and keeps it in a directory that
// outlives the benchmark's iterations.
func populate(b *testing.B) {
	lookupOnce.Do(func() {
		lookupN = lookupCustomers()
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("steward-bench-%d", lookupN))
		lookupApp = benchApp(b, dir)
		fill(b, lookupApp, lookupN, benchPerson)
		lookupIDs = lookupSample(b, lookupApp)
	})
}

// fill creates customers person(have)…person(n-1) through CreateBatch, a thousand to a
// transaction, in a that already holds have of them, and returns how long it took (0 when
// nothing was missing). The WAL is checkpointed as it goes, as a server's checkpointer would
// (a thousand customers a commit would grow it by gigabytes between its rounds), and at the
// end, so that the database is settled as a running server's would be: everything written
// checkpointed into the file, the WAL empty (the benchmark process exits without closing,
// which would otherwise leave population and migrations in the WAL).
func fill(b *testing.B, a *App, n int, person func(int) map[string]any) time.Duration {
	b.Helper()
	ctx := authz.WithActor(context.Background(), authz.System)
	have, err := a.Store.Customers().CountCustomers(ctx)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := int(have); i < n; i += 1000 {
		batch := make([]map[string]any, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			batch = append(batch, person(j))
		}
		if _, err := a.Customers.CreateBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		if (i/1000)%50 == 49 {
			if err := sqlite.Checkpoint(ctx, a.Store); err != nil {
				b.Fatal(err)
			}
		}
	}
	took := time.Duration(0)
	if int(have) < n {
		took = time.Since(start)
		fmt.Fprintf(os.Stderr, "populated %d customers in %s\n", n-int(have), took.Round(time.Second))
	}
	if err := sqlite.Checkpoint(ctx, a.Store); err != nil {
		b.Fatal(err)
	}
	return took
}

// lookupWarmup is how many look-ups run before timing starts, so the readers' page caches hold
// what a server that has been running a while holds: the interior pages of both B-trees.
const lookupWarmup = 30_000

// lookupSeconds is how long BenchmarkLookupHTTP paces each of its two loads: at 1,000 a second
// its p99 is the 100th slowest of 10,000, steadier from run to run than of five seconds' 5,000.
const lookupSeconds = 10

// BenchmarkLookupEmail: normalise, blind-index, fetch candidates, decrypt and compare, audit
// the read — from 16 concurrent callers (time per look-up is wall time over look-ups), then one
// caller alone (its median and 99th percentile) — against plain primary-key selects of random
// customer rows on the same engine, the same ways.
func BenchmarkLookupEmail(b *testing.B) {
	populate(b)
	a := lookupApp
	ctx := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "support"})
	find := func(i int) {
		email := fmt.Sprintf("person%d@example.com", (i*7919)%lookupN)
		found, err := a.Customers.Find(ctx, "email", email, "", 0)
		if err != nil || len(found) != 1 {
			b.Errorf("look-up: %d found, %v", len(found), err)
		}
	}
	ids := lookupIDs
	plain := func(i int) {
		var sealed []byte
		if err := a.Store.Read().QueryRow(`SELECT sealed FROM customers INDEXED BY sqlite_autoindex_customers_1 WHERE id = $1`, ids[i%len(ids)]).Scan(&sealed); err != nil {
			b.Error(err)
		}
	}
	parallel(lookupWarmup, func(i int) { find(i + b.N) })
	b.ResetTimer()
	took := timed(func() { parallel(b.N, find) })
	b.StopTimer()
	base := timed(func() { parallel(b.N, plain) })
	single := latencies(min(b.N, 5000), func(i int) { find(i + 3*b.N) })
	singleBase := latencies(min(b.N, 5000), plain)
	b.ReportMetric(float64(took.Microseconds())/float64(b.N), "us/lookup")
	b.ReportMetric(float64(base.Microseconds())/float64(b.N), "us/plain_select")
	b.ReportMetric(base.Seconds()/took.Seconds(), "ratio")
	b.ReportMetric(float64(single[50].Microseconds()), "us_p50_single")
	b.ReportMetric(float64(single[99].Microseconds()), "us_p99_single")
	b.ReportMetric(float64(singleBase[50].Microseconds()), "us_p50_single_plain")
	b.ReportMetric(float64(lookupN), "customers")
}

// lookupSample returns every 50th customer id, so the plain baseline reads rows as scattered
// over the table as the look-ups do.
func lookupSample(b *testing.B, a *App) []string {
	b.Helper()
	rows, err := a.Store.Read().Query(`SELECT id FROM customers`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for i := 0; rows.Next(); i++ {
		var id string
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		if i%50 == 0 {
			ids = append(ids, id)
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids
}

func timed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

// latencies runs fn(0…n-1) from one caller and returns the 0th…100th percentiles.
func latencies(n int, fn func(i int)) []time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		start := time.Now()
		fn(i)
		d[i] = time.Since(start)
	}
	slices.Sort(d)
	p := make([]time.Duration, 101)
	for i := range p {
		p[i] = d[min(n-1, i*n/100)]
	}
	return p
}

// BenchmarkLookupHTTP: look-ups by email over loopback HTTP at a fixed 1,000 requests per
// second for lookupSeconds (open loop: requests go out on schedule whether or not earlier ones
// have answered, so a slow server cannot hide its queueing), at the look-up population. It
// reports the 50th and 99th percentile latency against a plain GET /healthz at the same rate.
// The load comes from another process, as it would from clients: a generator inside the
// server's process shares its scheduler and garbage collector and adds its own pauses to
// every figure, healthz included.
func BenchmarkLookupHTTP(b *testing.B) {
	populate(b)
	a := lookupApp
	srv := httptest.NewServer(a.HTTP().Handler())
	defer srv.Close()
	key, _, err := a.APIKeys.Create(authz.WithActor(context.Background(), authz.System), "support", "bench")
	if err != nil {
		b.Fatal(err)
	}
	// Warm the readers first, as the in-process benchmark does: a server that has just started
	// reads every page from disk and fills its caches, which is not the steady state measured.
	sys := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "support"})
	parallel(lookupWarmup, func(i int) {
		if _, err := a.Customers.Find(sys, "email", fmt.Sprintf("person%d@example.com", (i*7907+3)%lookupN), "", 0); err != nil {
			b.Error(err)
		}
	})
	// The warm-up's audit entries, journaled faster than the flusher links them, are linked
	// now rather than during the measurement: left queued, their linking ran for the first
	// second of it (flushes of up to 15,000 entries and a second each, against a few dozen
	// per flush at the measured rate) and was most of the look-ups' slowest hundredth.
	if err := a.Store.SyncAccess(context.Background()); err != nil {
		b.Fatal(err)
	}
	rate := 1000
	if r, err := strconv.Atoi(os.Getenv("STEWARD_BENCH_RATE")); err == nil && r > 0 {
		rate = r
	}
	// One measurement whatever b.N: each is lookupSeconds of paced load, and more iterations
	// would only repeat it (a -benchtime meant for the other benchmarks would run for days).
	look := loadFrom(b, srv.URL, key, rate, lookupSeconds, fmt.Sprintf("/v1/customers?email=person%%d@example.com&n=%d", lookupN))
	base := loadFrom(b, srv.URL, key, rate, lookupSeconds, "/healthz")
	b.ReportMetric(look.P50, "us_p50")
	b.ReportMetric(look.P99, "us_p99")
	b.ReportMetric(base.P99, "us_p99_healthz")
	b.ReportMetric(base.P50, "us_p50_healthz")
	b.ReportMetric(base.P99/look.P99, "ratio")
}

// loadResult is what the load generator reports, in microseconds.
type loadResult struct {
	P50, P99 float64
	Errors   int
}

// loadFrom runs the load generator in a child process (this test binary, see init) against
// url for seconds at rate requests a second. path may hold one %d, filled with a spread of
// customer numbers below the n= its query ends with.
func loadFrom(b *testing.B, url, key string, rate, seconds int, path string) loadResult {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), "STEWARD_LOADGEN="+strings.Join([]string{url, key, strconv.Itoa(rate), strconv.Itoa(seconds), path}, " "))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("load generator: %v", err)
	}
	var r loadResult
	if err := json.Unmarshal(out[bytes.LastIndexByte(out[:len(out)-1], '\n')+1:], &r); err != nil {
		b.Fatalf("load generator said %q: %v", out, err)
	}
	if r.Errors > 0 {
		b.Errorf("%d requests to %s failed", r.Errors, path)
	}
	return r
}

func init() {
	if spec := os.Getenv("STEWARD_LOADGEN"); spec != "" {
		os.Exit(generateLoad(strings.Fields(spec)))
	}
}

// generateLoad sends requests on a fixed schedule and prints their latency percentiles,
// each measured from when the request was due, so that late sends count.
func generateLoad(args []string) int {
	url, key, path := args[0], args[1], args[4]
	rate, _ := strconv.Atoi(args[2])
	seconds, _ := strconv.Atoi(args[3])
	n := 1
	if i := strings.Index(path, "&n="); i >= 0 {
		n, _ = strconv.Atoi(path[i+3:])
		path = path[:i]
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	get := func(path string) error {
		req, _ := http.NewRequest("GET", url+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	total := rate * seconds
	lat := make([]time.Duration, total)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := path
			if strings.Contains(p, "%d") {
				p = fmt.Sprintf(p, (i*7919+17)%n)
			}
			if err := get(p); err != nil {
				failed.Add(1)
			}
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p int) float64 { return float64(lat[(len(lat)-1)*p/100].Microseconds()) }
	out, _ := json.Marshal(loadResult{P50: pct(50), P99: pct(99), Errors: int(failed.Load())})
	fmt.Printf("\n%s\n", out)
	return 0
}
