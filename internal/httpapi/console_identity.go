package httpapi

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/sso"
	"github.com/stewardhq/steward/internal/staff"
)

// Staff identity in the console beyond the password form: the second-factor page (an
// authenticator app or a passkey), SAML and LDAP sign-in, re-authentication before a reveal,
// the person's own account page (passkeys, sign-out everywhere, invitations) and accepting an
// invitation. Pages that use passkeys load one script from this server (passkey.js); every
// other console page runs without script.

func (s *Server) identityRoutes() []route {
	if s.Staff == nil {
		return nil
	}
	page := outMedia("text/html", 200)
	form := inMedia(formMedia)
	return []route{
		get("/console/saml/metadata", s.samlMetadata, public, outMedia("application/samlmetadata+xml", 200), errs(404, 503)),
		get("/console/saml/login", s.samlLogin, public, pages, query(nextParam, forceParam), redirects(302), errs(404, 503)),
		post("/console/saml/acs", s.samlACS, public, pages, form, redirects(303), page, errs(400, 401, 403, 404, 503)),
		post("/console/ldap/login", s.ldapLogin, public, pages, form, redirects(303), page, errs(400, 401, 403, 404, 422, 429, 503)),
		get("/console/reauth", s.reauthPage, public, pages, query(nextParam), page, redirects(303)),
		post("/console/reauth", s.reauth, public, pages, form, redirects(303), page, errs(400, 403, 422)),
		get("/console/account", s.accountPage, public, pages, page, redirects(303)),
		post("/console/sign-out-everywhere", s.signOutEverywhere, public, pages, form, redirects(303), page, errs(400, 403)),
		post("/console/invites", s.consoleInvite, public, pages, form, page, redirects(303), errs(400, 403, 409, 422)),
		get("/console/invite/{token}", s.invitePage, public, pages, page, errs(404, 410)),
		post("/console/invite/{token}", s.acceptInvite, public, pages, form, redirects(303), page, errs(400, 403, 404, 409, 410, 422, 429)),
		post("/console/passkeys/begin", s.passkeyOptions(s.Staff.BeginPasskeyEnrol), public, pages, outAny(200), errs(401, 403, 404, 409)),
		post("/console/passkeys", s.passkeyEnrolFinish, public, pages, query(param{Name: "name", Type: "string", Description: "What to call the passkey (at most 60 characters)."}),
			inMedia("application/json"), outAny(200), errs(400, 401, 403, 404, 409, 422)),
		post("/console/passkeys/{id}/remove", s.passkeyRemove, public, pages, form, redirects(303), page, errs(400, 403, 404, 409)),
		post("/console/passkey/begin", s.passkeyOptions(s.Staff.BeginPasskeyCheck), public, pages, outAny(200), errs(401, 403, 404, 422)),
		post("/console/passkey/finish", s.passkeyCheckFinish, public, pages, query(nextParam), inMedia("application/json"), outAny(200), errs(400, 401, 403, 404, 422)),
		post("/console/passkey/sign-in/begin", s.passkeySignInBegin, public, pages, outAny(200), errs(403, 404, 429)),
		post("/console/passkey/sign-in", s.passkeySignIn, public, pages, query(nextParam), inMedia("application/json"), outAny(200), errs(401, 403, 404, 429)),
		get("/console/passkey.js", s.passkeyScript, public, outMedia("text/javascript", 200)),
	}
}

var forceParam = param{Name: "force", Type: "string", Description: "1 asks the provider to authenticate the person afresh (a re-authentication before a reveal)."}

var nextParam = param{Name: "next", Type: "string", Description: "The console page to go on to afterwards (a path under /console; anything else is ignored)."}

// safeNext is where a sign-in may send the browser on to: a path under /console on this
// server, never another host (an open redirect would lend Steward's name to a phishing page).
func safeNext(p string) string {
	if len(p) > 512 || !strings.HasPrefix(p, "/console") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return "/console"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || path.Clean(u.Path) != u.Path || (u.Path != "/console" && !strings.HasPrefix(u.Path, "/console/")) {
		return "/console"
	}
	if strings.HasPrefix(u.Path, "/console/login") || strings.HasPrefix(u.Path, "/console/mfa") || strings.HasPrefix(u.Path, "/console/reauth") {
		return "/console"
	}
	return u.RequestURI()
}

// loginURL is the sign-in page that comes back to r's page afterwards.
func loginURL(r *http.Request) string {
	if r.Method != http.MethodGet || safeNext(r.URL.RequestURI()) == "/console" {
		return "/console/login"
	}
	return "/console/login?next=" + url.QueryEscape(r.URL.RequestURI())
}

// sameOrigin refuses a form posted from another site to a console form that has no session
// yet (sign-in, invitation), so another site cannot sign a browser in to an account of its
// choosing (login CSRF). The browser's Sec-Fetch-Site and Origin headers say where it came
// from.
func sameOrigin(r *http.Request) error {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return problem.Forbiddenf("this form was sent from another site")
	}
	return nil
}

// signInForm reads a form posted without a session (a sign-in, an invitation): refused from
// another site, or from an address over its limit of failed authentications.
func (s *Server) signInForm(w http.ResponseWriter, r *http.Request) (string, map[string]string, error) {
	if err := sameOrigin(r); err != nil {
		return "", nil, err
	}
	addr := s.limits.clientAddr(r)
	if err := s.limits.allowAuth(addr); err != nil {
		return "", nil, err
	}
	vals, err := formValues(w, r)
	return addr, vals, err
}

// nextCookie carries the page to go on to through a sign-in at an identity provider.
func nextCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: "steward_next", Value: value, Path: "/console", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil, MaxAge: maxAge}
}

// rememberNext keeps r's next parameter for the way back from an identity provider.
func rememberNext(w http.ResponseWriter, r *http.Request) {
	if n := safeNext(r.URL.Query().Get("next")); n != "/console" {
		http.SetCookie(w, nextCookie(r, url.QueryEscape(n), int(sso.FlightFor/time.Second)))
	}
}

// takeNext returns (and forgets) the page remembered by rememberNext.
func takeNext(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie("steward_next")
	if err != nil {
		return "/console"
	}
	http.SetCookie(w, nextCookie(r, "", -1))
	v, _ := url.QueryUnescape(c.Value)
	return safeNext(v)
}

// passkeyCSP is the policy of pages with passkey buttons: they run one script of this
// server's, which calls this server only.
const passkeyCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self' https:; base-uri 'none'; frame-ancestors 'none'"

// identityView is what the identity pages show.
type identityView struct {
	Page, Title, CSRF, Email, Role, Error, Next, ProviderURL string
	SignedIn                                                 bool
	Enrol                                                    *staff.Enrolment
	TOTP, Passkeys, PasskeysOn, Password, Provider           bool
	Keys                                                     []passkeyRow
	MayInvite                                                bool
	Roles                                                    []string
	InviteLink, InviteEmail                                  string
	// Nav is the signed-in person's navigation (the shared page head draws it).
	Nav []navLink
}

type passkeyRow struct {
	ID, Name, Added, Used string
}

func (s *Server) identityPage(w http.ResponseWriter, status int, v identityView) error {
	pageHeaders(w)
	if v.PasskeysOn {
		w.Header().Set("Content-Security-Policy", passkeyCSP)
	}
	w.WriteHeader(status)
	return identityTemplate.Execute(w, v)
}

// consoleMFAPage is the second step of a sign-in: the authenticator's code or a passkey, or
// setting one up at a first sign-in (an invitation included) before any page opens.
func (s *Server) consoleMFAPage(w http.ResponseWriter, r *http.Request) error {
	sess, a, err := s.consoleSession(r, true)
	if err != nil || sess.Stage == staff.StageDone {
		return seeOther(w, map[bool]string{true: "/console/login", false: "/console"}[err != nil])
	}
	return s.mfaPage(w, r.Context(), http.StatusOK, sess, a, "")
}

func (s *Server) mfaPage(w http.ResponseWriter, ctx context.Context, status int, sess staff.Session, a staff.Account, msg string) error {
	keys, err := s.Staff.Passkeys(ctx, a)
	if err != nil {
		return err
	}
	v := identityView{Page: "mfa", Title: "Confirm it is you", CSRF: sess.CSRF, Error: msg, TOTP: len(a.TOTP) > 0, Passkeys: len(keys) > 0,
		PasskeysOn: s.Staff.PasskeysOn(), Next: safeNext(sess.Next)}
	if !v.TOTP && !v.Passkeys {
		e, err := s.Staff.StartEnrol(ctx, sess, a)
		if err != nil {
			return err
		}
		v.Title, v.Enrol = "Set up your second factor", &e
	}
	return s.identityPage(w, status, v)
}

func (s *Server) consoleMFA(w http.ResponseWriter, r *http.Request) error {
	sess, a, err := s.consoleSession(r, true)
	if err != nil {
		return seeOther(w, "/console/login")
	}
	vals, err := s.consoleForm(w, r, sess)
	if err != nil {
		return err
	}
	if err := s.Staff.Verify(r.Context(), sess, a, vals["code"]); err != nil {
		if problem.Is(err, problem.Invalid) {
			return s.mfaPage(w, r.Context(), http.StatusUnprocessableEntity, sess, a, problem.Detail(err))
		}
		return err
	}
	return s.finishSignIn(w, r, a, sess.Next)
}

// finishSignIn starts the signed-in session (a new id, so none seen before it is ever
// signed in) and goes on to next.
func (s *Server) finishSignIn(w http.ResponseWriter, r *http.Request, a staff.Account, next string) error {
	cookie, _, err := s.Staff.Finish(r.Context(), a)
	if err != nil {
		return err
	}
	http.SetCookie(w, consoleCookie(r, cookie, int(staff.SessionFor/time.Second)))
	return seeOther(w, safeNext(next))
}

// SAML.

func (s *Server) samlProvider(ctx context.Context) (*sso.SAML, error) {
	if s.Identity.SAML == nil {
		return nil, problem.NotFoundf("sign-in through SAML is not configured")
	}
	p, err := s.Identity.SAML(ctx)
	if err != nil {
		return nil, problem.Wrap(problem.Unavailable, err, "the SAML identity provider's metadata cannot be read; try again later")
	}
	return p, nil
}

func (s *Server) samlMetadata(w http.ResponseWriter, r *http.Request) error {
	p, err := s.samlProvider(r.Context())
	if err != nil {
		return err
	}
	b, err := p.Metadata()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, err = w.Write(b)
	return err
}

// samlCookie carries a SAML sign-in. The provider posts its answer back from its own site, a
// cross-site POST that only SameSite=None cookies go with, so over HTTPS the cookie is
// SameSite=None (and Secure); what it holds is sealed and good for one sign-in only.
func samlCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{Name: "steward_saml", Value: value, Path: "/console/saml", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: maxAge}
	if r.TLS != nil {
		c.SameSite, c.Secure = http.SameSiteNoneMode, true
	}
	return c
}

func (s *Server) samlLogin(w http.ResponseWriter, r *http.Request) error {
	p, err := s.samlProvider(r.Context())
	if err != nil {
		return err
	}
	u, cookie, err := p.Begin(r.URL.Query().Get("force") == "1")
	if err != nil {
		return err
	}
	rememberNext(w, r)
	http.SetCookie(w, samlCookie(r, cookie, int(sso.FlightFor/time.Second)))
	http.Redirect(w, r, u, http.StatusFound)
	return nil
}

func (s *Server) samlACS(w http.ResponseWriter, r *http.Request) error {
	p, err := s.samlProvider(r.Context())
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return badRequest{problem.InvalidField("body", "is not a readable form")}
	}
	cookie := ""
	if c, err := r.Cookie("steward_saml"); err == nil {
		cookie = c.Value
	}
	http.SetCookie(w, samlCookie(r, "", -1))
	person, err := p.Finish(r.Context(), r.PostForm.Get("SAMLResponse"), r.PostForm.Get("RelayState"), cookie)
	if err != nil {
		s.Staff.RecordFailure(r.Context(), "", "saml", problem.Detail(err))
		return s.signInRefused(w, http.StatusUnauthorized, err)
	}
	return s.externalSignIn(w, r, person, s.Identity.SAMLRoles, "saml")
}

// signInRefused shows the sign-in page again with why it failed.
func (s *Server) signInRefused(w http.ResponseWriter, status int, err error) error {
	return s.consolePage(w, status, s.loginView("/console", problem.Detail(err)))
}

// loginView is the sign-in page with every way of signing in that is configured.
func (s *Server) loginView(next, msg string) consoleView {
	return consoleView{Title: "Sign in", Error: msg, Next: next, OIDC: s.OIDC != nil, CAS: s.CAS != nil, SAML: s.Identity.SAML != nil,
		LDAP: s.Identity.LDAP != nil, Passkeys: s.Staff.PasskeysOn()}
}

// LDAP.

func (s *Server) ldapLogin(w http.ResponseWriter, r *http.Request) error {
	if s.Identity.LDAP == nil {
		return problem.NotFoundf("sign-in against a directory is not configured")
	}
	addr, vals, err := s.signInForm(w, r)
	if err != nil {
		return err
	}
	person, err := s.Identity.LDAP.Authenticate(r.Context(), vals["login"], vals["password"])
	if problem.Is(err, problem.Unauthenticated) {
		s.limits.failedAuth(addr)
		s.Staff.RecordFailure(r.Context(), vals["login"], "ldap", problem.Detail(err))
		return s.signInRefused(w, http.StatusUnauthorized, err)
	}
	if err != nil {
		return err
	}
	role, ok := staff.RoleFor(person.Groups, s.Identity.LDAPRoles)
	if !ok {
		s.Staff.RecordFailure(r.Context(), person.Email, "ldap", "no role")
		return s.signInRefused(w, http.StatusForbidden, problem.Forbiddenf("Your groups in the directory give you no role here; ask an administrator."))
	}
	cookie, sess, err := s.Staff.SignInDirectory(r.Context(), person.Email, role, "ldap")
	if problem.Is(err, problem.Unauthenticated) || problem.Is(err, problem.Forbidden) {
		return s.signInRefused(w, http.StatusForbidden, err)
	}
	if err != nil {
		return err
	}
	next := safeNext(vals["next"])
	if sess.Stage != staff.StageDone {
		if err := s.Staff.SetNext(r.Context(), sess, next); err != nil {
			return err
		}
		http.SetCookie(w, consoleCookie(r, cookie, int(staff.HalfDoneFor/time.Second)))
		return seeOther(w, "/console/mfa")
	}
	http.SetCookie(w, consoleCookie(r, cookie, int(staff.SessionFor/time.Second)))
	return seeOther(w, next)
}

// directory checks an LDAP person's password again, for a re-authentication.
func (s *Server) directory() func(ctx context.Context, email, password string) error {
	if s.Identity.LDAP == nil {
		return nil
	}
	return func(ctx context.Context, email, password string) error {
		p, err := s.Identity.LDAP.Authenticate(ctx, email, password)
		if err == nil && p.Email != email {
			return problem.New(problem.Unauthenticated, "another directory entry")
		}
		return err
	}
}

// Re-authentication.

func (s *Server) reauthPage(w http.ResponseWriter, r *http.Request) error {
	sess, a, _, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	return s.showReauth(w, r.Context(), http.StatusOK, sess, a, safeNext(r.URL.Query().Get("next")), "")
}

func (s *Server) showReauth(w http.ResponseWriter, ctx context.Context, status int, sess staff.Session, a staff.Account, next, msg string) error {
	keys, err := s.Staff.Passkeys(ctx, a)
	if err != nil {
		return err
	}
	v := identityView{Page: "reauth", Title: "Confirm it is you", CSRF: sess.CSRF, Email: a.Email, Role: a.Role, SignedIn: true, Nav: s.nav(a.Role), Error: msg, Next: next,
		TOTP: len(a.TOTP) > 0, Passkeys: len(keys) > 0, PasskeysOn: s.Staff.PasskeysOn() && len(keys) > 0,
		Password: a.Via == "" || (a.Via == "ldap" && s.Identity.LDAP != nil)}
	switch a.Via {
	case "saml", "oidc", "cas":
		v.Provider = true
		v.ProviderURL = map[string]string{"saml": "/console/saml/login?force=1&next=", "oidc": "/console/oidc/login?force=1&next=", "cas": "/console/cas/login?force=1&next="}[a.Via] + url.QueryEscape(next)
	}
	return s.identityPage(w, status, v)
}

func (s *Server) reauth(w http.ResponseWriter, r *http.Request) error {
	sess, a, _, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	vals, err := s.consoleForm(w, r, sess)
	if err != nil {
		return err
	}
	next := safeNext(vals["next"])
	err = s.Staff.Reauthenticate(r.Context(), sess, a, vals["password"], vals["code"], s.directory())
	if problem.Is(err, problem.Invalid) || problem.Is(err, problem.Forbidden) {
		return s.showReauth(w, r.Context(), http.StatusUnprocessableEntity, sess, a, next, problem.Detail(err))
	}
	if err != nil {
		return err
	}
	return seeOther(w, next)
}

// Account page.

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) error {
	sess, a, ctx, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	return s.showAccount(w, ctx, http.StatusOK, sess, a, identityView{})
}

func (s *Server) showAccount(w http.ResponseWriter, ctx context.Context, status int, sess staff.Session, a staff.Account, v identityView) error {
	keys, err := s.Staff.Passkeys(ctx, a)
	if err != nil {
		return err
	}
	v.Page, v.Title, v.CSRF, v.Email, v.Role, v.SignedIn, v.PasskeysOn, v.TOTP = "account", "Your account", sess.CSRF, a.Email, a.Role, true, s.Staff.PasskeysOn(), len(a.TOTP) > 0
	v.Nav = s.nav(a.Role)
	for _, k := range keys {
		row := passkeyRow{ID: base64.RawURLEncoding.EncodeToString(k.ID), Name: k.Name, Added: k.CreatedAt.Format("2 Jan 2006"), Used: "never"}
		if !k.UsedAt.IsZero() {
			row.Used = k.UsedAt.Format("2 Jan 2006 15:04")
		}
		v.Keys = append(v.Keys, row)
	}
	if s.Catalog.RoleHas(a.Role, "apikeys.manage") {
		v.MayInvite = true
		mine, _ := s.Catalog.Role(a.Role)
		for _, r := range s.Catalog.Roles {
			if s.Catalog.BrowserSafe(r.Name) || r.Name == "ingest" || !subset(r.Permissions, mine.Permissions) {
				continue
			}
			v.Roles = append(v.Roles, r.Name)
		}
	}
	return s.identityPage(w, status, v)
}

func subset(a, b []string) bool {
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			return false
		}
	}
	return true
}

func (s *Server) signOutEverywhere(w http.ResponseWriter, r *http.Request) error {
	sess, a, _, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	if _, err := s.consoleForm(w, r, sess); err != nil {
		return err
	}
	if err := s.Staff.SignOutEverywhere(r.Context(), a); err != nil {
		return err
	}
	http.SetCookie(w, consoleCookie(r, "", -1))
	return seeOther(w, "/console/login")
}

// Invitations.

func (s *Server) consoleInvite(w http.ResponseWriter, r *http.Request) error {
	sess, a, ctx, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	vals, err := s.consoleForm(w, r, sess)
	if err != nil {
		return err
	}
	secret, inv, err := s.Staff.Invite(ctx, vals["email"], vals["role"])
	if problem.Is(err, problem.Invalid) || problem.Is(err, problem.Conflict) || problem.Is(err, problem.Forbidden) {
		return s.showAccount(w, ctx, statusOf[problem.KindOf(err)], sess, a, identityView{Error: problem.Detail(err)})
	}
	if err != nil {
		return err
	}
	return s.showAccount(w, ctx, http.StatusOK, sess, a, identityView{InviteLink: InviteLink(s.PublicURL, secret), InviteEmail: inv.Email})
}

// InviteLink is the address an invitation's secret opens.
func InviteLink(publicURL, secret string) string {
	return strings.TrimSuffix(publicURL, "/") + "/console/invite/" + secret
}

func (s *Server) invitePage(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.Staff.Invitation(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	return s.identityPage(w, http.StatusOK, identityView{Page: "invite", Title: "Join Steward", Email: inv.Email, Role: inv.Role})
}

func (s *Server) acceptInvite(w http.ResponseWriter, r *http.Request) error {
	addr, vals, err := s.signInForm(w, r)
	if err != nil {
		return err
	}
	if vals["password"] != vals["password2"] {
		inv, err := s.Staff.Invitation(r.Context(), r.PathValue("token"))
		if err != nil {
			return err
		}
		return s.identityPage(w, http.StatusUnprocessableEntity, identityView{Page: "invite", Title: "Join Steward", Email: inv.Email, Role: inv.Role,
			Error: "The two passwords differ."})
	}
	cookie, _, err := s.Staff.AcceptInvite(r.Context(), r.PathValue("token"), vals["password"])
	if problem.Is(err, problem.NotFound) {
		s.limits.failedAuth(addr)
	}
	if err != nil {
		return err
	}
	http.SetCookie(w, consoleCookie(r, cookie, int(staff.HalfDoneFor/time.Second)))
	return seeOther(w, "/console/mfa")
}

// Passkeys. The script posts JSON with the session's form token in the Steward-CSRF header.

func (s *Server) passkeySession(w http.ResponseWriter, r *http.Request) (staff.Session, staff.Account, error) {
	sess, a, err := s.consoleSession(r, true)
	if err != nil {
		return sess, a, err
	}
	if got := r.Header.Get("Steward-CSRF"); got == "" || got != sess.CSRF {
		return sess, a, problem.Forbiddenf("this page is out of date: reload it and try again")
	}
	return sess, a, nil
}

func writeRawJSON(w http.ResponseWriter, b []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, err := w.Write(b)
	return err
}

// passkeyOptions answers with the WebAuthn options begin makes for the session (to create a
// passkey, or to prove who the person is with one).
func (s *Server) passkeyOptions(begin func(context.Context, staff.Session, staff.Account) ([]byte, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, a, err := s.passkeySession(w, r)
		if err != nil {
			return err
		}
		b, err := begin(r.Context(), sess, a)
		if err != nil {
			return err
		}
		return writeRawJSON(w, b)
	}
}

func (s *Server) passkeyEnrolFinish(w http.ResponseWriter, r *http.Request) error {
	sess, a, err := s.passkeySession(w, r)
	if err != nil {
		return err
	}
	if _, err := s.Staff.FinishPasskeyEnrol(r.Context(), sess, a, r.URL.Query().Get("name"), http.MaxBytesReader(w, r.Body, 64<<10)); err != nil {
		return err
	}
	next := "/console/account"
	if sess.Stage != staff.StageDone {
		next = "/console/mfa" // a first sign-in goes on with the new passkey
	}
	b, _ := json.Marshal(map[string]string{"next": next})
	return writeRawJSON(w, b)
}

func (s *Server) passkeyRemove(w http.ResponseWriter, r *http.Request) error {
	sess, a, ctx, ok := s.signedIn(w, r)
	if !ok {
		return nil
	}
	if _, err := s.consoleForm(w, r, sess); err != nil {
		return err
	}
	id, err := base64.RawURLEncoding.DecodeString(r.PathValue("id"))
	if err != nil {
		return problem.NotFoundf("you have no such passkey")
	}
	if err := s.Staff.RemovePasskey(ctx, a, id); problem.Is(err, problem.Conflict) {
		return s.showAccount(w, ctx, http.StatusConflict, sess, a, identityView{Error: problem.Detail(err)})
	} else if err != nil {
		return err
	}
	return seeOther(w, "/console/account")
}

func (s *Server) passkeyCheckFinish(w http.ResponseWriter, r *http.Request) error {
	sess, a, err := s.passkeySession(w, r)
	if err != nil {
		return err
	}
	if err := s.Staff.FinishPasskeyCheck(r.Context(), sess, a, http.MaxBytesReader(w, r.Body, 64<<10)); err != nil {
		return err
	}
	next := safeNext(r.URL.Query().Get("next"))
	if sess.Stage != staff.StageDone {
		cookie, _, err := s.Staff.Finish(r.Context(), a)
		if err != nil {
			return err
		}
		http.SetCookie(w, consoleCookie(r, cookie, int(staff.SessionFor/time.Second)))
		next = safeNext(sess.Next)
	}
	b, _ := json.Marshal(map[string]string{"next": next})
	return writeRawJSON(w, b)
}

// passkeyCookie carries a sign-in with a passkey alone between its two calls (sealed, two
// minutes; Strict: both calls come from Steward's own sign-in page).
func passkeyCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: "steward_passkey", Value: value, Path: "/console/passkey", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: maxAge}
}

// passkeyStart refuses a passkey sign-in call from another site or from an address over its
// limit of failed authentications.
func (s *Server) passkeyStart(r *http.Request) (string, error) {
	if err := sameOrigin(r); err != nil {
		return "", err
	}
	addr := s.limits.clientAddr(r)
	return addr, s.limits.allowAuth(addr)
}

func (s *Server) passkeySignInBegin(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.passkeyStart(r); err != nil {
		return err
	}
	opts, ceremony, err := s.Staff.BeginPasskeySignIn()
	if err != nil {
		return err
	}
	http.SetCookie(w, passkeyCookie(r, base64.RawURLEncoding.EncodeToString(ceremony), 120))
	return writeRawJSON(w, opts)
}

func (s *Server) passkeySignIn(w http.ResponseWriter, r *http.Request) error {
	addr, err := s.passkeyStart(r)
	if err != nil {
		return err
	}
	var ceremony []byte
	if c, err := r.Cookie("steward_passkey"); err == nil {
		ceremony, _ = base64.RawURLEncoding.DecodeString(c.Value)
	}
	http.SetCookie(w, passkeyCookie(r, "", -1))
	cookie, _, err := s.Staff.FinishPasskeySignIn(r.Context(), ceremony, http.MaxBytesReader(w, r.Body, 64<<10))
	if problem.Is(err, problem.Unauthenticated) {
		s.limits.failedAuth(addr)
	}
	if err != nil {
		return err
	}
	http.SetCookie(w, consoleCookie(r, cookie, int(staff.SessionFor/time.Second)))
	b, _ := json.Marshal(map[string]string{"next": safeNext(r.URL.Query().Get("next"))})
	return writeRawJSON(w, b)
}

//go:embed passkey.js
var passkeyJS []byte

func (s *Server) passkeyScript(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	_, err := w.Write(passkeyJS)
	return err
}

var identityTemplate = template.Must(template.New("identity").Funcs(template.FuncMap{"words": words}).Parse(consoleHead + `
{{if eq .Page "mfa"}}
{{with .Enrol}}<p>Your role needs a second factor. Set one up now: add this account to an authenticator app (any app for time-based codes) with the key below or the link, then type the code it shows.</p>
<p>Key: <code>{{.Secret}}</code></p><p><a href="{{.URI}}">Open in an authenticator app</a></p>{{end}}
{{if or .TOTP .Enrol}}<form method="post" action="/console/mfa"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="code">Six-digit code</label><input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required>
<button type="submit">Continue</button></form>{{end}}
{{if .PasskeysOn}}{{if .Passkeys}}<p><button type="button" id="use-passkey" data-passkey="check" data-next="{{.Next}}">Use your passkey</button></p>
{{else if .Enrol}}<h2>Or use a passkey</h2><p>A passkey lives on this device or a security key and needs its screen lock or PIN.</p>
<label for="passkey-name">Name of the passkey</label><input id="passkey-name" type="text" maxlength="60" value="Passkey">
<p><button type="button" id="add-passkey" data-passkey="enrol">Set up a passkey</button></p>{{end}}
<input type="hidden" name="csrf" value="{{.CSRF}}"><p id="passkey-status" role="status"></p><script src="/console/passkey.js"></script>{{end}}
{{else if eq .Page "reauth"}}
<p>You are about to see personal data in clear. Confirm it is you first: your last confirmation is more than ten minutes old.</p>
{{if .Password}}<form method="post" action="/console/reauth"><input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="next" value="{{.Next}}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
{{if .TOTP}}<label for="code">Six-digit code from your authenticator</label><input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required>{{end}}
<button type="submit">Confirm</button></form>{{end}}
{{if .Provider}}<p><a href="{{.ProviderURL}}">Confirm at your company's sign-in page</a></p>{{end}}
{{if .PasskeysOn}}<p><button type="button" id="use-passkey" data-passkey="check" data-next="{{.Next}}">Confirm with your passkey</button></p>
<p id="passkey-status" role="status"></p><script src="/console/passkey.js"></script>{{end}}
<p><a href="{{.Next}}">Back</a></p>
{{else if eq .Page "account"}}
<p>Signed in as {{.Email}}, role {{words .Role}}.</p>
{{with .InviteLink}}<div role="status"><p>Send this link to {{$.InviteEmail}}. It works once, for 72 hours; they choose a password and set up a second factor.</p><p><code id="invite-link">{{.}}</code></p></div>{{end}}
<h2>Passkeys</h2>
{{if .Keys}}<table><thead><tr><th scope="col">Name</th><th scope="col">Added</th><th scope="col">Last used</th><th scope="col"><span class="sr">Action</span></th></tr></thead><tbody>
{{range .Keys}}<tr><td>{{.Name}}</td><td>{{.Added}}</td><td>{{.Used}}</td><td><form class="inline" method="post" action="/console/passkeys/{{.ID}}/remove"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button type="submit" aria-label="Remove {{.Name}}">Remove</button></form></td></tr>{{end}}</tbody></table>
{{else}}<p>You have no passkey.</p>{{end}}
{{if .PasskeysOn}}<label for="passkey-name">Name of a new passkey</label><input id="passkey-name" type="text" maxlength="60" value="Passkey">
<p><button type="button" id="add-passkey" data-passkey="enrol">Add a passkey</button></p><p id="passkey-status" role="status"></p><script src="/console/passkey.js"></script>
{{else}}<p>Passkeys need the console's public address (https, or http://localhost).</p>{{end}}
<p>Authenticator app: {{if .TOTP}}set up{{else}}none{{end}}.</p>
<h2>Sessions</h2><form method="post" action="/console/sign-out-everywhere"><input type="hidden" name="csrf" value="{{.CSRF}}">
<p>Signed in on a device you no longer have? End every session you have, this one included.</p><button type="submit">Sign out everywhere</button></form>
{{if .MayInvite}}<h2>Invite a person</h2><form method="post" action="/console/invites"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="invite-email">Their e-mail address</label><input id="invite-email" name="email" type="email" required>
<label for="invite-role">Role</label><select id="invite-role" name="role">{{range .Roles}}<option value="{{.}}">{{words .}}</option>{{end}}</select>
<button type="submit">Make an invitation link</button></form>{{end}}
{{else if eq .Page "invite"}}
<p>You are invited to the Steward console as {{.Email}}, with the role {{words .Role}}. Choose a password (at least 12 characters); you set up a second factor next.</p>
<form method="post"><input type="hidden" name="email" value="{{.Email}}" autocomplete="username">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="new-password" minlength="12" required>
<label for="password2">The same password again</label><input id="password2" name="password2" type="password" autocomplete="new-password" minlength="12" required>
<button type="submit">Join</button></form>
{{end}}</main></body></html>
`))
