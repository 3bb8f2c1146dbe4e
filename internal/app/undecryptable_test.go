package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// lockedBuffer is a log sink the server's goroutines may write to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newLoggedEnv is newEnv whose log the test reads.
func newLoggedEnv(t *testing.T, db string) (*env, *lockedBuffer) {
	t.Helper()
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.DB = config.Secret(db)
	ctx := context.Background()
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	owner, err := Init(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	a, err := OpenWith(ctx, cfg, Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	e := &env{t: t, app: a, keys: map[string]string{"owner": owner}, dir: cfg.Data}
	e.srv = httptest.NewServer(a.HTTP().Handler())
	t.Cleanup(e.srv.Close)
	sys := authz.WithActor(ctx, authz.System)
	for _, role := range []string{"admin", "support", "marketer"} {
		k, _, err := a.APIKeys.Create(sys, role, role+" key")
		if err != nil {
			t.Fatal(err)
		}
		e.keys[role] = k
	}
	return e, logs
}

// TestUndecryptableRowIsSkipped damages one customer's sealed values and another's wrapped
// data key behind Steward's back: listings, look-ups, the duplicate scan and the bulk
// permission check keep answering for everyone else, the metric counts the skips, the log
// names the damaged customers by id and holds none of their values, and a read of a damaged
// customer by id answers a bare 500.
func TestUndecryptableRowIsSkipped(t *testing.T) { undecryptableRow(t, "") }

func TestUndecryptableRowIsSkippedPostgres(t *testing.T) { undecryptableRow(t, pgtest.URL(t)) }

func undecryptableRow(t *testing.T, db string) {
	e, logs := newLoggedEnv(t, db)
	good := e.create(`{"email":"good.zq@example.com","first_name":"Gracezq","last_name":"Hopperzq","phone":"+44 7911 123401"}`)
	twin := e.create(`{"email":"g.hopperzq@example.com","first_name":"Gracezq","last_name":"Hopperzq","phone":"+44 7911 123402"}`)
	bad := e.create(`{"email":"bad.zq@example.com","first_name":"Badzq","phone":"+44 7911 123403"}`)
	badKey := e.create(`{"email":"badkey.zq@example.com","first_name":"Badkeyzq"}`)
	e.publish(policyV1)
	for _, id := range []string{good, twin, bad, badKey} {
		code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
			body: `{"purpose":"marketing_email","granted":true,"policy_version":"2026-01","source":"signup_form"}`})
		if code != 201 {
			t.Fatalf("grant: %d %s", code, body)
		}
	}
	// Suppressed addresses send the bulk check into the profiles that share their tokens.
	for _, addr := range []string{"bad.zq@example.com", "badkey.zq@example.com"} {
		if code, body := e.do(call{method: "POST", path: "/v1/suppressions", role: "support", body: `{"email":"` + addr + `"}`}); code != 201 {
			t.Fatalf("suppress: %d %s", code, body)
		}
	}
	w := e.app.Store.Write()
	if _, err := w.Exec(`UPDATE customers SET sealed = (SELECT sealed FROM customers WHERE id = $1) WHERE id = $2`, good, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`UPDATE customers SET dkey = (SELECT dkey FROM customers WHERE id = $1) WHERE id = $2`, good, badKey); err != nil {
		t.Fatal(err)
	}

	code, body := e.do(call{method: "GET", path: "/v1/customers?limit=500", role: "support"})
	if code != 200 || !strings.Contains(body, good) || !strings.Contains(body, twin) || strings.Contains(body, bad) || strings.Contains(body, badKey) {
		t.Fatalf("listing: got %d %s", code, body)
	}
	code, body = e.do(call{method: "GET", path: "/v1/customers?email=good.zq@example.com", role: "support"})
	if code != 200 || !strings.Contains(body, good) {
		t.Fatalf("look-up of another customer: got %d %s", code, body)
	}
	code, body = e.do(call{method: "GET", path: "/v1/customers?phone=%2B44%207911%20123402", role: "support", purpose: "support"})
	if code != 200 || !strings.Contains(body, twin) {
		t.Fatalf("look-up by phone: got %d %s", code, body)
	}
	// An address only a damaged profile holds cannot be confirmed: not found, like any miss.
	code, body = e.do(call{method: "GET", path: "/v1/customers?email=bad.zq@example.com", role: "support"})
	if code != 200 || !strings.Contains(body, `{"data":[]}`) {
		t.Fatalf("look-up of the damaged customer's address: got %d %s", code, body)
	}
	code, body = e.do(call{method: "POST", path: "/v1/duplicates/scan?wait=true", role: "admin"})
	if code != 200 {
		t.Fatalf("duplicate scan: got %d %s", code, body)
	}
	code, body = e.do(call{method: "POST", path: "/v1/permissions/check", role: "marketer",
		body: fmt.Sprintf(`{"purpose":"marketing_email","customer_ids":["%s","%s","%s","%s"]}`, good, twin, bad, badKey)})
	var res consent.Bulk
	_ = json.Unmarshal([]byte(body), &res)
	// The damaged customers cannot be cleared of the suppression their tokens match: denied.
	if code != 200 || len(res.Allowed) != 2 || !slices.Contains(res.Allowed, good) || !slices.Contains(res.Allowed, twin) || len(res.Denied) != 2 ||
		res.Denied[0].Reason != consent.ReasonSuppressed || res.Denied[1].Reason != consent.ReasonSuppressed {
		t.Fatalf("bulk check: got %d %s", code, body)
	}
	for _, id := range []string{bad, badKey} {
		code, body = e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support", purpose: "support"})
		if code != 500 || !strings.Contains(body, `"internal error"`) || strings.Contains(body, "zq") {
			t.Fatalf("read of a damaged customer: got %d %s, want a bare 500", code, body)
		}
	}

	_, metrics := e.do(call{method: "GET", path: "/metrics"})
	m := regexp.MustCompile(`(?m)^steward_undecryptable_records_total (\d+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("no steward_undecryptable_records_total in the metrics")
	}
	// Listing 2, look-ups 1 (the damaged address's candidate), scan refresh 2, bulk check 2.
	if n, _ := strconv.Atoi(m[1]); n < 7 {
		t.Fatalf("steward_undecryptable_records_total = %d, want at least 7", n)
	}
	log := logs.String()
	for _, id := range []string{bad, badKey} {
		if !strings.Contains(log, "customer_id="+id) {
			t.Errorf("the log does not name %s", id)
		}
	}
	for where, text := range map[string]string{"log": log, "metrics": metrics} {
		for _, c := range []string{"zq", "7911123", "Badzq", "Gracezq"} {
			if strings.Contains(text, c) {
				t.Errorf("%s contains %q", where, c)
			}
		}
	}
}
