package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/forms"
	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/notice"
	"github.com/stewardhq/steward/internal/portal"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/segment"
	"github.com/stewardhq/steward/internal/source"
	"github.com/stewardhq/steward/internal/staff"
)

// fullServer has every optional service, so its route table is the whole API. The services
// are never called: these tests look at the table and the document only.
func fullServer() *Server {
	return &Server{Version: "test", Ingest: &ingest.Service{}, Imports: &importer.Service{}, Duplicates: &duplicate.Service{}, Notice: &notice.Service{}, Forms: &forms.Service{}, Portal: &portal.Service{}, Staff: &staff.Service{},
		ConsentScript: func(context.Context) ([]byte, error) { return nil, nil }, Sources: &source.Service{}, Segments: &segment.Service{}}
}

// TestRouteTable holds every line of the API map to its documentation.
func TestRouteTable(t *testing.T) {
	seen := map[string]bool{}
	for _, rt := range fullServer().routes() {
		key := rt.Method + " " + rt.Path
		if seen[key] {
			t.Errorf("%s is in the table twice", key)
		}
		seen[key] = true
		if rt.handle == nil {
			t.Errorf("%s has no handler", key)
		}
		if rt.Summary == "" {
			t.Errorf("%s has no summary (routedocs.go)", key)
		}
		if len(rt.Out) == 0 && len(rt.Redirects) == 0 {
			t.Errorf("%s documents no success answer", key)
		}
		for _, code := range rt.Redirects {
			if code < 300 || code > 399 {
				t.Errorf("%s: redirect status %d", key, code)
			}
		}
		for _, a := range rt.Out {
			if a.status < 200 || a.status > 399 {
				t.Errorf("%s: success or redirect status %d", key, a.status)
			}
			if a.status == http.StatusNoContent && (a.typ != nil || a.media != "") {
				t.Errorf("%s: 204 with a body", key)
			}
		}
		for _, code := range rt.Errors {
			if code < 400 || code > 599 {
				t.Errorf("%s: error status %d", key, code)
			}
		}
		if (rt.Method == "GET" || rt.Method == "DELETE") && (rt.In.typ != nil || rt.In.media != "") {
			t.Errorf("%s takes a body", key)
		}
	}
	for key := range summaries {
		if !seen[key] {
			t.Errorf("summary for %s, which is not in the table", key)
		}
	}
}

// TestOpenAPIDocument checks the structure OpenAPI 3.1 requires of the document, and that
// every reference resolves.
func TestOpenAPIDocument(t *testing.T) {
	b, err := json.Marshal(fullServer().OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Title, Version string
		}
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Info.Title == "" || doc.Info.Version == "" {
		t.Fatalf("got openapi %q, info %+v; want 3.1.0 with a title and version", doc.OpenAPI, doc.Info)
	}
	ids := map[string]bool{}
	for path, item := range doc.Paths {
		for method, op := range item {
			where := method + " " + path
			if !regexp.MustCompile(`^(get|put|post|delete|options|head|patch|trace)$`).MatchString(method) {
				t.Errorf("%s: not an HTTP method", where)
			}
			id, _ := op["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s: operationId %q is missing or repeated", where, id)
			}
			ids[id] = true
			responses, _ := op["responses"].(map[string]any)
			if len(responses) == 0 {
				t.Errorf("%s: no responses", where)
			}
			for code, r := range responses {
				if n, err := strconv.Atoi(code); err != nil || n < 100 || n > 599 {
					t.Errorf("%s: response key %q", where, code)
				}
				if d, _ := r.(map[string]any)["description"].(string); d == "" {
					t.Errorf("%s %s: a response needs a description", where, code)
				}
			}
			declared := map[string]bool{}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p := p.(map[string]any)
				if p["in"] == "path" {
					declared[p["name"].(string)] = true
					if p["required"] != true {
						t.Errorf("%s: path parameter %v must be required", where, p["name"])
					}
				}
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %s is not declared", where, m[1])
				}
			}
		}
	}
	for _, ref := range regexp.MustCompile(`"\$ref":"([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
		name, ok := strings.CutPrefix(ref[1], "#/components/schemas/")
		if _, found := doc.Components.Schemas[name]; !ok || !found {
			t.Errorf("$ref %s does not resolve", ref[1])
		}
	}
	// The drift that started it: the customer's schema shows every field of its type.
	props := doc.Components.Schemas["Customer"].(map[string]any)["properties"].(map[string]any)
	for _, name := range []string{"id", "fields", "revealed", "generalized", "denied", "contact_status"} {
		if props[name] == nil {
			t.Errorf("Customer schema lacks %s", name)
		}
	}
}

// TestProblemKinds: every kind of error becomes its status and an RFC 9457 body that names
// the kind, never the cause.
func TestProblemKinds(t *testing.T) {
	want := map[problem.Kind]int{
		problem.Internal: 500, problem.Invalid: 422, problem.NotFound: 404, problem.Conflict: 409,
		problem.Forbidden: 403, problem.Unauthenticated: 401, problem.Gone: 410, problem.TooLarge: 413,
		problem.RateLimited: 429, problem.Unavailable: 503, problem.MethodNotAllowed: 405,
	}
	s := &Server{}
	s.Handler() // sets the logger and the body limit
	for kind := problem.Kind(0); !strings.HasPrefix(kind.String(), "kind("); kind++ {
		status, ok := want[kind]
		if !ok {
			t.Errorf("kind %s has no expected status in this test", kind)
			continue
		}
		w := httptest.NewRecorder()
		err := problem.Wrap(kind, errors.New("secret cause"), "public detail")
		s.writeProblem(w, httptest.NewRequest("GET", "/v1/x", nil), "rid", err)
		var p Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if w.Code != status || p.Status != status || p.Type != "urn:steward:problem:"+kind.String() || p.RequestID != "rid" {
			t.Errorf("%s: got %d %+v, want %d", kind, w.Code, p, status)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: got Content-Type %q", kind, ct)
		}
		if strings.Contains(w.Body.String(), "secret cause") {
			t.Errorf("%s: the cause reached the client: %s", kind, w.Body)
		}
	}
	// Input that cannot be read at all is 400, not 422.
	w := httptest.NewRecorder()
	s.writeProblem(w, httptest.NewRequest("GET", "/", nil), "rid", badRequest{problem.InvalidField("body", "malformed")})
	if w.Code != http.StatusBadRequest {
		t.Errorf("bad request: got %d, want 400", w.Code)
	}
}

// TestDecodeNamesTheField: bad JSON bodies are answered 400 with the field at fault.
func TestDecodeNamesTheField(t *testing.T) {
	for _, tt := range []struct{ body, field, detail string }{
		{`{"fields":`, "body", "malformed"},
		{``, "body", "empty"},
		{`{"fields":{}} {}`, "body", "single JSON object"},
		{`{"fields":{},"extra":1}`, "extra", "not a known property"},
		{`{"fields":[1]}`, "fields", ""},
		{`{"name":1,"role":"x"}`, "name", "must be a string"},
	} {
		t.Run(tt.body, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			var in any = &CustomerInput{}
			if strings.Contains(tt.body, "role") {
				in = &APIKeyInput{}
			}
			err := decode(r, in)
			var br badRequest
			if !errors.As(err, &br) {
				t.Fatalf("got %v, want a bad request", err)
			}
			if got := problem.FieldOf(err); got != tt.field {
				t.Errorf("got field %q, want %q", got, tt.field)
			}
			if !strings.Contains(problem.Detail(err), tt.detail) {
				t.Errorf("got detail %q, want it to say %q", problem.Detail(err), tt.detail)
			}
		})
	}
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "text/plain")
	if err := decode(r, &CustomerInput{}); problem.FieldOf(err) != "Content-Type" {
		t.Errorf("got %v, want the Content-Type named", err)
	}
}

func ExampleServer_OpenAPI() {
	doc := fullServer().OpenAPI()
	op := doc["paths"].(map[string]any)["/v1/customers"].(map[string]any)["post"].(map[string]any)
	fmt.Println(op["operationId"])
	// Output: post_v1_customers
}

// TestErasureReportKeepsTheLedgerEntry: the erasure report is the ledger entry without its
// keyed hashes; a field the ledger gains must be added to the report or hidden on purpose.
func TestErasureReportKeepsTheLedgerEntry(t *testing.T) {
	var e rights.LedgerEntry
	e.Hashes, e.Marketing, e.RequestID, e.State, e.CompletedAt = []string{"email:ab"}, []string{"m"}, "r", "erased", time.Now()
	keys := func(v any) []string {
		b, _ := json.Marshal(v)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		delete(m, "hashes")
		return slices.Sorted(maps.Keys(m))
	}
	if got, want := keys(erasureReport(e)), keys(e); !slices.Equal(got, want) {
		t.Errorf("got keys %v, want %v", got, want)
	}
}
