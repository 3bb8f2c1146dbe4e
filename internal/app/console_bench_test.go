package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/stewardhq/steward/internal/authz"
)

// consoleSession signs a new staff member in through the console's own pages (password, then
// setting up the authenticator with a code from a real TOTP library) and returns the session
// cookie, so a benchmark measures pages exactly as a browser gets them.
func consoleSession(b *testing.B, a *App, h http.Handler, role string) string {
	b.Helper()
	email := fmt.Sprintf("bench-%d@shop.example", time.Now().UnixNano())
	if _, err := a.Staff.Add(authz.WithActor(context.Background(), authz.System), email, role, "a long enough password"); err != nil {
		b.Fatal(err)
	}
	do := func(method, path, cookie string, form url.Values) *httptest.ResponseRecorder {
		var req *http.Request
		if form != nil {
			req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(method, path, nil)
		}
		if cookie != "" {
			req.Header.Set("Cookie", "steward_console="+cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	cookieOf := func(rec *httptest.ResponseRecorder) string {
		for _, c := range rec.Result().Cookies() {
			if c.Name == "steward_console" {
				return c.Value
			}
		}
		b.Fatalf("no session cookie (status %d)", rec.Code)
		return ""
	}
	half := cookieOf(do("POST", "/console/login", "", url.Values{"email": {email}, "password": {"a long enough password"}}))
	page := do("GET", "/console/mfa", half, nil).Body.String()
	secret := regexp.MustCompile(`Key: <code>([A-Z2-7]+)</code>`).FindStringSubmatch(page)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if secret == nil || csrf == nil {
		b.Fatalf("enrol page: %.200s", page)
	}
	code, err := totp.GenerateCode(secret[1], time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return cookieOf(do("POST", "/console/mfa", half, url.Values{"code": {code}, "csrf": {csrf[1]}}))
}

// BenchmarkConsolePages: the server time (the handler's, from the request read to the last
// byte written, session check, every service call with its audit entries, the template) of
// the console's customer page, its search page and the search box's live list, at the search
// benchmarks' population, against the API's JSON answer to the same question in the same
// run (GET /v1/customers/{id}, GET /v1/customers/search): the ratio says what the page costs
// over the plain read. The customer page is the owner's, with every section its role may
// read (consents, events, orders, requests, the customer's audit trail). Each kind runs 300
// requests for customers spread over the population, after a warm-up, and reports its 95th
// percentile and the largest page's size.
func BenchmarkConsolePages(b *testing.B) {
	populateSearch(b)
	a := searchApp
	h := a.HTTP().Handler()
	cookie := consoleSession(b, a, h, "owner")
	key, _, err := a.APIKeys.Create(authz.WithActor(context.Background(), authz.System), "owner", "bench")
	if err != nil {
		b.Fatal(err)
	}
	const n = 300
	pick := func(i int) int { return (i*7919 + 13) % searchN }
	ids := make([]string, 2*n)
	ctx := authz.WithActor(context.Background(), authz.Actor{ID: "bench", Role: "support"})
	for i := range ids {
		v, err := a.Customers.Find(ctx, "email", searchPerson(pick(i))["email"], "", 1)
		if err != nil || len(v) != 1 {
			b.Fatalf("customer %d: %v", pick(i), err)
		}
		ids[i] = v[0].ID
	}
	biggest := map[string]int{}
	serve := func(kind, path string, console bool) {
		req := httptest.NewRequest("GET", path, nil)
		if console {
			req.Header.Set("Cookie", "steward_console="+cookie)
			req.Header.Set("Accept", "text/html")
		} else {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: status %d: %.300s", path, rec.Code, rec.Body.String())
		}
		biggest[kind] = max(biggest[kind], rec.Body.Len())
	}
	query := func(i int) string {
		p := searchPerson(pick(i))
		return url.QueryEscape(p["last_name"].(string) + " " + p["first_name"].(string) + " " + p["city"].(string))
	}
	// Each kind is the requests that answer one question, timed together: the API's answer to
	// what the customer page shows takes six reads (the profile, consents, events, orders, the
	// customer's requests and audit trail).
	type kind struct {
		name    string
		console bool
		paths   func(i int) []string
	}
	kinds := []kind{
		{"customer_page", true, func(i int) []string { return []string{"/console/customers/" + ids[i]} }},
		{"customer_api", false, func(i int) []string {
			c := "/v1/customers/" + ids[i]
			return []string{c, c + "/consents", c + "/events?limit=30", c + "/orders", "/v1/requests?customer_id=" + ids[i], "/v1/audit?limit=20&customer_id=" + ids[i]}
		}},
		{"search_page", true, func(i int) []string { return []string{"/console/search?q=" + query(i)} }},
		{"search_live", true, func(i int) []string { return []string{"/console/search/live?q=" + query(i)} }},
		{"search_api", false, func(i int) []string { return []string{"/v1/customers/search?limit=20&q=" + query(i)} }},
		{"dashboard", true, func(int) []string { return []string{"/console"} }}, // measured after the rest, cold
	}
	run := func(k kind, i int) {
		for _, path := range k.paths(i) {
			serve(k.name, path, k.console)
		}
	}
	for _, k := range kinds[:len(kinds)-1] { // warm-up, on customers the measured runs do not ask for
		for i := range 10 {
			run(k, n+i)
		}
	}
	b.ResetTimer()
	p95 := map[string]float64{}
	for _, k := range kinds {
		runs := n
		if k.name == "dashboard" {
			// The dashboard counts the whole window of each series (see docs/console.md):
			// fewer runs, as each sweeps the rows of the last 30 days.
			runs = 20
		}
		l := latencies(runs, func(i int) { run(k, i) })
		p95[k.name] = float64(l[95].Microseconds()) / 1000
		if k.name == "dashboard" {
			// The first view reads the counts (the slowest of the runs); the others are
			// served from the minute's cache, their median is what most views cost.
			p95["dashboard_cold"], p95["dashboard_warm"] = p95[k.name], float64(l[50].Microseconds())/1000
		}
	}
	b.StopTimer()
	b.ReportMetric(p95["dashboard_cold"], "ms_dashboard_cold")
	b.ReportMetric(p95["dashboard_warm"], "ms_p50_dashboard_warm")
	for _, k := range kinds {
		b.ReportMetric(p95[k.name], "ms_p95_"+k.name)
		b.ReportMetric(float64(biggest[k.name])/1024, "KB_max_"+k.name)
	}
	b.ReportMetric(p95["customer_api"]/p95["customer_page"], "ratio_customer")
	b.ReportMetric(p95["search_api"]/p95["search_page"], "ratio_search")
	b.ReportMetric(float64(searchN), "customers")
}
