package httpapi

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/stewardhq/steward/internal/notice"
	"github.com/stewardhq/steward/internal/problem"
)

// formatParam chooses JSON (the default) or CSV.
var formatParam = param{Name: "format", Type: "string", Description: "json (the default) or csv."}

// The public privacy notice and the records of processing: generated from the catalog and
// the policy in force (see package notice), so they always say what the vault does.

// RecordList is the body of GET /v1/processing-records.
type RecordList struct {
	Data []notice.Record `json:"data"`
}

func (s *Server) noticeRoutes() []route {
	if s.Notice == nil {
		return nil
	}
	return []route{
		get("/privacy", s.privacyPage, public, outMedia("text/html", 200)),
		get("/privacy.json", s.privacyJSON, public, out[notice.Notice](200)),
		get("/v1/processing-records", s.processingRecords, query(formatParam), out[RecordList](200), outMedia("text/csv", 200),
			errs(403, 422)),
	}
}

// bannerRoutes serve the consent banner.
func (s *Server) bannerRoutes() []route {
	if s.ConsentScript == nil {
		return nil
	}
	return []route{get("/consent.js", s.consentScript, public, outMedia("text/javascript", 200))}
}

func (s *Server) consentScript(w http.ResponseWriter, r *http.Request) error {
	b, err := s.ConsentScript(r.Context())
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	// Short, so a new policy version reaches every page within minutes.
	h.Set("Cache-Control", "public, max-age=300")
	_, err = w.Write(b)
	return err
}

func (s *Server) privacyJSON(w http.ResponseWriter, r *http.Request) error {
	n, err := s.Notice.Notice(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	return writeJSON(w, http.StatusOK, n)
}

func (s *Server) privacyPage(w http.ResponseWriter, r *http.Request) error {
	n, err := s.Notice.Notice(r.Context())
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	// The page loads nothing from anywhere: its style is inline and it has no script.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	lang := "en"
	if n.Policy != nil && n.Policy.Language != "" {
		lang = n.Policy.Language
	}
	return noticeTemplate.Execute(w, noticePage{Notice: n, Lang: lang})
}

func (s *Server) processingRecords(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return problem.InvalidField("format", "must be json or csv")
	}
	rs, err := s.Notice.Records(r.Context())
	if err != nil {
		return err
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="processing-records.csv"`)
		return notice.WriteCSV(w, rs)
	}
	if rs == nil {
		rs = []notice.Record{}
	}
	return writeJSON(w, http.StatusOK, RecordList{Data: rs})
}

type noticePage struct {
	notice.Notice
	Lang string
}

// words turns a catalog name into words for people ("legal_obligation" → "legal obligation").
func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

var noticeTemplate = template.Must(template.New("notice").Funcs(template.FuncMap{
	"words": words,
	"join":  func(s []string) string { return words(strings.Join(s, ", ")) },
	"date":  func(t interface{ Format(string) string }) string { return t.Format("2 January 2006") },
}).Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>Privacy notice{{with .Controller.Name}} — {{.}}{{end}}</title>
<style>
body{font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#fff;margin:0}
main{max-width:46rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.8rem;margin:.5rem 0 1rem}h2{font-size:1.35rem;margin:2rem 0 .5rem;border-bottom:1px solid #ccc}
h3{font-size:1.1rem;margin:1.25rem 0 .25rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #ddd}
th{background:#f3f3f3}a{color:#0b57d0}a:focus{outline:3px solid #0b57d0;outline-offset:2px}
.note{color:#444}
</style></head>
<body><main>
<h1>Privacy notice</h1>
{{if .Controller.Name}}<p>{{.Controller.Name}} is responsible for your personal data{{with .Controller.Contact}}; you can reach us at {{.}}{{end}}.</p>{{end}}
{{with .Policy}}<p class="note">This notice describes privacy policy version {{.Version}}, in force since {{date .EffectiveAt}}.{{with .URL}} <a href="{{.}}">Read the full policy</a>.{{end}}</p>
{{else}}<p class="note">No privacy policy version is in force yet.</p>{{end}}

<h2 id="why">Why we use your data</h2>
{{range .Purposes}}<h3>{{words .Name}}</h3>
<p>{{.Description}}</p>
<p><strong>Legal basis:</strong> {{.Basis}}{{if .GPC}} A Global Privacy Control signal from your browser counts as saying no.{{end}}{{if .Generalised}} For this we see your data only in coarse form, such as an age band or a region, never in detail.{{end}}</p>
<p><strong>Data used:</strong> {{join .Fields}}.</p>
{{end}}

<h2 id="what">What we keep, and for how long</h2>
{{range .Categories}}<h3>{{words .Name}}</h3>
<p>{{.Description}}</p>
<table><thead><tr><th scope="col">Data</th><th scope="col">Used for</th><th scope="col">Kept</th></tr></thead><tbody>
{{range .Fields}}<tr><td>{{words .Name}}</td><td>{{join .Purposes}}</td><td>{{.Kept}}</td></tr>
{{end}}</tbody></table>
{{end}}

<h2 id="sources">Where it comes from</h2>
<ul>{{range .Sources}}<li><strong>{{.Name}}</strong>: {{.Description}}</li>{{end}}</ul>

<h2 id="recipients">Who receives it</h2>
{{if .Recipients}}<ul>{{range .Recipients}}<li>{{.Name}}, for {{join .Purposes}}</li>{{end}}</ul>
{{else}}<p>Nobody outside our business: we do not pass your data on.</p>{{end}}

<h2 id="rights">Your rights</h2>
<ul>{{range .Rights}}<li><strong>{{words .Name}}</strong>: {{.Text}}{{with .URL}} <a href="{{.}}">Go there</a>.{{end}}</li>{{end}}</ul>

<h2 id="versions">Versions of our privacy policy</h2>
{{if .Versions}}<table><thead><tr><th scope="col">Version</th><th scope="col">In force from</th><th scope="col">What changed</th></tr></thead><tbody>
{{range .Versions}}<tr><td>{{.Version}}{{if .InForce}} (current){{end}}</td><td>{{date .EffectiveAt}}</td><td>{{if .Added}}Added: {{join .Added}}. {{end}}{{if .Removed}}Removed: {{join .Removed}}. {{end}}{{if .MaterialChange}}We ask for your consent again for: {{join .MaterialChange}}.{{end}}{{if not (or .Added .Removed .MaterialChange)}}Covers {{join .Purposes}}.{{end}}</td></tr>
{{end}}</tbody></table>{{else}}<p>None published yet.</p>{{end}}
<p class="note">Generated {{date .GeneratedAt}} from the data catalog this service enforces. Also available as <a href="/privacy.json">JSON</a>.</p>
</main></body></html>
`))
