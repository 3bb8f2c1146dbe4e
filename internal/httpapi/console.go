package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
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

type consoleView struct {
	customerExtras
	Title, CSRF, Email, Role, Error, Q string
	Results                            []customer.SearchResult
	Customer                           *customer.View
	Purposes                           []string
	Purpose                            string
	SignedIn                           bool
	Nav                                []navLink
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
	v := s.chrome(sess, a, "Customer")
	v.Customer, v.Purpose = &c, purpose
	if r, ok := s.Catalog.Role(a.Role); ok && s.Catalog.RoleHas(a.Role, "customers.reveal") {
		v.Purposes = r.Purposes
	}
	v.Status = c.ContactStatus
	if err := s.customerSections(ctx, &c, purpose, &v.customerExtras); err != nil {
		return err
	}
	return s.consolePage(w, http.StatusOK, v)
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
<nav aria-label="Console">{{range $i, $l := .Nav}}{{if $i}} · {{end}}<a href="{{.Href}}"{{if eq $l.Label $.Title}} aria-current="page"{{end}}>{{.Label}}</a>{{end}}</nav>
<a href="/console/account">Your account</a>
<form method="post" action="/console/sign-out"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Sign out</button></form></header>{{end}}
<main><h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
`

var consoleTemplate = template.Must(template.New("console").Funcs(consoleFuncs).Parse(consoleHead + `{{if eq .Title "Sign in"}}<form method="post" action="/console/login"><input type="hidden" name="next" value="{{.Next}}">
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
{{template "customer-fields" .}}
{{if .Purposes}}<form method="post" action="/console/customers/{{.Customer.ID}}/reveal"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="purpose">Show in clear, for</label><select id="purpose" name="purpose">{{range .Purposes}}<option value="{{.}}">{{words .}}</option>{{end}}</select>
<label for="reason">Why (a ticket number or a few words; no customer details — this is kept in the audit trail)</label><input id="reason" name="reason" type="text" maxlength="200" required>
<button type="submit">Reveal</button></form>{{end}}
{{template "customer-more" .}}
<p><a href="/console/search">Find another customer</a></p>
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
