package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/source"
)

// graphLeads plays Meta's Graph API for lead retrieval: GET /v21.0/{lead-id} with the page
// access token answers the lead as Meta documents it (id, created_time, field_data of name and
// values); a wrong token gets Meta's OAuthException. fail makes the next answers 500s.
type graphLeads struct {
	token string
	leads map[string]string
	fail  atomic.Int32
	calls atomic.Int32
}

func (g *graphLeads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.calls.Add(1)
	id, ok := strings.CutPrefix(r.URL.Path, "/v21.0/")
	switch {
	case g.fail.Load() > 0:
		g.fail.Add(-1)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","code":2}}`))
	case r.Header.Get("Authorization") != "Bearer "+g.token || r.URL.Query().Get("access_token") != "":
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190}}`))
	case !ok || g.leads[id] == "" || !strings.Contains(r.URL.Query().Get("fields"), "field_data"):
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"message":"Unsupported get request.","type":"GraphMethodException","code":100}}`))
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(g.leads[id]))
	}
}

// TestSourcesMetaLeadFetched: a leadgen webhook names only the lead; with a page access token
// the source reads the lead's answers from the Graph API and fills the profile. When the Graph
// API fails, the delivery is answered 503 and stores nothing (Meta delivers it again); the
// retry stores the lead once. The page token is sealed, never shown, never in a URL.
func TestSourcesMetaLeadFetched(t *testing.T) {
	graph := &graphLeads{token: "EAAB-page-token-canarysecretzq7", leads: map[string]string{
		"900000000000001": `{"created_time":"2026-11-12T15:27:06+0000","id":"900000000000001","field_data":[` +
			`{"name":"full_name","values":["James Leadcanaryzq"]},{"name":"email","values":["james.oak@example.org"]},` +
			`{"name":"phone_number","values":["+447700900123"]},{"name":"city","values":["Leedscanaryzq"]}]}`,
	}}
	gs := httptest.NewServer(graph)
	defer gs.Close()
	e := newEnv(t, "", func(c *config.Config) { c.MetaGraphURL = gs.URL + "/v21.0" })
	code, out := e.do(call{method: "POST", path: "/v1/sources", role: "owner",
		body: `{"kind":"meta_leads","name":"lead forms","secret":"meta-app-secret","page_token":"` + graph.token + `"}`})
	var c source.Created
	if code != 201 || json.Unmarshal([]byte(out), &c) != nil || strings.Contains(out, graph.token) {
		t.Fatalf("create: got %d %s", code, out)
	}
	if code, out := e.do(call{method: "POST", path: "/v1/sources", role: "owner",
		body: `{"kind":"shopify","name":"shop","secret":"s","page_token":"x"}`}); code != 422 || !strings.Contains(out, "page_token") {
		t.Fatalf("a page token on a Shopify source: got %d %s, want 422 naming page_token", code, out)
	}
	meta := &vendor{e: e, id: c.ID, kind: source.MetaLeads, secret: "meta-app-secret"}
	webhook := `{"object":"page","entry":[{"id":"153125381133","time":1764000000,"changes":[{"field":"leadgen","value":` +
		`{"ad_id":"0","form_id":"551111744595541","leadgen_id":"900000000000001","created_time":1764000000,"page_id":"153125381133","adgroup_id":"0"}}]}]}`

	graph.fail.Store(1)
	if code, out := meta.deliver(webhook, nil); code != 503 || !strings.Contains(out, "Graph API") || strings.Contains(out, graph.token) {
		t.Fatalf("Graph API down: got %d %s, want 503", code, out)
	}
	var events int
	if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM events`).Scan(&events); err != nil || events != 0 {
		t.Fatalf("a delivery answered 503 stored %d events (%v)", events, err)
	}
	if s := meta.status(); s.Stored != 0 || !strings.Contains(s.LastError, "Graph API answered 500") {
		t.Fatalf("after the failure: %+v", s)
	}

	r := meta.mustDeliver(webhook, nil) // Meta's retry
	if r.Stored == 0 {
		t.Fatalf("the retry stored nothing: %+v", r)
	}
	id := e.customerOf("james.oak@example.org")
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "owner", purpose: "service"})
	if code != 200 || !strings.Contains(body, "James Leadcanaryzq") || !strings.Contains(body, "Leedscanaryzq") {
		t.Fatalf("the lead's answers on the profile: got %d %s", code, body)
	}
	if evs := e.events(id, "", "service"); len(evs.Data) != 2 {
		t.Fatalf("events of the lead: got %d, want the identify and Lead Submitted", len(evs.Data))
	}
	calls := graph.calls.Load()
	if r := meta.mustDeliver(webhook, nil); r.Stored != 0 || r.Duplicates == 0 {
		t.Fatalf("a redelivered lead: %+v, want duplicates", r)
	}

	// A broken token: 503 naming Meta's error, so the owner can fix it while Meta retries.
	if err := e.app.Sources.Flush(authz.WithActor(context.Background(), authz.System)); err != nil {
		t.Fatal(err)
	}
	graph.token = "a-newer-token"
	other := strings.ReplaceAll(webhook, "900000000000001", "900000000000002")
	if code, out := meta.deliver(other, nil); code != 503 || !strings.Contains(out, "code 190") {
		t.Fatalf("wrong page token: got %d %s, want 503 with Meta's code 190", code, out)
	}
	if graph.calls.Load() <= calls {
		t.Fatal("the Graph API was not asked")
	}
	// A lead id that is not a Meta object id is refused before any outbound call.
	bad := strings.ReplaceAll(webhook, "900000000000001", "../me")
	if code, _ := meta.deliver(bad, nil); code != 422 && code != 400 {
		t.Fatalf("a lead id with a path in it: got %d, want 4xx", code)
	}
	e.app.Sources.Flush(authz.WithActor(context.Background(), authz.System))
	if err := e.app.Close(); err != nil {
		t.Fatal(err)
	}
	assertNoCanary(t, e.dir, []string{"Leadcanaryzq", "Leedscanaryzq", "james.oak", "7700900123", "canarysecretzq7"})
}

// TestSourcesTrustpilotDirect: Trustpilot's own webhook carries no signature and no e-mail.
// The subscription URL holds the source's secret as token; the review goes to the customer of
// the order its referenceId names. A wrong token or a body signed with a wrong secret stores
// nothing.
func TestSourcesTrustpilotDirect(t *testing.T) {
	e := newEnv(t, "")
	ada := e.create(`{"email":"ada@example.com"}`)
	shop := e.connect(source.Shopify, "shpss_tp")
	shop.mustDeliver(shopifyOrder("5150", "ada@example.com", "30.00"), shopifyHeaders("orders/create", "tp-1"))
	tp := e.connect(source.Trustpilot, "")
	// Trustpilot's documented service-review payload: no e-mail, a referenceId.
	review := `{"events":[{"eventName":"service-review-created","version":"1","eventData":{"id":"53bffd360000640002975387","language":"en",` +
		`"title":"Great service","text":"Nothing other than excellent customer service.","referenceId":"5150","stars":4,` +
		`"createdAt":"2026-11-20T09:34:44.000Z","isVerified":true,"locationId":"43f51215-a1fc-4c60-b6dd-e4afb6d7b831",` +
		`"link":"https://api.trustpilot.com/v1/reviews/53bffd360000640002975387","consumer":{"id":"53bffc3900006400017e5db8","name":"Customer",` +
		`"link":"https://api.trustpilot.com/v1/consumers/53bffc3900006400017e5db8"},"tags":[{"group":"Generic","value":"Tag value"}]}}]}`
	post := func(query string, h map[string]string) (int, string) {
		if h == nil {
			h = map[string]string{}
		}
		h["Content-Type"] = "application/json"
		return e.do(call{method: "POST", path: "/v1/sources/" + tp.id + "/webhook" + query, body: review, header: h})
	}
	if code, _ := post("?token=wrong", nil); code != 401 {
		t.Fatalf("wrong token: got %d, want 401", code)
	}
	if code, _ := post("", nil); code != 401 {
		t.Fatalf("neither token nor signature: got %d, want 401", code)
	}
	if code, _ := post("?token="+tp.secret, map[string]string{"X-Trustpilot-Signature": "AAAA"}); code != 401 {
		t.Fatalf("a right token with a wrong signature: got %d, want 401 (a signature present must verify)", code)
	}
	if f := e.figures(ada); f["last_review_rating"] != "" {
		t.Fatalf("a refused review counted: %v", f)
	}
	if code, out := post("?token="+tp.secret, nil); code != 200 || !strings.Contains(out, `"stored":1`) {
		t.Fatalf("Trustpilot's delivery: got %d %s", code, out)
	}
	if f := e.figures(ada); f["last_review_rating"] != "4" {
		t.Fatalf("the review did not reach the order's customer: %v", f)
	}
}
