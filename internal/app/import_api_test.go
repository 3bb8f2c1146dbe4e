package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/job"
)

// upload posts a CSV file to /v1/imports with the query given.
func (e *env) upload(role string, query url.Values, csv string) (int, string) {
	e.t.Helper()
	return e.do(call{method: "POST", path: "/v1/imports?" + query.Encode(), role: role, body: csv, header: map[string]string{"Content-Type": "text/csv"}})
}

// runJobs runs queued jobs to the end, as the server's runner would.
func (e *env) runJobs() {
	e.t.Helper()
	for {
		ran, err := e.app.Runner.RunOne(context.Background())
		if err != nil {
			e.t.Fatalf("job: %v", err)
		}
		if !ran {
			return
		}
	}
}

func (e *env) importStatus(id string) importer.Status {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/imports/" + id, role: "admin"})
	var st importer.Status
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		e.t.Fatalf("import status: got %d %s", code, body)
	}
	return st
}

func spoolFiles(t *testing.T, e *env) []os.DirEntry {
	t.Helper()
	entries, err := os.ReadDir(e.app.Config.ImportSpoolDir())
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return entries
}

// The list a shop exports from its old CRM: a newsletter column collected under the policy of
// the time, a bad e-mail, a row without an identifier and a consent cell nobody can read.
const importCSV = "\xef\xbb\xbfE-mail;Name;Newsletter;SMS\n" +
	"ada@example.com;Ada Lovelace;yes;\n" +
	"grace@example.com;Grace Hopper;no;y\n" +
	"not-an-email;Alan Turing;yes;\n" +
	";Nobody;yes;\n" +
	"edsger@example.com;Edsger Dijkstra;maybe;\n" +
	"barbara@example.com;Barbara Liskov;;\n"

func importQuery() url.Values {
	return url.Values{"map": {"E-mail=email", "Name=full_name"}, "consent": {"Newsletter=marketing_email", "SMS=marketing_sms"}, "policy_version": {"2026-01"}}
}

func TestImportUpload(t *testing.T) {
	e := newEnv(t, "")
	e.publish(policyV1)

	code, body := e.upload("admin", importQuery(), importCSV)
	if code != 202 {
		t.Fatalf("upload: got %d %s", code, body)
	}
	var started importer.Status
	_ = json.Unmarshal([]byte(body), &started)
	if started.State != "queued" || started.RowsTotal != 6 {
		t.Fatalf("upload answered %+v", started)
	}
	if files := spoolFiles(t, e); len(files) != 1 {
		t.Fatalf("got %d spooled uploads, want 1", len(files))
	}
	// The spool is sealed: no value of the file is on disk in clear.
	raw, err := os.ReadFile(e.app.Config.ImportSpoolDir() + "/" + started.ID + ".csv.sealed")
	if err != nil {
		t.Fatal(err)
	}
	for _, canary := range []string{"ada@example.com", "Lovelace", "E-mail"} {
		if strings.Contains(string(raw), canary) {
			t.Fatalf("the spooled upload holds %q in clear", canary)
		}
	}
	e.runJobs()
	st := e.importStatus(started.ID)
	if st.State != "done" || st.RowsRead != 6 || st.Created != 3 || st.Rejected != 3 || st.Imported != 3 || st.Consents != 3 || st.ResumeAfter != 7 {
		t.Fatalf("status: %+v", st)
	}
	if files := spoolFiles(t, e); len(files) != 0 {
		t.Fatalf("the upload outlived its job: %v", files)
	}
	code, body = e.do(call{method: "GET", path: "/v1/imports/" + started.ID + "/rejects", role: "admin"})
	if code != 200 {
		t.Fatalf("rejects: got %d %s", code, body)
	}
	for _, want := range []string{`{"row":4,"reason":"column E-mail: email:`, `{"row":5,"reason":"needs an identifier`, `{"row":6,"reason":"column Newsletter: marketing_email: must be yes or no`} {
		if !strings.Contains(body, want) {
			t.Errorf("rejects lack %s: %s", want, body)
		}
	}
	for _, leak := range []string{"not-an-email", "Turing", "maybe", "Dijkstra"} {
		if strings.Contains(body, leak) {
			t.Errorf("rejects repeat the value %q: %s", leak, body)
		}
	}
	// The same as the command line's rejects file.
	code, body = e.do(call{method: "GET", path: "/v1/imports/" + started.ID + "/rejects?format=csv", role: "admin"})
	if code != 200 || !strings.HasPrefix(body, "row,reason\n4,column E-mail: email:") || !strings.Contains(body, "\n6,\"column Newsletter:") {
		t.Fatalf("rejects as CSV: got %d %q", code, body)
	}
	// Paging.
	code, body = e.do(call{method: "GET", path: "/v1/imports/" + started.ID + "/rejects?limit=2", role: "admin"})
	if code != 200 || !strings.Contains(body, `"next_cursor":"5"`) || strings.Contains(body, `"row":6`) {
		t.Fatalf("rejects page: got %d %s", code, body)
	}
	code, body = e.do(call{method: "GET", path: "/v1/imports/" + started.ID + "/rejects?cursor=5", role: "admin"})
	if code != 200 || !strings.Contains(body, `"row":6`) || strings.Contains(body, `"row":5`) {
		t.Fatalf("rejects second page: got %d %s", code, body)
	}

	// The consent columns are in the ledger with source import and the list's policy version.
	ada, grace, barbara := e.customerOf("ada@example.com"), e.customerOf("grace@example.com"), e.customerOf("barbara@example.com")
	check := func(id string, want map[string]bool) {
		t.Helper()
		recs := e.ledger(id)
		got := map[string]bool{}
		for _, r := range recs {
			if r.Source != consent.SourceImport || r.PolicyVersion != "2026-01" || r.Receipt == "" {
				t.Errorf("record %+v: want source import, version 2026-01 and a receipt", r)
			}
			got[r.Purpose] = r.Granted
		}
		if len(recs) != len(want) {
			t.Errorf("got %d records %v, want %v", len(recs), got, want)
		}
		for p, g := range want {
			if v, ok := got[p]; !ok || v != g {
				t.Errorf("%s: got %v, want %v", p, got, want)
			}
		}
	}
	check(ada, map[string]bool{"marketing_email": true})
	check(grace, map[string]bool{"marketing_email": false, "marketing_sms": true})
	check(barbara, map[string]bool{})
	if code, body := e.do(call{method: "GET", path: "/v1/customers/" + ada + "/permissions/marketing_email", role: "owner"}); code != 200 || !strings.Contains(body, `"allowed":true`) {
		t.Fatalf("permission after import: got %d %s", code, body)
	}

	// Running the same file again changes nothing and appends no consent record.
	code, body = e.upload("admin", importQuery(), importCSV)
	if code != 202 {
		t.Fatalf("second upload: got %d %s", code, body)
	}
	var again importer.Status
	_ = json.Unmarshal([]byte(body), &again)
	e.runJobs()
	st = e.importStatus(again.ID)
	if st.State != "done" || st.Created != 0 || st.Updated != 0 || st.Unchanged != 3 || st.Consents != 0 || st.Rejected != 3 {
		t.Fatalf("second run: %+v", st)
	}
	check(ada, map[string]bool{"marketing_email": true})
	check(grace, map[string]bool{"marketing_email": false, "marketing_sms": true})

	// Audited: the upload by the admin key, and each batch.
	entries, err := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var starts, batches int
	for _, en := range entries {
		switch en.Action {
		case importer.ActionImportStart:
			starts++
			if en.ActorRole != "admin" || !strings.Contains(en.Target, "rows:6") {
				t.Errorf("start entry %+v", en)
			}
		case "customers.import":
			batches++
			if en.ActorRole != "admin" {
				t.Errorf("batch entry by %s, want the uploader", en.ActorRole)
			}
		}
	}
	if starts != 2 || batches != 2 {
		t.Fatalf("got %d start and %d batch entries, want 2 and 2", starts, batches)
	}
}

// TestImportUploadRefusals: a bad upload is refused with a reason naming the problem, and
// nothing of it is kept: no customer, no job, no spooled file.
func TestImportUploadRefusals(t *testing.T) {
	e := newEnv(t, "")
	e.publish(policyV1)
	e.publish(`{"version":"2099-01","text":"Later.","purposes":["marketing_email"],"effective_at":"2099-01-01T00:00:00Z"}`)
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	good := "email,news\nx@example.com,yes\n"
	for _, tt := range []struct {
		name  string
		role  string
		query url.Values
		body  string
		ctype string
		code  int
		want  string
	}{
		{"empty file", "admin", q("map", "email=email"), "", "", 400, "empty"},
		{"UTF-16", "admin", q("map", "email=email"), "\xff\xfee\x00m\x00", "", 400, "UTF-16"},
		{"broken quoting", "admin", q("map", "email=email"), "email,name\na@example.com,Ann\nb@example.com,\"Bob\nc@example.com,Cy\n", "", 400, "quot"},
		{"header not UTF-8", "admin", q("map", "email=email"), "em\xe9il\nx@example.com\n", "", 400, "UTF-8"},
		{"no mapping", "admin", q(), good, "", 422, "map"},
		{"unknown column", "admin", q("map", "mail=email"), good, "", 422, `no column \"mail\"`},
		{"unknown field", "admin", q("map", "email=shoe_size"), good, "", 422, "not a field of the data catalog"},
		{"unknown purpose", "admin", q("map", "email=email", "consent", "news=newsletter", "policy_version", "2026-01"), good, "", 422, `unknown purpose \"newsletter\"`},
		{"not a consent purpose", "admin", q("map", "email=email", "consent", "news=service", "policy_version", "2026-01"), good, "", 422, "not consent"},
		{"no policy version", "admin", q("map", "email=email", "consent", "news=marketing_email"), good, "", 422, "policy_version"},
		{"unknown policy version", "admin", q("map", "email=email", "consent", "news=marketing_email", "policy_version", "1999-01"), good, "", 422, "unknown policy version"},
		{"future policy version", "admin", q("map", "email=email", "consent", "news=marketing_email", "policy_version", "2099-01"), good, "", 422, "takes effect"},
		{"policy not covering the purpose", "admin", q("map", "email=email", "consent", "news=analytics", "policy_version", "2026-01"), good, "", 422, "analytics"},
		{"consent column missing", "admin", q("map", "email=email", "consent", "promo=marketing_email", "policy_version", "2026-01"), good, "", 422, `no column \"promo\"`},
		{"JSON body", "admin", q("map", "email=email"), `{"email":"x@example.com"}`, "application/json", 400, "text/csv"},
		{"marketer may not import", "marketer", q("map", "email=email"), good, "", 403, "customers.write"},
		{"consents need consents.write", "ingest", q("map", "email=email", "consent", "news=marketing_email", "policy_version", "2026-01"), good, "", 403, "consents.write"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ct := tt.ctype
			if ct == "" {
				ct = "text/csv"
			}
			code, body := e.do(call{method: "POST", path: "/v1/imports?" + tt.query.Encode(), role: tt.role, body: tt.body, header: map[string]string{"Content-Type": ct}})
			if code != tt.code || !strings.Contains(body, tt.want) || !strings.Contains(body, "application/problem+json") && !strings.Contains(body, `"detail"`) {
				t.Fatalf("got %d %s, want %d naming %q", code, body, tt.code, tt.want)
			}
			if strings.Contains(body, "x@example.com") {
				t.Fatalf("the answer repeats a value: %s", body)
			}
		})
	}
	// Larger than --import-max-bytes.
	small := newEnv(t, "", func(c *config.Config) { c.ImportMaxBytes = 2048 })
	code, body := small.upload("admin", q("map", "email=email"), "email\n"+strings.Repeat("someone@example.com\n", 200))
	if code != 413 || !strings.Contains(body, "2048") {
		t.Fatalf("oversized: got %d %s", code, body)
	}
	for _, e := range []*env{e, small} {
		n, err := e.app.Store.Customers().CountCustomers(context.Background())
		if err != nil || n != 0 {
			t.Fatalf("refused uploads stored %d customers (%v)", n, err)
		}
		jobs, err := e.app.Store.Jobs().ListJobs(context.Background(), 10)
		if err != nil || len(jobs) != 0 {
			t.Fatalf("refused uploads queued %d jobs (%v)", len(jobs), err)
		}
		if files := spoolFiles(t, e); len(files) != 0 {
			t.Fatalf("refused uploads left %d spooled files", len(files))
		}
	}
	if code, body := e.do(call{method: "GET", path: "/v1/imports/0190a000-0000-7000-8000-000000000001", role: "admin"}); code != 404 {
		t.Fatalf("unknown import: got %d %s", code, body)
	}
}

// stopAfterCheckpoint stops the job it serves after its first checkpoint, as a server killed
// mid-file would.
type stopAfterCheckpoint struct {
	job.Store
	stop context.CancelFunc
}

func (s *stopAfterCheckpoint) CheckpointJob(ctx context.Context, id, owner, cursor string, done int64, leaseUntil time.Time) error {
	err := s.Store.CheckpointJob(ctx, id, owner, cursor, done, leaseUntil)
	s.stop()
	return err
}

// TestImportUploadResumes: an import stopped after its first batch is picked up again once
// its lease runs out and continues after the resume point, storing every row once.
func TestImportUploadResumes(t *testing.T) {
	e := newEnv(t, "")
	var b strings.Builder
	b.WriteString("email,points\n")
	const rows = 11000
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "p%d@example.com,%d\n", i, i%50)
	}
	b.WriteString("broken@example.com,many\n")
	code, body := e.upload("owner", url.Values{"map": {"email=email", "points=loyalty_points"}}, b.String())
	if code != 202 {
		t.Fatalf("upload: got %d %s", code, body)
	}
	var st importer.Status
	_ = json.Unmarshal([]byte(body), &st)

	// The node that received the upload (its job is reserved for it), with leases that end at
	// once, dies after its first checkpoint.
	ctx, stop := context.WithCancel(context.Background())
	owner := e.app.Runner.Owner()
	dying := &stopAfterCheckpoint{Store: e.app.Store.Jobs(), stop: stop}
	a := e.app
	imports, err := importer.New(importer.Deps{Uploads: a.Store.Imports(), Jobs: dying, Writer: a.Ingest, Ledger: a.Consents,
		Norm: a.Vault.Normalizer(), Catalog: a.Catalog, Keys: a.Keys, Dir: a.Config.ImportSpoolDir(), MaxBytes: a.Config.ImportMaxBytes,
		Owner: owner, Lease: time.Millisecond, Audit: a.Store.Audit()})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := job.NewRunner(job.RunnerDeps{Store: dying, Owner: owner, Lease: time.Millisecond,
		Steps: map[string]job.Step{importer.JobKind: imports.Step}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runner.RunOne(ctx); err == nil {
		t.Fatal("the stopped run reported success")
	}
	mid := e.importStatus(st.ID)
	// The first batch may be written before it is full (the writer does not wait for rows
	// still being prepared): the resume point is wherever it ended.
	if mid.State != "running" || mid.Created == 0 || mid.Created >= rows || mid.ResumeAfter != mid.Created+1 {
		t.Fatalf("after the stop: %+v", mid)
	}
	time.Sleep(5 * time.Millisecond)
	e.runJobs()
	end := e.importStatus(st.ID)
	if end.State != "done" || end.Created != rows || end.Unchanged != 0 || end.Rejected != 1 || end.RowsRead != rows+1 || end.ResumeAfter != rows+2 {
		t.Fatalf("after the resume: %+v", end)
	}
	n, err := e.app.Store.Customers().CountCustomers(context.Background())
	if err != nil || n != rows {
		t.Fatalf("got %d customers (%v), want %d", n, err, rows)
	}
	if files := spoolFiles(t, e); len(files) != 0 {
		t.Fatalf("the upload outlived its job: %v", files)
	}
}

// TestImportSameCustomerTwiceInOneFile: two rows of one new customer in one batch make one
// customer holding the later row's values, stored sealed and readable.
func TestImportSameCustomerTwiceInOneFile(t *testing.T) {
	e := newEnv(t, "")
	code, body := e.upload("owner", url.Values{"map": {"email=email", "name=full_name", "city=city"}},
		"email,name,city\nada@example.com,Ada,London\nADA@example.com ,Ada Lovelace,\n")
	if code != 202 {
		t.Fatalf("upload: got %d %s", code, body)
	}
	var st importer.Status
	_ = json.Unmarshal([]byte(body), &st)
	e.runJobs()
	if got := e.importStatus(st.ID); got.Created != 1 || got.Updated != 1 || got.Rejected != 0 {
		t.Fatalf("status: %+v", got)
	}
	id := e.customerOf("ada@example.com")
	code, body = e.do(call{method: "GET", path: "/v1/customers/" + id, role: "owner", purpose: "support"})
	if code != 200 || !strings.Contains(body, `"full_name":"Ada Lovelace"`) || !strings.Contains(body, `"city":"London"`) {
		t.Fatalf("customer: got %d %s", code, body)
	}
}

// TestImportUploadFailsWithReason: an import that cannot finish ends failed, saying why and
// where it stopped, in words that hold no value of the file.
func TestImportUploadFailsWithReason(t *testing.T) {
	e := newEnv(t, "")
	code, body := e.upload("owner", url.Values{"map": {"email=email"}}, "email\nada@example.com\n")
	if code != 202 {
		t.Fatalf("upload: got %d %s", code, body)
	}
	var st importer.Status
	_ = json.Unmarshal([]byte(body), &st)
	// Another node received it: the file is not here.
	if err := os.Remove(e.app.Config.ImportSpoolDir() + "/" + st.ID + ".csv.sealed"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Runner.RunOne(context.Background()); err == nil {
		t.Fatal("the job reported success without its file")
	}
	got := e.importStatus(st.ID)
	if got.State != "failed" || !strings.Contains(got.Error, "no longer on the node") || !strings.Contains(got.Error, "rows up to 0 are stored") ||
		strings.Contains(got.Error, "ada@") {
		t.Fatalf("status: %+v", got)
	}
}
