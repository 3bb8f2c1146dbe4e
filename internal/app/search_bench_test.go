package app

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v7/data"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/job"
)

// Search benchmarks hold searchN customers (STEWARD_BENCH_CUSTOMERS, as the look-up benchmark)
// with varied names, towns, e-mail addresses and phone numbers, made up deterministically from
// the customer's number so that a population survives between runs and queries can be made for
// any customer without reading it back.

// inward are the letters a UK postcode's inward code may end with.
const inward = "ABDEFGHJLNPQRSTUWXYZ"

// searchPerson is the i-th synthetic customer of the search benchmarks.
func searchPerson(i int) map[string]any {
	r := rand.New(rand.NewPCG(uint64(i), 0x5ea4c4))
	first := data.Person["first"][r.IntN(len(data.Person["first"]))]
	last := data.Person["last"][r.IntN(len(data.Person["last"]))]
	city := data.Address["city"][r.IntN(len(data.Address["city"]))]
	return map[string]any{
		"first_name": first, "last_name": last, "city": city, "country": "GB",
		"email":       fmt.Sprintf("%s.%s%d@%s", strings.ToLower(first), strings.ToLower(last), i, []string{"example.com", "mail.example", "post.example"}[i%3]),
		"phone":       fmt.Sprintf("+44 7400 %06d", i%1000000),
		"postal_code": fmt.Sprintf("LS%d %d%c%c", 1+r.IntN(28), r.IntN(10), inward[r.IntN(len(inward))], inward[r.IntN(len(inward))]),
	}
}

var (
	searchOnce sync.Once
	searchApp  *App
	searchN    int
	searchFill time.Duration
)

// populateSearch fills (or reopens) the search benchmarks' database through CreateBatch (see
// fill), as any create: sealed, blind-indexed, search-tokenised and audited.
func populateSearch(b *testing.B) {
	searchOnce.Do(func() {
		searchN = lookupCustomers()
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("steward-search-bench-%d", searchN))
		searchApp = benchApp(b, dir)
		searchFill = fill(b, searchApp, searchN, searchPerson)
	})
}

// searchQueries are the kinds of query the targets name, each made for customer i as a
// support agent would type it.
var searchQueries = []struct {
	name  string
	query func(i int) string
}{
	{"name", func(i int) string {
		p := searchPerson(i)
		return p["first_name"].(string) + " " + p["last_name"].(string)
	}},
	{"name_town", func(i int) string {
		p := searchPerson(i)
		return p["last_name"].(string) + " " + p["first_name"].(string) + " " + p["city"].(string)
	}},
	{"partial_email", func(i int) string { e := searchPerson(i)["email"].(string); return e[:strings.IndexByte(e, '@')+1] }},
	{"phone_ending", func(i int) string { return fmt.Sprintf("%06d", i%1000000)[2:] }},
}

// BenchmarkSearch: the 95th percentile of one caller's searches, per kind of query, in
// process (tokenise, fetch candidates, decrypt and score them, audit) and over loopback HTTP
// (the same through the API: authentication, JSON, the audit write), against an exact e-mail
// look-up in the same process and run, the same ways. Each kind runs 300 searches for customers
// spread over the population, after a warm-up.
func BenchmarkSearch(b *testing.B) {
	populateSearch(b)
	a := searchApp
	ctx := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "support"})
	const n = 300
	pick := func(i int) int { return (i*7919 + 13) % searchN }
	srv := httptest.NewServer(a.HTTP().Handler())
	defer srv.Close()
	key, _, err := a.APIKeys.Create(authz.WithActor(context.Background(), authz.System), "support", "bench")
	if err != nil {
		b.Fatal(err)
	}
	get := func(path string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: status %d", path, resp.StatusCode)
		}
	}
	lookup := func(i int) {
		if _, err := a.Customers.Find(ctx, "email", searchPerson(pick(i))["email"], "", 0); err != nil {
			b.Fatal(err)
		}
	}
	lookupHTTP := func(i int) { get("/v1/customers?email=" + url.QueryEscape(searchPerson(pick(i))["email"].(string))) }
	for i := range 200 {
		lookup(i + n)
	}
	base := latencies(n, lookup)[95]
	baseHTTP := latencies(n, lookupHTTP)[95]
	b.ResetTimer()
	// The customer each query was made for, found by its e-mail address, so that the share of
	// searches answering with it in the first ten can be reported beside the latency.
	want := make([]string, n)
	for i := range want {
		v, err := a.Customers.Find(ctx, "email", searchPerson(pick(i))["email"], "", 1)
		if err != nil || len(v) != 1 {
			b.Fatalf("customer %d: %v", pick(i), err)
		}
		want[i] = v[0].ID
	}
	for _, q := range searchQueries {
		found, hit := 0, 0
		search := func(i int) {
			res, err := a.Customers.Search(ctx, q.query(pick(i)), customer.SearchFilter{}, 10, "")
			if err != nil {
				b.Fatal(err)
			}
			if len(res) > 0 {
				found++
			}
			if i < n && slices.ContainsFunc(res, func(r customer.SearchResult) bool { return r.ID == want[i] }) {
				hit++
			}
		}
		for i := range 50 {
			search(i + 2*n)
		}
		found, hit = 0, 0
		p95 := latencies(n, search)[95]
		b.ReportMetric(float64(hit)/n, "found_in_10_"+q.name)
		p95HTTP := latencies(n, func(i int) {
			get("/v1/customers/search?q=" + url.QueryEscape(q.query(pick(i+n))))
		})[95]
		b.ReportMetric(float64(p95.Microseconds())/1000, "ms_p95_"+q.name)
		b.ReportMetric(float64(p95HTTP.Microseconds())/1000, "ms_p95_http_"+q.name)
		if found < n {
			b.Errorf("%s: %d of %d searches found nothing", q.name, n-found, n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(base.Microseconds())/1000, "ms_p95_lookup")
	b.ReportMetric(float64(baseHTTP.Microseconds())/1000, "ms_p95_http_lookup")
	b.ReportMetric(float64(searchN), "customers")
}

// BenchmarkSearchIndex: building the index of the whole population from nothing, as after the
// upgrade that brings search (the tokens are deleted first): the reindex job opens every
// customer, derives its tokens and stores them (tokens and lists); against a plain walk reading every customer row by id
// pages in the same run; and the search tokens' storage per customer (both tables and their indexes).
func BenchmarkSearchIndex(b *testing.B) {
	populateSearch(b)
	a := searchApp
	ctx := authz.WithActor(context.Background(), authz.System)
	for _, table := range []string{"search_tokens", "search_lists"} {
		if _, err := a.Store.Write().Exec(`DELETE FROM ` + table); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	// A job of its own, not StartReindex's: an earlier run stopped halfway would otherwise be
	// resumed from its cursor, over tokens this run has just deleted.
	j := job.Job{ID: ident.New(), Kind: SearchReindexJob, Total: int64(searchN)}
	if err := a.Store.Jobs().CreateJob(ctx, j); err != nil {
		b.Fatal(err)
	}
	if err := a.Runner.RunJob(ctx, j.ID); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	j, err := a.Store.Jobs().GetJob(ctx, j.ID)
	if err != nil || j.State != job.Done {
		b.Fatalf("reindex: %+v %v", j, err)
	}
	walk := timed(func() {
		for after := ""; ; {
			recs, err := a.Vault.Page(ctx, after, reindexBatch)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				return
			}
			after = recs[len(recs)-1].ID
		}
	})
	var rows, blocks, bytes int64
	db := a.Store.Read()
	if err := db.QueryRow(`SELECT COALESCE(SUM(n), 0), COUNT(*) FROM search_tokens`).Scan(&rows, &blocks); err != nil {
		b.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN ('search_tokens', 'search_lists', 'search_lists_pending') OR name LIKE 'sqlite_autoindex_search_lists%'`).Scan(&bytes); err != nil {
		b.Logf("dbstat unavailable: %v", err)
	}
	b.ReportMetric(took.Seconds(), "s/reindex")
	b.ReportMetric(took.Seconds()*1e6/float64(searchN)/60, "min/1M_customers")
	b.ReportMetric(walk.Seconds(), "s/plain_walk")
	b.ReportMetric(walk.Seconds()/took.Seconds(), "ratio")
	b.ReportMetric(float64(rows)/float64(searchN), "tokens/customer")
	b.ReportMetric(float64(blocks)/float64(searchN), "blocks/customer")
	b.ReportMetric(float64(bytes)/float64(searchN), "bytes/customer")
	b.ReportMetric(float64(searchN), "customers")
	if searchFill > 0 {
		b.ReportMetric(float64(searchN)/searchFill.Seconds(), "populate_creates/s")
	}
}
