package httpapi

import (
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/forms"
	"github.com/stewardhq/steward/internal/notice"
	"github.com/stewardhq/steward/internal/portal"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
)

// The privacy portal's pages (see package portal): a sign-in page asking for the e-mail
// address, the page a link opens (with a button, since mail scanners follow links), and the
// customer's own page with their data, choices and requests. Plain HTML, no script; the
// session lives in an HttpOnly, SameSite=Strict cookie limited to /portal, and every form
// carries the session's token.

const portalCookie = "steward_portal"

func (s *Server) portalRoutes() []route {
	if s.Portal == nil {
		return nil
	}
	page := outMedia("text/html", 200)
	return []route{
		get("/portal", s.portalHome, public, pages, page),
		post("/portal/link", s.portalLink, public, pages, inMedia(formMedia), page, errs(400, 422, 429, 503)),
		get("/portal/enter", s.portalEnterPage, public, pages, query(tokenParam), page, errs(422)),
		post("/portal/enter", s.portalEnter, public, pages, inMedia(formMedia), redirects(303), errs(400, 410, 422, 429)),
		post("/portal/choices", s.portalChoose, public, pages, inMedia(formMedia), redirects(303), errs(400, 401, 403, 422)),
		post("/portal/do-not-sell", s.portalDoNotSell, public, pages, inMedia(formMedia), redirects(303), errs(400, 401, 403)),
		post("/portal/requests", s.portalAsk, public, pages, inMedia(formMedia), redirects(303), errs(400, 401, 403, 422)),
		post("/portal/download", s.portalDownload, public, pages, inMedia(formMedia), outMedia("application/zip", 200), errs(400, 401, 403, 404, 410)),
		post("/portal/sign-out", s.portalSignOut, public, pages, inMedia(formMedia), redirects(303), errs(400, 401, 403)),
	}
}

func (s *Server) portalSession(r *http.Request) (portal.Session, error) {
	c, err := r.Cookie(portalCookie)
	if err != nil {
		return portal.Session{}, problem.New(problem.Unauthenticated, "not signed in")
	}
	return s.Portal.Who(r.Context(), c.Value)
}

// portalForm reads a signed-in customer's form post, checking its session token.
func (s *Server) portalForm(w http.ResponseWriter, r *http.Request) (portal.Session, map[string]string, error) {
	sess, err := s.portalSession(r)
	if err != nil {
		return sess, nil, err
	}
	vals, err := tokenForm(w, r, sess.CSRF)
	return sess, vals, err
}

func (s *Server) portalHome(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.portalSession(r)
	if problem.Is(err, problem.Unauthenticated) {
		pageHeaders(w)
		return portalSignIn.Execute(w, portalText{Note: r.URL.Query().Get("ended")})
	}
	if err != nil {
		return err
	}
	o, err := s.Portal.Overview(r.Context(), sess)
	if err != nil {
		return err
	}
	v := portalView{Overview: o, CSRF: sess.CSRF, Done: r.URL.Query().Get("done"), Types: rights.Types}
	if v.Card, err = s.memberCard(r, sess, o); err != nil {
		return err
	}
	pageHeaders(w)
	return portalPage.Execute(w, v)
}

type portalText struct{ Note, Sent string }

func (s *Server) portalLink(w http.ResponseWriter, r *http.Request) error {
	if err := s.limits.allowPortal(s.limits.clientAddr(r)); err != nil {
		return err
	}
	vals, err := formValues(w, r)
	if err != nil {
		return err
	}
	if err := s.Portal.SendLink(r.Context(), vals["email"]); err != nil {
		return err
	}
	pageHeaders(w)
	return portalSignIn.Execute(w, portalText{Sent: "If this address belongs to one of our customers, we have e-mailed it a link to sign in. It works once, for 15 minutes."})
}

func (s *Server) portalEnterPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > 100 {
		return problem.InvalidField("token", "is required")
	}
	pageHeaders(w)
	return brandedPage.Execute(w, brandedView{Brand: s.brand(), Lang: "en", Title: "Sign in to your privacy page", Token: token, Button: "Sign in",
		Action: "/portal/enter"})
}

func (s *Server) brand() (b forms.Brand) {
	if s.Forms != nil {
		return s.Forms.Config().Brand
	}
	b.Name, b.Font = "Privacy", "system-ui, sans-serif"
	b.Colors.Primary, b.Colors.Background, b.Colors.Text = "#0b57d0", "#ffffff", "#1a1a1a"
	return b
}

func (s *Server) portalEnter(w http.ResponseWriter, r *http.Request) error {
	if err := s.limits.allowPortal(s.limits.clientAddr(r)); err != nil {
		return err
	}
	vals, err := formValues(w, r)
	if err != nil {
		return err
	}
	session, _, err := s.Portal.Enter(r.Context(), vals["token"])
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: portalCookie, Value: session, Path: "/portal", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(portal.SessionFor / time.Second)})
	return seeOther(w, "/portal")
}

func evidenceOf(s *Server, r *http.Request) consent.EvidenceInput {
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return consent.EvidenceInput{FormID: "portal", UserAgent: ua, IP: s.limits.clientAddr(r)}
}

func (s *Server) portalChoose(w http.ResponseWriter, r *http.Request) error {
	sess, vals, err := s.portalForm(w, r)
	if err != nil {
		return err
	}
	allow := vals["choice"] == "allow"
	if !allow && vals["choice"] != "refuse" {
		return problem.InvalidField("choice", "must be allow or refuse")
	}
	if err := s.Portal.Choose(r.Context(), sess, vals["purpose"], allow, evidenceOf(s, r)); err != nil {
		return err
	}
	return seeOther(w, "/portal?done=choice#choices")
}

func (s *Server) portalDoNotSell(w http.ResponseWriter, r *http.Request) error {
	sess, _, err := s.portalForm(w, r)
	if err != nil {
		return err
	}
	if err := s.Portal.DoNotSell(r.Context(), sess, evidenceOf(s, r)); err != nil {
		return err
	}
	return seeOther(w, "/portal?done=do-not-sell#choices")
}

func (s *Server) portalAsk(w http.ResponseWriter, r *http.Request) error {
	sess, vals, err := s.portalForm(w, r)
	if err != nil {
		return err
	}
	if _, err := s.Portal.Ask(r.Context(), sess, vals["type"]); err != nil {
		return err
	}
	return seeOther(w, "/portal?done=request#requests")
}

func (s *Server) portalDownload(w http.ResponseWriter, r *http.Request) error {
	sess, vals, err := s.portalForm(w, r)
	if err != nil {
		return err
	}
	b, err := s.Portal.Download(r.Context(), sess, vals["request"])
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="my-data.zip"`)
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(b)
	return err
}

func (s *Server) portalSignOut(w http.ResponseWriter, r *http.Request) error {
	sess, _, err := s.portalForm(w, r)
	if err != nil {
		return err
	}
	if err := s.Portal.SignOut(r.Context(), sess); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: portalCookie, Value: "", Path: "/portal", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	return seeOther(w, "/portal?ended=1")
}

type portalView struct {
	portal.Overview
	CSRF, Done string
	Types      []string
	// Card is the loyalty member card, for a customer who is a member.
	Card *memberCard
}

var portalFuncs = template.FuncMap{
	"words": words,
	"kept": func(r string) string {
		ret, err := catalog.ParseRetention(r)
		if err != nil {
			return r
		}
		return notice.Kept(ret)
	},
	"basis": func(ps []customer.PurposeBasis) string {
		var out []string
		for _, p := range ps {
			out = append(out, words(p.Purpose)+" ("+words(string(p.LegalBasis))+")")
		}
		return strings.Join(out, ", ")
	},
	"value": valueText,
	"date":  func(t time.Time) string { return t.Format("2 January 2006") },
}

const portalHead = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>{{block "title" .}}Your privacy page{{end}}</title><style>
body{margin:0;font:1rem/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff}main{max-width:50rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.7rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #ddd}th{background:#f3f3f3}
label{display:block;font-weight:600;margin:1rem 0 .25rem}input[type=email]{width:100%;box-sizing:border-box;font:inherit;padding:.6rem;border:2px solid #767676;border-radius:.3rem}
button{font:inherit;font-weight:600;padding:.5rem 1rem;border:2px solid #0b57d0;border-radius:.3rem;background:#fff;color:#0b57d0;cursor:pointer;margin:.2rem 0}
button.primary{background:#0b57d0;color:#fff}input:focus,button:focus,a:focus{outline:3px solid #0b57d0;outline-offset:2px}
form.inline{display:inline}.sr{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}select{font:inherit;padding:.4rem}.done{border:2px solid #146c2e;border-radius:.3rem;padding:.5rem 1rem}
</style></head><body><main>`

var portalSignIn = template.Must(template.New("signin").Parse(portalHead + `<h1>Your privacy page</h1>
{{if .Sent}}<p role="status">{{.Sent}}</p>{{else}}{{if .Note}}<p role="status">You are signed out.</p>{{end}}
<p>See the data we hold about you, change your choices, and ask for a copy, a correction or erasure. Enter the e-mail address we know you by and we will send you a link to sign in.</p>
<form method="post" action="/portal/link"><label for="email">E-mail address</label>
<input id="email" name="email" type="email" autocomplete="email" required aria-required="true">
<button class="primary" type="submit">Send me a link</button></form>{{end}}
<p><a href="/privacy">Our privacy notice</a></p>
</main></body></html>
`))

var portalPage = template.Must(template.New("portal").Funcs(portalFuncs).Parse(portalHead + `<h1>Your privacy page</h1>
{{if .Done}}<p class="done" role="status">Done: {{if eq .Done "choice"}}your choice is recorded.{{else if eq .Done "do-not-sell"}}we will not sell or share your personal information.{{else}}your request is open; you will find it below.{{end}}</p>{{end}}
<form method="post" action="/portal/sign-out" class="inline"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Sign out</button></form>

<h2 id="data">The data we hold about you</h2>
<table><thead><tr><th scope="col">Data</th><th scope="col">What we hold</th><th scope="col">Why, and on what basis</th><th scope="col">Kept</th><th scope="col">From</th></tr></thead><tbody>
{{range .Fields}}<tr><td>{{words .Field}}</td><td>{{value .Value}}</td><td>{{basis .Purposes}}</td><td>{{kept .Retention}}</td><td>{{words .Source}}</td></tr>
{{end}}</tbody></table>

{{with .Card}}<h2 id="card">Your member card</h2>
<p>Show this code at the till, or give your member number.</p>
{{.QR}}
<p>Member number <strong>{{.Number}}</strong> &middot; {{words .Tier}} &middot; {{.Balance}} points (worth {{printf "%.2f" .Value}} {{.Currency}})</p>{{end}}

<h2 id="choices">Your choices</h2>
{{if .DoNotSell}}<p>You asked us not to sell or share your personal information.</p>{{else}}
<form method="post" action="/portal/do-not-sell"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Do not sell or share my personal information</button></form>{{end}}
<table><thead><tr><th scope="col">Purpose</th><th scope="col">Now</th><th scope="col">Change</th></tr></thead><tbody>
{{range .Choices}}<tr><td><strong>{{words .Purpose.Name}}</strong>: {{.Purpose.Description}}</td>
<td>{{if .Decision.Allowed}}Allowed{{else}}Not allowed{{end}} ({{words .Decision.Reason}}{{with .Decision.PolicyVersion}}, policy {{.}}{{end}})</td>
<td>{{if .Decision.Allowed}}<form method="post" action="/portal/choices"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="purpose" value="{{.Purpose.Name}}"><input type="hidden" name="choice" value="refuse"><button type="submit">{{if .Objectable}}Object{{else}}Withdraw consent{{end}}<span class="sr"> for {{words .Purpose.Name}}</span></button></form>
{{else if .Grantable}}<form method="post" action="/portal/choices"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="purpose" value="{{.Purpose.Name}}"><input type="hidden" name="choice" value="allow"><button type="submit">{{if .Objectable}}Lift my objection{{else}}Give consent{{end}}<span class="sr"> for {{words .Purpose.Name}}</span></button></form>{{end}}</td></tr>
{{end}}</tbody></table>
<h3>Your record of choices</h3>
<ul>{{range .Records}}<li>{{date .At}}: {{if .Granted}}yes{{else}}no{{end}} to {{words .Purpose}}{{with .PolicyVersion}} under policy {{.}}{{end}} ({{words .Source}}){{if .Receipt}}, with a signed receipt{{end}}</li>{{else}}<li>None yet.</li>{{end}}</ul>

<h2 id="requests">Your requests</h2>
<ul>{{range .Requests}}<li>{{words .Type}}: {{words .State}}, due by {{date .DueAt}}{{if and (eq .State "completed") (or (eq .Type "access") (eq .Type "portability"))}}
<form method="post" action="/portal/download" class="inline"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="request" value="{{.ID}}"><button type="submit">Download my data<span class="sr"> ({{words .Type}})</span></button></form>{{end}}</li>{{else}}<li>None yet.</li>{{end}}</ul>
<form method="post" action="/portal/requests"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="type">Ask us for</label><select id="type" name="type">{{range .Types}}<option value="{{.}}">{{words .}}</option>{{end}}</select>
<button class="primary" type="submit">Send the request</button></form>
<p><a href="/privacy">Our privacy notice</a></p>
</main></body></html>
`))
