package app

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// mails counts the messages in the mail drop.
func mails(dir string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	return len(files)
}

func (c *formClient) postWith(path string, v url.Values, cookie string) (int, string, string, []*http.Cookie) {
	c.e.t.Helper()
	req, _ := http.NewRequest("POST", c.e.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		req.Header.Set("Cookie", "steward_portal="+cookie)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body), resp.Cookies()
}

func TestPrivacyPortalSQLite(t *testing.T)   { privacyPortal(t, "") }
func TestPrivacyPortalPostgres(t *testing.T) { privacyPortal(t, pgtest.URL(t)) }

// privacyPortal walks the portal as a customer: ask for a link (the same answer for an
// unknown address, at most three links an hour), open it once, see their data, give and
// withdraw consent, say "do not sell or share", open an erasure request, sign out; and as an
// attacker: a used link, a form without the session's token, an ended session.
func privacyPortal(t *testing.T, db string) {
	mail := t.TempDir()
	e := newEnv(t, db, func(c *config.Config) { c.Mail = config.Secret("file:" + mail) })
	e.publish(policyV1)
	id := e.create(`{"email":"pat@example.com","first_name":"Pat","postal_code":"LS1 4AP","country":"GB"}`)
	b := e.browser()

	code, page := b.get("/portal")
	if code != 200 || !strings.Contains(page, `action="/portal/link"`) {
		t.Fatalf("sign-in page: %d", code)
	}
	code, _, unknown := b.post("/portal/link", url.Values{"email": {"nobody@example.com"}})
	if code != 200 || mails(mail) != 0 {
		t.Fatalf("unknown address: %d, %d mails", code, mails(mail))
	}
	code, _, known := b.post("/portal/link", url.Values{"email": {"Pat@Example.com"}})
	if code != 200 || known != unknown || mails(mail) != 1 {
		t.Fatalf("known address: %d, same answer %v, %d mails", code, known == unknown, mails(mail))
	}
	for i := 0; i < 3; i++ {
		b.post("/portal/link", url.Values{"email": {"pat@example.com"}})
	}
	if mails(mail) != 3 {
		t.Errorf("links an hour: %d mails, want 3", mails(mail))
	}
	link := mailedLink(t, mail, "/portal/enter")
	code, page = b.get(link)
	if code != 200 || !strings.Contains(page, `action="/portal/enter"`) {
		t.Fatalf("link page: %d", code)
	}
	token := strings.TrimPrefix(link, "/portal/enter?token=")
	code, loc, _, cookies := b.postWith("/portal/enter", url.Values{"token": {token}}, "")
	if code != 303 || loc != "/portal" || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("enter: %d %s %+v", code, loc, cookies)
	}
	session := cookies[0].Value
	if code, _, _, _ := b.postWith("/portal/enter", url.Values{"token": {token}}, ""); code != 410 {
		t.Errorf("a used link: %d", code)
	}

	code, page = b.get("/portal", "Cookie", "steward_portal="+session)
	for _, want := range []string{"pat@example.com", "Pat", "LS1 4AP", "marketing email", "until your data is erased", "Do not sell or share"} {
		if !strings.Contains(page, want) {
			t.Errorf("portal page lacks %q", want)
		}
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if code != 200 || csrf == nil {
		t.Fatalf("portal page: %d", code)
	}
	if code, _, _, _ := b.postWith("/portal/choices", url.Values{"purpose": {"marketing_email"}, "choice": {"allow"}}, session); code != 403 {
		t.Errorf("a choice without the form token: %d", code)
	}
	if d := e.decision(id, "marketing_email"); d.Allowed {
		t.Fatal("a refused form changed a consent")
	}
	form := func(kv ...string) url.Values {
		v := url.Values{"csrf": {csrf[1]}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	if code, loc, _, _ := b.postWith("/portal/choices", form("purpose", "marketing_email", "choice", "allow"), session); code != 303 || !strings.HasPrefix(loc, "/portal?done=choice") {
		t.Fatalf("give consent: %d %s", code, loc)
	}
	if d := e.decision(id, "marketing_email"); !d.Allowed || d.PolicyVersion != "2026-01" {
		t.Errorf("after giving consent: %+v", d)
	}
	if code, _, _, _ := b.postWith("/portal/choices", form("purpose", "service", "choice", "refuse"), session); code != 422 {
		t.Errorf("refusing a contract purpose: %d", code)
	}
	if code, _, _, _ := b.postWith("/portal/do-not-sell", form(), session); code != 303 {
		t.Fatalf("do not sell: %d", code)
	}
	if got := e.bySource(id); got["portal:ads_sharing"] != 1 || got["portal:personalization"] != 1 || got["portal:marketing_email"] != 1 {
		t.Errorf("ledger: %v", got)
	}
	if code, _, _, _ := b.postWith("/portal/requests", form("type", "erasure"), session); code != 303 {
		t.Fatalf("erasure request: %d", code)
	}
	_, body := e.do(call{method: "GET", path: "/v1/requests?customer_id=" + id, role: "dpo"})
	if !strings.Contains(body, `"type":"erasure"`) || !strings.Contains(body, `"state":"verified"`) {
		t.Errorf("the request staff see: %s", body)
	}
	// A copy: the request opens verified, staff complete it, the customer downloads it here.
	if code, _, _, _ := b.postWith("/portal/requests", form("type", "access"), session); code != 303 {
		t.Fatalf("access request: %d", code)
	}
	_, body = e.do(call{method: "GET", path: "/v1/requests?type=access&customer_id=" + id, role: "dpo"})
	rid := regexp.MustCompile(`"id":"([0-9a-f-]+)"`).FindStringSubmatch(body)
	if rid == nil {
		t.Fatalf("no access request: %s", body)
	}
	if code, out := e.do(call{method: "POST", path: "/v1/requests/" + rid[1] + "/complete", role: "dpo"}); code != 200 {
		t.Fatalf("complete: %d %s", code, out)
	}
	if _, page := b.get("/portal", "Cookie", "steward_portal="+session); !strings.Contains(page, `action="/portal/download"`) {
		t.Error("no download button for a completed access request")
	}
	if code, _, zip, _ := b.postWith("/portal/download", form("request", rid[1]), session); code != 200 || !strings.HasPrefix(zip, "PK") {
		t.Errorf("download: %d", code)
	}
	other := e.create(`{"email":"someone.else@example.com"}`)
	orid := e.request(`{"type":"access","customer_id":"` + other + `"}`)
	if code, _, _, _ := b.postWith("/portal/download", form("request", orid), session); code != 404 {
		t.Errorf("someone else's request: %d", code)
	}
	es, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{ActorID: "customer:" + id, Limit: 100})
	acts := map[string]bool{}
	for _, en := range es {
		acts[en.Action] = true
	}
	for _, want := range []string{"customer.export", "consent.record", "request.create", "export.download"} {
		if !acts[want] {
			t.Errorf("no %s entry with the customer as actor: %v", want, acts)
		}
	}

	if code, loc, _, _ := b.postWith("/portal/sign-out", form(), session); code != 303 || loc != "/portal?ended=1" {
		t.Fatalf("sign out: %d %s", code, loc)
	}
	if _, page := b.get("/portal", "Cookie", "steward_portal="+session); !strings.Contains(page, `action="/portal/link"`) {
		t.Error("a signed-out session still opens the portal")
	}
	// An idle session ends.
	b.post("/portal/link", url.Values{"email": {"pat@example.com"}})
	e.clock.Advance(2 * time.Hour)
	b.post("/portal/link", url.Values{"email": {"pat@example.com"}})
	_, _, _, cookies = b.postWith("/portal/enter", url.Values{"token": {strings.TrimPrefix(mailedLink(t, mail, "/portal/enter"), "/portal/enter?token=")}}, "")
	if len(cookies) != 1 {
		t.Fatal("no session")
	}
	e.clock.Advance(31 * time.Minute)
	if _, page := b.get("/portal", "Cookie", "steward_portal="+cookies[0].Value); !strings.Contains(page, `action="/portal/link"`) {
		t.Error("an idle session still opens the portal")
	}
}
