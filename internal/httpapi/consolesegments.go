package httpapi

import (
	"encoding/json"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/segment"
)

// The console's segment pages: the segments the person's role may see with their counts, and
// one segment's rule in words, count, who entered and left, its trends and its exports. They
// read through the segment service as the signed-in person, like the API: a segment of a
// purpose the role does not act for is not found, counts under the minimum cohort stay
// withheld, and trends need a role that acts for analytics.

func (s *Server) consoleSegmentRoutes() []route {
	if s.Staff == nil || s.Segments == nil {
		return nil
	}
	page := outMedia("text/html", 200)
	return []route{
		get("/console/segments", s.consoleSegments, public, pages, page, redirects(303), errs(403)),
		get("/console/segments/{id}", s.consoleSegment, public, pages, query(consoleTrendParams...), page, redirects(303), errs(403, 404, 422)),
		post("/console/segments/{id}/exports", s.consoleSegmentExport, public, pages, inMedia(formMedia), page, redirects(303), errs(400, 403, 404)),
	}
}

// consoleTrendParams are the trend form's fields on a segment's page.
var consoleTrendParams = []param{
	{Name: "metric", Type: "string", Description: "The metric to chart (see GET /v1/trends); new_customers by default."},
	{Name: "interval", Type: "string", Description: "day, week (the default) or month."},
	{Name: "by", Type: "string", Description: "A breakdown: age_band, gender, region, country or segment; none by default."},
}

// segmentRow is one line of the segments page.
type segmentRow struct {
	segment.Segment
	Count segment.Count
}

func (s *Server) consoleSegments(w http.ResponseWriter, r *http.Request) error {
	v, _, r, ok, err := s.staffPage(w, r, "Segments", catalog.PermCustomersRead)
	if !ok {
		return err
	}
	list, err := s.Segments.List(r.Context())
	if err != nil {
		return err
	}
	rows := make([]segmentRow, len(list))
	for i, seg := range list {
		rows[i].Segment = seg
		if rows[i].Count, err = s.Segments.Count(r.Context(), seg.ID); err != nil {
			return err
		}
	}
	v.Data = rows
	return s.renderPage(w, http.StatusOK, segmentsTemplate, v)
}

// countCell says a count, or that it is withheld.
const countCell = `{{with .Count}}{{.}}{{else}}fewer than {{.CountBelow}}{{end}}`

var segmentsTemplate = consolePageTemplate("segments", `<p>Groups of customers by a rule, each for one purpose. A customer is a member while the rule matches
and the purpose is allowed for them; counts for analytics below the minimum cohort are withheld.</p>
{{if .Data}}<table><caption class="sr">Segments your role may see</caption><thead><tr><th scope="col">Segment</th><th scope="col">Purpose</th><th scope="col">Members</th><th scope="col">Last full refresh</th></tr></thead><tbody>
{{range .Data}}<tr><td><a href="/console/segments/{{.ID}}">{{.Name}}</a></td><td>{{words .Purpose}}</td><td>{{with .Count}}`+countCell+`{{end}}</td><td>{{with .RefreshedAt}}{{when .}}{{else}}not yet{{end}}</td></tr>{{end}}</tbody></table>
{{else}}<p>No segment of a purpose your role acts for. Segments are made with <code>POST /v1/segments</code>.</p>{{end}}`)

// segmentPage is one segment's page.
type segmentPage struct {
	Segment segment.Segment
	Rule    string
	Count   segment.Count
	// Listed is false for purposes whose segments are counted, never listed: no history.
	Listed  bool
	History []segment.Change
	// Exportable shows the export form: the role may reveal for the purpose.
	Exportable bool
	NewExport  *segment.Export
	// Trends is false when the role does not act for analytics.
	Trends                  bool
	Metric, Interval, By    string
	Metrics, Intervals, Bys []string
	TrendError              string
	Chart                   template.HTML
	Trend                   segment.Trend
	Cells                   []trendCell
	// Withheld is true when no cell of the trend is shown.
	Withheld bool
	RuleJSON string
}

// trendCell is one row of a trend's table, as shown.
type trendCell struct{ Period, Group, Value, Customers string }

// trendCells lists a trend's cells for its table: withheld ones say so.
func trendCells(t segment.Trend) []trendCell {
	show := number
	if slices.Contains(rateMetrics, t.Metric) {
		show = percent
	}
	var out []trendCell
	for _, sr := range t.Series {
		for _, p := range sr.Points {
			c := trendCell{Period: p.Period, Group: words(sr.Group), Value: "withheld", Customers: "fewer than " + strconv.Itoa(p.CountBelow)}
			if c.Group == "" {
				c.Group = "all"
			}
			if p.Value != nil {
				c.Value = show(*p.Value)
			}
			if p.Customers != nil {
				c.Customers = strconv.Itoa(*p.Customers)
			}
			out = append(out, c)
		}
	}
	return out
}

// reasonWords says why a customer entered or left a segment.
var reasonWords = map[string]string{
	segment.ReasonRule:       "the rule",
	segment.ReasonNotAllowed: "the purpose is no longer allowed for them",
	segment.ReasonGone:       "erased or merged",
}

// segmentHistoryShown is how many entries and departures the page lists.
const segmentHistoryShown = 50

// segmentPage gathers a segment's page for the person; status is 422 when the trend form
// holds a choice the service refuses.
func (s *Server) segmentPage(r *http.Request, role, id string) (segmentPage, int, error) {
	ctx := r.Context()
	seg, err := s.Segments.Get(ctx, id)
	if err != nil {
		return segmentPage{}, 0, err
	}
	rule, err := json.MarshalIndent(seg.Rule, "", "  ")
	if err != nil {
		return segmentPage{}, 0, err
	}
	d := segmentPage{Segment: seg, Rule: seg.Rule.Words(), RuleJSON: string(rule), Listed: true, Metrics: segment.Metrics,
		Intervals: []string{"day", "week", "month"}, Bys: segment.Breakdowns}

	if d.Count, err = s.Segments.Count(ctx, id); err != nil {
		return d, 0, err
	}
	d.History, err = s.Segments.History(ctx, id, segmentHistoryShown)
	if problem.Is(err, problem.Forbidden) {
		d.Listed, err = false, nil
	}
	if err != nil {
		return d, 0, err
	}
	for i := range d.History {
		d.History[i].Reason = reasonWords[d.History[i].Reason]
	}
	d.Exportable = d.Listed && s.Catalog.RoleHas(role, catalog.PermCustomersReveal) && s.Catalog.RoleMayActFor(role, seg.Purpose)
	q := r.URL.Query()
	d.Metric, d.Interval, d.By = q.Get("metric"), q.Get("interval"), q.Get("by")
	if d.Metric == "" {
		d.Metric = segment.MetricNewCustomers
	}
	if d.Interval == "" {
		d.Interval = "week"
	}
	t, err := s.Segments.Trend(ctx, segment.TrendQuery{Metric: d.Metric, Interval: d.Interval, By: d.By, Segment: seg.ID})
	switch {
	case problem.Is(err, problem.Forbidden):
		return d, http.StatusOK, nil
	case problem.Is(err, problem.Invalid):
		d.Trends, d.TrendError = true, problem.Detail(err)
		return d, http.StatusUnprocessableEntity, nil
	case err != nil:
		return d, 0, err
	}
	d.Trends, d.Trend, d.Chart, d.Cells = true, t, trendChart(t), trendCells(t)
	d.Withheld = len(d.Cells) > 0
	for _, c := range d.Cells {
		if c.Value != "withheld" {
			d.Withheld = false
		}
	}
	return d, http.StatusOK, nil
}

// trendChartSeries bounds the lines of one chart (the table holds every group).
const trendChartSeries = 6

// rateMetrics are the metrics whose value is a share, shown as a percentage.
var rateMetrics = []string{segment.MetricRepeatRate, segment.MetricCartAbandonment, segment.MetricSignupConversion, segment.MetricConsentRate}

// trendChart draws a trend as lines, one per group, a withheld cell breaking its line.
func trendChart(t segment.Trend) template.HTML {
	var labels []string
	if len(t.Series) > 0 {
		for _, p := range t.Series[0].Points {
			labels = append(labels, p.Period)
		}
	}
	var series []chartSeries
	for _, sr := range t.Series[:min(len(t.Series), trendChartSeries)] {
		vals := make([]float64, len(sr.Points))
		for i, p := range sr.Points {
			vals[i] = math.NaN()
			if p.Value != nil {
				vals[i] = *p.Value
			}
		}
		name := sr.Group
		if name == "" {
			name = t.Metric
		}
		series = append(series, chartSeries{Name: name, Values: vals})
	}
	label, top := number, 0.0
	if slices.Contains(rateMetrics, t.Metric) {
		label, top = percent, 1
	}
	title := heading(t.Metric) + " per " + t.Interval
	desc := "Lines, one point per " + t.Interval + " from " + t.From.Format("2 Jan 2006") + " to " + t.To.Format("2 Jan 2006") + ", of " +
		words(t.Metric) + " among this segment's members"
	if t.By != "" {
		desc += ", one line per " + words(t.By)
	}
	desc += "; a gap is a period of fewer than " + number(float64(t.MinCohort)) + " customers, withheld."
	return lineChart("chart-trend", title, desc, labels, series, top, label)
}

func (s *Server) consoleSegment(w http.ResponseWriter, r *http.Request) error {
	v, a, r, ok, err := s.staffPage(w, r, "Segments", catalog.PermCustomersRead)
	if !ok {
		return err
	}
	d, status, err := s.segmentPage(r, a.Role, r.PathValue("id"))
	if err != nil {
		return err
	}
	v.Data = d
	return s.renderPage(w, status, segmentTemplate, v)
}

// consoleSegmentExport queues an export of the segment's members and shows its download link
// once, as the API does.
func (s *Server) consoleSegmentExport(w http.ResponseWriter, r *http.Request) error {
	v, a, r, _, ok, err := s.staffForm(w, r, "Segments", catalog.PermCustomersRead)
	if !ok {
		return err
	}
	e, err := s.Segments.StartExport(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d, status, err := s.segmentPage(r, a.Role, r.PathValue("id"))
	if err != nil {
		return err
	}
	d.NewExport, v.Done = &e, "export queued"
	v.Data = d
	return s.renderPage(w, status, segmentTemplate, v)
}

var segmentTemplate = consolePageTemplate("segment", `{{with .Data}}{{with .Segment}}<h2>{{.Name}}</h2>
<dl class="figures"><div><dt>Purpose</dt><dd>{{words .Purpose}}</dd></div><div><dt>Members</dt><dd>{{with $.Data.Count}}`+countCell+`{{end}}</dd></div>
<div><dt>Last full refresh</dt><dd>{{with .RefreshedAt}}{{when .}}{{else}}not yet{{end}}</dd></div></dl>{{end}}
<h2>Rule</h2><p>Customers for whom {{.Rule}}.</p>
<details><summary>The rule as written</summary><pre><code>{{.RuleJSON}}</code></pre></details>
{{with .NewExport}}<div class="newkey" role="status"><p><strong>Export queued.</strong> Its download link works for 24 hours once the export is done, and is shown only now:</p>
<p><a href="{{.DownloadURL}}">Download the members of this segment (CSV)</a></p><p class="hint">State now: {{.State}}. Following the link before the export is done answers “not ready yet”.</p></div>{{end}}
{{if .Exportable}}<h2>Export</h2><form method="post" action="/console/segments/{{.Segment.ID}}/exports"><input type="hidden" name="csrf" value="{{$.CSRF}}">
<p class="hint">Lists the members the permission decision allows for {{words .Segment.Purpose}} now; the file holds the fields declared for that purpose.</p>
<button type="submit">Create an export</button></form>{{end}}
{{if .Trends}}<h2>Trends</h2><form method="get" action="/console/segments/{{.Segment.ID}}" class="filters">
<div><label for="t-metric">Metric</label><select id="t-metric" name="metric">{{range .Metrics}}<option value="{{.}}"{{if eq . $.Data.Metric}} selected{{end}}>{{words .}}</option>{{end}}</select></div>
<div><label for="t-interval">Interval</label><select id="t-interval" name="interval">{{range .Intervals}}<option value="{{.}}"{{if eq . $.Data.Interval}} selected{{end}}>{{.}}</option>{{end}}</select></div>
<div><label for="t-by">Breakdown</label><select id="t-by" name="by"><option value="">none</option>{{range .Bys}}<option value="{{.}}"{{if eq . $.Data.By}} selected{{end}}>{{words .}}</option>{{end}}</select></div>
<div><button type="submit">Show</button></div></form>
{{with .TrendError}}<p class="error" role="alert">{{.}}</p>{{end}}
{{if .Chart}}{{.Chart}}{{if .Withheld}}<p class="hint">Every period here counts fewer than {{.Trend.MinCohort}} customers, so every value is withheld.</p>{{else if not .Cells}}<p class="hint">Nothing happened among these members in the last 90 days.</p>{{end}}<details><summary>The numbers<span class="sr"> of the trend</span></summary><table><caption class="sr">{{words .Trend.Metric}} per {{.Trend.Interval}}</caption>
<thead><tr><th scope="col">Period</th><th scope="col">Group</th><th scope="col">Value</th><th scope="col">Customers</th></tr></thead><tbody>
{{range .Cells}}<tr><td>{{.Period}}</td><td>{{.Group}}</td><td>{{.Value}}</td><td>{{.Customers}}</td></tr>{{end}}</tbody></table></details>{{end}}
{{else}}<p>Trends need a role that acts for analytics.</p>{{end}}
<h2>Who entered and left</h2>{{if .Listed}}{{if .History}}<table><caption class="sr">Latest entries and departures, newest first</caption><thead><tr><th scope="col">When</th><th scope="col">Customer</th><th scope="col">Change</th><th scope="col">Why</th></tr></thead><tbody>
{{range .History}}<tr><td>{{when .At}}</td><td><a href="/console/customers/{{.CustomerID}}">{{.CustomerID}}</a></td><td>{{if .Entered}}entered{{else}}left{{end}}</td><td>{{.Reason}}</td></tr>{{end}}</tbody></table>
{{else}}<p>Nobody has entered or left yet.</p>{{end}}{{else}}<p>Segments for {{words .Segment.Purpose}} are counted, never listed.</p>{{end}}{{end}}`)
