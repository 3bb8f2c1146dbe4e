package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// postgresNodes opens n applications on one new PostgreSQL database, as n Steward nodes would
// be: the first initialises it, the others get a copy of its root key.
func postgresNodes(b *testing.B, n int) []*App {
	b.Helper()
	url := pgtest.URL(b)
	apps := make([]*App, n)
	for i := range apps {
		// Private from the start, as steward init makes it: no warning lands in the middle of
		// the benchmark's result line.
		dir := b.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			key, err := os.ReadFile(apps[0].Config.RootKeyPath())
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "root.key"), key, 0o600); err != nil {
				b.Fatal(err)
			}
		}
		apps[i] = benchApp(b, dir, func(c *config.Config) { c.DB = config.Secret(url) })
	}
	return apps
}

// BenchmarkPostgres measures, on PostgreSQL with one node and with three sharing the database,
// creates, look-ups by e-mail and /v1/batch ingest over loopback HTTP, each against plain
// statements on the same rows in the same database in the same run: inserts of the created
// rows, primary-key selects, and inserts of the stored event rows one transaction per batch.
// Each is also measured against plain statements on every row the operation stored (see
// postgres_rows_bench_test.go). The ingest part posts ingestEvents events, after an untimed
// warm-up (see warmIngest).
func BenchmarkPostgres(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) { benchPostgres(b, nodes) })
	}
}

func benchPostgres(b *testing.B, nodes int) {
	apps := postgresNodes(b, nodes)
	defer func() {
		for _, a := range apps {
			a.Close()
		}
	}()
	a := apps[0]
	sys := authz.WithActor(context.Background(), authz.System)
	if _, err := a.Customers.Create(sys, benchPerson(-1)); err != nil {
		b.Fatal(err)
	}
	// A create the database gives up on as not serialisable (several nodes appending to the
	// same audit chains) answers 503; it is sent again, as a client would, and counted.
	var retried atomic.Int64
	createsFrom := time.Now()
	b.ResetTimer()
	created := timed(func() {
		parallelN(b.N, callers, func(i int) {
			for attempt := 0; ; attempt++ {
				_, err := apps[i%nodes].Customers.Create(sys, benchPerson(i))
				if err == nil {
					return
				}
				if !problem.Is(err, problem.Unavailable) || attempt == 20 {
					b.Error(err)
					return
				}
				retried.Add(1)
			}
		})
	})
	b.StopTimer()
	plainCreated := plainInsertN(b, a, b.N, callers)
	createdRows, rowsPerCreate := plainCreatedRows(b, a, customerIDs(b, a.Store.Write(), createsFrom))

	support := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "support"})
	ids := lookupSample(b, a)
	beforeLookups := maxAuditID(b, a.Store.Write())
	looked := timed(func() {
		parallel(b.N, func(i int) {
			found, err := apps[i%nodes].Customers.Find(support, "email", fmt.Sprintf("person%d@example.com", (i*7919)%b.N), "", 0)
			if err != nil || len(found) != 1 {
				b.Errorf("look-up: %d found, %v", len(found), err)
			}
		})
	})
	plainLooked := timed(func() {
		parallel(b.N, func(i int) {
			var sealed []byte
			if err := apps[i%nodes].Store.Read().QueryRow(`SELECT sealed FROM customers WHERE id = $1`, ids[i%len(ids)]).Scan(&sealed); err != nil {
				b.Error(err)
			}
		})
	})

	lookedRows := plainLookedRows(b, a, ids, beforeLookups, b.N)

	in := ingestHTTP(b, apps, ingestEvents)
	events, took := in.events, in.took
	plainIngested := plainEventInsert(b, a, events/500, 500, 8)
	ingestedRows, rowsIngested := plainIngestedRows(b, a, in.from, in.since, events/500, 8)

	b.ReportMetric(float64(b.N)/created.Seconds(), "creates/s")
	b.ReportMetric(float64(b.N)/plainCreated.Seconds(), "plain_inserts/s")
	b.ReportMetric(plainCreated.Seconds()/created.Seconds(), "create_ratio")
	b.ReportMetric(createdRows.Seconds()/created.Seconds(), "create_rows_ratio")
	b.ReportMetric(plainCreated.Seconds()/createdRows.Seconds(), "create_rows_ceiling")
	b.ReportMetric(float64(rowsPerCreate)/float64(b.N), "rows/create")
	b.ReportMetric(float64(retried.Load())/float64(b.N), "create_retries/create")
	b.ReportMetric(float64(looked.Microseconds())/float64(b.N), "us/lookup")
	b.ReportMetric(float64(plainLooked.Microseconds())/float64(b.N), "us/plain_select")
	b.ReportMetric(plainLooked.Seconds()/looked.Seconds(), "lookup_ratio")
	b.ReportMetric(float64(lookedRows.Microseconds())/float64(b.N), "us/plain_rows_lookup")
	b.ReportMetric(lookedRows.Seconds()/looked.Seconds(), "lookup_rows_ratio")
	b.ReportMetric(plainLooked.Seconds()/lookedRows.Seconds(), "lookup_rows_ceiling")
	b.ReportMetric(float64(events)/took.Seconds(), "events/s")
	b.ReportMetric(float64(events)/plainIngested.Seconds(), "plain_events/s")
	b.ReportMetric(plainIngested.Seconds()/took.Seconds(), "ingest_ratio")
	b.ReportMetric(ingestedRows.Seconds()/took.Seconds(), "ingest_rows_ratio")
	b.ReportMetric(plainIngested.Seconds()/ingestedRows.Seconds(), "ingest_rows_ceiling")
	b.ReportMetric(float64(rowsIngested)/float64(events), "rows/event")
	b.ReportMetric(float64(in.p99.Microseconds())/1000, "p99_batch_ms")
}

// ingestEvents is how many events the ingest part posts whatever b.N is: as many as
// BenchmarkIngestBatchHTTP posts on SQLite (scripts/bench.sh), so that both measure the same
// mix of 20,000 visitors, most of them new at first and returning later.
const ingestEvents = 100_000

// ingestRun is what ingestHTTP measured: how many events the timed batches stored, how long
// they took and the p99 batch latency, and when they began and the audit id before them, to
// tell the rows they stored.
type ingestRun struct {
	events    int
	took, p99 time.Duration
	from      time.Time
	since     int64
}

// ingestHTTP posts about n events in batches of 500 from 8 clients, spread over the nodes'
// HTTP servers.
func ingestHTTP(b *testing.B, apps []*App, n int) ingestRun {
	b.Helper()
	urls := make([]string, len(apps))
	for i, a := range apps {
		srv := httptest.NewServer(a.HTTP().Handler())
		defer srv.Close()
		urls[i] = srv.URL
	}
	key, _, err := apps[0].APIKeys.Create(authz.WithActor(context.Background(), authz.System), "ingest", "bench")
	if err != nil {
		b.Fatal(err)
	}
	headers := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":")), "Content-Type": "application/json"}
	const perBatch, clients = 500, 8
	batches := max(2, n/perBatch)
	bodies := make([][]byte, batches)
	for i := range bodies {
		bodies[i] = benchBatch(i, perBatch)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	warm := warmIngest(b, apps[0], client, urls, headers)
	since, from := maxAuditID(b, apps[0].Store.Write()), time.Now()
	var mu sync.Mutex
	var lat []time.Duration
	var next atomic.Int64
	took := timed(func() {
		parallelN(batches, clients, func(i int) {
			code, d := timedPost(b, client, urls[int(next.Add(1))%len(urls)]+"/v1/batch", bodies[i], headers)
			if code != 200 {
				b.Errorf("batch %d: got %d", i, code)
			}
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		})
	})
	var stored int
	if err := apps[0].Store.Write().QueryRow(`SELECT COUNT(*) FROM events`).Scan(&stored); err != nil || stored-warm != batches*perBatch {
		b.Fatalf("stored %d events, want %d (%v)", stored-warm, batches*perBatch, err)
	}
	return ingestRun{events: stored - warm, took: took, p99: percentile(lat, 0.99), from: from, since: since}
}

// warmIngest stores, untimed, twenty batches from visitors the timed batches do not meet, and
// waits until the node has analysed the tables they filled (see docs/cluster.md, "Planner
// statistics"). It returns how many events it stored. A database's first seconds are planned
// without statistics: a look-up of a batch's 64 identifiers then reads every identifier of
// their kind, which made the identity look-ups most of the database's time when the timed
// run began on empty tables. The timed batches then meet tables of a known size, as traffic
// does after the first seconds of a deployment, and still create their own visitors.
func warmIngest(b *testing.B, a *App, client *http.Client, urls []string, headers map[string]string) int {
	b.Helper()
	const batches, perBatch = 20, 500
	parallelN(batches, 4, func(i int) {
		if code, _ := timedPost(b, client, urls[i%len(urls)]+"/v1/batch", benchBatchFrom(i, perBatch, 1_000_000), headers); code != 200 {
			b.Fatalf("warm-up batch %d: got %d", i, code)
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		var pending int
		if err := a.Store.Read().QueryRow(`SELECT COUNT(*) FROM pg_stat_user_tables
			WHERE relname IN ('identities', 'customers', 'blind_index') AND last_analyze IS NULL AND last_autoanalyze IS NULL`).Scan(&pending); err != nil {
			b.Fatal(err)
		}
		if pending == 0 {
			return batches * perBatch
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d tables still not analysed a minute after the warm-up", pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}
