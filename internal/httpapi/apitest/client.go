package apitest

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Client sends requests to a running server and checks each answer against the server's
// /openapi.json, fetched once per server.
type Client struct {
	// URL is the server's base URL, such as an httptest.Server's.
	URL string
	// Keys maps role names to API keys; a Role with no key is sent as a literal key.
	Keys map[string]string
}

// Request is one HTTP request: a role's key as bearer token, a purpose as Steward-Purpose,
// and a body sent as JSON unless Header says otherwise.
type Request struct {
	Method, Path, Role, Purpose, Body string
	Header                            map[string]string
}

// Response is an answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// documents caches each server's document by base URL: servers do not change their routes.
var documents sync.Map

// Document fetches and parses the server's OpenAPI document.
func (c *Client) Document(t testing.TB) *Document {
	t.Helper()
	if d, ok := documents.Load(c.URL); ok {
		return d.(*Document)
	}
	resp, err := http.Get(c.URL + "/openapi.json")
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("openapi.json: got %d %s (%v)", resp.StatusCode, b, err)
	}
	d, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	documents.Store(c.URL, d)
	return d
}

// Do sends r and returns the answer; an answer its documentation does not allow fails t.
func (c *Client) Do(t testing.TB, r Request) Response {
	t.Helper()
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequest(r.Method, c.URL+r.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Role != "" {
		key := c.Keys[r.Role]
		if key == "" {
			key = r.Role // a literal key
		}
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if r.Purpose != "" {
		req.Header.Set("Steward-Purpose", r.Purpose)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Document(t).Check(r.Method, r.Path, resp.StatusCode, resp.Header.Get("Content-Type"), b); err != nil {
		t.Errorf("answer breaks the API's documentation: %v\n%s", err, b)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// Scenario is one row of an API table: a request, the status it must get, strings its body
// must and must not hold (the second column proves that plaintext never leaks), and the
// audit entries it must write.
type Scenario struct {
	Name string
	Request
	Status  int
	Want    []string
	NotWant []string
	// Audit lists the entries the request must write, newest first, in the form the
	// Runner's Audit function gives them; it must write no others. AnyAudit skips the
	// check, for reads of the trail itself.
	Audit    []string
	AnyAudit bool
}

// Runner runs scenario tables through a Client.
type Runner struct {
	Client *Client
	// Audit lists the audit entries a table's scenarios are held to, newest first.
	Audit func(t testing.TB) []string
	// Watch, if set, is called before each scenario's request; the function it returns
	// checks the answer, for what every scenario of a table must (not) change.
	Watch func(t *testing.T, s Scenario) func(r Response)
}

// Run runs each scenario as a subtest, in order: later rows may depend on earlier ones.
func (rn Runner) Run(t *testing.T, scenarios []Scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			var before []string
			if rn.Audit != nil {
				before = rn.Audit(t)
			}
			var after func(Response)
			if rn.Watch != nil {
				after = rn.Watch(t, sc)
			}
			r := rn.Client.Do(t, sc.Request)
			if r.Status != sc.Status {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, sc.Status)
			}
			for _, w := range sc.Want {
				if !strings.Contains(r.Body, w) {
					t.Errorf("body lacks %q: %s", w, r.Body)
				}
			}
			for _, nw := range sc.NotWant {
				if strings.Contains(r.Body, nw) {
					t.Errorf("body holds %q: %s", nw, r.Body)
				}
			}
			if rn.Audit != nil && !sc.AnyAudit {
				now := rn.Audit(t)
				added := now[:max(len(now)-len(before), 0)]
				if !slices.Equal(added, sc.Audit) {
					t.Errorf("got new audit entries %q, want %q", added, sc.Audit)
				}
			}
			if after != nil {
				after(r)
			}
		})
	}
}
