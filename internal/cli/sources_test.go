package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestSourcesReplaySQLite(t *testing.T)   { testSourcesReplay(t, "") }
func TestSourcesReplayPostgres(t *testing.T) { testSourcesReplay(t, pgtest.URL(t)) }

// testSourcesReplay back-fills a shop's history from an export: every line through the path
// deliveries take, a second run storing nothing new, a bad line named by number (never by
// content) without holding back the others.
func testSourcesReplay(t *testing.T, db string) {
	with := initialized(t, db)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("shpss_replay\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, nil, with("sources", "add", "--kind", "shopify", "--name", "Main shop", "--secret-file", secret)...)
	if code != 0 {
		t.Fatalf("add: exit %d: %s", code, errs)
	}
	m := regexp.MustCompile(`id: (\S+)`).FindStringSubmatch(out)
	if m == nil || strings.Contains(out, "shpss_replay") {
		t.Fatalf("add printed %q", out)
	}
	order := func(id, email string) string {
		return `{"id":` + id + `,"email":"` + email + `","currency":"EUR","total_price":"10.00","created_at":"2025-03-01T10:00:00Z","updated_at":"2025-03-01T10:00:00Z"}`
	}
	lines := strings.Join([]string{
		`{"topic":"orders/create","id":"ev-100","payload":` + order("100", "ada@example.com") + `}`,
		order("101", "grace@example.com"),
		`{"topic":"orders/create","payload":{"id":`,
		`{"topic":"refunds/create","id":"ev-102","payload":{"id":9,"order_id":100,"transactions":[{"kind":"refund","status":"success","amount":"4.00"}]}}`,
	}, "\n") + "\n"
	file := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	replay := with("sources", "replay", "--source", m[1], "--file", file, "--topic", "orders/create")
	code, out, errs = runCLI(t, nil, replay...)
	if code == 0 || !strings.Contains(errs, "line 3:") || strings.Contains(errs, "ada@") || !strings.Contains(out, "4 lines: 3 messages stored, 0 already stored") {
		t.Fatalf("replay: exit %d, out %q, errs %q", code, out, errs)
	}
	code, out, _ = runCLI(t, nil, replay...)
	if code == 0 || !strings.Contains(out, "0 messages stored, 3 already stored") {
		t.Fatalf("second replay: exit %d, out %q", code, out)
	}
	code, out, _ = runCLI(t, nil, with("sources", "list")...)
	if code != 0 || !strings.Contains(out, "Main shop") || strings.Contains(out, "shpss_replay") {
		t.Fatalf("list: exit %d %q", code, out)
	}
}

// initialized initialises a fresh installation (on db, or SQLite when empty) and returns a
// function that adds its --data (and --db) to a command's arguments.
func initialized(t *testing.T, db string) func(args ...string) []string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	with := func(args ...string) []string {
		args = append(args, "--data", dir)
		if db != "" {
			args = append(args, "--db", db)
		}
		return args
	}
	if code, _, errs := runCLI(t, nil, with("init")...); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errs)
	}
	return with
}
