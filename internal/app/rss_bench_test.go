package app

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
)

// BenchmarkServerRSS measures the resident memory of a steward serve process over a SQLite
// database of 100,000 and of STEWARD_BENCH_CUSTOMERS (default 1,000,000) customers, after
// 20,000 look-ups by e-mail over HTTP: what an operator sizes the machine by, and how it grows
// with the customer base. The baseline is the same process over an empty database. The
// populations are created once through the customer service and kept in
// $TMPDIR/steward-bench-rss-N between runs.
func BenchmarkServerRSS(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "steward")
	build := exec.Command("go", "build", "-o", bin, "github.com/stewardhq/steward/cmd/steward")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	sizes := []int{0, 100_000, lookupCustomers()}
	rss := make([]float64, len(sizes))
	for i, n := range sizes {
		dir := b.TempDir()
		if n > 0 {
			dir = filepath.Join(os.TempDir(), fmt.Sprintf("steward-bench-rss-%d", n))
		}
		a := benchApp(b, dir)
		fill(b, a, n, benchPerson)
		key, _, err := a.APIKeys.Create(authz.WithActor(context.Background(), authz.System), "support", "rss bench")
		if err != nil {
			b.Fatal(err)
		}
		a.Close()
		rss[i] = serveRSS(b, bin, dir, key, max(n, 1))
	}
	b.ReportMetric(rss[0], "MiB_empty")
	b.ReportMetric(rss[1], "MiB_100k")
	b.ReportMetric(rss[2], "MiB")
	b.ReportMetric(float64(sizes[2]), "customers")
	if sizes[2] > sizes[1] {
		b.ReportMetric((rss[2]-rss[1])*1024/float64(sizes[2]-sizes[1]), "KiB_per_customer")
	}
	b.ReportMetric(rss[2]/500, "ratio")
}

// serveRSS starts steward serve on dir, looks up 20,000 customers by e-mail over HTTP from 16
// clients, and returns the process's resident memory in MiB.
func serveRSS(b *testing.B, bin, dir, key string, n int) float64 {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "serve", "--data", dir, "--addr", addr)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	for end := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(end) {
			b.Fatal("steward serve did not become ready")
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: callers}}
	parallel(20_000, func(i int) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/v1/customers?email=person%d@example.com", addr, (i*7919)%n), nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		resp.Body.Close()
	})
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
