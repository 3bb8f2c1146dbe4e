package app

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/httpapi/apitest"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// The privacy portal as its users meet it: a person's browser following the links in the
// messages Steward sends, a plain HTML form on a shop's own site, a script on that site.

// browserAccept is what a browser sends when it follows a link or submits a form.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// portalEnv is an env whose public URL is the address it really serves on, so that the links
// in its messages can be followed exactly as they are written, and whose messages go to files.
type portalEnv struct {
	*env
	public string // the public URL, as links in messages start
	mail   string // the directory messages are written to
}

func newPortalEnv(t *testing.T, db string, configure ...func(*config.Config)) *portalEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	e := newEnv(t, db, append([]func(*config.Config){func(c *config.Config) { c.Mail, c.PublicURL = "file:", public }}, configure...)...)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: e.app.HTTP().Handler()}}
	srv.Start()
	t.Cleanup(srv.Close)
	return &portalEnv{env: e, public: public, mail: filepath.Join(e.dir, "mail")}
}

// messages lists the message files of one kind (.eml for e-mail, .sms for text messages),
// oldest first.
func (p *portalEnv) messages(ext string) []string {
	names, _ := filepath.Glob(filepath.Join(p.mail, "*"+ext))
	slices.Sort(names)
	return names
}

// lastMessage returns the newest message of a kind, failing unless there are want of them.
func (p *portalEnv) lastMessage(ext string, want int) string {
	p.t.Helper()
	names := p.messages(ext)
	if len(names) != want {
		p.t.Fatalf("got %d %s messages, want %d", len(names), ext, want)
	}
	b, err := os.ReadFile(names[len(names)-1])
	if err != nil {
		p.t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// linkIn returns the one link in a message, as a person would click it.
func linkIn(t *testing.T, msg string) string {
	t.Helper()
	links := regexp.MustCompile(`https?://\S+`).FindAllString(msg, -1)
	if len(links) != 1 {
		t.Fatalf("got links %q in the message, want one:\n%s", links, msg)
	}
	return links[0]
}

// browser is a person's web browser. It sends what a browser sends, follows redirects the way
// a browser does, and holds every answer on the way, redirects included, to the API's
// documentation.
type browser struct {
	t   *testing.T
	doc *apitest.Document
}

func (p *portalEnv) browser() *browser { return &browser{t: p.t, doc: p.client().Document(p.t)} }

// page is one answer the browser received, with the address it ended at.
type page struct {
	status int
	header http.Header
	body   string
	at     *url.URL
}

// send sends one request without following redirects and checks the answer.
func (b *browser) send(req *http.Request) page {
	b.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.doc.Check(req.Method, req.URL.RequestURI(), resp.StatusCode, resp.Header.Get("Content-Type"), body); err != nil {
		b.t.Errorf("answer breaks the API's documentation: %v\n%s", err, body)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(body), at: req.URL}
}

// follow goes where redirects point, with GET, as browsers do after 301, 302 and 303.
func (b *browser) follow(p page) page {
	b.t.Helper()
	for hops := 0; p.status >= 300 && p.status < 400; hops++ {
		if hops == 5 {
			b.t.Fatalf("redirect loop at %s", p.at)
		}
		loc, err := p.at.Parse(p.header.Get("Location"))
		if err != nil {
			b.t.Fatalf("bad Location %q: %v", p.header.Get("Location"), err)
		}
		p = b.get(loc.String())
	}
	return p
}

// get opens a link without following redirects.
func (b *browser) get(link string) page {
	b.t.Helper()
	req, err := http.NewRequest("GET", link, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", browserAccept)
	return b.send(req)
}

// visit opens a link and follows its redirects.
func (b *browser) visit(link string) page { return b.follow(b.get(link)) }

// post submits form fields to action, as a browser submits a form on a page of origin.
func (b *browser) post(action, origin string, fields url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest("POST", action, strings.NewReader(fields.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", browserAccept)
	req.Header.Set("Origin", origin)
	return b.send(req)
}

// submit presses the button of the one form on a page: it posts the form's fields to its
// action, resolved against the page's address.
func (b *browser) submit(p page) page {
	b.t.Helper()
	forms := regexp.MustCompile(`<form method="post" action="([^"]+)">`).FindAllStringSubmatch(p.body, -1)
	if len(forms) != 1 {
		b.t.Fatalf("got %d forms on the page, want 1:\n%s", len(forms), p.body)
	}
	action, err := p.at.Parse(html.UnescapeString(forms[0][1]))
	if err != nil {
		b.t.Fatal(err)
	}
	fields := url.Values{}
	for _, in := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(p.body, -1) {
		fields.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return b.post(action.String(), p.at.Scheme+"://"+p.at.Host, fields)
}

func TestPrivacyPortalLinksSQLite(t *testing.T)   { privacyPortalLinks(t, "") }
func TestPrivacyPortalLinksPostgres(t *testing.T) { privacyPortalLinks(t, pgtest.URL(t)) }

// privacyPortalLinks walks a customer through an access request the way they make it: a form
// on the shop's page, the confirmation link in the e-mail, the button on the page it opens,
// and the download link in the e-mail that follows completion. Every link is taken from the
// message and opened as written.
func privacyPortalLinks(t *testing.T, db string) {
	p := newPortalEnv(t, db)
	id := p.create(ada)
	b := p.browser()

	// A plain HTML form on the shop's own site posts to the portal; the browser is sent on to
	// a page that says what happens next.
	sent := b.post(p.public+"/v1/privacy/requests", "https://shop.example", url.Values{"type": {"access"}, "email": {"Ada.Lovelace@Example.com"}, "phone": {""}})
	if sent.status != http.StatusSeeOther {
		t.Fatalf("form post: got %d %s, want 303", sent.status, sent.body)
	}
	if landed := b.follow(sent); landed.status != 200 || !strings.Contains(landed.body, "Check your messages") {
		t.Fatalf("page after the form: got %d %s", landed.status, landed.body)
	}

	// The e-mail reads as a person would write it, and its link opens the confirmation page.
	msg := p.lastMessage(".eml", 1)
	for _, want := range []string{"To: ada.lovelace@example.com", "We received an access request for the data we hold about you", "within 24 hours:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("confirmation e-mail lacks %q:\n%s", want, msg)
		}
	}
	for _, bad := range []string{"a access", "24h0m0s", "/v1/requests/confirm"} {
		if strings.Contains(msg, bad) {
			t.Errorf("confirmation e-mail holds %q:\n%s", bad, msg)
		}
	}
	link := linkIn(t, msg)
	if !strings.HasPrefix(link, p.public+"/v1/privacy/confirm?token=") {
		t.Fatalf("confirmation link %s does not open the confirmation page", link)
	}
	confirmPage := b.visit(link)
	if confirmPage.status != 200 || !strings.Contains(confirmPage.body, "Confirm your privacy request") {
		t.Fatalf("confirmation link: got %d %s", confirmPage.status, confirmPage.body)
	}
	if _, list := p.do(call{method: "GET", path: "/v1/requests?state=verified", role: "dpo"}); !strings.Contains(list, `"data":[]`) {
		t.Fatalf("opening the link confirmed the request: %s", list)
	}
	done := b.submit(confirmPage)
	if done.status != 200 || !strings.Contains(done.body, "Your request is confirmed") || !strings.Contains(done.body, "access request") ||
		!strings.HasPrefix(done.header.Get("Content-Type"), "text/html") {
		t.Fatalf("confirm button: got %d %s", done.status, done.body)
	}
	// Pressing it again (a reload) shows a page, not a problem document.
	if again := b.submit(confirmPage); again.status != http.StatusGone || !strings.Contains(again.body, "This link no longer works") {
		t.Fatalf("second press: got %d %s", again.status, again.body)
	}
	_, list := p.do(call{method: "GET", path: "/v1/requests?state=verified", role: "dpo"})
	var requests struct {
		Data []struct {
			ID         string `json:"id"`
			CustomerID string `json:"customer_id"`
		}
	}
	if err := json.Unmarshal([]byte(list), &requests); err != nil || len(requests.Data) != 1 || requests.Data[0].CustomerID != id {
		t.Fatalf("verified requests: %s", list)
	}
	rid := requests.Data[0].ID

	// Completing it mails the download link to the address the request was confirmed from.
	code, body := p.do(call{method: "POST", path: "/v1/requests/" + rid + "/complete", role: "dpo"})
	if code != 200 || !strings.Contains(body, `"link_sent_to":"email"`) {
		t.Fatalf("complete: got %d %s", code, body)
	}
	msg = p.lastMessage(".eml", 2)
	for _, want := range []string{"To: ada.lovelace@example.com", "Subject: Your data is ready to download", "Your access request is complete",
		"The link works for 7 days, until ", " UTC; after that the copy is deleted"} {
		if !strings.Contains(msg, want) {
			t.Errorf("download e-mail lacks %q:\n%s", want, msg)
		}
	}
	link = linkIn(t, msg)
	if !strings.HasPrefix(link, p.public+"/v1/requests/"+rid+"/export?token=") {
		t.Fatalf("download link %s", link)
	}
	dl := b.visit(link)
	if dl.status != 200 || dl.header.Get("Content-Type") != "application/zip" {
		t.Fatalf("download link: got %d %s", dl.status, dl.header.Get("Content-Type"))
	}
	z, err := zip.NewReader(bytes.NewReader([]byte(dl.body)), int64(len(dl.body)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(z.File, func(f *zip.File) bool { return f.Name == "export.json" }) {
		t.Errorf("package lacks export.json")
	}
	if _, got := p.do(call{method: "GET", path: "/v1/requests/" + rid, role: "dpo"}); !strings.Contains(got, `"link_sent_to":"email"`) ||
		strings.Contains(got, "token=") {
		t.Errorf("stored result: %s", got)
	}

	// Links mailed before the confirmation page moved still work: the old address sends the
	// browser on to the page, token and all.
	if code, _ := p.do(call{method: "POST", path: "/v1/privacy/requests", body: `{"type":"erasure","email":"ada.lovelace@example.com"}`}); code != 202 {
		t.Fatal(code)
	}
	token := strings.TrimPrefix(linkIn(t, p.lastMessage(".eml", 3)), p.public+"/v1/privacy/confirm?token=")
	old := b.get(p.public + "/v1/requests/confirm?token=" + token)
	if old.status != http.StatusMovedPermanently || old.header.Get("Location") != "/v1/privacy/confirm?token="+token {
		t.Fatalf("old link: got %d Location %q", old.status, old.header.Get("Location"))
	}
	if landed := b.follow(old); landed.status != 200 || !strings.Contains(landed.body, "Confirm your privacy request") {
		t.Fatalf("old link followed: got %d %s", landed.status, landed.body)
	}
	if bad := b.get(p.public + "/v1/requests/confirm"); bad.status != 422 || !strings.Contains(bad.body, "token: is required") {
		t.Fatalf("old link without token: got %d %s", bad.status, bad.body)
	}
}

// TestPrivacyRequestFromShopPages: a shop's page may call the portal from a script when its
// origin is configured, and post a plain form in any case; bad input is refused with the
// field named, as a page for a browser and as a problem for a script, and writes nothing.
func TestPrivacyRequestFromShopPages(t *testing.T) {
	p := newPortalEnv(t, "", func(c *config.Config) { c.PrivacyOrigins = "https://shop.example" })
	p.create(ada)
	b := p.browser()
	preflight := func(origin string) page {
		req, _ := http.NewRequest("OPTIONS", p.public+"/v1/privacy/requests", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		return b.send(req)
	}
	ok := preflight("https://shop.example")
	if ok.status != 204 || ok.header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(ok.header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(ok.header.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Fatalf("preflight from the shop: got %d %v", ok.status, ok.header)
	}
	if ok.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight allows credentials")
	}
	if other := preflight("https://elsewhere.example"); other.status != 204 || other.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another site: got %d %v", other.status, other.header)
	}

	// The script's JSON and a script's form-encoded post both work, and the shop may read the answer.
	script := func(contentType, body, origin string) page {
		req, _ := http.NewRequest("POST", p.public+"/v1/privacy/requests", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Accept", "*/*")
		req.Header.Set("Origin", origin)
		return b.send(req)
	}
	for _, r := range []page{
		script("application/json", `{"type":"portability","email":"ada.lovelace@example.com"}`, "https://shop.example"),
		script("application/x-www-form-urlencoded", "type=objection&email=ada.lovelace%40example.com", "https://shop.example"),
	} {
		if r.status != 202 || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" || !strings.Contains(r.body, `"status":"received"`) {
			t.Fatalf("script request: got %d %v %s", r.status, r.header, r.body)
		}
	}
	msgs := p.messages(".eml")
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	b1, _ := os.ReadFile(msgs[0])
	b2, _ := os.ReadFile(msgs[1])
	if !strings.Contains(string(b1), "a data portability request") || !strings.Contains(string(b2), "an objection") {
		t.Errorf("messages name the requests wrongly:\n%s\n%s", b1, b2)
	}
	if r := script("application/json", `{"type":"access","email":"ada.lovelace@example.com"}`, "https://elsewhere.example"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another site may read the answer: %v", r.header)
	}

	// Refusals: the field is named, nothing is written, no message is sent.
	for _, tt := range []struct {
		name        string
		contentType string
		body        string
		accept      string
		status      int
		want        string
	}{
		{"unknown form field", "application/x-www-form-urlencoded", "type=access&email=ada.lovelace%40example.com&name=Ada", "*/*", 400, "name: is not a known field"},
		{"repeated form field", "application/x-www-form-urlencoded", "type=access&type=erasure&email=ada.lovelace%40example.com", "*/*", 400, "type: is given more than once"},
		{"bad address on a page", "application/x-www-form-urlencoded", "type=access&email=not-an-address", browserAccept, 422, "Something is missing or not right"},
		{"bad type on a page", "application/x-www-form-urlencoded", "type=everything&email=ada.lovelace%40example.com", browserAccept, 422, "type: must be one of"},
		{"no contact", "application/x-www-form-urlencoded", "type=access&email=&phone=", "*/*", 422, "email: give the e-mail address"},
		{"both contacts", "application/json", `{"type":"access","email":"ada.lovelace@example.com","phone":"+442079460958"}`, "*/*", 422, "not both"},
		{"text body", "text/plain", `{"type":"access","email":"ada.lovelace@example.com"}`, "*/*", 400, "application/x-www-form-urlencoded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", p.public+"/v1/privacy/requests", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("Accept", tt.accept)
			r := b.send(req)
			if r.status != tt.status || !strings.Contains(html.UnescapeString(r.body), tt.want) {
				t.Fatalf("got %d %s, want %d naming %q", r.status, r.body, tt.status, tt.want)
			}
			if page := strings.HasPrefix(r.header.Get("Content-Type"), "text/html"); page != (tt.accept == browserAccept) {
				t.Errorf("answered as %s to Accept %s", r.header.Get("Content-Type"), tt.accept)
			}
		})
	}
	if n := len(p.messages(".eml")); n != 3 {
		t.Errorf("got %d messages, want 3: refused requests sent some", n)
	}
	if _, list := p.do(call{method: "GET", path: "/v1/requests", role: "dpo"}); strings.Count(list, `"id"`) != 3 {
		t.Errorf("refused requests were stored: %s", list)
	}
}

// TestPrivacyRequestNoOrigins: with no origin configured the portal sends no CORS headers at
// all, so no other site's script can read its answers.
func TestPrivacyRequestNoOrigins(t *testing.T) {
	p := newPortalEnv(t, "")
	b := p.browser()
	req, _ := http.NewRequest("OPTIONS", p.public+"/v1/privacy/requests", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	r := b.send(req)
	if r.status != 204 {
		t.Fatalf("preflight: got %d", r.status)
	}
	for k := range r.header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("CORS header %s sent with no origin configured", k)
		}
	}
}

// TestRequestsByPhone: staff open requests by phone number like by e-mail; a customer may
// make one by phone only where text messages can be sent (the file drop can, SMTP cannot),
// and the download link of a completed access request goes to the number it was made with.
func TestRequestsByPhone(t *testing.T) {
	p := newPortalEnv(t, "")
	id := p.create(ada)
	b := p.browser()

	// Self-service by phone: the link is texted, and confirms the request.
	if code, body := p.do(call{method: "POST", path: "/v1/privacy/requests", body: `{"type":"erasure","phone":"020 7946 0958"}`}); code != 202 {
		t.Fatalf("request by phone: got %d %s", code, body)
	}
	text := p.lastMessage(".sms", 1)
	if !strings.Contains(text, "To: +442079460958") || !strings.Contains(text, "We received an erasure request") || !strings.Contains(text, "within 24 hours") {
		t.Errorf("text message:\n%s", text)
	}
	if done := b.submit(b.visit(linkIn(t, text))); done.status != 200 || !strings.Contains(done.body, "erasure request") {
		t.Fatalf("confirming a request by phone: got %d %s", done.status, done.body)
	}
	if _, list := p.do(call{method: "GET", path: "/v1/requests?state=verified", role: "dpo"}); !strings.Contains(list, id) {
		t.Fatalf("request by phone not verified for the customer: %s", list)
	}

	// Staff open an access request by phone; its download link is texted to that number.
	rid := p.request(`{"type":"access","phone":"+44 20 7946 0958"}`)
	code, body := p.verifyAndComplete(rid, "")
	if code != 200 || !strings.Contains(body, `"link_sent_to":"phone"`) || !strings.Contains(body, id) {
		t.Fatalf("complete by phone: got %d %s", code, body)
	}
	text = p.lastMessage(".sms", 2)
	if !strings.Contains(text, "Your access request is complete. Download your data within 7 days") {
		t.Errorf("download text message:\n%s", text)
	}
	if dl := b.visit(linkIn(t, text)); dl.status != 200 {
		t.Fatalf("texted download link: got %d", dl.status)
	}
	// Staff open one by e-mail: the link goes by e-mail. By customer id: staff send it.
	rid = p.request(`{"type":"portability","email":"ADA.LOVELACE@example.com"}`)
	if code, body := p.verifyAndComplete(rid, ""); code != 200 || !strings.Contains(body, `"link_sent_to":"email"`) {
		t.Fatalf("complete by e-mail: got %d %s", code, body)
	}
	if msg := p.lastMessage(".eml", 1); !strings.Contains(msg, "Your data portability request is complete") || !strings.Contains(msg, "CSV") {
		t.Errorf("download e-mail:\n%s", msg)
	}
	rid = p.request(`{"type":"access","customer_id":"` + id + `"}`)
	if code, body := p.verifyAndComplete(rid, ""); code != 200 || !strings.Contains(body, `"link_not_sent":"the request names no e-mail address or phone number`) ||
		!strings.Contains(body, `"download_url"`) {
		t.Fatalf("complete by id: got %d %s", code, body)
	}
	if n := len(p.messages(".eml")) + len(p.messages(".sms")); n != 3 {
		t.Errorf("got %d messages, want 3", n)
	}

	// Where no text message can be sent, a request by phone is refused and nothing is kept.
	smtp := newEnv(t, "", func(c *config.Config) { c.Mail = "smtp://127.0.0.1:1" })
	smtp.create(ada)
	code, body = smtp.do(call{method: "POST", path: "/v1/privacy/requests", body: `{"type":"access","phone":"+442079460958"}`})
	if code != 422 || !strings.Contains(body, "no text-message sender is configured") || !strings.Contains(body, `"field":"phone"`) {
		t.Fatalf("request by phone without a sender: got %d %s", code, body)
	}
	if _, list := smtp.do(call{method: "GET", path: "/v1/requests", role: "dpo"}); !strings.Contains(list, `"data":[]`) {
		t.Errorf("refused request stored: %s", list)
	}
	// Staff-opened requests by phone need no sender.
	if rid := smtp.request(`{"type":"access","phone":"+442079460958"}`); rid == "" {
		t.Fatal("no request id")
	}
}
