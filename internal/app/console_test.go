package app

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestConsoleSignInSQLite(t *testing.T)   { consoleSignIn(t, "") }
func TestConsoleSignInPostgres(t *testing.T) { consoleSignIn(t, pgtest.URL(t)) }

// consoleSignIn: a person added from the command line signs in with their password, sets up
// their authenticator with a code from a real TOTP library, finds a customer, reveals them for
// a purpose their role allows, and signs out; the audit trail names the person. As an
// attacker: a wrong password (same answer as an unknown address), five wrong ones lock the
// account, a half-done sign-in opens nothing, a form without its token, a signed-out session.
func consoleSignIn(t *testing.T, db string) {
	e := newEnv(t, db)
	sys := authz.WithActor(context.Background(), authz.System)
	acc, err := e.app.Staff.Add(sys, "Alex@Shop.example", "support", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Staff.Add(sys, "alex@shop.example", "support", "a long enough password"); err == nil {
		t.Error("a second account with one address")
	}
	if _, err := e.app.Staff.Add(sys, "bot@shop.example", "collect", "a long enough password"); err == nil {
		t.Error("a person with a write key's role")
	}
	id := e.create(`{"email":"cust@example.com","first_name":"Cara","phone":"+44 7911 123456"}`)
	b := e.browser()
	cookie := func(cs []*http.Cookie) string {
		for _, c := range cs {
			if c.Name == "steward_console" {
				if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
					t.Errorf("cookie flags: %+v", c)
				}
				return c.Value
			}
		}
		return ""
	}
	post := func(path string, v url.Values, session string) (int, string, string, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if session != "" {
			req.Header.Set("Cookie", "steward_console="+session)
		}
		resp, err := b.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(body), cookie(resp.Cookies())
	}
	code, _, unknown, _ := post("/console/login", url.Values{"email": {"nobody@shop.example"}, "password": {"whatever it is"}}, "")
	code2, _, wrong, _ := post("/console/login", url.Values{"email": {"alex@shop.example"}, "password": {"not the password"}}, "")
	if code != 401 || code2 != 401 || !strings.Contains(unknown, "not right") || !strings.Contains(wrong, "not right") {
		t.Fatalf("wrong sign-ins: %d %d", code, code2)
	}
	code, loc, _, half := post("/console/login", url.Values{"email": {"ALEX@shop.example"}, "password": {"a long enough password"}}, "")
	if code != 303 || loc != "/console/mfa" || half == "" {
		t.Fatalf("password: %d %s", code, loc)
	}
	if code, page := b.get("/console", "Cookie", "steward_console="+half); code != 303 && !strings.Contains(page, "Sign in") {
		t.Errorf("a half-done sign-in opened the console: %d", code)
	}
	_, page := b.get("/console/mfa", "Cookie", "steward_console="+half)
	secret := regexp.MustCompile(`Key: <code>([A-Z2-7]+)</code>`).FindStringSubmatch(page)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if secret == nil || csrf == nil {
		t.Fatalf("enrol page: %s", page)
	}
	if code, _, _, _ := post("/console/mfa", url.Values{"code": {"000000"}}, half); code != 403 {
		t.Errorf("a code without the form token: %d", code)
	}
	if code, _, _, _ := post("/console/mfa", url.Values{"code": {"000000"}, "csrf": {csrf[1]}}, half); code != 422 {
		t.Errorf("a wrong code: %d", code)
	}
	otp, err := totp.GenerateCode(secret[1], e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	code, loc, _, session := post("/console/mfa", url.Values{"code": {otp}, "csrf": {csrf[1]}}, half)
	if code != 303 || loc != "/console" || session == "" || session == half {
		t.Fatalf("code: %d %s (a new session: %v)", code, loc, session != half)
	}
	if code, _ := b.get("/console", "Cookie", "steward_console="+half); code != 303 {
		t.Errorf("the half-done session still works: %d", code)
	}
	code, page = b.get("/console?q=cust@example.com", "Cookie", "steward_console="+session)
	if code != 200 || !strings.Contains(page, "/console/customers/"+id) || strings.Contains(page, "Cara") {
		t.Fatalf("find: %d", code)
	}
	_, page = b.get("/console/customers/"+id, "Cookie", "steward_console="+session)
	csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if strings.Contains(page, "cust@example.com") || !strings.Contains(page, `<option value="support">`) {
		t.Fatalf("customer page not masked or no reveal: %s", page)
	}
	if code, _, page, _ := post("/console/customers/"+id+"/reveal", url.Values{"purpose": {"support"}, "reason": {"ticket 4711"}, "csrf": {csrf[1]}}, session); code != 200 || !strings.Contains(page, "cust@example.com") {
		t.Errorf("reveal: %d", code)
	}
	if code, _, _, _ := post("/console/customers/"+id+"/reveal", url.Values{"purpose": {"marketing_email"}, "reason": {"ticket 4711"}, "csrf": {csrf[1]}}, session); code != 403 {
		t.Errorf("reveal for a purpose the role may not act for: %d", code)
	}
	es, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{ActorID: "staff:" + acc.ID, Limit: 100})
	acts := map[string]bool{}
	for _, en := range es {
		acts[en.Action+":"+en.Outcome] = true
	}
	for _, want := range []string{"staff.mfa_enrol:ok", "staff.sign_in:ok", "staff.sign_in:denied", "customer.search:ok", "customer.read:ok"} {
		if !acts[want] {
			t.Errorf("no %s entry naming the person: %v", want, acts)
		}
	}
	if code, loc, _, _ := post("/console/sign-out", url.Values{"csrf": {csrf[1]}}, session); code != 303 || loc != "/console/login" {
		t.Fatalf("sign out: %d", code)
	}
	if code, _ := b.get("/console", "Cookie", "steward_console="+session); code != 303 {
		t.Errorf("a signed-out session still opens the console: %d", code)
	}

	// Five wrong passwords lock the account, right password or not.
	for i := 0; i < 5; i++ {
		post("/console/login", url.Values{"email": {"alex@shop.example"}, "password": {"wrong wrong wrong"}}, "")
	}
	if code, _, _, _ := post("/console/login", url.Values{"email": {"alex@shop.example"}, "password": {"a long enough password"}}, ""); code != 401 {
		t.Errorf("a locked account signed in: %d", code)
	}
	e.clock.Advance(16 * time.Minute)
	if code, _, _, _ := post("/console/login", url.Values{"email": {"alex@shop.example"}, "password": {"a long enough password"}}, ""); code != 303 {
		t.Errorf("after the lock: %d", code)
	}

	// Disabling a person ends the session they have and every later sign-in.
	_, _, _, half = post("/console/login", url.Values{"email": {"alex@shop.example"}, "password": {"a long enough password"}}, "")
	_, page = b.get("/console/mfa", "Cookie", "steward_console="+half)
	csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	otp, _ = totp.GenerateCode(secret[1], e.clock.Now())
	_, _, _, session = post("/console/mfa", url.Values{"code": {otp}, "csrf": {csrf[1]}}, half)
	if code, _ := b.get("/console", "Cookie", "steward_console="+session); code != 200 {
		t.Fatalf("signed in again: %d", code)
	}
	if _, err := e.app.Staff.Disable(sys, "alex@shop.example"); err != nil {
		t.Fatal(err)
	}
	if code, _ := b.get("/console", "Cookie", "steward_console="+session); code != 303 {
		t.Errorf("a disabled person's session still works: %d", code)
	}
	if code, _, _, _ := post("/console/login", url.Values{"email": {"alex@shop.example"}, "password": {"a long enough password"}}, ""); code != 401 {
		t.Errorf("a disabled person signed in: %d", code)
	}
}

// A key may stop working by itself, and the keys a person made go with their access.
func TestAPIKeyExpiryAndOwner(t *testing.T) {
	e := newEnv(t, "")
	expires := e.clock.Now().Add(time.Hour).Format(time.RFC3339)
	code, body := e.do(call{method: "POST", path: "/v1/apikeys", role: "admin", body: `{"name":"temp","role":"auditor","expires_at":"` + expires + `"}`})
	key := regexp.MustCompile(`"key":"(stw_[^"]+)"`).FindStringSubmatch(body)
	if code != 201 || key == nil || !strings.Contains(body, `"owner":"key:`) || !strings.Contains(body, `"expires_at"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/audit?limit=1", role: key[1]}); code != 200 {
		t.Fatalf("before expiry: %d", code)
	}
	e.clock.Advance(time.Hour + 2*time.Second)
	if code, _ := e.do(call{method: "GET", path: "/v1/audit?limit=1", role: key[1]}); code != 401 {
		t.Errorf("after expiry: %d", code)
	}
	if code, out := e.do(call{method: "POST", path: "/v1/apikeys", role: "admin", body: `{"name":"past","role":"auditor","expires_at":"2020-01-01T00:00:00Z"}`}); code != 422 || !strings.Contains(out, "expires_at") {
		t.Errorf("an expiry in the past: %d %s", code, out)
	}

	// A key a person made in the console's name goes when the person is disabled.
	sys := authz.WithActor(context.Background(), authz.System)
	acc, err := e.app.Staff.Add(sys, "kim@shop.example", "admin", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	theirs, _, err := e.app.APIKeys.Create(authz.WithActor(context.Background(), staffActor(acc.ID, acc.Email, "admin")), "auditor", "kim's script")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/audit?limit=1", role: theirs}); code != 200 {
		t.Fatalf("the person's key: %d", code)
	}
	if _, err := e.app.Staff.Disable(sys, "kim@shop.example"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second) // past the one second a key is remembered
	if code, _ := e.do(call{method: "GET", path: "/v1/audit?limit=1", role: theirs}); code != 401 {
		t.Errorf("a disabled person's key still works: %d", code)
	}
}

func staffActor(id, email, role string) authz.Actor {
	return authz.Actor{ID: "staff:" + id, Name: email, Role: role}
}

// consoleSignInSecurity: the page asked for before signing in is where the sign-in goes
// on to, but never another site (open redirect); a sign-in form posted from another site is
// refused (login CSRF); a reveal needs a reason and, ten minutes after the last proof of who
// the person is, that proof again; a session that runs out is audited in the person's name;
// signing out everywhere ends every session.
func TestConsoleSignInSecuritySQLite(t *testing.T)   { consoleSignInSecurity(t, "") }
func TestConsoleSignInSecurityPostgres(t *testing.T) { consoleSignInSecurity(t, pgtest.URL(t)) }

func consoleSignInSecurity(t *testing.T, db string) {
	e := newEnv(t, db)
	sys := authz.WithActor(context.Background(), authz.System)
	acc, err := e.app.Staff.Add(sys, "rae@shop.example", "support", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	id := e.create(`{"email":"cust@example.com","first_name":"Cara"}`)
	b := e.browser()
	var secret string
	post := func(path string, v url.Values, session string, header ...string) (int, string, string, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if session != "" {
			req.Header.Set("Cookie", "steward_console="+session)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := b.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var c string
		for _, ck := range resp.Cookies() {
			if ck.Name == "steward_console" {
				c = ck.Value
			}
		}
		return resp.StatusCode, resp.Header.Get("Location"), string(body), c
	}
	signIn := func(next string) (string, string) {
		t.Helper()
		_, _, _, half := post("/console/login", url.Values{"email": {"rae@shop.example"}, "password": {"a long enough password"}, "next": {next}}, "")
		_, page := b.get("/console/mfa", "Cookie", "steward_console="+half)
		if m := regexp.MustCompile(`Key: <code>([A-Z2-7]+)</code>`).FindStringSubmatch(page); m != nil {
			secret = m[1]
		}
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
		code, _ := totp.GenerateCode(secret, e.clock.Now())
		status, loc, _, session := post("/console/mfa", url.Values{"code": {code}, "csrf": {csrf[1]}}, half)
		if status != 303 || session == "" {
			t.Fatalf("sign in: %d", status)
		}
		return loc, session
	}

	// Where a signed-out visit to a page goes, and where the sign-in goes on to.
	if resp, err := b.http.Get(e.srv.URL + "/console/customers/" + id); err != nil || resp.StatusCode != 303 || resp.Header.Get("Location") != "/console/login?next=%2Fconsole%2Fcustomers%2F"+id {
		t.Errorf("a signed-out page: %v %v", err, resp)
	}
	if loc, _ := signIn("/console/customers/" + id); loc != "/console/customers/"+id {
		t.Errorf("after signing in: %s", loc)
	}
	for _, evil := range []string{"https://evil.example/", "//evil.example/console", "/\\evil.example", "/console/../../evil", "javascript:alert(1)", "/consolex"} {
		if loc, _ := signIn(evil); loc != "/console" {
			t.Errorf("next=%q sent the browser to %q", evil, loc)
		}
	}
	if _, page := b.get("/console/login?next=https://evil.example/"); strings.Contains(page, "evil.example") {
		t.Error("the sign-in page carries another site's address")
	}
	if code, _, _, _ := post("/console/login", url.Values{"email": {"rae@shop.example"}, "password": {"a long enough password"}}, "", "Sec-Fetch-Site", "cross-site"); code != 403 {
		t.Errorf("a sign-in posted from another site: %d", code)
	}
	if code, _, _, _ := post("/console/login", url.Values{"email": {"rae@shop.example"}, "password": {"a long enough password"}}, "", "Origin", "https://evil.example"); code != 403 {
		t.Errorf("a sign-in posted with another origin: %d", code)
	}

	// A reveal needs a reason, and a fresh proof after ten minutes.
	_, session := signIn("")
	_, page := b.get("/console/customers/"+id, "Cookie", "steward_console="+session)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)[1]
	if code, _, page, _ := post("/console/customers/"+id+"/reveal", url.Values{"purpose": {"support"}, "csrf": {csrf}}, session); code != 422 || !strings.Contains(page, "reason") {
		t.Errorf("a reveal without a reason: %d", code)
	}
	e.clock.Advance(11 * time.Minute)
	code, loc, _, _ := post("/console/customers/"+id+"/reveal", url.Values{"purpose": {"support"}, "reason": {"T-1"}, "csrf": {csrf}}, session)
	if code != 303 || loc != "/console/reauth?next=%2Fconsole%2Fcustomers%2F"+id {
		t.Fatalf("a reveal eleven minutes on: %d %s", code, loc)
	}
	if code, _, _, _ := post("/console/reauth", url.Values{"password": {"a long enough password"}, "code": {"000000"}, "csrf": {csrf}, "next": {"/console/customers/" + id}}, session); code != 422 {
		t.Errorf("a re-authentication with a wrong code: %d", code)
	}
	otp, _ := totp.GenerateCode(secret, e.clock.Now().Add(30*time.Second))
	if code, loc, _, _ := post("/console/reauth", url.Values{"password": {"a long enough password"}, "code": {otp}, "csrf": {csrf}, "next": {"https://evil.example/"}}, session); code != 303 || loc != "/console" {
		t.Errorf("re-authentication: %d %s", code, loc)
	}
	if code, _, page, _ := post("/console/customers/"+id+"/reveal", url.Values{"purpose": {"support"}, "reason": {"T-1"}, "csrf": {csrf}}, session); code != 200 || !strings.Contains(page, "cust@example.com") {
		t.Errorf("the reveal after re-authenticating: %d", code)
	}

	// A session left idle ends, and the end is audited in the person's name.
	e.clock.Advance(31 * time.Minute)
	if code, _ := b.get("/console", "Cookie", "steward_console="+session); code != 303 {
		t.Errorf("an idle session: %d", code)
	}
	// Signing out everywhere ends every session.
	_, one := signIn("")
	_, two := signIn("")
	_, page = b.get("/console/account", "Cookie", "steward_console="+one)
	csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)[1]
	if code, loc, _, _ := post("/console/sign-out-everywhere", url.Values{"csrf": {csrf}}, one); code != 303 || loc != "/console/login" {
		t.Errorf("sign out everywhere: %d %s", code, loc)
	}
	if code, _ := b.get("/console", "Cookie", "steward_console="+two); code != 303 {
		t.Errorf("another session survived signing out everywhere: %d", code)
	}
	es, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{ActorID: "staff:" + acc.ID, Limit: 200})
	acts := map[string]bool{}
	for _, en := range es {
		acts[en.Action+":"+en.Outcome] = true
	}
	for _, want := range []string{"staff.session_end:ok", "staff.sign_out_everywhere:ok", "staff.reauthenticate:ok", "staff.reauthenticate:denied"} {
		if !acts[want] {
			t.Errorf("no %s entry naming the person: %v", want, acts)
		}
	}
}
