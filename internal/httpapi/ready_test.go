package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stewardhq/steward/internal/problem"
)

// TestReadinessLoggedOnChange: a node out of service answers every readiness check 503 with
// Retry-After and the reason, but logs the change once, not each check (a load balancer
// checks twice a second); it logs again when the reason changes and when it is ready again.
func TestReadinessLoggedOnChange(t *testing.T) {
	var mu sync.Mutex
	var state error
	var logs bytes.Buffer
	s := &Server{
		Ready: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return state
		},
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	h := s.Handler()
	set := func(err error) {
		mu.Lock()
		state = err
		mu.Unlock()
	}
	check := func(wantStatus int, wantDetail string) {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		if w.Code != wantStatus {
			t.Fatalf("readyz: got %d, want %d", w.Code, wantStatus)
		}
		if wantStatus == 200 {
			return
		}
		var p Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p.Detail != wantDetail || w.Header().Get("Retry-After") == "" {
			t.Fatalf("readyz: detail %q, Retry-After %q; want %q and a Retry-After", p.Detail, w.Header().Get("Retry-After"), wantDetail)
		}
	}
	count := func(s string) int { return strings.Count(logs.String(), s) }

	check(200, "")
	set(problem.Wrap(problem.Unavailable, errors.New("dial tcp 127.0.0.1:5432: connection refused"), "database unavailable"))
	for range 5 {
		check(503, "not ready: database unavailable")
	}
	if count(`msg="not ready"`) != 1 || count("request failed") != 0 || !strings.Contains(logs.String(), "connection refused") {
		t.Fatalf("after five failed checks the log says:\n%s", logs.String())
	}
	set(problem.New(problem.Unavailable, "commits have waited more than 3s for a synchronous standby"))
	for range 3 {
		check(503, "not ready: commits have waited more than 3s for a synchronous standby")
	}
	if count(`msg="not ready"`) != 2 {
		t.Fatalf("a new reason was not logged once:\n%s", logs.String())
	}
	// Any other failure of the check is still a 503, with no cause of its own shown.
	set(errors.New("something else"))
	check(503, "not ready: database unavailable")
	set(nil)
	check(200, "")
	check(200, "")
	if count(`msg="ready again"`) != 1 || count(`msg="not ready"`) != 3 {
		t.Fatalf("recovery logged wrongly:\n%s", logs.String())
	}
}
