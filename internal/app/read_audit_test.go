package app

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestReadsThatFindNothingAreAuditedSQLite(t *testing.T) { readsAudited(t, "") }
func TestReadsThatFindNothingAreAuditedPostgres(t *testing.T) {
	readsAudited(t, pgtest.URL(t))
}

// newest returns the entries appended since the trail's newest entry was before, oldest first.
func (e *env) since(before int64) []audit.Entry {
	e.t.Helper()
	es, err := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []audit.Entry
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].ID > before {
			out = append(out, es[i])
		}
	}
	return out
}

func (e *env) lastAuditID() int64 {
	e.t.Helper()
	es, err := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 1})
	if err != nil || len(es) == 0 {
		e.t.Fatalf("audit: %v", err)
	}
	return es[0].ID
}

// readsAudited: every read the review found unaudited leaves an entry naming who asked, what
// kind of question and about whom — a look-up that finds nobody, the suppression check, the
// duplicate queue and a pair, a customer's merges, the single permission check, an erasure
// report, the request list, an import's reject list, and reads answered 404 or 410 — and no
// entry ever holds the value asked about.
func readsAudited(t *testing.T, db string) {
	e := newEnv(t, db)
	id := e.create(`{"email":"known@example.com","first_name":"Kim"}`)
	erased := e.create(`{"email":"gone@example.com"}`)
	if _, err := e.app.Rights.Erase(authz.WithActor(context.Background(), authz.System), erased, "", "test"); err != nil {
		t.Fatal(err)
	}
	e.mustTrack("/v1/identify", `{"type":"identify","anonymousId":"anon-77","userId":"u-77","traits":{"email":"known@example.com"}}`)
	code, body := e.upload("admin", url.Values{"map": {"email=email"}}, "email\nnot-an-address\n")
	var imp struct{ ID string }
	if err := json.Unmarshal([]byte(body), &imp); code != 202 || err != nil {
		t.Fatalf("upload: %d %s", code, body)
	}
	e.runJobs()
	const probe = "probe.person@example.org"

	for _, tt := range []struct {
		name     string
		c        call
		status   int
		action   string
		customer string
		target   string // what the entry's target starts with
		outcome  string
	}{
		{"look-up finding nobody", call{method: "GET", path: "/v1/customers?email=" + probe, role: "support"}, 200, "customer.lookup", "", "query:email results:0", "ok"},
		{"suppression check", call{method: "GET", path: "/v1/suppression?email=" + probe, role: "marketer"}, 200, "suppression.check", "", "query:email results:0", "ok"},
		{"duplicate queue", call{method: "GET", path: "/v1/duplicates", role: "admin"}, 200, "duplicates.list", "", "query:state results:0", "ok"},
		{"merges of a customer", call{method: "GET", path: "/v1/customers/" + id + "/merges", role: "support"}, 200, "merges.read", id, "", "ok"},
		{"single permission check", call{method: "GET", path: "/v1/customers/" + id + "/permissions/marketing_email", role: "marketer"}, 200, "permission.read", id, "", "ok"},
		{"erasure report", call{method: "GET", path: "/v1/erasures/" + erased, role: "dpo"}, 200, "erasure.report.read", erased, "", "ok"},
		{"request list", call{method: "GET", path: "/v1/requests?state=received", role: "dpo"}, 200, "request.list", "", "query:state results:0", "ok"},
		{"import rejects", call{method: "GET", path: "/v1/imports/" + imp.ID + "/rejects", role: "admin"}, 200, "customers.import.rejects", "", "import:" + imp.ID + " query:import results:1", "ok"},
		{"unknown customer", call{method: "GET", path: "/v1/customers/0190a000-0000-7000-8000-0000000000aa", role: "support", purpose: "support"}, 404, "read.missing", "0190a000-0000-7000-8000-0000000000aa", "route:GET /v1/customers/{id}", "not_found"},
		{"erased customer", call{method: "GET", path: "/v1/customers/" + erased, role: "support", purpose: "support"}, 410, "read.missing", erased, "route:GET /v1/customers/{id}", "gone"},
		{"events of an unknown customer", call{method: "GET", path: "/v1/customers/0190a000-0000-7000-8000-0000000000ab/events", role: "owner", purpose: "service"}, 404, "read.missing", "0190a000-0000-7000-8000-0000000000ab", "route:GET /v1/customers/{id}/events", "not_found"},
		{"unknown request", call{method: "GET", path: "/v1/requests/0190a000-0000-7000-8000-0000000000ac", role: "dpo"}, 404, "read.missing", "", "route:GET /v1/requests/{id}", "not_found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.lastAuditID()
			if code, out := e.do(tt.c); code != tt.status {
				t.Fatalf("got %d %s, want %d", code, out, tt.status)
			}
			var found *audit.Entry
			for _, en := range e.since(before) {
				if en.Action == tt.action {
					found = &en
					break
				}
			}
			if found == nil {
				t.Fatalf("no %s entry among %+v", tt.action, e.since(before))
			}
			if found.CustomerID != tt.customer || !strings.HasPrefix(found.Target, tt.target) || found.Outcome != tt.outcome ||
				found.ActorRole != tt.c.role {
				t.Errorf("entry: got %+v, want customer %q, target %q…, outcome %q", *found, tt.customer, tt.target, tt.outcome)
			}
		})
	}
	// No entry holds a value that was asked about.
	es, err := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(es)
	for _, v := range []string{probe, "probe.person", "known@example.com", "not-an-address"} {
		if strings.Contains(string(raw), v) {
			t.Errorf("the audit trail holds %q", v)
		}
	}
}

// An import's reject list says whose rows were refused and why: a write-only key sees only the
// imports it started, staff see every one.
func TestImportRejectsOnlyForTheirStarter(t *testing.T) {
	e := newEnv(t, "")
	sys := authz.WithActor(context.Background(), authz.System)
	other, _, err := e.app.APIKeys.Create(sys, "ingest", "another shop system")
	if err != nil {
		t.Fatal(err)
	}
	e.keys["other"] = other
	code, body := e.upload("ingest", url.Values{"map": {"email=email"}}, "email\nnot-an-address\n")
	var imp struct{ ID string }
	if err := json.Unmarshal([]byte(body), &imp); code != 202 || err != nil {
		t.Fatalf("upload: %d %s", code, body)
	}
	e.runJobs()
	for role, want := range map[string]int{"ingest": 200, "other": 404, "admin": 200} {
		for _, path := range []string{"/v1/imports/" + imp.ID, "/v1/imports/" + imp.ID + "/rejects"} {
			if code, out := e.do(call{method: "GET", path: path, role: role}); code != want {
				t.Errorf("%s %s: got %d %s, want %d", role, path, code, out, want)
			}
		}
	}
	if code, out := e.do(call{method: "GET", path: "/v1/imports", role: "other"}); code != 200 || strings.Contains(out, imp.ID) {
		t.Errorf("another write key lists the import: %d %s", code, out)
	}
}
