package httpapi

import (
	_ "embed"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/activity"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/staff"
)

// The console's pages beyond sign-in and the work queues: the dashboard (its home), search
// as you type, the consent and policy page, the audit trail, data quality and administration.
// Every page reads through the same services as the API, as the signed-in person, so their
// role decides what each page holds: a page whose permission the role lacks is left out of
// the navigation and answers 403, and a section of a page the role may not read is left out.

// consoleFuncs are the functions every console template may call.
var consoleFuncs = template.FuncMap{
	"words":   words,
	"heading": heading,
	"pct":     percent,
	"date":    func(t time.Time) string { return t.Format("2 Jan 2006") },
	"when":    func(t time.Time) string { return t.Format("2 Jan 2006 15:04") },
}

// heading is words with a capital, for titles made from codes.
func heading(s string) string {
	s = words(s)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// navLink is one link of the console's navigation, shown to roles holding Permission.
type navLink struct {
	Href, Label, Permission string
}

// consoleNav is the navigation, in order; an empty permission is every signed-in person's.
var consoleNav = []navLink{
	{"/console", "Dashboard", ""},
	{"/console/search", "Find", catalog.PermCustomersRead},
	{"/console/requests", "Requests", catalog.PermRequestsManage},
	{"/console/duplicates", "Duplicates", catalog.PermCustomersWrite},
	{"/console/policies", "Consent", catalog.PermCatalogRead},
	{"/console/audit", "Audit", catalog.PermAuditRead},
	{"/console/quality", "Quality", catalog.PermCustomersRead},
	{"/console/segments", "Segments", catalog.PermCustomersRead},
	{"/console/admin", "Administration", catalog.PermAPIKeysManage},
}

// nav is the navigation role may use.
func (s *Server) nav(role string) []navLink {
	var out []navLink
	for _, l := range consoleNav {
		if l.Permission == "" || s.Catalog.RoleHas(role, l.Permission) {
			out = append(out, l)
		}
	}
	return out
}

// consoleHeaders are the console pages' headers: those of every page, and a policy that also
// lets the console's own script run and call back to this origin (script-src and connect-src
// 'self'), nothing from other hosts and no inline script.
func consoleHeaders(w http.ResponseWriter) {
	pageHeaders(w)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; script-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
}

func (s *Server) consolePageRoutes() []route {
	if s.Staff == nil {
		return nil
	}
	page := outMedia("text/html", 200)
	q := param{Name: "q", Type: "string", Description: "What to search for: a name, town, postal code, e-mail, phone or number."}
	return []route{
		get("/console", s.consoleDashboard, public, pages, query(q), page, redirects(303), errs(403, 422)),
		get("/console/console.js", s.consoleScript, public, outMedia("text/javascript", 200)),
		get("/console/search", s.consoleSearch, public, pages, query(q), page, redirects(303), errs(403, 422)),
		get("/console/search/live", s.consoleLiveSearch, public, pages, query(q), page, redirects(303), errs(403, 422)),
		get("/console/customers/{id}/edit", s.consoleEditPage, public, pages, page, redirects(303), errs(403, 404, 410, 422)),
		post("/console/customers/{id}/edit", s.consoleEdit, public, pages, inMedia(formMedia), page, redirects(303), errs(400, 403, 404, 409, 410, 422)),
		get("/console/policies", s.consolePolicies, public, pages, query(param{Name: "version", Type: "string", Description: "The version to compare with the one before it; the newest by default."}),
			page, redirects(303), errs(403, 404)),
		post("/console/policies", s.consolePublish, public, pages, inMedia(formMedia), page, redirects(303), errs(400, 403, 409, 413, 422)),
		get("/console/audit", s.consoleAudit, public, pages, query(auditPageQuery...), page, redirects(303), errs(403, 422)),
		get("/console/audit/verify", s.consoleAuditVerify, public, pages, page, redirects(303), errs(403)),
		get("/console/quality", s.consoleQuality, public, pages, page, redirects(303), errs(403)),
		get("/console/admin", s.consoleAdmin, public, pages, page, redirects(303), errs(403)),
		post("/console/admin/staff/disable", s.consoleDisableStaff, public, pages, inMedia(formMedia), page, redirects(303), errs(400, 403, 404, 422)),
		post("/console/admin/keys", s.consoleCreateKey, public, pages, inMedia(formMedia), page, errs(400, 403, 422)),
		post("/console/admin/keys/{id}/revoke", s.consoleRevokeKey, public, pages, inMedia(formMedia), redirects(303), page, errs(400, 403, 404, 422)),
	}
}

// pageView is what a console page template gets: the chrome every page has, whether the page
// loads the console's script, and the page's own data.
type pageView struct {
	consoleView
	Script bool
	Done   string
	Data   any
}

// pagesStyle is the style the pages of this file add to the console's: hints and messages
// next to fields, the search list, charts, the policy diff, figures.
const pagesStyle = `<style>
main{max-width:60rem}nav a[aria-current]{font-weight:700}
.hint{color:#4a4a4a;font-size:.9rem;margin:.2rem 0}.message{color:#b3261e;font-weight:600;margin:.2rem 0}
.field.bad input,.field.bad select{border-color:#b3261e}label.check{font-weight:400;display:inline-flex;gap:.4rem;margin:.3rem 0}.editgrid{display:grid;grid-template-columns:repeat(auto-fill,minmax(20rem,1fr));gap:0 1.5rem}
textarea{font:inherit;width:100%;box-sizing:border-box;border:2px solid #767676;border-radius:.3rem;padding:.5rem}
input[type=date]{font:inherit;padding:.45rem;border:2px solid #767676;border-radius:.3rem}
.find{position:relative}#live{list-style:none;margin:.25rem 0 0;padding:0;border:2px solid #767676;border-radius:.3rem;background:#fff}
#live li{padding:.45rem .6rem;cursor:pointer}#live li[aria-selected=true]{background:#0b57d0;color:#fff}#live li[aria-disabled=true]{cursor:default}
svg.chart{max-width:100%;height:auto;display:block;margin:.5rem 0}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(24rem,1fr));gap:0 2rem}details{margin:.5rem 0 1rem}
.diff{max-height:28rem;overflow:auto;border:1px solid #ccc}.diff pre{margin:0;padding:.5rem;white-space:pre-wrap}.diff pre>span{display:block}
ins{background:#d8f5d0;color:#0b3d02;text-decoration:none;display:block}del{background:#fde2e0;color:#6b0f0a;text-decoration:none;display:block}
.material{border-left:6px solid #b35900;padding:.4rem .8rem;background:#fff4e5}
.figures{display:flex;flex-wrap:wrap;gap:1rem}.figures div{border:1px solid #ccc;border-radius:.3rem;padding:.5rem 1rem}.figures dd{margin:0;font-size:1.6rem;font-weight:700}
.filters{display:flex;flex-wrap:wrap;gap:0 1rem;align-items:end}.filters div{flex:1 1 10rem}
.newkey{border:2px solid #007a5a;border-radius:.3rem;padding:.5rem 1rem}.ok{border:2px solid #007a5a;border-radius:.3rem;padding:.5rem 1rem}
table.fields{table-layout:fixed}table.fields th:first-child{width:40%}td form{display:inline}td button{margin:0;padding:.3rem .7rem}
</style>`

// consolePageTemplate parses one page: the console's head and navigation, then body.
func consolePageTemplate(name, body string) *template.Template {
	return template.Must(template.New(name).Funcs(consoleFuncs).Parse(consoleHead + pagesStyle + body +
		`{{if .Script}}<script src="/console/console.js" defer></script>{{end}}</main></body></html>`))
}

func (s *Server) renderPage(w http.ResponseWriter, status int, t *template.Template, v pageView) error {
	consoleHeaders(w)
	w.WriteHeader(status)
	return t.Execute(w, v)
}

// staffPage signs the person in (or sends them to sign in: ok false) and refuses a role
// without permission (empty: any person) with 403.
func (s *Server) staffPage(w http.ResponseWriter, r *http.Request, title, permission string) (pageView, staff.Account, *http.Request, bool, error) {
	sess, a, ctx, ok := s.signedIn(w, r)
	if !ok {
		return pageView{}, a, r, false, nil
	}
	if permission != "" && !s.Catalog.RoleHas(a.Role, permission) {
		return pageView{}, a, r, false, problem.Forbiddenf("your role (%s) may not open this page", a.Role)
	}
	return pageView{consoleView: s.chrome(sess, a, title)}, a, r.WithContext(ctx), true, nil
}

// staffForm is staffPage for a form post: it also reads the form and checks its token.
func (s *Server) staffForm(w http.ResponseWriter, r *http.Request, title, permission string) (pageView, staff.Account, *http.Request, map[string]string, bool, error) {
	v, a, r, ok, err := s.staffPage(w, r, title, permission)
	if !ok {
		return v, a, r, nil, false, err
	}
	vals, err := tokenForm(w, r, v.CSRF)
	return v, a, r, vals, err == nil, err
}

//go:embed console.js
var consoleJS []byte

// consoleScript is the console's one script: search as you type. It is served from this
// origin, so the pages' policy needs no inline script or nonce.
func (s *Server) consoleScript(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, err := w.Write(consoleJS)
	return err
}

// dashboardDays is how far back the dashboard's charts reach.
const dashboardDays = 30

// dashChart is one chart of the dashboard with its numbers as a table.
type dashChart struct {
	ID, Title, Desc string
	SVG             template.HTML
	Rows            []activity.Count
	Total           int64
}

var metricText = map[activity.Metric][2]string{
	activity.Customers: {"New customers per day", "customer profiles created"},
	activity.Events:    {"Events per day", "events received from the tracking API, tills and connected platforms"},
	activity.Consents:  {"Consent choices per day", "consent choices recorded (given or withdrawn)"},
	activity.Requests:  {"Data-subject requests per day", "access, portability, erasure and other requests received"},
}

// consoleDashboard is the console's home: the search box, and a chart of each series the
// person's role may read. With ?q= it is the search page (links made before the dashboard).
func (s *Server) consoleDashboard(w http.ResponseWriter, r *http.Request) error {
	if strings.TrimSpace(r.URL.Query().Get("q")) != "" {
		return s.consoleSearch(w, r)
	}
	v, a, r, ok, err := s.staffPage(w, r, "Dashboard", "")
	if !ok {
		return err
	}
	var charts []dashChart
	if s.Activity != nil {
		for _, m := range activity.Metrics {
			if !s.Activity.Allowed(r.Context(), m) {
				continue
			}
			rows, err := s.Activity.Series(r.Context(), m, dashboardDays)
			if err != nil {
				return err
			}
			c := dashChart{ID: "chart-" + string(m), Title: metricText[m][0], Rows: rows}
			pts := make([]chartPoint, len(rows))
			for i, row := range rows {
				pts[i] = chartPoint{Label: row.Day.Format("2 Jan"), Value: float64(row.N)}
				c.Total += row.N
			}
			c.Desc = "Bars, one a day for the last " + strconv.Itoa(dashboardDays) + " days, of " + metricText[m][1] + ": " +
				strconv.FormatInt(c.Total, 10) + " in all."
			c.SVG = barChart(c.ID, c.Title, c.Desc, pts)
			charts = append(charts, c)
		}
	}
	v.Script = s.Catalog.RoleHas(a.Role, catalog.PermCustomersRead)
	v.Data = charts
	return s.renderPage(w, http.StatusOK, dashboardTemplate, v)
}

// searchBox is the search form: it works as a plain GET form, and the console's script turns
// it into a combobox whose list fills as the person types.
const searchBox = `<form method="get" action="/console/search" role="search" class="find"><label for="q">Name, town, postal code, e-mail, phone or number</label>
<input id="q" name="q" type="search" value="{{.Q}}" autocomplete="off" role="combobox" aria-autocomplete="list" aria-expanded="false" aria-controls="live" aria-describedby="q-hint"{{if not .Q}} autofocus{{end}}>
<p id="q-hint" class="hint">Matches appear as you type: arrow keys move through them, Enter opens one.</p>
<ul id="live" role="listbox" aria-label="Matching customers" hidden></ul><p id="live-status" role="status" class="sr"></p>
<button type="submit">Find</button></form>`

var dashboardTemplate = consolePageTemplate("dashboard", `{{if .Script}}`+searchBox+`{{end}}
{{if .Data}}<div class="charts">{{end}}{{range .Data}}<section aria-labelledby="{{.ID}}-h"><h2 id="{{.ID}}-h">{{.Title}}</h2>{{.SVG}}
<details><summary>The numbers<span class="sr"> of {{.Title}}</span></summary><table><caption class="sr">{{.Title}}</caption><thead><tr><th scope="col">Day</th><th scope="col">Count</th></tr></thead><tbody>
{{range .Rows}}<tr><td>{{date .Day}}</td><td>{{.N}}</td></tr>{{end}}</tbody></table></details></section>
{{else}}<p>Your role has no figures to show here.</p>{{end}}{{if .Data}}</div>{{end}}`)

// searchLimit is how many matches the search page and the live list show.
const searchLimit = 20

// search runs the person's query, turning a query the service refuses into a message.
func (s *Server) search(r *http.Request, q string, limit int) ([]customer.SearchResult, string, error) {
	res, err := s.Customers.Search(r.Context(), q, customer.SearchFilter{}, limit, "")
	switch {
	case problem.Is(err, problem.Invalid):
		return nil, problem.Detail(err), nil
	case err != nil:
		return nil, "", err
	case len(res) == 0:
		return nil, "No customer matches.", nil
	}
	return res, "", nil
}

func (s *Server) consoleSearch(w http.ResponseWriter, r *http.Request) error {
	v, _, r, ok, err := s.staffPage(w, r, "Find a customer", catalog.PermCustomersRead)
	if !ok {
		return err
	}
	v.Q, v.Script = strings.TrimSpace(r.URL.Query().Get("q")), true
	if v.Q != "" {
		if v.Results, v.Error, err = s.search(r, v.Q, searchLimit); err != nil {
			return err
		}
	}
	return s.renderPage(w, http.StatusOK, searchTemplate, v)
}

var searchTemplate = consolePageTemplate("search", searchBox+`
{{if .Results}}<table><caption class="sr">Customers matching {{.Q}}</caption><thead><tr><th scope="col">Customer</th><th scope="col">Name</th><th scope="col">E-mail</th><th scope="col">Town</th><th scope="col">Matched</th></tr></thead><tbody>
{{range .Results}}<tr><td><a href="/console/customers/{{.ID}}">{{.ID}}</a></td><td>{{index .Fields "first_name"}} {{index .Fields "last_name"}}</td><td>{{index .Fields "email"}}</td><td>{{index .Fields "city"}}</td><td>{{range $i, $m := .Matched}}{{if $i}}, {{end}}{{words $m}}{{end}}</td></tr>{{end}}</tbody></table>{{end}}`)

// liveLimit is how many matches the list under the search box shows.
const liveLimit = 8

// consoleLiveSearch answers the search box's script with the options of its list: an HTML
// fragment, escaped by the template like any page, that the script puts in place.
func (s *Server) consoleLiveSearch(w http.ResponseWriter, r *http.Request) error {
	_, _, r, ok, err := s.staffPage(w, r, "", catalog.PermCustomersRead)
	if !ok {
		return err
	}
	res, msg, err := s.search(r, strings.TrimSpace(r.URL.Query().Get("q")), liveLimit)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return liveTemplate.Execute(w, struct {
		Results []customer.SearchResult
		Message string
	}{res, msg})
}

var liveTemplate = template.Must(template.New("live").Funcs(consoleFuncs).Parse(`{{range $i, $r := .Results}}<li role="option" id="live-{{$i}}" aria-selected="false" data-href="/console/customers/{{.ID}}">
<strong>{{index .Fields "first_name"}} {{index .Fields "last_name"}}</strong> {{index .Fields "email"}}{{with index .Fields "city"}} · {{.}}{{end}}</li>
{{else}}<li role="option" id="live-none" aria-disabled="true" aria-selected="false">{{.Message}}</li>{{end}}`))
