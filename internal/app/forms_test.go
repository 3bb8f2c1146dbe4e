package app

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// formClient posts hosted forms as a browser without JavaScript does: it reads the page,
// keeps the hidden fields, fills in the visible ones and does not follow redirects.
type formClient struct {
	e    *env
	http *http.Client
}

func (e *env) browser() *formClient {
	return &formClient{e: e, http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

func (c *formClient) get(path string, header ...string) (int, string) {
	c.e.t.Helper()
	req, _ := http.NewRequest("GET", c.e.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hidden returns the hidden fields of a page.
func hidden(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], m[2])
	}
	return v
}

func (c *formClient) post(path string, v url.Values) (int, string, string) {
	c.e.t.Helper()
	resp, err := c.http.Post(c.e.srv.URL+path, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// fill reads the form at path, waits as a person would, and returns its hidden fields with
// fields added.
func (c *formClient) fill(path string, fields map[string]string) url.Values {
	c.e.t.Helper()
	code, page := c.get(path)
	if code != 200 {
		c.e.t.Fatalf("GET %s: %d", path, code)
	}
	v := hidden(page)
	for k, x := range fields {
		v.Set(k, x)
	}
	c.e.clock.Advance(5 * time.Second)
	return v
}

// mailedLink returns the link to path (with its token) in the newest mail of the mail drop
// that holds one.
func mailedLink(t *testing.T, dir, path string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	link := regexp.MustCompile(regexp.QuoteMeta(path) + `\?token=[A-Za-z0-9_-]+`)
	for i := len(files) - 1; i >= 0; i-- {
		b, _ := os.ReadFile(files[i])
		if m := link.FindString(strings.ReplaceAll(string(b), "=\r\n", "")); m != "" {
			return m
		}
	}
	t.Fatalf("no %s link in the mail drop", path)
	return ""
}

func TestHostedFormsSQLite(t *testing.T)   { hostedForms(t, "") }
func TestHostedFormsPostgres(t *testing.T) { hostedForms(t, pgtest.URL(t)) }

// hostedForms walks the sign-up form as a person without JavaScript would: the page, the
// refusals (too fast, missing, a mistyped address), a submission creating the customer with
// the SMS consent at once and the e-mail consent after the confirmation link; then an
// existing customer's address, which changes nothing they gave and waits for confirmation;
// and a bot filling the hidden field, which stores nothing.
func hostedForms(t *testing.T, db string) {
	mail := t.TempDir()
	e := newEnv(t, db, func(c *config.Config) { c.Mail = config.Secret("file:" + mail) })
	e.publish(policyV1)
	b := e.browser()

	code, page := b.get("/forms/signup")
	for _, want := range []string{`<html lang="en">`, `for="f-email"`, `name="consent_marketing_email"`, `name="consent_marketing_sms"`, "version 2026-01", `href="/privacy"`} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-up page lacks %s", want)
		}
	}
	if code != 200 || strings.Contains(page, "<script src") || strings.Count(page, "<script") != 1 || strings.Contains(page, " checked") {
		t.Errorf("sign-up page: %d, a script from elsewhere, or a ticked box", code)
	}
	if code, page := b.get("/forms/signup", "Accept-Language", "de-DE,de;q=0.9"); code != 200 || !strings.Contains(page, `lang="de"`) || !strings.Contains(page, "Vorname") {
		t.Errorf("German page: %d", code)
	}
	if code, page := b.get("/forms/newsletter?lang=fr"); code != 200 || !strings.Contains(page, "Adresse e-mail") {
		t.Errorf("French page: %d", code)
	}
	if code, _ := b.get("/forms/nope"); code != 404 {
		t.Errorf("unknown form: %d", code)
	}

	// The as-you-type check: the same rules, nothing stored, only the form's own fields.
	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{"field":"email","value":"jane@gmial.com"}`, 200, `"suggestion":"jane@gmail.com"`},
		{`{"field":"email","value":"jane@example.com"}`, 200, `{"valid":true}`},
		{`{"field":"phone","value":"12"}`, 200, `"valid":false`},
		{`{"field":"national_id","value":"QQ123456C"}`, 422, "not a field of this form"},
		{`{"field":"email"`, 400, ""},
	} {
		code, out := e.do(call{method: "POST", path: "/forms/signup/check", body: c.body})
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("check %s: got %d %s", c.body, code, out)
		}
	}

	// Refused submissions store nothing and say why.
	_, page = b.get("/forms/signup")
	fast := hidden(page)
	fast.Set("email", "quick@example.com")
	fast.Set("first_name", "Q")
	fast.Set("last_name", "Uick")
	if code, _, page := b.post("/forms/signup", fast); code != 422 || !strings.Contains(page, "quicker than a person") {
		t.Errorf("too fast: %d", code)
	}
	v := b.fill("/forms/signup", map[string]string{"email": "jane.doe@example.com", "first_name": "Jane"})
	if code, _, page := b.post("/forms/signup", v); code != 422 || !strings.Contains(page, "Last name is required") || !strings.Contains(page, `value="jane.doe@example.com"`) {
		t.Errorf("missing last name: %d %s", code, page)
	}
	v = b.fill("/forms/signup", map[string]string{"email": "jane.doe@gmial.com", "first_name": "Jane", "last_name": "Doe"})
	if code, _, page := b.post("/forms/signup", v); code != 422 || !strings.Contains(page, "Did you mean jane.doe@gmail.com?") || !strings.Contains(page, `name="keep_email"`) {
		t.Errorf("mistyped address: %d", code)
	}
	if ids := e.findable("email", "jane.doe@gmial.com"); len(ids) != 0 {
		t.Fatalf("a refused submission stored a customer")
	}

	// A good one: the SMS consent at once, the e-mail consent once confirmed.
	v = b.fill("/forms/signup", map[string]string{"email": "jane.doe@example.com", "first_name": "Jane", "last_name": "Doe",
		"phone": "+44 7911 123456", "consent_marketing_email": "yes", "consent_marketing_sms": "yes"})
	code, loc, _ := b.post("/forms/signup", v)
	if code != 303 || loc != "/forms/signup/thanks?confirm=1&lang=en" {
		t.Fatalf("submit: %d %s", code, loc)
	}
	if code, page := b.get(loc); code != 200 || !strings.Contains(page, "follow the link") {
		t.Errorf("thanks page: %d", code)
	}
	id := e.customerOf("jane.doe@example.com")
	if got := e.bySource(id); got["signup_form:marketing_sms"] != 1 || got["signup_form:marketing_email"] != 0 {
		t.Fatalf("before confirming: %v", got)
	}
	link := mailedLink(t, mail, "/forms/confirm")
	code, page = b.get(link)
	if code != 200 || !strings.Contains(page, `<button type="submit">`) || e.bySource(id)["signup_form:marketing_email"] != 0 {
		t.Fatalf("following the link alone must only show the button: %d", code)
	}
	code, _, page = b.post("/forms/confirm", hidden(page))
	if code != 200 || !strings.Contains(page, "confirmed") {
		t.Fatalf("confirm: %d %s", code, page)
	}
	var conf *consent.Record
	for _, r := range e.ledger(id) {
		if r.Purpose == "marketing_email" && r.Granted {
			conf = &r
		}
	}
	if conf == nil || conf.PolicyVersion != "2026-01" || conf.Source != "signup_form" || conf.Evidence.RequestedAt == nil || !conf.Evidence.RequestedAt.Before(conf.At) {
		t.Fatalf("confirmed consent: %+v", conf)
	}
	if d := e.decision(id, "marketing_email"); !d.Allowed {
		t.Errorf("marketing e-mail not allowed after confirming: %+v", d)
	}
	if code, _, _ := b.post("/forms/confirm", hidden(page+`<input type="hidden" name="token" value="`+strings.TrimPrefix(link, "/forms/confirm?token=")+`">`)); code != 410 {
		t.Errorf("a link used twice: %d", code)
	}

	// Someone else's address: nothing they gave changes, and consents wait for them.
	v = b.fill("/forms/signup", map[string]string{"email": "jane.doe@example.com", "first_name": "Mallory", "last_name": "Doe",
		"consent_marketing_sms": "yes"})
	if code, loc, _ := b.post("/forms/signup", v); code != 303 || !strings.Contains(loc, "confirm=1") {
		t.Errorf("existing address: %d %s", code, loc)
	}
	if f := e.fields(id); f["first_name"] != "Jane" {
		t.Errorf("a public form overwrote a name: %v", f)
	}
	if got := e.bySource(id); got["signup_form:marketing_sms"] != 1 {
		t.Errorf("a consent for an existing address was recorded without confirmation: %v", got)
	}

	// A bot that fills the hidden field is thanked and stores nothing.
	v = b.fill("/forms/newsletter", map[string]string{"email": "bot@example.com", "website": "http://spam.example", "consent_marketing_email": "yes"})
	if code, _, _ := b.post("/forms/newsletter", v); code != 303 || len(e.findable("email", "bot@example.com")) != 0 {
		t.Errorf("honeypot: %d", code)
	}
	// An unticked box records nothing.
	v = b.fill("/forms/newsletter", map[string]string{"email": "reader@example.com"})
	if code, _, _ := b.post("/forms/newsletter", v); code != 303 {
		t.Fatalf("newsletter without consent: %d", code)
	}
	if got := e.bySource(e.customerOf("reader@example.com")); len(got) != 0 {
		t.Errorf("an unticked box recorded %v", got)
	}
	if code, _, _ := b.post("/forms/newsletter", url.Values{"email": {"a@example.com"}, "lang": {"en", "de"}}); code != 422 {
		t.Errorf("a repeated field: %d", code)
	}
}
