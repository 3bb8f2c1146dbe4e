package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/httpapi/apitest"
)

// TestValidateScenarios is the table of POST /v1/validate: who may call it, what each kind
// of form gets back, what bad requests get, and that nothing is ever stored or audited.
func TestValidateScenarios(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	owner, err := Init(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	e := &env{t: t, app: a, keys: map[string]string{"owner": owner}, dir: cfg.Data}
	e.srv = httptest.NewServer(a.HTTP().Handler())
	t.Cleanup(e.srv.Close)
	sys := authz.WithActor(context.Background(), authz.System)
	for _, role := range []string{"support", "marketer", "auditor", "ingest"} {
		k, _, err := a.APIKeys.Create(sys, role, role+" key")
		if err != nil {
			t.Fatal(err)
		}
		e.keys[role] = k
	}

	post := func(role, body string) call {
		return call{method: "POST", path: "/v1/validate", role: role, body: body}
	}
	tests := []struct {
		name    string
		call    call
		status  int
		want    []string
		notWant []string
	}{
		{"typo, normalised, flagged risky", post("ingest", `{"email":" Zq.Canary@Gmial.com "}`), 200,
			[]string{`"valid":true`, `"normalized":"zq.canary@gmial.com"`, `"suggestion":"zq.canary@gmail.com"`, `"typo"`, `"risky"`, `"category":"cfws"`}, nil},
		{"disposable and role", post("support", `{"email":"info@mailinator.com"}`), 200,
			[]string{`"disposable"`, `"role"`, `"risky"`, `"category":"valid"`}, nil},
		{"invalid email, reason without the value", post("ingest", `{"email":"zqcanary@localhost"}`), 200,
			[]string{`"valid":false`, `"domain has no dot"`, `"diagnosis":"RFC5321_TLD"`}, []string{`"normalized"`}},
		{"national phone read in the address's country", post("ingest", `{"phone":"06 12 34 56 78","address":{"country":"France"}}`), 200,
			[]string{`"normalized":"+33612345678"`, `"display":"+33 6 12 34 56 78"`, `"type":"mobile"`, `"region":"FR"`, `"normalized":"FR"`, `"display":"France"`}, nil},
		{"phone region given", post("ingest", `{"phone":"030 123456","phone_region":"DE"}`), 200,
			[]string{`"normalized":"+4930123456"`, `"type":"fixed_line"`}, nil},
		{"invalid phone with a reason", post("ingest", `{"phone":"12"}`), 200,
			[]string{`"valid":false`, `"number is too short`}, nil},
		{"names: storage keeps the typing, display fixes all-caps", post("ingest", `{"first_name":"  JOHN ","last_name":"VAN DER BERG","full_name":"Test"}`), 200,
			[]string{`"normalized":"JOHN"`, `"display":"John"`, `"display":"Van der Berg"`, `"placeholder"`}, nil},
		{"address: postcode spaced, country resolved", post("ingest", `{"address":{"line1":" 10  Downing Street","city":"London","postal_code":"sw1a2aa","country":"uk"}}`), 200,
			[]string{`"valid":true`, `"normalized":"SW1A 2AA"`, `"format":"UK postcode"`, `"normalized":"GB"`, `"normalized":"10 Downing Street"`}, nil},
		{"Dutch postcode", post("ingest", `{"address":{"postal_code":"1012ab","country":"NL"}}`), 200,
			[]string{`"normalized":"1012 AB"`}, nil},
		{"postcode of the wrong country", post("ingest", `{"address":{"postal_code":"SW1A 2AA","country":"US"}}`), 200,
			[]string{`"valid":false`, `not a valid US ZIP code`}, nil},
		{"country typo suggested", post("ingest", `{"address":{"country":"Untied Kingdom"}}`), 200,
			[]string{`"valid":false`, `"suggestion":"United Kingdom"`}, nil},
		{"empty field reported", post("ingest", `{"email":""}`), 200,
			[]string{`"valid":false`, `"address is empty"`}, nil},
		// Who may call it.
		{"marketer lacks customers.write", post("marketer", `{"email":"a@example.com"}`), 403, []string{"customers.write"}, nil},
		{"auditor lacks customers.write", post("auditor", `{"email":"a@example.com"}`), 403, []string{"customers.write"}, nil},
		{"no key", post("", `{"email":"a@example.com"}`), 401, []string{"bearer"}, nil},
		// Bad requests name the problem.
		{"unknown field", post("ingest", `{"email":"a@example.com","zip":"1"}`), 400, []string{`"field":"zip"`, "not a known property"}, nil},
		{"unknown address field", post("ingest", `{"address":{"zip":"1"}}`), 400, []string{`"field":"zip"`}, nil},
		{"wrong type", post("ingest", `{"email":42}`), 400, []string{`"field":"email"`, "must be a string"}, nil},
		{"malformed JSON", post("ingest", `{"email":`), 400, []string{`"field":"body"`}, nil},
		{"nothing to validate", post("ingest", `{}`), 422, []string{`"field":"body"`, "at least one"}, nil},
		{"unknown phone region", post("ingest", `{"phone":"0123","phone_region":"Narnia"}`), 422, []string{`"field":"phone_region"`}, []string{"Narnia"}},
		{"wrong method", call{method: "GET", path: "/v1/validate", role: "ingest"}, 405, []string{"POST"}, nil},
	}
	var scenarios []apitest.Scenario
	for _, tt := range tests {
		scenarios = append(scenarios, apitest.Scenario{Name: tt.name, Request: tt.call.request(), Status: tt.status,
			Want: tt.want, NotWant: tt.notWant})
	}
	run := e.runner("")
	run.Audit = nil // nothing at all may be audited, checked below for every customer
	run.Watch = func(t *testing.T, sc apitest.Scenario) func(apitest.Response) {
		countBefore, _ := a.Store.Customers().CountCustomers(context.Background())
		auditBefore, _ := a.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 1})
		return func(r apitest.Response) {
			code, body := r.Status, r.Body
			if code == 200 {
				var rep struct {
					Valid  bool
					Fields map[string]struct {
						Valid   bool
						Reasons []string
						Flags   []string
					}
				}
				if err := json.Unmarshal([]byte(body), &rep); err != nil || len(rep.Fields) == 0 {
					t.Fatalf("not a report: %v %s", err, body)
				}
				all := true
				for name, f := range rep.Fields {
					all = all && f.Valid
					if f.Reasons == nil || f.Flags == nil {
						t.Errorf("%s: reasons and flags must be arrays: %s", name, body)
					}
					if !f.Valid && len(f.Reasons) == 0 {
						t.Errorf("%s: invalid without a reason", name)
					}
				}
				if rep.Valid != all {
					t.Errorf("report valid=%v but fields say %v", rep.Valid, all)
				}
			}
			countAfter, _ := a.Store.Customers().CountCustomers(context.Background())
			auditAfter, _ := a.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 1})
			if countAfter != countBefore {
				t.Errorf("customers went from %d to %d", countBefore, countAfter)
			}
			if len(auditAfter) != len(auditBefore) || len(auditAfter) > 0 && auditAfter[0].ID != auditBefore[0].ID {
				t.Errorf("validation wrote an audit entry")
			}
		}
	}
	run.Run(t, scenarios)
	// What was validated never reaches the logs or the metrics.
	_, metrics := e.do(call{method: "GET", path: "/metrics"})
	if !strings.Contains(metrics, `route="POST /v1/validate"`) {
		t.Fatalf("validation not counted in metrics")
	}
	for where, text := range map[string]string{"log": logs.String(), "metrics": metrics} {
		for _, c := range []string{"canary", "Canary", "Downing", "SW1A", "612345678", "Narnia", "VAN DER BERG"} {
			if strings.Contains(text, c) {
				t.Errorf("%s contains %q", where, c)
			}
		}
	}
}
