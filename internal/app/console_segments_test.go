package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/browsertest"
	"github.com/stewardhq/steward/internal/segment"
)

// TestConsoleSegmentsInChromium works the segment pages in a real browser: a marketer sees the
// segments of their purposes with counts (an analytics count under the cohort withheld), a
// segment's rule in words, its members' entries, a trend chosen in the form and drawn with its
// table, and creates an export whose link downloads the members. An analyst sees only the
// analytics segment, counted but never listed; a person of a role without customers.read has
// no link and is refused. Every page passes axe.
func TestConsoleSegmentsInChromium(t *testing.T) {
	b := browsertest.New(t)
	p := newPortalEnv(t, "")
	now := time.Now().UTC()
	for i := range 12 {
		uid := fmt.Sprintf("u-%d", i)
		p.mustTrack("/v1/identify", fmt.Sprintf(`{"userId":%q,"traits":{"email":"fiona%d@example.com","first_name":"Fiona","gender":"female","region":"Scotland","country":"GB"}}`, uid, i))
		p.mustTrack("/v1/track", fmt.Sprintf(`{"event":"Order Completed","userId":%q,"properties":{"order_id":"o-%d","total":40,"currency":"GBP"},"timestamp":%q}`,
			uid, i, now.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339)))
		p.consentToAll(p.customerOf(fmt.Sprintf("fiona%d@example.com", i)))
	}
	p.mustTrack("/v1/identify", `{"userId":"u-cerys","traits":{"email":"cerys@example.com","gender":"female","region":"Wales","country":"GB"}}`)
	create := func(role, body string) segment.Segment {
		t.Helper()
		code, out := p.do(call{method: "POST", path: "/v1/segments", role: role, body: body})
		if code != 201 {
			t.Fatalf("create segment: %d %s", code, out)
		}
		var s segment.Segment
		_ = json.Unmarshal([]byte(out), &s)
		return s
	}
	scots := create("marketer", `{"name":"Scottish women who may be e-mailed","purpose":"personalization","rule":{"and":[`+
		`{"field":"gender","op":"eq","value":"female"},{"field":"region","op":"eq","value":"Scotland"},`+
		`{"event":{"name":"Order Completed","within_days":90},"op":"gte","value":1},{"consent":"marketing_email"}]}}`)
	welsh := create("analyst", `{"name":"Welsh women","purpose":"analytics","rule":{"and":[{"field":"region","op":"eq","value":"Wales"},{"field":"gender","op":"eq","value":"female"}]}}`)
	p.runJobs()

	// A marketer: both segments, one counted, one withheld.
	p.signInConsole(t, b, "mara@shop.example", "marketer")
	if nav := b.Text("header nav"); !strings.Contains(nav, "Segments") {
		t.Errorf("a marketer's navigation lacks Segments: %q", nav)
	}
	main := p.page(t, b, "/console/segments", "console-segments")
	for _, want := range []string{scots.Name, welsh.Name, "personalization", "analytics", "12", "fewer than 10"} {
		if !strings.Contains(main, want) {
			t.Errorf("segments page lacks %q: %q", want, main)
		}
	}
	b.Click(`a[href="/console/segments/` + scots.ID + `"]`)
	b.WaitFor(`document.querySelector("svg.chart[role=img]") !== null`)
	main = b.Text("main")
	for _, want := range []string{"gender is female and region is Scotland and the number of events named \"Order Completed\" in the last 90 days is at least 1 and may be reached for marketing email now",
		"Members 12", "entered", "the rule", "Create an export"} {
		if !strings.Contains(main, want) {
			t.Errorf("segment page lacks %q: %q", want, main)
		}
	}
	var title string
	b.Eval(`document.querySelector("#chart-trend-t").textContent`, &title)
	if title != "New customers per week" {
		t.Errorf("chart title %q, want New customers per week", title)
	}
	if strings.Contains(main, "fiona0@example.com") {
		t.Error("the segment page shows a member's e-mail address")
	}

	// The trend form: orders per day by gender; the chart's title follows, the table holds the cells.
	b.Select("#t-metric", "orders")
	b.Select("#t-interval", "month")
	b.Select("#t-by", "gender")
	if status := b.Submit(`form.filters button`); status != http.StatusOK {
		t.Fatalf("trend form: got %d, want 200", status)
	}
	b.Eval(`document.querySelector("#chart-trend-t").textContent`, &title)
	if title != "Orders per month" {
		t.Errorf("chart title %q, want Orders per month", title)
	}
	var cells []string
	b.Eval(`[...document.querySelectorAll("details table tbody tr")].map(r => [...r.cells].map(c => c.textContent).join(" "))`, &cells)
	if len(cells) != 1 || !strings.HasSuffix(cells[0], "female 12 12") {
		t.Errorf("trend table: got %q, want one month of 12 orders by 12 women", cells)
	}
	var points int
	b.Eval(`document.querySelectorAll("svg.chart circle").length`, &points)
	if points != 2 { // the point and its legend marker
		t.Errorf("trend chart: %d circles, want the month's point and the legend's", points)
	}
	b.RequireAccessible("console-segment")
	b.Screenshot("console-segment")

	// A choice the trends API refuses is named, nothing else changes.
	if status := b.Navigate(p.public + "/console/segments/" + scots.ID + "?metric=nope"); status != http.StatusUnprocessableEntity {
		t.Errorf("unknown metric: got %d, want 422", status)
	}
	if main = b.Text("main"); !strings.Contains(main, `unknown metric "nope"`) {
		t.Errorf("the refusal is not named: %q", main)
	}

	// An export: the link is shown once and downloads the members once the job ran.
	b.Navigate(p.public + "/console/segments/" + scots.ID)
	b.Submit(`form[action$="/exports"] button`)
	var href string
	b.Eval(`document.querySelector(".newkey a").href`, &href)
	if !strings.Contains(href, "/v1/segment-exports/") || !strings.Contains(href, "token=") {
		t.Fatalf("no download link: %q", href)
	}
	b.RequireAccessible("console-segment-export")
	b.Screenshot("console-segment-export")
	p.runJobs()
	res, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	csv, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.Count(string(csv), "\n") != 13 {
		t.Errorf("download: got %d with %d lines, want 200 with a header and 12 members", res.StatusCode, strings.Count(string(csv), "\n"))
	}
	b.Navigate(p.public + "/console/segments/" + scots.ID)
	if strings.Contains(b.Text("main"), "token=") {
		t.Error("the download link is shown a second time")
	}
	b.Submit("header button")

	// An analyst: the analytics segment only, counted and never listed, no export.
	p.signInConsole(t, b, "ana@shop.example", "analyst")
	main = p.page(t, b, "/console/segments", "console-segments-analyst")
	if strings.Contains(main, scots.Name) || !strings.Contains(main, welsh.Name) {
		t.Errorf("an analyst's segments: %q", main)
	}
	if status := b.Navigate(p.public + "/console/segments/" + scots.ID); status != http.StatusNotFound {
		t.Errorf("an analyst opened a personalization segment: %d, want 404", status)
	}
	main = p.page(t, b, "/console/segments/"+welsh.ID, "console-segment-analytics")
	if !strings.Contains(main, "fewer than 10") || !strings.Contains(main, "counted, never listed") || strings.Contains(main, "Create an export") ||
		!strings.Contains(main, "so every value is withheld") {
		t.Errorf("an analyst's analytics segment: %q", main)
	}
	b.Submit("header button")

	// An auditor reads no customers: no link, and the pages are refused.
	p.signInConsole(t, b, "audra@shop.example", "auditor")
	if nav := b.Text("header nav"); strings.Contains(nav, "Segments") {
		t.Errorf("an auditor's navigation: %q", nav)
	}
	for _, path := range []string{"/console/segments", "/console/segments/" + welsh.ID} {
		if status := b.Navigate(p.public + path); status != http.StatusForbidden {
			t.Errorf("an auditor opened %s: %d, want 403", path, status)
		}
	}
	// A support agent reads customers but acts for no segment's purpose: an empty list.
	b.Navigate(p.public + "/console")
	b.Submit("header button")
	p.signInConsole(t, b, "sam@shop.example", "support")
	if main = p.page(t, b, "/console/segments", "console-segments-support"); !strings.Contains(main, "No segment of a purpose your role acts for") {
		t.Errorf("a support agent's segments: %q", main)
	}
	for _, e := range b.ConsoleErrors() {
		if !strings.Contains(e, "status of 422") && !strings.Contains(e, "status of 403") && !strings.Contains(e, "status of 404") {
			t.Errorf("browser reported: %s", e)
		}
	}
}
