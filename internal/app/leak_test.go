package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stewardhq/steward/internal/config"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoPersonalDataInLogsOrMetrics drives successful, refused and failing requests with
// canary values and checks the debug log and /metrics never carry them or customer ids.
func TestNoPersonalDataInLogsOrMetrics(t *testing.T) {
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
	defer a.Close()
	e := &env{t: t, app: a, keys: map[string]string{"owner": owner}, dir: cfg.Data}
	e.srv = httptest.NewServer(a.HTTP().Handler())
	defer e.srv.Close()
	id := e.create(`{"email":"leak.canary@example.com","first_name":"Leakycanary","phone":"+44 7911 123999"}`)
	e.do(call{method: "GET", path: "/v1/customers/" + id, role: "owner", purpose: "support"})
	e.do(call{method: "GET", path: "/v1/customers?email=leak.canary@example.com", role: "owner"})
	e.do(call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"email":"leak.canary2@","first_name":"Leakycanary"}}`})
	e.do(call{method: "POST", path: "/v1/customers", role: "owner", body: `{"fields":{"first_name":"4111111111111111"}}`})
	// An internal failure: a ciphertext moved between customers.
	other := e.create(`{"email":"leak.other@example.com"}`)
	if _, err := a.Store.Write().Exec(`UPDATE customers SET sealed = (SELECT sealed FROM customers WHERE id = $1) WHERE id = $2`, id, other); err != nil {
		t.Fatal(err)
	}
	e.do(call{method: "GET", path: "/v1/customers/" + other, role: "owner", purpose: "support"})
	_, metrics := e.do(call{method: "GET", path: "/metrics"})
	if !strings.Contains(metrics, "steward_http_requests_total") {
		t.Fatalf("metrics missing: %.200s", metrics)
	}
	if !strings.Contains(logs.String(), "request failed") {
		t.Fatalf("the internal failure was not logged: %s", logs.String())
	}
	// The customer whose data does not decrypt is named in the log by id (a random id, no
	// personal data) so that the operator can find the row; no other id is logged.
	if !strings.Contains(logs.String(), "customer_id="+other) {
		t.Errorf("the log does not name the customer whose data does not decrypt")
	}
	for where, text := range map[string]string{"log": logs.String(), "metrics": metrics} {
		for _, c := range []string{"leak.canary", "Leakycanary", "7911123999", "4111111111111111", id} {
			if strings.Contains(text, c) {
				t.Errorf("%s contains %q", where, c)
			}
		}
		if where == "metrics" && strings.Contains(text, other) {
			t.Errorf("metrics contain %q", other)
		}
	}
}

func TestSecurityHeadersAndLimits(t *testing.T) {
	e := newEnv(t, "")
	req := httptest.NewRequest("GET", "/healthz", nil)
	w := httptest.NewRecorder()
	e.app.HTTP().Handler().ServeHTTP(w, req)
	h := w.Result().Header
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	if h.Get("Request-Id") == "" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("missing request id or CSP: %v", h)
	}
	if code, _ := e.do(call{method: "GET", path: "/readyz"}); code != 200 {
		t.Errorf("readyz: got %d", code)
	}
	e.app.Store.Close()
	if code, body := e.do(call{method: "GET", path: "/readyz"}); code != 503 || strings.Contains(body, "sql") {
		t.Errorf("readyz with the database closed: got %d %s, want a bare 503", code, body)
	}
}

// TestFeatureOffAnswersWithoutRetryAfter: a request the configuration leaves off (the privacy
// portal's self-service requests with no mailer) answers 503 saying why, without Retry-After:
// retrying would not help, and clients that retry every 503 with one would never stop. A
// database that is away answers 503 with Retry-After, as before.
func TestFeatureOffAnswersWithoutRetryAfter(t *testing.T) {
	e := newEnv(t, "")
	post := func(path, body string) *http.Response {
		t.Helper()
		resp, err := http.Post(e.srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := post("/v1/privacy/requests", `{"type":"access","email":"ada.lovelace@example.com"}`)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("self-service request without a mailer: %d, Retry-After %q; want 503 without it", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	e.app.Store.Close()
	resp, err := http.Get(e.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("readyz with the database closed: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
