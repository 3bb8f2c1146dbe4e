package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/store/pgtest"
)

// collect sends a tracking message the way a web page does: a short path, the write key in
// a text/plain body, an Origin header.
func (e *env) collect(path, msg string) (int, string) {
	e.t.Helper()
	body := strings.TrimSuffix(strings.TrimSpace(msg), "}") + fmt.Sprintf(`,"writeKey":%q}`, e.keys["collect"])
	return e.do(call{method: "POST", path: path, body: body, header: map[string]string{"Content-Type": "text/plain", "Origin": "https://shop.example"}})
}

func (e *env) mustCollect(path, msg string) {
	e.t.Helper()
	if code, out := e.collect(path, msg); code != 200 {
		e.t.Fatalf("%s: got %d %s", path, code, out)
	}
}

// A server-side key is refused wherever a request looks like it comes from a page, and a
// collect key is accepted there; the settings analytics.js asks for follow the same rule.
func TestBrowserRequestsTakeOnlyCollectKeys(t *testing.T) {
	e := newEnv(t, "")
	msg := `{"type":"track","event":"Product Viewed","anonymousId":"b-1"`
	withKey := func(role string) string { return msg + fmt.Sprintf(`,"writeKey":%q}`, e.keys[role]) }
	origin := map[string]string{"Origin": "https://shop.example"}
	textPlain := map[string]string{"Content-Type": "text/plain"}
	for _, tt := range []struct {
		name, path, body string
		header           map[string]string
		want             int
	}{
		{"short path, key in body", "/v1/t", withKey("ingest"), textPlain, 403},
		{"long path, key in body", "/v1/track", withKey("ingest"), textPlain, 403},
		{"Basic key with an Origin", "/v1/track", msg + "}", merge(basic(e.keys["ingest"]), origin), 403},
		{"Basic key on a short path", "/v1/t", msg + "}", basic(e.keys["ingest"]), 403},
		{"owner key in a page", "/v1/t", withKey("owner"), textPlain, 403},
		{"server: Basic key, no Origin", "/v1/track", msg + "}", basic(e.keys["ingest"]), 200},
		{"collect, short path", "/v1/t", withKey("collect"), merge(textPlain, origin), 200},
		{"collect, Basic on the server route", "/v1/batch", `{"batch":[` + msg + `}]}`, basic(e.keys["collect"]), 200},
		{"reading key", "/v1/track", msg + "}", basic(e.keys["support"]), 403},
	} {
		code, out := e.do(call{method: "POST", path: tt.path, body: tt.body, header: tt.header})
		if code != tt.want {
			t.Errorf("%s: got %d %s, want %d", tt.name, code, out, tt.want)
		}
		if tt.want == 403 && strings.Contains(out, "ingest") && !strings.Contains(out, "collect key") {
			t.Errorf("%s: the refusal should say which key to use: %s", tt.name, out)
		}
	}
	for role, want := range map[string]int{"collect": 200, "ingest": 403, "support": 404, "stw_nope_nope": 404} {
		key := e.keys[role]
		if key == "" {
			key = role
		}
		if code, out := e.do(call{method: "GET", path: "/v1/projects/" + key + "/settings"}); code != want {
			t.Errorf("settings for %s: got %d %s, want %d", role, code, out, want)
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// A collect key reaches no REST route: every operation of the API document that needs a key
// answers 403 to it, before anything is read or changed.
func TestCollectKeyReachesNoRESTRoute(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"kept@example.com","first_name":"Kept"}`)
	code, body := e.do(call{method: "GET", path: "/openapi.json"})
	if code != 200 {
		t.Fatalf("openapi: got %d", code)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Security *[]any `json:"security"`
		}
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	var ops []string
	for path, methods := range doc.Paths {
		for method, op := range methods {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public: the tracking routes, health, the portal
			}
			ops = append(ops, strings.ToUpper(method)+" "+param.ReplaceAllString(path, id))
		}
	}
	sort.Strings(ops)
	if len(ops) < 40 {
		t.Fatalf("only %d keyed operations in the document", len(ops))
	}
	for _, op := range ops {
		method, path, _ := strings.Cut(op, " ")
		body := ""
		if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
			body = `{"email":"attacker@example.com"}`
		}
		code, out := e.do(call{method: method, path: path, role: "collect", body: body, purpose: "service"})
		if code != 403 || !strings.Contains(out, "browser-safe") {
			t.Errorf("%s with a collect key: got %d %s, want 403", op, code, out)
		}
	}
	if f := e.fields(id); f["email"] != "kept@example.com" {
		t.Errorf("the customer changed: %v", f)
	}
}

func TestCollectKeyCannotRewriteOrMergeSQLite(t *testing.T)   { collectCannotRewrite(t, "") }
func TestCollectKeyCannotRewriteOrMergePostgres(t *testing.T) { collectCannotRewrite(t, pgtest.URL(t)) }

// The reported attacks, replayed with a collect key from a page: an identify naming a
// victim's e-mail with another address leaves the victim's address alone (and only fills
// what the victim lacked); two identifies sharing one userId with two known customers'
// e-mails merge nothing and put the pair in the review queue, where staff can merge it; an
// alias joining two signed-in users merges nothing; an anonymous visitor who signs in still
// joins their customer.
func collectCannotRewrite(t *testing.T, db string) {
	e := newEnv(t, db)
	victim := e.create(`{"email":"victim@example.com","first_name":"Vera","postal_code":"LS1 4AP","country":"GB"}`)
	other := e.create(`{"email":"other@example.com","first_name":"Otto"}`)

	e.mustCollect("/v1/i", `{"type":"identify","anonymousId":"attacker-1","traits":{"email":"victim@example.com","first_name":"Mallory","address":{"postalCode":"EC1A 1BB"},"phone":"+44 7911 123456"}}`)
	f := e.fields(victim)
	if f["first_name"] != "Vera" || f["postal_code"] != "LS1 4AP" {
		t.Errorf("a collect key overwrote known values: %v", f)
	}
	if f["phone"] != "+447911123456" {
		t.Errorf("a collect key should fill a field the profile lacked: %v", f)
	}

	e.mustCollect("/v1/i", `{"type":"identify","userId":"u-shared","traits":{"email":"victim@example.com"}}`)
	e.mustCollect("/v1/i", `{"type":"identify","userId":"u-shared","traits":{"email":"other@example.com"}}`)
	for _, id := range []string{victim, other} {
		if code, out := e.do(call{method: "GET", path: "/v1/customers/" + id + "/merges", role: "owner"}); code != 200 || strings.Contains(out, "winner_id") {
			t.Errorf("merges of %s: got %d %s, want none", id, code, out)
		}
	}
	if f := e.fields(other); f["email"] != "other@example.com" || f["first_name"] != "Otto" {
		t.Errorf("the second customer changed: %v", f)
	}
	pairs := e.duplicates("pending")
	if len(pairs) != 1 || !slices.Contains([]string{pairs[0].CustomerA, pairs[0].CustomerB}, victim) ||
		!slices.Contains([]string{pairs[0].CustomerA, pairs[0].CustomerB}, other) ||
		len(pairs[0].Evidence) != 1 || pairs[0].Evidence[0].Level != "email" {
		t.Fatalf("review queue: got %+v, want the pair with shared-identifier evidence", pairs)
	}
	// A scan that does not find the pair by itself leaves it in the queue.
	e.scan()
	if got := e.duplicates("pending"); len(got) != 1 || got[0].ID != pairs[0].ID {
		t.Fatalf("after a scan the queue holds %+v", got)
	}
	// Repeating the message proposes nothing new.
	e.mustCollect("/v1/i", `{"type":"identify","userId":"u-shared","traits":{"email":"other@example.com"},"messageId":"again"}`)
	if got := e.duplicates("pending"); len(got) != 1 {
		t.Fatalf("a repeated message proposed again: %+v", got)
	}

	// An alias is a client's word that two ids are one person: not from a page.
	e.mustTrack("/v1/identify", `{"type":"identify","userId":"u-a","traits":{"email":"a@example.com"}}`)
	e.mustTrack("/v1/identify", `{"type":"identify","userId":"u-b","traits":{"email":"b@example.com"}}`)
	a, b := e.customerOf("a@example.com"), e.customerOf("b@example.com")
	e.mustCollect("/v1/a", `{"type":"alias","userId":"u-a","previousId":"u-b"}`)
	if code, out := e.do(call{method: "GET", path: "/v1/customers/" + b + "/merges", role: "owner"}); code != 200 || strings.Contains(out, a) {
		t.Errorf("a collect alias merged two signed-in users: %d %s", code, out)
	}

	// The visitor's own journey still works: anonymous browsing, then signing in.
	e.mustCollect("/v1/p", `{"type":"page","anonymousId":"visitor-9","name":"Home"}`)
	e.mustCollect("/v1/i", `{"type":"identify","anonymousId":"visitor-9","userId":"u-a"}`)
	code, out := e.do(call{method: "GET", path: "/v1/customers/" + a + "/merges", role: "owner"})
	if code != 200 || !strings.Contains(out, "winner_id") {
		t.Errorf("an anonymous visitor signing in was not joined to their customer: %d %s", code, out)
	}

	// Staff decide the proposed pair like any other.
	if code, out := e.do(call{method: "POST", path: "/v1/duplicates/" + pairs[0].ID + "/merge", role: "admin"}); code != 200 {
		t.Fatalf("merge the proposed pair: got %d %s", code, out)
	}
	_, metrics := e.do(call{method: "GET", path: "/metrics"})
	if !strings.Contains(metrics, `reason="untrusted"`) || !strings.Contains(metrics, `reason="known"`) {
		t.Errorf("metrics should count what a collect key was not allowed to do")
	}
}

// Orders carry money: a page's Order Completed is kept as an event but records no order,
// while carts and checkouts still count (abandoned carts come from pages). Consent choices
// from a page are recorded, except a grant of marketing by e-mail, which the page cannot
// prove the address's holder made.
func TestCollectKeyOrdersAndConsent(t *testing.T) {
	e := newEnv(t, "")
	e.publish(policyV1)
	id := e.create(`{"email":"shopper@example.com"}`)
	e.mustCollect("/v1/t", `{"type":"track","event":"Order Completed","anonymousId":"v-1","traits":{"email":"shopper@example.com"},"context":{"traits":{"email":"shopper@example.com"}},"properties":{"order_id":"o-1","total":9999,"currency":"GBP"}}`)
	e.mustCollect("/v1/i", `{"type":"identify","anonymousId":"v-1","traits":{"email":"shopper@example.com"}}`)
	if code, out := e.do(call{method: "GET", path: "/v1/customers/" + id + "/orders", role: "owner"}); code != 200 || strings.Contains(out, "o-1") {
		t.Errorf("a collect key recorded an order: %d %s", code, out)
	}
	e.mustCollect("/v1/t", `{"type":"track","event":"Checkout Started","anonymousId":"v-1","properties":{"checkout_id":"c-1","total":12}}`)
	e.clock.Set(48 * 3600e9)
	if code, out := e.do(call{method: "GET", path: "/v1/carts/abandoned?older_than=1h", role: "owner"}); code != 200 || !strings.Contains(out, "c-1") {
		t.Errorf("a checkout from a page should count for abandoned carts: %d %s", code, out)
	}

	prefs := `,"context":{"consent":{"categoryPreferences":{"Marketing":true,"Personalization":true,"Advertising":false}}}}`
	e.mustCollect("/v1/i", `{"type":"identify","anonymousId":"v-1","traits":{"email":"shopper@example.com"}`+prefs)
	got := e.bySource(id)
	if got["banner:marketing_email"] != 0 {
		t.Errorf("a collect key granted marketing e-mail: %v", got)
	}
	if got["banner:personalization"] != 1 || got["banner:ads_sharing"] != 1 {
		t.Errorf("banner choices from a page should be recorded: %v", got)
	}
	if d := e.decision(id, "marketing_email"); d.Allowed {
		t.Errorf("marketing e-mail allowed after a page's grant: %+v", d)
	}
}
