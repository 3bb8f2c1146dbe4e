package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/sso"
	"github.com/stewardhq/steward/internal/staff"
)

// The staff console: people sign in as themselves (password, then their authenticator's
// code), and everything they do runs as them through the same services as the API, so the
// audit trail names the person and their role decides what they see. Server-rendered, no
// script, nothing from other hosts, never framed; the session lives in an HttpOnly,
// SameSite=Strict cookie and every form carries its token.

func (s *Server) consoleRoutes() []route {
	if s.Staff == nil {
		return nil
	}
	page := outMedia("text/html", 200)
	return []route{
		get("/console/login", s.consoleLoginPage, public, pages, query(nextParam), page),
		post("/console/login", s.consoleLogin, public, pages, inMedia(formMedia), redirects(303), page, errs(400, 401, 403, 422, 429)),
		get("/console/mfa", s.consoleMFAPage, public, pages, page, redirects(303)),
		post("/console/mfa", s.consoleMFA, public, pages, inMedia(formMedia), redirects(303), page, errs(400, 403, 422)),
		get("/console", s.consoleHome, public, pages, query(param{Name: "q", Type: "string", Description: "What to search for: a name, town, postal code, e-mail, phone or number."}), page, redirects(303)),
		get("/console/customers/{id}", s.consoleCustomer, public, pages, page, redirects(303), errs(403, 404, 410, 422)),
		post("/console/customers/{id}/reveal", s.consoleReveal, public, pages, inMedia(formMedia), page, redirects(303), errs(400, 403, 404, 410, 422)),
		get("/console/oidc/login", s.oidcLogin, public, pages, query(nextParam, forceParam), redirects(302), errs(404, 503)),
		get("/console/oidc/callback", s.oidcCallback, public, pages, query(param{Name: "code", Type: "string"}, param{Name: "state", Type: "string"}),
			redirects(303), page, errs(401, 403, 404, 503)),
		get("/console/cas/login", s.casLogin, public, pages, query(nextParam, forceParam), redirects(302), errs(404)),
		get("/console/cas/callback", s.casCallback, public, pages, query(param{Name: "ticket", Type: "string"}, param{Name: "s", Type: "string"}),
			redirects(303), page, errs(401, 403, 404, 503)),
		post("/console/sign-out", s.consoleSignOut, public, pages, inMedia(formMedia), redirects(303), page, errs(400, 403)),
	}
}

// consoleCookie names the session cookie: the __Host- form (Secure, the whole host, no
// Domain) over HTTPS, where browsers enforce it; a cookie limited to /console otherwise.
func consoleCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{Name: "steward_console", Value: value, Path: "/console", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: maxAge}
	if r.TLS != nil {
		c.Name, c.Path, c.Secure = "__Host-steward_console", "/", true
	}
	return c
}

func (s *Server) consoleSession(r *http.Request, half bool) (staff.Session, staff.Account, error) {
	for _, name := range []string{"__Host-steward_console", "steward_console"} {
		if c, err := r.Cookie(name); err == nil {
			return s.Staff.Who(r.Context(), c.Value, half)
		}
	}
	return staff.Session{}, staff.Account{}, problem.New(problem.Unauthenticated, "not signed in")
}

// signedIn returns the person and a context acting as them, or sends the browser to sign in.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request) (staff.Session, staff.Account, context.Context, bool) {
	sess, a, err := s.consoleSession(r, false)
	if err != nil {
		_ = seeOther(w, loginURL(r))
		return sess, a, nil, false
	}
	return sess, a, authz.WithActor(r.Context(), staff.Actor(a)), true
}

func (s *Server) consoleForm(w http.ResponseWriter, r *http.Request, sess staff.Session) (map[string]string, error) {
	return tokenForm(w, r, sess.CSRF)
}

// tokenForm reads the form post of a signed-in page (console or portal) and checks the
// session's form token in it, so that another site cannot make the browser post it.
func tokenForm(w http.ResponseWriter, r *http.Request, want string) (map[string]string, error) {
	vals, err := formValues(w, r)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(vals["csrf"]), []byte(want)) != 1 {
		return nil, problem.Forbiddenf("this form is out of date: reload the page and try again")
	}
	return vals, nil
}

// customerExtras are the sections of a customer's page besides the profile; a section the
// person's role may not read stays empty.
type customerExtras struct {
	Consents *consent.History
	Events   []ingest.EventView
	Orders   []ingest.Order
	Requests []*rights.Request
	Audit    []audit.Entry
	Status   *quality.Status
}

type consoleView struct {
	customerExtras
	Title, CSRF, Email, Role, Error, Q string
	Results                            []customer.SearchResult
	Customer                           *customer.View
	Fields                             []fieldRow
	Purposes                           []string
	Purpose                            string
	SignedIn                           bool
	OIDC                               bool
	CAS                                bool
	SAML, LDAP, Passkeys               bool
	// Next is the page a sign-in goes on to.
	Next string
}

type fieldRow struct{ Name, Value string }

func (s *Server) consolePage(w http.ResponseWriter, status int, v consoleView) error {
	pageHeaders(w)
	if v.Passkeys {
		w.Header().Set("Content-Security-Policy", passkeyCSP)
	}
	w.WriteHeader(status)
	return consoleTemplate.Execute(w, v)
}

func (s *Server) consoleLoginPage(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := s.consoleSession(r, false); err == nil {
		return seeOther(w, "/console")
	}
	return s.consolePage(w, http.StatusOK, s.loginView(safeNext(r.URL.Query().Get("next")), ""))
}

func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) error {
	addr, vals, err := s.signInForm(w, r)
	if err != nil {
		return err
	}
	cookie, sess, err := s.Staff.SignIn(r.Context(), vals["email"], vals["password"])
	if problem.Is(err, problem.Unauthenticated) {
		s.limits.failedAuth(addr)
		return s.consolePage(w, http.StatusUnauthorized, s.loginView(safeNext(vals["next"]), problem.Detail(err)))
	}
	if err != nil {
		return err
	}
	if err := s.Staff.SetNext(r.Context(), sess, safeNext(vals["next"])); err != nil {
		return err
	}
	http.SetCookie(w, consoleCookie(r, cookie, int(staff.HalfDoneFor/time.Second)))
	return seeOther(w, "/console/mfa")
}

func (s *Server) consoleHome(w http.ResponseWriter, r *http.Request) error {
	sess, a, ctx, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	v := consoleView{Title: "Find a customer", CSRF: sess.CSRF, Email: a.Email, Role: a.Role, SignedIn: true, Q: strings.TrimSpace(r.URL.Query().Get("q"))}
	if v.Q != "" {
		res, err := s.Customers.Search(ctx, v.Q, customer.SearchFilter{}, 20, "")
		switch {
		case problem.Is(err, problem.Invalid) || problem.Is(err, problem.Forbidden):
			v.Error = problem.Detail(err)
		case err != nil:
			return err
		case len(res) == 0:
			v.Error = "No customer matches."
		}
		v.Results = res
	}
	return s.consolePage(w, http.StatusOK, v)
}

func (s *Server) consoleCustomer(w http.ResponseWriter, r *http.Request) error {
	sess, a, ctx, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	return s.showCustomer(w, ctx, sess, a, r.PathValue("id"), "")
}

func (s *Server) showCustomer(w http.ResponseWriter, ctx context.Context, sess staff.Session, a staff.Account, id, purpose string) error {
	c, err := s.Customers.Get(ctx, id, purpose)
	if err != nil {
		return mergedRedirect(w, err)
	}
	v := consoleView{Title: "Customer", CSRF: sess.CSRF, Email: a.Email, Role: a.Role, SignedIn: true, Customer: &c, Purpose: purpose}
	for name, val := range c.Fields {
		v.Fields = append(v.Fields, fieldRow{Name: name, Value: valueText(val)})
	}
	sort.Slice(v.Fields, func(i, j int) bool { return v.Fields[i].Name < v.Fields[j].Name })
	if r, ok := s.Catalog.Role(a.Role); ok && s.Catalog.RoleHas(a.Role, "customers.reveal") {
		v.Purposes = r.Purposes
	}
	v.Status = c.ContactStatus
	if err := s.customerSections(ctx, c.ID, purpose, &v.customerExtras); err != nil {
		return err
	}
	return s.consolePage(w, http.StatusOK, v)
}

// customerSections fills the page's other sections, each read through its service as the
// person (and audited so); one their role may not read is left out rather than failing the
// page.
func (s *Server) customerSections(ctx context.Context, id, purpose string, x *customerExtras) error {
	allowed := func(err error) error {
		if problem.Is(err, problem.Forbidden) {
			return nil
		}
		return err
	}
	if h, err := s.Consents.History(ctx, id); err == nil {
		x.Consents = &h
	} else if err = allowed(err); err != nil {
		return err
	}
	var err error
	if s.Ingest != nil {
		if purpose != "" {
			if x.Events, _, err = s.Ingest.Events(ctx, id, purpose, ingest.EventFilter{Limit: 20}); allowed(err) != nil {
				return err
			}
		}
		if x.Orders, err = s.Ingest.Orders(ctx, id, 20); allowed(err) != nil {
			return err
		}
	}
	if x.Requests, err = s.Rights.List(ctx, rights.RequestFilter{CustomerID: id, Limit: 20}, ""); allowed(err) != nil {
		return err
	}
	if x.Audit, err = s.Audit.List(ctx, audit.Filter{CustomerID: id, Limit: 20}); allowed(err) != nil {
		return err
	}
	return nil
}

func valueText(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

func (s *Server) consoleReveal(w http.ResponseWriter, r *http.Request) error {
	sess, a, ctx, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	vals, err := s.consoleForm(w, r, sess)
	if err != nil {
		return err
	}
	if vals["purpose"] == "" {
		return problem.InvalidField("purpose", "choose what you need the data for")
	}
	reason := strings.Join(strings.Fields(vals["reason"]), " ")
	if reason == "" {
		return problem.InvalidField("reason", "say why you need to see it (a ticket number or a few words, no customer details)")
	}
	if len([]rune(reason)) > 200 {
		return problem.InvalidField("reason", "must be at most 200 characters")
	}
	if !s.Staff.Fresh(sess) {
		return seeOther(w, "/console/reauth?next="+url.QueryEscape("/console/customers/"+r.PathValue("id")))
	}
	return s.showCustomer(w, audit.WithReason(ctx, reason), sess, a, r.PathValue("id"), vals["purpose"])
}

func (s *Server) consoleSignOut(w http.ResponseWriter, r *http.Request) error {
	sess, a, err := s.consoleSession(r, true)
	if err != nil {
		return seeOther(w, "/console/login")
	}
	if _, err := s.consoleForm(w, r, sess); err != nil {
		return err
	}
	if err := s.Staff.SignOut(r.Context(), sess, a); err != nil {
		return err
	}
	http.SetCookie(w, consoleCookie(r, "", -1))
	return seeOther(w, "/console/login")
}

// consoleHead is every console page's head, header and title.
const consoleHead = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>{{.Title}} — Steward</title><style>
body{margin:0;font:1rem/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff}
header{display:flex;gap:1rem;align-items:center;justify-content:space-between;padding:.6rem 1.25rem;background:#1a1a1a;color:#fff}
header a{color:#fff}main{max-width:52rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.6rem}label{display:block;font-weight:600;margin:1rem 0 .25rem}
input[type=email],input[type=password],input[type=text],input[type=search],select{font:inherit;padding:.55rem;border:2px solid #767676;border-radius:.3rem;width:100%;box-sizing:border-box}
button{font:inherit;font-weight:600;padding:.55rem 1.1rem;border:2px solid #0b57d0;border-radius:.3rem;background:#0b57d0;color:#fff;cursor:pointer;margin-top:.75rem}
header button{background:transparent;border-color:#fff;margin:0}
input:focus,button:focus,a:focus,select:focus{outline:3px solid #0b57d0;outline-offset:2px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd}th{background:#f3f3f3}
.error{border:2px solid #b3261e;border-radius:.3rem;padding:.5rem 1rem}code{word-break:break-all}
form.inline{display:inline}.sr{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}section{border-top:1px solid #ccc;margin-top:1rem}
</style></head><body>
{{if .SignedIn}}<header><span>Steward console — {{.Email}} ({{.Role}})</span>
<nav aria-label="Console"><a href="/console">Find</a> · <a href="/console/requests">Requests</a> · <a href="/console/duplicates">Duplicates</a></nav>
<a href="/console/account">Your account</a>
<form method="post" action="/console/sign-out"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Sign out</button></form></header>{{end}}
<main><h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
`

var consoleTemplate = template.Must(template.New("console").Funcs(template.FuncMap{"words": words}).Parse(consoleHead + `{{if eq .Title "Sign in"}}<form method="post" action="/console/login"><input type="hidden" name="next" value="{{.Next}}">
<label for="email">E-mail address</label><input id="email" name="email" type="email" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
{{if .OIDC}}<p><a href="/console/oidc/login?next={{.Next}}">Sign in with your company account</a></p>{{end}}
{{if .SAML}}<p><a href="/console/saml/login?next={{.Next}}">Sign in with your company account (SAML)</a></p>{{end}}
{{if .CAS}}<p><a href="/console/cas/login?next={{.Next}}">Sign in through CAS</a></p>{{end}}
{{if .Passkeys}}<p><button type="button" id="passkey-sign-in" data-passkey="sign-in" data-next="{{.Next}}">Sign in with a passkey</button></p>
<p id="passkey-status" role="status"></p><script src="/console/passkey.js"></script>{{end}}
{{if .LDAP}}<h2>Or with your directory account</h2><form method="post" action="/console/ldap/login"><input type="hidden" name="next" value="{{.Next}}">
<label for="ldap-login">User name or e-mail address</label><input id="ldap-login" name="login" type="text" autocomplete="username" required>
<label for="ldap-password">Directory password</label><input id="ldap-password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in with the directory</button></form>{{end}}
{{else if .Customer}}{{with .Customer}}<p>Customer <code>{{.ID}}</code>{{if $.Purpose}}, shown for the purpose <strong>{{words $.Purpose}}</strong>{{else}}, masked{{end}}.</p>{{end}}
<table><thead><tr><th scope="col">Field</th><th scope="col">Value</th></tr></thead><tbody>
{{range .Fields}}<tr><td>{{words .Name}}</td><td>{{.Value}}</td></tr>{{end}}</tbody></table>
{{if .Purposes}}<form method="post" action="/console/customers/{{.Customer.ID}}/reveal"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="purpose">Show in clear, for</label><select id="purpose" name="purpose">{{range .Purposes}}<option value="{{.}}">{{words .}}</option>{{end}}</select>
<label for="reason">Why (a ticket number or a few words; no customer details — this is kept in the audit trail)</label><input id="reason" name="reason" type="text" maxlength="200" required>
<button type="submit">Reveal</button></form>{{end}}
{{with .Status}}<h2>Contact status</h2><p>{{words .Status}}{{range .Reasons}} — {{.}}{{end}}</p>{{end}}
{{with .Consents}}<h2>Consents</h2><table><thead><tr><th scope="col">Purpose</th><th scope="col">Now</th><th scope="col">Policy</th></tr></thead><tbody>
{{range .State}}<tr><td>{{words .Purpose}}</td><td>{{if .Allowed}}allowed{{else}}not allowed{{end}} ({{words .Reason}})</td><td>{{.PolicyVersion}}</td></tr>{{end}}</tbody></table>
<p>{{len .History}} records in the ledger{{if .History}}, each with a signed receipt where one was given{{end}}.</p>{{end}}
{{if .Orders}}<h2>Orders</h2><table><thead><tr><th scope="col">Order</th><th scope="col">Placed</th><th scope="col">Status</th><th scope="col">Total</th><th scope="col">Refunded</th></tr></thead><tbody>
{{range .Orders}}<tr><td>{{.OrderID}}</td><td>{{.PlacedAt.Format "2 Jan 2006"}}</td><td>{{words .Status}}</td><td>{{printf "%.2f" .Total}} {{.Currency}}</td><td>{{printf "%.2f" .Refunded}}</td></tr>{{end}}</tbody></table>{{end}}
{{if .Events}}<h2>Latest events</h2><ul>{{range .Events}}<li>{{.Timestamp.Format "2 Jan 2006 15:04"}} — {{.Type}}{{with .Name}}: {{.}}{{end}}</li>{{end}}</ul>{{end}}
{{if .Requests}}<h2>Requests</h2><ul>{{range .Requests}}<li>{{words .Type}}: {{words .State}}, due {{.DueAt.Format "2 Jan 2006"}}</li>{{end}}</ul>{{end}}
{{if .Audit}}<h2>Who processed this customer's data</h2><table><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Purpose</th></tr></thead><tbody>
{{range .Audit}}<tr><td>{{.Time.Format "2 Jan 2006 15:04"}}</td><td>{{.ActorID}} ({{.ActorRole}})</td><td>{{.Action}}</td><td>{{.Purpose}}</td></tr>{{end}}</tbody></table>{{end}}
<p><a href="/console">Find another customer</a></p>
{{else}}<form method="get" action="/console" role="search"><label for="q">Name, town, postal code, e-mail, phone or number</label>
<input id="q" name="q" type="search" value="{{.Q}}" autofocus><button type="submit">Find</button></form>
{{if .Results}}<table><thead><tr><th scope="col">Customer</th><th scope="col">Name</th><th scope="col">E-mail</th><th scope="col">Town</th><th scope="col">Matched</th></tr></thead><tbody>
{{range .Results}}<tr><td><a href="/console/customers/{{.ID}}">{{.ID}}</a></td><td>{{index .Fields "first_name"}} {{index .Fields "last_name"}}</td><td>{{index .Fields "email"}}</td><td>{{index .Fields "city"}}</td><td>{{range $i, $m := .Matched}}{{if $i}}, {{end}}{{words $m}}{{end}}</td></tr>{{end}}</tbody></table>{{end}}
{{end}}</main></body></html>
`))

// oidcCookie carries a sign-in through the identity provider. Lax, not Strict: the provider
// sends the browser back with a top-level navigation from its own site, which Strict cookies
// do not go with.
func oidcCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: "steward_oidc", Value: value, Path: "/console/oidc", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil, MaxAge: maxAge}
}

func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) error {
	if s.OIDC == nil {
		return problem.NotFoundf("sign-in through an identity provider is not configured")
	}
	o, err := s.OIDC(r.Context())
	if err != nil {
		return problem.Wrap(problem.Unavailable, err, "the identity provider cannot be reached; try again later")
	}
	url, cookie, err := o.Begin(r.URL.Query().Get("force") == "1")
	if err != nil {
		return err
	}
	rememberNext(w, r)
	http.SetCookie(w, oidcCookie(r, cookie, int(sso.FlightFor/time.Second)))
	http.Redirect(w, r, url, http.StatusFound)
	return nil
}

func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	if s.OIDC == nil {
		return problem.NotFoundf("sign-in through an identity provider is not configured")
	}
	o, err := s.OIDC(r.Context())
	if err != nil {
		return problem.Wrap(problem.Unavailable, err, "the identity provider cannot be reached; try again later")
	}
	c, err := r.Cookie("steward_oidc")
	if err != nil {
		return problem.New(problem.Unauthenticated, "sign-in through the identity provider failed: it was not started here; start again")
	}
	http.SetCookie(w, oidcCookie(r, "", -1))
	q := r.URL.Query()
	p, err := o.Finish(r.Context(), q.Get("code"), q.Get("state"), c.Value)
	if err != nil {
		return s.signInRefused(w, http.StatusUnauthorized, err)
	}
	return s.externalSignIn(w, r, p, s.OIDCRoles, "oidc")
}

func casCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	c := oidcCookie(r, value, maxAge)
	c.Name, c.Path = "steward_cas", "/console/cas"
	return c
}

func (s *Server) casLogin(w http.ResponseWriter, r *http.Request) error {
	if s.CAS == nil {
		return problem.NotFoundf("sign-in through CAS is not configured")
	}
	url, state := s.CAS.Begin(r.URL.Query().Get("force") == "1")
	rememberNext(w, r)
	http.SetCookie(w, casCookie(r, state, int(sso.FlightFor/time.Second)))
	http.Redirect(w, r, url, http.StatusFound)
	return nil
}

func (s *Server) casCallback(w http.ResponseWriter, r *http.Request) error {
	if s.CAS == nil {
		return problem.NotFoundf("sign-in through CAS is not configured")
	}
	cookie := ""
	if c, err := r.Cookie("steward_cas"); err == nil {
		cookie = c.Value
	}
	http.SetCookie(w, casCookie(r, "", -1))
	p, err := s.CAS.Finish(r.Context(), r.URL.Query().Get("ticket"), r.URL.Query().Get("s"), cookie)
	if problem.Is(err, problem.Unauthenticated) {
		return s.signInRefused(w, http.StatusUnauthorized, err)
	}
	if err != nil {
		return err
	}
	return s.externalSignIn(w, r, p, s.CASRoles, "cas")
}

// externalSignIn starts the console session of a person an identity provider vouched for,
// with the role their groups map to.
func (s *Server) externalSignIn(w http.ResponseWriter, r *http.Request, p sso.Person, roles [][2]string, via string) error {
	role, ok := staff.RoleFor(p.Groups, roles)
	if !ok {
		return s.signInRefused(w, http.StatusForbidden, problem.Forbiddenf("Your groups at the identity provider give you no role here; ask an administrator."))
	}
	cookie, _, err := s.Staff.SignInExternal(r.Context(), p.Email, role, via)
	if err != nil {
		if problem.Is(err, problem.Unauthenticated) || problem.Is(err, problem.Forbidden) {
			return s.signInRefused(w, http.StatusForbidden, err)
		}
		return err
	}
	http.SetCookie(w, consoleCookie(r, cookie, int(staff.SessionFor/time.Second)))
	return seeOther(w, takeNext(w, r))
}
