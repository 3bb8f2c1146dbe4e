package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/importer"
)

func TestImportCSV(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errs := runCLI(t, nil, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	file := filepath.Join(t.TempDir(), "till export.csv")
	// BOM, semicolons, a quoted field with the delimiter and a doubled quote, a name split in
	// two columns, a bad e-mail, a row without an identifier, a short row.
	data := "\xef\xbb\xbfEmail;Given;Family;Town;Points\n" +
		"ada@example.com;Ada;Lovelace;\"London; UK\";10\n" +
		"grace@example.com;Grace;\"Hopper \"\"Amazing\"\"\";Arlington;x\n" +
		"not-an-email;Alan;Turing;Wilmslow;3\n" +
		";Nobody;Here;Nowhere;1\n" +
		"short@example.com;Short\n" +
		"edsger@example.com;Edsger;Dijkstra;;7\n"
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"import", file, "--data", dir, "--map", "Email=email", "--map", "Given=full_name", "--map", "Family=full_name", "--map", "Town=city", "--map", "Points=loyalty_points"}
	code, out, errs := runCLI(t, nil, args...)
	if code != 0 || !strings.Contains(out, "created 2") || !strings.Contains(out, "rejected 4") {
		t.Fatalf("import: exit %d %s %s", code, out, errs)
	}
	rej, err := os.ReadFile(file + ".rejects.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"row,reason", "3,column Points: loyalty_points: must be an integer", "4,column Email: email:", `5,"needs an identifier`, `6,"has 2 columns, the header has 5"`} {
		if !strings.Contains(string(rej), want) {
			t.Errorf("rejects file lacks %q:\n%s", want, rej)
		}
	}
	for _, leak := range []string{"not-an-email", "Turing", "short@example.com"} {
		if strings.Contains(string(rej), leak) {
			t.Errorf("rejects file repeats the value %q", leak)
		}
	}
	// Running the same file again changes nothing.
	code, out, errs = runCLI(t, nil, args...)
	if code != 0 || !strings.Contains(out, "created 0, updated 0, unchanged 2") {
		t.Fatalf("second import: exit %d %s %s", code, out, errs)
	}
	// Bad mappings and files are refused with a reason.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"import", file, "--data", dir, "--map", "Nope=email"}, `no column "Nope"`},
		{[]string{"import", file, "--data", dir, "--map", "Email=shoe_size"}, "not a field of the data catalog"},
		{[]string{"import", file, "--data", dir}, "--map"},
		{[]string{"import", filepath.Join(t.TempDir(), "missing.csv"), "--data", dir, "--map", "Email=email"}, "open"},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--consent", "Points=newsletter", "--policy-version", "v1"}, `unknown purpose "newsletter"`},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--consent", "Points=service", "--policy-version", "v1"}, "not consent"},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--consent", "Points=marketing_email"}, "policy_version: is required"},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--consent", "Points=marketing_email", "--policy-version", "v1"}, `unknown policy version "v1"`},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--consent", "Nope=marketing_email", "--policy-version", "v1"}, `no column "Nope"`},
		{[]string{"import", file, "--data", dir, "--map", "Email=email", "--policy-version", "v1"}, "only meaningful with --consent"},
	} {
		if code, _, errs := runCLI(t, nil, tt.args...); code == 0 || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d %q, want %q", tt.args, code, errs, tt.want)
		}
	}
	broken := filepath.Join(t.TempDir(), "broken.csv")
	if err := os.WriteFile(broken, []byte("email,first_name\nx1@example.com,A\nx2@example.com,\"B\nx3@example.com,C\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The whole file is read through before anything is stored: broken quoting anywhere
	// refuses it, naming the row, and imports nothing.
	code, _, errs = runCLI(t, nil, "import", broken, "--data", dir, "--map", "email=email", "--map", "first_name=first_name")
	if code == 0 || !strings.Contains(errs, "row 3: broken quoting") || !strings.Contains(errs, "nothing was imported") {
		t.Fatalf("broken quoting: exit %d %q", code, errs)
	}
	if code, out, _ := runCLI(t, nil, "import", file, "--data", dir, "--map", "Email=email", "--batch", "6000"); code == 0 {
		t.Fatalf("a batch over 5000: exit 0 %s", out)
	}
}

// apiGet answers a GET through the API of the installation in dir, as a server on it would.
func apiGet(t *testing.T, dir, key, path string) (int, string) {
	t.Helper()
	cfg := config.Default()
	cfg.Data = dir
	a, err := app.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	a.HTTP().Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func importList(t *testing.T, dir, key string) []importer.Status {
	t.Helper()
	code, body := apiGet(t, dir, key, "/v1/imports?limit=10")
	var list struct{ Data []importer.Status }
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil {
		t.Fatalf("GET /v1/imports: got %d %s", code, body)
	}
	return list.Data
}

// TestImportIsAnImportJob: a command-line import runs as an import job, like an upload: the
// API lists it and reads it by id, with the counts the command line printed.
func TestImportIsAnImportJob(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, out, errs := runCLI(t, nil, "init", "--data", dir)
	if code != 0 {
		t.Fatalf("init: %s", errs)
	}
	key := lastLine(out)
	file := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(file, []byte("email,points\nada@example.com,1\ngrace@example.com,x\nedsger@example.com,3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, nil, "import", file, "--data", dir, "--map", "email=email", "--map", "points=loyalty_points")
	if code != 0 || !strings.Contains(out, "rows 3, created 2, updated 0, unchanged 0, rejected 1") {
		t.Fatalf("import: exit %d %s %s", code, out, errs)
	}
	list := importList(t, dir, key)
	if len(list) != 1 || list[0].State != "done" || list[0].Created != 2 || list[0].Rejected != 1 || list[0].RowsTotal != 3 ||
		!slices.Equal(list[0].Map, []string{"email=email", "points=loyalty_points"}) || !strings.Contains(errs, list[0].ID) {
		t.Fatalf("GET /v1/imports: %+v (stderr %q)", list, errs)
	}
	code, body := apiGet(t, dir, key, "/v1/imports/"+list[0].ID)
	if code != 200 || !strings.Contains(body, `"created":2`) || !strings.Contains(body, `"rejected":1`) || !strings.Contains(body, `"state":"done"`) {
		t.Fatalf("GET /v1/imports/{id}: got %d %s", code, body)
	}
	code, body = apiGet(t, dir, key, "/v1/imports/"+list[0].ID+"/rejects")
	if code != 200 || !strings.Contains(body, `"row":3`) || strings.Contains(body, "grace") {
		t.Fatalf("rejects: got %d %s", code, body)
	}
	// A second run is a second job, listed first (the row rejected before is new now).
	if code, _, errs := runCLI(t, nil, "import", file, "--data", dir, "--map", "email=email"); code != 0 {
		t.Fatalf("second import: %s", errs)
	}
	if list2 := importList(t, dir, key); len(list2) != 2 || list2[1].ID != list[0].ID || list2[0].Created != 1 || list2[0].Unchanged != 2 {
		t.Fatalf("after a second import: %+v", list2)
	}
	if code, _ := apiGet(t, dir, key, "/v1/imports?limit=101"); code != 422 {
		t.Fatalf("limit 101: got %d, want 422", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "imports", "uploads")); err == nil {
		if entries, _ := os.ReadDir(filepath.Join(dir, "imports", "uploads")); len(entries) != 0 {
			t.Fatalf("spooled files outlived their jobs: %v", entries)
		}
	}
}

// stopOnProgress is a terminal that interrupts the command (as Ctrl-C would) once the
// progress bar shows committed rows.
type stopOnProgress struct {
	bytes.Buffer
	stop func()
}

func (s *stopOnProgress) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("%")) && !bytes.HasSuffix(bytes.TrimSpace(p), []byte(" 0 rows")) {
		s.stop()
	}
	return s.Buffer.Write(p)
}

// TestImportResumesFromItsJob: an import interrupted after its first batch continues, with
// --resume, from its job's cursor: the same job, every row stored once.
func TestImportResumesFromItsJob(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, out, errs := runCLI(t, nil, "init", "--data", dir)
	if code != 0 {
		t.Fatalf("init: %s", errs)
	}
	key := lastLine(out)
	const rows = 1000
	var b strings.Builder
	b.WriteString("email,points\n")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "p%d@example.com,%d\n", i, i%50)
	}
	b.WriteString("bad@example.com,many\n")
	file := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"import", file, "--data", dir, "--map", "email=email", "--map", "points=loyalty_points", "--batch", "100"}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var stdout bytes.Buffer
	stderr := &stopOnProgress{stop: stop}
	code = run(ctx, args, env{stdout: &stdout, stderr: stderr, getenv: func(string) string { return "" }, isTerminal: func(io.Writer) bool { return true }})
	if code == 0 || !strings.Contains(stderr.String(), "interrupted") || !strings.Contains(stderr.String(), "--resume") {
		t.Fatalf("interrupted import: exit %d %s %s", code, stdout.String(), stderr.String())
	}
	mid := importList(t, dir, key)
	if len(mid) != 1 || mid[0].State != "running" || mid[0].Created == 0 || mid[0].Created >= rows || mid[0].ResumeAfter != mid[0].Created+1 {
		t.Fatalf("after the interruption: %+v", mid)
	}

	code, out, errs = runCLI(t, nil, append(args, "--resume")...)
	if code != 0 || !strings.Contains(errs, "resuming import "+mid[0].ID) {
		t.Fatalf("resumed import: exit %d %s %s", code, out, errs)
	}
	want := fmt.Sprintf("rows %d, created %d, updated 0, unchanged 0, rejected 1", rows+1, rows)
	if !strings.Contains(out, want) {
		t.Fatalf("resumed import printed %q, want %q", out, want)
	}
	end := importList(t, dir, key)
	if len(end) != 1 || end[0].ID != mid[0].ID || end[0].State != "done" || end[0].Created != rows || end[0].Unchanged != 0 || end[0].ResumeAfter != rows+2 {
		t.Fatalf("after the resume: %+v", end)
	}
	rej, err := os.ReadFile(file + ".rejects.csv")
	if err != nil || !strings.Contains(string(rej), fmt.Sprintf("%d,column points", rows+2)) {
		t.Fatalf("rejects file: %q %v", rej, err)
	}
	// Nothing left to resume: --resume starts a new import, which changes nothing.
	code, out, errs = runCLI(t, nil, append(args, "--resume")...)
	if code != 0 || !strings.Contains(errs, "no interrupted import") || !strings.Contains(out, fmt.Sprintf("created 0, updated 0, unchanged %d", rows)) {
		t.Fatalf("third run: exit %d %s %s", code, out, errs)
	}
}
