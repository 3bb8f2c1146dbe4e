package app

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSegmentNodeClient drives the official Segment Node client (@segment/analytics-node,
// installed from npm with the committed lock file) against this server — identify, track,
// page, flush — and checks every message arrived exactly once, although the first batch is
// answered 503 after it was stored, so the client retries it.
func TestSegmentNodeClient(t *testing.T) {
	if testing.Short() {
		t.Skip("installs an npm package and runs node")
	}
	node, nerr := exec.LookPath("node")
	npm, perr := exec.LookPath("npm")
	if nerr != nil || perr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node and npm are required under CI (.ci/run installs them)")
		}
		t.Skip("node or npm not installed: the real-client test needs both (apt-get install nodejs npm)")
	}
	src, _ := filepath.Abs("../../test/segment-node")
	work := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "send.mjs"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	install := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	install.Dir = work
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}

	e := newEnv(t, "")
	inner := e.app.HTTP().Handler()
	var batches, failed atomic.Int32
	// The first batch is stored and then answered 503, as when a proxy times out after the
	// server committed: the client must retry, and the retry must store nothing new.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/batch" && batches.Add(1) == 1 {
			rec := &discardWriter{header: http.Header{}}
			inner.ServeHTTP(rec, r)
			if rec.status == 200 {
				failed.Add(1)
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		inner.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "send.mjs")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "STEWARD_HOST=http://"+ln.Addr().String(), "STEWARD_WRITE_KEY="+e.keys["ingest"])
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client: %v %s", err, out)
	}
	sent := strings.Fields(string(out))
	if len(sent) != 9 {
		t.Fatalf("client reports %d messages sent, want 9: %s", len(sent), out)
	}
	if failed.Load() != 1 || batches.Load() < 2 {
		t.Fatalf("the client did not retry a stored batch (batches %d, stored-then-failed %d)", batches.Load(), failed.Load())
	}
	var events, dedup int
	db := e.app.Store.Write()
	if err := db.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM ingest_messages`).Scan(&dedup); err != nil {
		t.Fatal(err)
	}
	if events != 9 || dedup != 9 {
		t.Fatalf("got %d events and %d message ids, want each of the 9 messages exactly once", events, dedup)
	}
	id := e.customerOf("node.client@example.com")
	if n := len(e.events(id, "?limit=100", "").Data); n != 9 {
		t.Fatalf("the customer has %d events, want all 9 stitched to them", n)
	}
}

type discardWriter struct {
	header http.Header
	status int
}

func (d *discardWriter) Header() http.Header { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = 200
	}
	return len(b), nil
}
func (d *discardWriter) WriteHeader(s int) {
	if d.status == 0 {
		d.status = s
	}
}
