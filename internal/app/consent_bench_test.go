package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

var (
	consentOnce   sync.Once
	consentReopen sync.Once
	consentApp    *App
	consentIDs    []string
)

// consentCustomers is the bulk-check population: the largest check the API accepts.
func consentCustomers() int {
	if n, err := strconv.Atoi(os.Getenv("STEWARD_BENCH_CONSENT_CUSTOMERS")); err == nil && n > 0 {
		return n
	}
	return consent.MaxCheck
}

// populateConsent makes, once per run and kept in $TMPDIR between runs, a SQLite installation
// whose customers mostly consented to marketing email (through the service, receipts and all),
// some withdrew and the rest were never asked.
func populateConsent(b *testing.B) {
	consentOnce.Do(func() {
		n := consentCustomers()
		consentApp = benchApp(b, filepath.Join(os.TempDir(), fmt.Sprintf("steward-consent-bench-%d", n)))
		a := consentApp
		ctx := authz.WithActor(context.Background(), authz.System)
		start := time.Now()
		have, err := a.Store.Customers().CountCustomers(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for i := int(have); i < n; i += 1000 {
			batch := make([]map[string]any, 0, 1000)
			for j := i; j < min(i+1000, n); j++ {
				batch = append(batch, benchPerson(j))
			}
			if _, err := a.Customers.CreateBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		for after := ""; ; {
			page, err := a.Store.Customers().CustomerKeys(ctx, after, 5000)
			if err != nil {
				b.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, k := range page {
				consentIDs = append(consentIDs, k.CustomerID)
			}
			after = page[len(page)-1].CustomerID
		}
		if list, _ := a.Consents.Policies(ctx); list.InForce != "" {
			return
		}
		if _, err := a.Consents.PublishPolicy(ctx, consent.PolicyInput{Version: "bench", Text: "Benchmark policy.",
			Purposes: []string{"marketing_email", "marketing_sms"}}); err != nil {
			b.Fatal(err)
		}
		yes, no := true, false
		parallel(len(consentIDs), func(i int) {
			in := consent.Input{Purpose: "marketing_email", Granted: &yes, PolicyVersion: "bench", Source: consent.SourceSignupForm}
			switch {
			case i%10 == 9:
				return // never asked
			case i%10 == 8:
				in.Granted, in.PolicyVersion = &no, ""
			}
			if _, err := a.Consents.Record(ctx, consentIDs[i], in); err != nil {
				b.Error(err)
			}
		})
		for i := 0; i < 1000; i++ {
			if _, err := a.Consents.Suppress(ctx, consent.SuppressionInput{Email: fmt.Sprintf("person%d@example.com", i*97)}); err != nil {
				b.Fatal(err)
			}
		}
		fmt.Fprintf(os.Stderr, "populated %d customers with consents in %s\n", n-int(have), time.Since(start).Round(time.Second))
	})
	// Benchmark on a freshly opened installation: populating fills the readers' page caches
	// with customer rows that the first reads after a write would have to free.
	consentReopen.Do(func() {
		dir := consentApp.Config.Data
		if err := consentApp.Close(); err != nil {
			b.Fatal(err)
		}
		consentApp = benchApp(b, dir)
	})
}

// BenchmarkBulkCheck: "may I email these customers?" for the largest list the API accepts, on
// SQLite. The suppression list is not empty (every withdrawal put an address on it, and a
// thousand more came through the API), so customers who would be allowed are also matched
// against it.
func BenchmarkBulkCheck(b *testing.B) {
	populateConsent(b)
	a := consentApp
	ctx := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "marketer"})
	var allowed int
	start, cpuStart := time.Now(), cpuTime()
	for b.Loop() {
		res, err := a.Consents.Check(ctx, "marketing_email", consentIDs)
		if err != nil {
			b.Fatal(err)
		}
		allowed = len(res.Allowed)
	}
	took := time.Since(start) / time.Duration(b.N)
	cpu := (cpuTime() - cpuStart) / time.Duration(b.N)
	base := plainExistence(b, a)
	// The check runs its queries one after another, so its processor time is what it would
	// take on an idle machine; on a shared one the wall time is longer.
	b.ReportMetric(float64(cpu.Milliseconds()), "cpu_ms/check")
	b.ReportMetric(float64(len(consentIDs)), "customers")
	b.ReportMetric(float64(allowed), "allowed")
	b.ReportMetric(float64(took.Milliseconds()), "ms/check")
	b.ReportMetric(float64(base.Milliseconds()), "ms/plain_select")
	b.ReportMetric(base.Seconds()/took.Seconds(), "ratio")
}

// cpuTime is the processor time this process has used so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// plainExistence is the bulk check's baseline: selecting the same ids from the customers table
// in batches of 5,000, on the same engine, with nothing decided.
func plainExistence(b *testing.B, a *App) time.Duration {
	b.Helper()
	start := time.Now()
	for i := 0; i < len(consentIDs); i += 5000 {
		batch, _ := json.Marshal(consentIDs[i:min(i+5000, len(consentIDs))])
		rows, err := a.Store.Write().Query(`SELECT id FROM customers WHERE id IN (SELECT value FROM json_each($1))`, string(batch))
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				b.Fatal(err)
			}
		}
		rows.Close()
	}
	return time.Since(start)
}

// BenchmarkPermission: one decision through the service on SQLite, as GET
// /v1/customers/{id}/permissions/{purpose} makes it, for customers not checked before: the
// cache loads the customer's change counter and records (policies are cached after the first).
func BenchmarkPermission(b *testing.B) {
	populateConsent(b)
	a := consentApp
	ctx := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "marketer"})
	b.ResetTimer()
	start, cpuStart := time.Now(), cpuTime()
	parallel(b.N, func(i int) {
		if _, err := a.Consents.May(ctx, consentIDs[(i*7919)%len(consentIDs)], "marketing_sms"); err != nil {
			b.Error(err)
		}
	})
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "us/check")
	b.ReportMetric(float64((cpuTime()-cpuStart).Microseconds())/float64(b.N), "cpu_us/check")
}

// warmSet is how many customers the warm benchmarks cycle through: a shop's recently active
// customers, well inside the cache.
const warmSet = 10_000

// BenchmarkPermissionWarm: one decision through Service.May on SQLite, as reveals and GET
// /v1/customers/{id}/permissions/{purpose} make it, for customers checked before (the cache
// holds their inputs), one caller at a time. marketing_email is the costliest purpose: the
// suppression list is not empty, so allowed customers are also matched against it. The
// baseline, measured in the same run on the same customers, is the same check with the cache
// off, as every check was made before; the ratio is the warm check's share of its time.
func BenchmarkPermissionWarm(b *testing.B) {
	populateConsent(b)
	a := consentApp
	ids := consentIDs[:min(warmSet, len(consentIDs))]
	took, cpu, uncached := warmChecks(b, a, ids)
	cache := a.Consents.Cache()
	b.ReportMetric(float64(took.Nanoseconds())/1000, "us/check")
	b.ReportMetric(float64(cpu.Nanoseconds())/1000, "cpu_us/check")
	b.ReportMetric(float64(uncached.Nanoseconds())/1000, "us/uncached_check")
	b.ReportMetric(float64(took.Nanoseconds())/float64(uncached.Nanoseconds()), "ratio")
	b.ReportMetric(float64(cache.Len()), "cached")
}

// BenchmarkPermissionAudited: the single check as its route answers it (Service.Permission:
// the warm decision plus its audit entry, on SQLite appended to the access journal), one
// caller at a time, against the unaudited warm decision (Service.May) on the same customers
// in the same run; the ratio is what auditing every single check costs.
func BenchmarkPermissionAudited(b *testing.B) {
	populateConsent(b)
	a := consentApp
	ids := consentIDs[:min(warmSet, len(consentIDs))]
	ctx := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "marketer"})
	run := func(n int, check func(context.Context, string, string) (consent.Decision, error)) time.Duration {
		start := time.Now()
		for i := 0; i < n; i++ {
			if _, err := check(ctx, ids[(i*7919)%len(ids)], "marketing_email"); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / time.Duration(n)
	}
	run(len(ids), a.Consents.May)
	b.ResetTimer()
	audited := run(b.N, a.Consents.Permission)
	b.StopTimer()
	plain := run(b.N, a.Consents.May)
	b.ReportMetric(float64(audited.Nanoseconds())/1000, "us/check")
	b.ReportMetric(float64(plain.Nanoseconds())/1000, "us/unaudited_check")
	b.ReportMetric(float64(audited.Nanoseconds())/float64(plain.Nanoseconds()), "ratio")
}

// BenchmarkPermissionWarmPostgres is BenchmarkPermissionWarm on PostgreSQL, where several
// Stewards may share the database: every check compares the cached entry's change counter
// with the database's (one indexed read), so it costs a round trip. 2,000 customers.
func BenchmarkPermissionWarmPostgres(b *testing.B) {
	cfg := config.Default()
	cfg.Data = b.TempDir()
	cfg.DB = config.Secret(pgtest.URL(b))
	ctx := authz.WithActor(context.Background(), authz.System)
	if _, err := Init(ctx, cfg, nil); err != nil {
		b.Fatal(err)
	}
	a, err := Open(ctx, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	batch := make([]map[string]any, 2000)
	for i := range batch {
		batch[i] = benchPerson(i)
	}
	views, err := a.Customers.CreateBatch(ctx, batch)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.Consents.PublishPolicy(ctx, consent.PolicyInput{Version: "bench", Text: "Benchmark policy.", Purposes: []string{"marketing_email"}}); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, len(views))
	yes := true
	for i, v := range views {
		ids[i] = v
		if _, err := a.Consents.Record(ctx, v, consent.Input{Purpose: "marketing_email", Granted: &yes, PolicyVersion: "bench", Source: consent.SourceSignupForm}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := a.Consents.Suppress(ctx, consent.SuppressionInput{Email: "nobody@example.com"}); err != nil {
		b.Fatal(err)
	}
	took, _, uncached := warmChecks(b, a, ids)
	const cold = 1000
	// The round trip itself: a primary-key read of the same customers.
	plainStart := time.Now()
	for i := 0; i < cold; i++ {
		var n int64
		if err := a.Store.Read().QueryRow(`SELECT version FROM customers WHERE id = $1`, ids[i%len(ids)]).Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
	plain := time.Since(plainStart) / cold
	b.ReportMetric(float64(took.Nanoseconds())/1000, "us/check")
	b.ReportMetric(float64(uncached.Nanoseconds())/1000, "us/uncached_check")
	b.ReportMetric(float64(plain.Nanoseconds())/1000, "us/plain_select")
	b.ReportMetric(float64(took.Nanoseconds())/float64(uncached.Nanoseconds()), "ratio")
}

// uncachedChecks is how many checks measure the baseline of the warm benchmarks.
const uncachedChecks = 1000

// warmChecks checks marketing_email for every one of ids once (warming the cache), then for
// b.N of them in turn, one caller, and returns the time of one such check and its processor
// time; then the time of one check with the cache off, the baseline.
func warmChecks(b *testing.B, a *App, ids []string) (warm, cpu, uncached time.Duration) {
	ctx := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "marketer"})
	svc := a.Consents
	check := func(i int) {
		if _, err := svc.May(ctx, ids[(i*7919)%len(ids)], "marketing_email"); err != nil {
			b.Fatal(err)
		}
	}
	for i := range ids {
		check(i)
	}
	b.ResetTimer()
	start, cpuStart := time.Now(), cpuTime()
	for i := 0; b.Loop(); i++ {
		check(i)
	}
	warm = time.Since(start) / time.Duration(b.N)
	cpu = (cpuTime() - cpuStart) / time.Duration(b.N)
	b.StopTimer()
	svc = a.Consents.Uncached()
	start = time.Now()
	for i := 0; i < uncachedChecks; i++ {
		check(i)
	}
	return warm, cpu, time.Since(start) / uncachedChecks
}
