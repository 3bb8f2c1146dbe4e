package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/httpapi"
	"github.com/stewardhq/steward/internal/httpapi/apitest"
)

// TestDocumentCatchesDrift proves the scenario runner's check fails on the drift it exists
// for: an undeclared field, a wrong type, a missing required field, an undocumented status.
func TestDocumentCatchesDrift(t *testing.T) {
	b, err := json.Marshal((&httpapi.Server{Version: "test"}).OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := apitest.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	const customer = `{"id":"c1","version":1,"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"`
	const problem = `{"type":"urn:steward:problem:not_found","title":"Not Found","status":404,"detail":"x","request_id":"r"}`
	for _, tt := range []struct {
		name, method, path string
		status             int
		media, body        string
		fails              string // "" when the answer is as documented
	}{
		{"as documented", "GET", "/v1/customers/c1", 200, "application/json", customer + `}`, ""},
		{"nullable contact status absent, generalized present", "GET", "/v1/customers/c1", 200, "application/json",
			customer + `,"generalized":["birth_date"],"denied":"withdrawn"}`, ""},
		{"undeclared field", "GET", "/v1/customers/c1", 200, "application/json", customer + `,"ssn":"1"}`, `"ssn" is not declared`},
		{"wrong type", "GET", "/v1/customers/c1", 200, "application/json",
			strings.Replace(customer, `"version":1`, `"version":"1"`, 1) + `}`, "version: got string, want integer"},
		{"fraction for an integer", "GET", "/v1/customers/c1", 200, "application/json",
			strings.Replace(customer, `"version":1`, `"version":1.5`, 1) + `}`, "want integer"},
		{"missing required", "GET", "/v1/customers/c1", 200, "application/json", `{"id":"c1"}`, "required property"},
		{"not a date-time", "GET", "/v1/customers/c1", 200, "application/json",
			strings.Replace(customer, `"2026-01-02T03:04:05Z"`, `"yesterday"`, 1) + `}`, "not a date-time"},
		{"nested type", "GET", "/v1/customers/c1", 200, "application/json", customer + `,"contact_status":{"status":"valid","reasons":[1],"validation":"x"}}`,
			"reasons[0]"},
		{"enum", "GET", "/v1/customers/c1", 200, "application/json", customer + `,"contact_status":{"status":"great","reasons":[],"validation":"x"}}`,
			"not one of"},
		{"documented problem", "GET", "/v1/customers/c1", 404, "application/problem+json", problem, ""},
		{"problem without request id", "GET", "/v1/customers/c1", 404, "application/problem+json",
			strings.Replace(problem, `,"request_id":"r"`, "", 1), "request_id"},
		{"merged-away customer", "GET", "/v1/customers/c1", 308, "application/json", `{"id":"c1","merged_into":"c2"}`, ""},
		{"conflict naming the existing customer", "POST", "/v1/customers", 409, "application/problem+json",
			strings.Replace(problem, `"request_id":"r"`, `"request_id":"r","existing_id":"c2"`, 1), ""},
		{"undocumented status", "GET", "/v1/customers/c1", 418, "application/problem+json", problem, "does not list"},
		{"wrong media type", "GET", "/v1/customers/c1", 200, "text/html", "<p>", "documented"},
		{"body where none is documented", "DELETE", "/v1/apikeys/k1", 204, "", "{}", "body where none"},
		{"unknown route answers a problem", "GET", "/v1/nothing", 404, "application/problem+json", problem, ""},
		{"unknown route with another status", "GET", "/v1/nothing", 200, "application/json", `{}`, "not documented"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := doc.Check(tt.method, tt.path, tt.status, tt.media, []byte(tt.body))
			switch {
			case tt.fails == "" && err != nil:
				t.Fatalf("got %v, want the answer accepted", err)
			case tt.fails != "" && err == nil:
				t.Fatalf("got no error, want one saying %q", tt.fails)
			case tt.fails != "" && !strings.Contains(err.Error(), tt.fails):
				t.Fatalf("got %v, want it to say %q", err, tt.fails)
			}
		})
	}
}
