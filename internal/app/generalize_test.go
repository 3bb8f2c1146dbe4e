package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
)

// TestAnalyticsSeesGeneralisedDataOnly: a purpose marked generalized_only gets age bands,
// network prefixes and keyed tokens, never the values; street-level address parts stay masked.
func TestAnalyticsSeesGeneralisedDataOnly(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"birth_date":"1980-06-15","ip_address":"192.0.2.77","postal_code":"LS1 4AP","city":"Leeds","device_id":"dev-123456","email":"gen@example.com"}`)
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "marketer", purpose: "analytics"})
	if code != 200 {
		t.Fatalf("got %d %s", code, body)
	}
	for _, want := range []string{`"birth_date":"45_54"`, `"ip_address":"192.0.2.0/24"`, `"city":"Leeds"`, `"generalized":[`} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %s: %s", want, body)
		}
	}
	for _, leak := range []string{"1980-06-15", "192.0.2.77", "LS1 4AP", "dev-123456", "gen@example.com"} {
		if strings.Contains(body, leak) {
			t.Errorf("analytics sees %q: %s", leak, body)
		}
	}
}

// TestAnalystSeesGeneralisedDataOnly: the analyst role acts for analytics only and holds no
// customers.reveal. Analytics is a legitimate interest that sees generalised values only, so
// an analyst's read for it answers with those (by id and by look-up), audited as a reveal;
// reads that would show values in clear (events, identifiers) stay refused, and so does any
// purpose the role may not act for.
func TestAnalystSeesGeneralisedDataOnly(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"birth_date":"1980-06-15","ip_address":"192.0.2.77","postal_code":"LS1 4AP","city":"Leeds","device_id":"dev-123456","email":"gen@example.com"}`)
	leaks := []string{"1980-06-15", "192.0.2.77", "LS1 4AP", "dev-123456", "gen@example.com"}
	for _, path := range []string{"/v1/customers/" + id, "/v1/customers?email=gen@example.com"} {
		code, body := e.do(call{method: "GET", path: path, role: "analyst", purpose: "analytics"})
		if code != 200 {
			t.Fatalf("%s: got %d %s, want the generalised values", path, code, body)
		}
		for _, want := range []string{`"birth_date":"45_54"`, `"ip_address":"192.0.2.0/24"`, `"city":"Leeds"`, `"g***@example.com"`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: body lacks %s: %s", path, want, body)
			}
		}
		for _, leak := range leaks {
			if strings.Contains(body, leak) {
				t.Errorf("%s: the analyst sees %q: %s", path, leak, body)
			}
		}
	}
	if got := e.auditActions(id); len(got) == 0 || got[0] != "customer.reveal:analyst:analytics" {
		t.Fatalf("audit: got %v, want the newest entry customer.reveal:analyst:analytics", got)
	}
	for _, c := range []call{
		{method: "GET", path: "/v1/customers/" + id, role: "analyst", purpose: "marketing_email"},
		{method: "GET", path: "/v1/customers/" + id + "/events", role: "analyst", purpose: "analytics"},
		{method: "GET", path: "/v1/customers/" + id + "/identities", role: "analyst", purpose: "analytics"},
	} {
		if code, body := e.do(c); code != 403 {
			t.Errorf("%s for %s: got %d %s, want 403", c.path, c.purpose, code, body)
		}
	}
}

// TestUndeclaredStoredFieldIsMasked: a value stored under a field that a later catalog no
// longer declares is never shown, whatever the purpose.
func TestUndeclaredStoredFieldIsMasked(t *testing.T) {
	e := newEnv(t, "")
	sys := authz.WithActor(context.Background(), authz.System)
	v, err := e.app.Customers.Create(sys, map[string]any{"email": "old@example.com", "national_id": "QQ123456C"})
	if err != nil {
		t.Fatal(err)
	}
	y := string(catalog.DefaultYAML())
	start := strings.Index(y, "  - name: national_id")
	end := start + 1 + strings.Index(y[start+1:], "  - name: ")
	cat, err := catalog.Parse("smaller.yaml", []byte(y[:start]+y[end:]))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cat.Field("national_id"); ok {
		t.Fatal("national_id still declared")
	}
	// The same data, served under the smaller catalog.
	cfg := e.app.Config
	cfg.Catalog = filepath.Join(t.TempDir(), "smaller.yaml")
	if err := os.WriteFile(cfg.Catalog, []byte(y[:start]+y[end:]), 0o600); err != nil {
		t.Fatal(err)
	}
	smaller, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer smaller.Close()
	got, err := smaller.Customers.Get(authz.WithActor(context.Background(), authz.Actor{ID: "k", Role: "owner"}), v.ID, "legal_obligation")
	if err != nil {
		t.Fatal(err)
	}
	if got.Fields["national_id"] != "********" {
		t.Fatalf("got %v, want the undeclared value masked", got.Fields["national_id"])
	}
}
