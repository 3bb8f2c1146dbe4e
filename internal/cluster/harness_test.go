package cluster

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the checks read straight from PostgreSQL
)

// cluster is a running scripts/cluster.sh cluster whose nodes reach PostgreSQL through two TCP
// proxies of the test's own, so that the test can cut that network.
type cluster struct {
	t       *testing.T
	root    string // the module's root
	dir     string
	bin     string
	env     []string
	front   string    // HAProxy
	nodes   [3]string // each node, bypassing HAProxy
	pgPorts [2]int
	proxies [2]*proxy
	owner   string // API keys
	dpo     string
	ingest  string
	client  *http.Client
}

// startCluster builds Steward and starts the cluster, or skips when PostgreSQL or HAProxy is
// missing (fails under CI, where both are required).
func startCluster(t *testing.T) *cluster {
	t.Helper()
	missing := ""
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) == 0 {
		missing = "PostgreSQL (apt-get install -y postgresql)"
	} else if _, err := exec.LookPath("haproxy"); err != nil {
		missing = "HAProxy (apt-get install -y haproxy)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("the fault suite needs %s under CI", missing)
		}
		t.Skipf("the fault suite needs %s", missing)
	}
	_, file, _, _ := runtime.Caller(0)
	c := &cluster{t: t, root: filepath.Join(filepath.Dir(file), "..", ".."), client: &http.Client{Timeout: 20 * time.Second}}
	dir, err := os.MkdirTemp("", "steward-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL's servers run as the postgres user under root: it must pass through the
	// directory to the cluster's (scripts/cluster.sh creates that one itself, 0710 root:postgres).
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	c.bin = filepath.Join(dir, "steward")
	build := exec.Command("go", "build", "-o", c.bin, "./cmd/steward")
	build.Dir = c.root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base := freeBase(t)
	c.pgPorts = [2]int{base, base + 1}
	for i := range c.proxies {
		if c.proxies[i], err = newProxy(fmt.Sprintf("127.0.0.1:%d", c.pgPorts[i])); err != nil {
			t.Fatal(err)
		}
	}
	c.front = fmt.Sprintf("http://127.0.0.1:%d", base+20)
	for i := range c.nodes {
		c.nodes[i] = fmt.Sprintf("http://127.0.0.1:%d", base+10+i)
	}
	c.env = append(os.Environ(), "STEWARD_CLUSTER_DIR="+filepath.Join(dir, "c"), "STEWARD_CLUSTER_PORT="+strconv.Itoa(base),
		"STEWARD_BIN="+c.bin, "STEWARD_CLUSTER_DB="+c.proxies[0].addr+","+c.proxies[1].addr,
		"STEWARD_CLUSTER_NODE_FLAGS=--job-lease 5s", "STEWARD_CLUSTER_FSYNC=off")
	t.Cleanup(func() {
		if t.Failed() {
			for n := 1; n <= 3; n++ {
				if b, err := os.ReadFile(filepath.Join(dir, "c", fmt.Sprintf("node%d.log", n))); err == nil {
					t.Logf("node%d log (tail):\n%s", n, tail(string(b), 3000))
				}
			}
		}
		c.script("stop")
		for _, p := range c.proxies {
			p.cut()
		}
		os.RemoveAll(dir)
	})
	if out, err := c.script("start"); err != nil {
		t.Fatalf("cluster start: %v\n%s", err, out)
	}
	key, err := os.ReadFile(filepath.Join(dir, "c", "apikey"))
	if err != nil {
		t.Fatal(err)
	}
	c.owner = strings.TrimSpace(string(key))
	c.dpo = c.newKey("dpo")
	c.ingest = c.newKey("ingest")
	code, body := c.call(c.front, "POST", "/v1/policies", c.owner, `{"version":"faults-1","text":"The policy the fault suite consents under.",
		"language":"en","controller":{"name":"Fault Suite Ltd","contact":"privacy@faults.example"},"purposes":["marketing_email","support","service"]}`)
	if code != 201 {
		t.Fatalf("publish policy: %d %s", code, body)
	}
	return c
}

// script runs scripts/cluster.sh with the cluster's settings.
func (c *cluster) script(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{filepath.Join(c.root, "scripts", "cluster.sh")}, args...)...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *cluster) mustScript(args ...string) {
	c.t.Helper()
	if out, err := c.script(args...); err != nil {
		c.t.Fatalf("cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (c *cluster) newKey(role string) string {
	c.t.Helper()
	code, body := c.call(c.front, "POST", "/v1/apikeys", c.owner, `{"role":"`+role+`","name":"fault suite `+role+`"}`)
	var k struct{ Key string }
	if err := json.Unmarshal([]byte(body), &k); code != 201 || err != nil || k.Key == "" {
		c.t.Fatalf("create %s key: %d %s", role, code, body)
	}
	return k.Key
}

// call sends one request and returns the status and body; a transport error is status 0.
func (c *cluster) call(base, method, path, key, body string) (int, string) {
	code, b, _ := c.callHeader(base, method, path, key, body, nil)
	return code, b
}

func (c *cluster) callHeader(base, method, path, key, body string, hdr map[string]string) (int, string, http.Header) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, err.Error(), nil
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// db opens the database on whichever server is the primary now.
func (c *cluster) db() *sql.DB {
	c.t.Helper()
	db, err := sql.Open("pgx", c.dbURL())
	if err != nil {
		c.t.Fatal(err)
	}
	return db
}

// dbURL reaches the primary directly, not through the proxies the nodes use. The steward
// role's password is in the cluster's libpq password file, which the URL names.
func (c *cluster) dbURL() string {
	return fmt.Sprintf("postgres://steward@127.0.0.1:%d,127.0.0.1:%d/steward?sslmode=disable&target_session_attrs=read-write&connect_timeout=3&passfile=%s",
		c.pgPorts[0], c.pgPorts[1], url.QueryEscape(filepath.Join(c.dir, "c", "pgpass")))
}

// nodePID is the process id of node n (1-3), 0 when it is not running. The script's pid file
// holds the pid and the process's start time.
func (c *cluster) nodePID(n int) int {
	b, err := os.ReadFile(filepath.Join(c.dir, "c", fmt.Sprintf("node%d.pid", n)))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

// nodeOwner is the name node n claims jobs under, from its log.
func (c *cluster) nodeOwner(n int) string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "c", fmt.Sprintf("node%d.log", n)))
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if _, rest, ok := strings.Cut(lines[i], "job_owner="); ok {
			return strings.Fields(rest)[0]
		}
	}
	return ""
}

// rssMiB is node n's resident memory.
func (c *cluster) rssMiB(n int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.nodePID(n)))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// auditVerify runs steward audit verify against the database, as an operator would.
func (c *cluster) auditVerify() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, "audit", "verify", "--data", filepath.Join(c.dir, "c", "node1"), "--db", c.dbURL())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// freeBase picks a first port whose cluster ports (see scripts/cluster.sh) are all free.
func freeBase(t *testing.T) int {
	for range 50 {
		base := 20000 + rand.IntN(40000)
		ok := true
		for _, off := range []int{0, 1, 10, 11, 12, 20} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// proxy is a TCP proxy between the nodes and one PostgreSQL server. cut closes its listener
// and every connection through it, as a network cut seen by both ends would; restore listens
// again on the same address.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
}

func newProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.serve(ln)
	return p, nil
}

func (p *proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *proxy) pipe(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut while dialling
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) restore() error {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.mu.Lock()
			p.ln = ln
			p.mu.Unlock()
			go p.serve(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// csvBody is an import file of the given e-mail addresses.
func csvBody(emails []string) *bytes.Buffer {
	var b bytes.Buffer
	b.WriteString("E-mail\n")
	for _, e := range emails {
		b.WriteString(e + "\n")
	}
	return &b
}
