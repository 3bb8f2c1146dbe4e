package httpapi

import (
	"html/template"
	"net/http"
	"sort"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/staff"
)

// The console's work queues: data-subject requests (verify, complete, reject, download the
// export) and the duplicate review (evidence side by side, merge, dismiss, undo). Each step
// is the service call the API makes, as the signed-in person, so their role decides and the
// audit trail names them.

func (s *Server) consoleWorkRoutes() []route {
	if s.Staff == nil {
		return nil
	}
	page := outMedia("text/html", 200)
	return []route{
		get("/console/requests", s.consoleRequests, public, pages, page, redirects(303), errs(403)),
		post("/console/requests/{id}/{step}", s.consoleRequestStep, public, pages, inMedia(formMedia), redirects(303), outMedia("application/zip", 200), page,
			errs(400, 403, 404, 409, 410, 422)),
		get("/console/duplicates", s.consoleDuplicates, public, pages, page, redirects(303), errs(403)),
		post("/console/duplicates/{id}/{step}", s.consoleDuplicateStep, public, pages, inMedia(formMedia), redirects(303), page, errs(400, 403, 404, 409, 422)),
	}
}

type workView struct {
	consoleView
	Requests []*rights.Request
	Pairs    []duplicate.Pair
	Merged   []duplicate.Pair
	Done     string
}

func (s *Server) consoleRequests(w http.ResponseWriter, r *http.Request) error {
	sess, a, ctx, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	reqs, err := s.Rights.List(ctx, rights.RequestFilter{Limit: 200}, "")
	if err != nil {
		return err
	}
	open := reqs[:0]
	for _, q := range reqs {
		if q.State != rights.StateCompleted && q.State != rights.StateRejected {
			open = append(open, q)
		}
	}
	// Overdue first, then due soon, then by deadline.
	sort.SliceStable(open, func(i, j int) bool {
		if open[i].Overdue != open[j].Overdue {
			return open[i].Overdue
		}
		if open[i].DueSoon != open[j].DueSoon {
			return open[i].DueSoon
		}
		return open[i].DueAt.Before(open[j].DueAt)
	})
	v := workView{consoleView: s.chrome(sess, a, "Requests"), Requests: open, Done: r.URL.Query().Get("done")}
	return s.workPage(w, v)
}

func (s *Server) chrome(sess staff.Session, a staff.Account, title string) consoleView {
	return consoleView{Title: title, CSRF: sess.CSRF, Email: a.Email, Role: a.Role, SignedIn: true, Nav: s.nav(a.Role)}
}

func (s *Server) workPage(w http.ResponseWriter, v workView) error {
	pageHeaders(w)
	return workTemplate.Execute(w, v)
}

func (s *Server) consoleRequestStep(w http.ResponseWriter, r *http.Request) error {
	sess, _, ctx, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	vals, err := s.consoleForm(w, r, sess)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	switch r.PathValue("step") {
	case "verify":
		_, err = s.Rights.Verify(ctx, id)
	case "complete":
		_, err = s.Rights.Complete(ctx, id, rights.Completion{})
	case "reject":
		_, err = s.Rights.Reject(ctx, id, vals["reason"])
	case "export":
		b, err := s.Rights.Download(ctx, id, "", true)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", `attachment; filename="request-`+id+`.zip"`)
		w.Header().Set("Cache-Control", "no-store")
		_, err = w.Write(b)
		return err
	default:
		return problem.NotFoundf("no such step")
	}
	if err != nil {
		return err
	}
	return seeOther(w, "/console/requests?done="+r.PathValue("step"))
}

func (s *Server) consoleDuplicates(w http.ResponseWriter, r *http.Request) error {
	sess, a, ctx, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	if !s.Catalog.RoleHas(a.Role, catalog.PermCustomersWrite) {
		return problem.Forbiddenf("your role (%s) may not review duplicates", a.Role)
	}
	pending, _, err := s.Duplicates.List(ctx, duplicate.Pending, "", 50)
	if err != nil {
		return err
	}
	merged, _, err := s.Duplicates.List(ctx, duplicate.Merged, "", 20)
	if err != nil {
		return err
	}
	return s.workPage(w, workView{consoleView: s.chrome(sess, a, "Duplicates"), Pairs: pending, Merged: merged, Done: r.URL.Query().Get("done")})
}

func (s *Server) consoleDuplicateStep(w http.ResponseWriter, r *http.Request) error {
	sess, _, ctx, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	if _, err := s.consoleForm(w, r, sess); err != nil {
		return err
	}
	id := r.PathValue("id")
	var err error
	switch r.PathValue("step") {
	case "merge":
		_, _, err = s.Duplicates.Merge(ctx, id)
	case "dismiss":
		_, err = s.Duplicates.Dismiss(ctx, id)
	case "undo":
		_, err = s.Duplicates.UndoPair(ctx, id)
	default:
		return problem.NotFoundf("no such step")
	}
	if err != nil {
		return err
	}
	return seeOther(w, "/console/duplicates?done="+r.PathValue("step"))
}

var workTemplate = template.Must(template.New("work").Funcs(consoleFuncs).Parse(consoleHead + `
{{if .Done}}<p role="status">Done: {{words .Done}}.</p>{{end}}
{{if eq .Title "Requests"}}
<table><thead><tr><th scope="col">Request</th><th scope="col">Customer</th><th scope="col">State</th><th scope="col">Due</th><th scope="col">Work</th></tr></thead><tbody>
{{range .Requests}}<tr><td>{{words .Type}}</td><td>{{if .CustomerID}}<a href="/console/customers/{{.CustomerID}}">{{.CustomerID}}</a>{{else}}unknown{{end}}</td>
<td>{{words .State}}</td><td>{{.DueAt.Format "2 Jan 2006"}}{{if .Overdue}} <strong>(overdue)</strong>{{else if .DueSoon}} (due soon){{end}}</td><td>
{{if eq .State "received"}}<form method="post" action="/console/requests/{{.ID}}/verify"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button type="submit">Verify identity<span class="sr"> for {{.ID}}</span></button></form>{{end}}
{{if or (eq .State "verified") (eq .State "in_progress")}}<form method="post" action="/console/requests/{{.ID}}/complete"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button type="submit">Complete<span class="sr"> {{.ID}}</span></button></form>{{end}}
<form method="post" action="/console/requests/{{.ID}}/reject"><input type="hidden" name="csrf" value="{{$.CSRF}}"><label for="reason-{{.ID}}">Reason to reject</label><input id="reason-{{.ID}}" name="reason" type="text"><button type="submit">Reject<span class="sr"> {{.ID}}</span></button></form>
</td></tr>{{else}}<tr><td colspan="5">No open requests.</td></tr>{{end}}</tbody></table>
{{else}}
<h2>Waiting for review</h2>
{{range .Pairs}}<section aria-label="Pair {{.ID}}"><p><a href="/console/customers/{{.CustomerA}}">{{.CustomerA}}</a> and <a href="/console/customers/{{.CustomerB}}">{{.CustomerB}}</a>: {{if eq .Decision "shared_identifier"}}one message from a web page named both, which a browser key may not merge{{else}}{{pct .Score}} likely one person ({{words .Decision}}){{end}}.</p>
<table><thead><tr><th scope="col">Comparison</th><th scope="col">Level</th><th scope="col">Weight</th></tr></thead><tbody>
{{range .Evidence}}<tr><td>{{words .Comparison}}</td><td>{{words .Level}}</td><td>{{printf "%+.1f" .Weight}}</td></tr>{{end}}</tbody></table>
<form method="post" action="/console/duplicates/{{.ID}}/merge" class="inline"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button type="submit">Merge<span class="sr"> pair {{.ID}}</span></button></form>
<form method="post" action="/console/duplicates/{{.ID}}/dismiss" class="inline"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button type="submit">Different people<span class="sr"> pair {{.ID}}</span></button></form></section>
{{else}}<p>Nothing waiting.</p>{{end}}
<h2>Merged lately</h2>
<ul>{{range .Merged}}<li>{{.CustomerA}} and {{.CustomerB}}{{if .Auto}} (automatically){{end}}
<form method="post" action="/console/duplicates/{{.ID}}/undo" class="inline"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button type="submit">Undo<span class="sr"> pair {{.ID}}</span></button></form></li>{{else}}<li>None.</li>{{end}}</ul>
{{end}}</main></body></html>`))
