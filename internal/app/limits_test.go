package app

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/httpapi"
)

// from sends a request to e's server from a loopback address of its own (127.0.0.X), as a
// different client would, and returns the status.
func (e *env) from(t *testing.T, local, method, path, body string, header map[string]string) int {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}).DialContext}}
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// slowUpload opens a tracking request that announces a body and sends almost none of it, from
// 127.0.0.1, and returns the connection (the caller closes it) and where its answer arrives.
func (e *env) slowUpload(t *testing.T, key string) (net.Conn, *bufio.Reader) {
	t.Helper()
	u, _ := url.Parse(e.srv.URL)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(key + ":"))
	fmt.Fprintf(c, "POST /v1/batch HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"batch\":[", u.Host, auth)
	return c, bufio.NewReader(c)
}

// TestSlowUploadsDoNotBlockTracking: slow uploads from one address — more of them than the
// server has slots — hold neither the slots nor the other clients' turn: a tracking request
// from another client is stored at once; a slow body is cut off after TrackingReadTimeout; a
// request with a wrong key is refused before its body is read.
func TestSlowUploadsDoNotBlockTracking(t *testing.T) {
	e := newEnv(t, "", func(c *config.Config) { c.TrackingSlots = 4 })
	defer func(d time.Duration) { httpapi.TrackingReadTimeout = d }(httpapi.TrackingReadTimeout)
	httpapi.TrackingReadTimeout = 3 * time.Second
	var conns []net.Conn
	var answers []*bufio.Reader
	for range 12 {
		c, r := e.slowUpload(t, e.keys["ingest"])
		conns = append(conns, c)
		answers = append(answers, r)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond) // let the server take them all in
	batch := `{"batch":[{"type":"track","event":"Product Viewed","userId":"u-slow","messageId":"m-slow"}]}`
	start := time.Now()
	if code := e.from(t, "127.0.0.2", "POST", "/v1/batch", batch, basic(e.keys["ingest"])); code != 200 {
		t.Fatalf("a client beside the slow uploads: got %d, want 200", code)
	}
	if took := time.Since(start); took >= httpapi.TrackingWait {
		t.Fatalf("the request waited %v for a slot, want no wait", took)
	}
	// A wrong key is refused without reading the announced body.
	bad, answer := e.slowUpload(t, "stw_wrongkey_0000000000000000000000000000000000")
	defer bad.Close()
	_ = bad.SetReadDeadline(time.Now().Add(2 * time.Second))
	if line, err := answer.ReadString('\n'); err != nil || !strings.Contains(line, " 401 ") {
		t.Fatalf("wrong key with a slow body: got %q (%v), want 401 at once", line, err)
	}
	// The slow bodies are cut off once they take longer than the read timeout.
	_ = conns[0].SetReadDeadline(time.Now().Add(httpapi.TrackingReadTimeout + 5*time.Second))
	if line, err := answers[0].ReadString('\n'); err != nil || !strings.Contains(line, " 400 ") {
		t.Fatalf("slow body: got %q (%v), want 400 after the read timeout", line, err)
	}
}

// TestFailedAuthenticationsAreLimited: an address that keeps presenting wrong keys is refused
// with 429 after AuthFailuresPerMinute failures — even for a right key, so guessing cannot go
// on with a valid key in between — while other addresses carry on; tracking and the settings
// route count the same failures.
func TestFailedAuthenticationsAreLimited(t *testing.T) {
	e := newEnv(t, "")
	wrong := map[string]string{"Authorization": "Bearer stw_guessed1_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	for i := range httpapi.AuthFailuresPerMinute {
		if code := e.from(t, "127.0.0.3", "GET", "/v1/catalog", "", wrong); code != 401 {
			t.Fatalf("guess %d: got %d, want 401", i, code)
		}
	}
	if code := e.from(t, "127.0.0.3", "GET", "/v1/catalog", "", wrong); code != 429 {
		t.Fatalf("one guess too many: got %d, want 429", code)
	}
	right := map[string]string{"Authorization": "Bearer " + e.keys["owner"]}
	if code := e.from(t, "127.0.0.3", "GET", "/v1/catalog", "", right); code != 429 {
		t.Fatalf("a right key from the guessing address: got %d, want 429", code)
	}
	if code := e.from(t, "127.0.0.3", "POST", "/v1/batch", `{"batch":[]}`, basic(e.keys["ingest"])); code != 429 {
		t.Fatalf("tracking from the guessing address: got %d, want 429", code)
	}
	if code := e.from(t, "127.0.0.4", "GET", "/v1/catalog", "", right); code != 200 {
		t.Fatalf("another address: got %d, want 200", code)
	}
	// Write-key guesses on the tracking and settings routes count too.
	for range httpapi.AuthFailuresPerMinute {
		e.from(t, "127.0.0.5", "GET", "/v1/projects/stw_guess_x/settings", "", nil)
	}
	if code := e.from(t, "127.0.0.5", "POST", "/v1/batch", `{"batch":[]}`, basic(e.keys["ingest"])); code != 429 {
		t.Fatalf("after write-key guesses: got %d, want 429", code)
	}
	if _, body := e.do(call{method: "GET", path: "/metrics"}); !strings.Contains(body, `steward_http_limited_total{limit="auth_failures"}`) ||
		!strings.Contains(body, "steward_auth_failures_total") {
		t.Fatalf("metrics lack the limit counters")
	}
}
