package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/keys"
)

// TestFaults runs the mixed load through HAProxy while a node is killed and restarted, the
// primary is stopped and the standby promoted, and the database network is cut; after each
// fault it checks the invariants (see checkInvariants). With STEWARD_CLUSTER_SOAK set to a
// duration, a steady-rate soak follows and reports latency, memory and database growth.
func TestFaults(t *testing.T) {
	c := startCluster(t)
	ld := startLoad(c, 8, 0)
	stopped := false
	defer func() {
		if !stopped {
			ld.end()
		}
	}()
	report := newReport(t, c, ld)
	phase := func(name string, d time.Duration) {
		time.Sleep(d)
		report.interval(name)
	}
	phase("warm-up", 8*time.Second)

	// 1. A node killed with SIGKILL while it holds a job's lease, then started again.
	victim, tookOver := c.killJobHolder()
	phase(fmt.Sprintf("node%d killed", victim), 6*time.Second)
	c.mustScript("node-start", fmt.Sprint(victim))
	phase(fmt.Sprintf("node%d back", victim), 4*time.Second)
	c.checkInvariants(ld, "after kill -9 of a node")
	if tookOver != "" {
		c.waitJobDone(tookOver)
	}

	// 2. The synchronous standby stopped: the primary holds every commit until it is back.
	c.mustScript("pg-stop-standby")
	released := c.checkStandbyStall()
	c.mustScript("pg-start-standby")
	released()
	phase("standby stopped and back", 8*time.Second)
	c.checkInvariants(ld, "after the standby's return")

	// 3. The primary stopped at once, the standby promoted a moment later.
	c.mustScript("pg-stop-primary")
	time.Sleep(2 * time.Second)
	c.mustScript("pg-promote")
	phase("failover", 10*time.Second)
	c.checkInvariants(ld, "after the failover")

	// 4. The network between the nodes and PostgreSQL cut for five seconds.
	for _, p := range c.proxies {
		p.cut()
	}
	time.Sleep(time.Second)
	c.checkCutAnswers()
	time.Sleep(4 * time.Second)
	for _, p := range c.proxies {
		if err := p.restore(); err != nil {
			t.Fatal(err)
		}
	}
	phase("network cut", 8*time.Second)
	c.checkInvariants(ld, "after the network cut")

	if d, err := time.ParseDuration(os.Getenv("STEWARD_CLUSTER_SOAK")); err == nil && d > 0 {
		ld.end()
		stopped = true
		soak := startLoad(c, 8, 40*time.Millisecond)
		soak.l = ld.l
		report.ld = soak
		for end := time.Now().Add(d); time.Now().Before(end); {
			phase("soak", 30*time.Second)
		}
		soak.end()
		report.growth()
	} else {
		ld.end()
		stopped = true
	}
	c.waitImports(ld.l)
	c.checkInvariants(ld, "at the end")
	report.summary()
}

// killJobHolder queues a key rotation (a rewrap job over every customer), kills the node
// holding its lease if one does within a few seconds, else node 2, and returns the node and the
// job id left behind to be taken over ("" when the job was already done).
func (c *cluster) killJobHolder() (int, string) {
	code, body := c.call(c.front, "POST", "/v1/keys/rotate", c.owner, "")
	if code != 202 {
		c.t.Fatalf("rotate: %d %s", code, body)
	}
	db := c.db()
	defer db.Close()
	owners := map[string]int{}
	for n := 1; n <= 3; n++ {
		owners[c.nodeOwner(n)] = n
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		var id, owner string
		if err := db.QueryRow(`SELECT id, owner FROM jobs WHERE state = 'running' AND kind = $1 ORDER BY created_at DESC LIMIT 1`, keys.RewrapJob).Scan(&id, &owner); err == nil {
			if n, ok := owners[owner]; ok {
				c.mustScript("node-kill", fmt.Sprint(n))
				c.t.Logf("killed node%d holding job %s", n, id)
				return n, id
			}
		}
	}
	c.t.Logf("the rewrap job finished before it could be caught running; killing node2")
	c.mustScript("node-kill", "2")
	return 2, ""
}

// waitJobDone waits for another node to take the killed node's job over once its lease runs
// out, and finish it.
func (c *cluster) waitJobDone(id string) {
	db := c.db()
	defer db.Close()
	var state, owner string
	for end := time.Now().Add(90 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if err := db.QueryRow(`SELECT state, owner FROM jobs WHERE id = $1`, id).Scan(&state, &owner); err == nil && state == "done" {
			c.t.Logf("job %s taken over and finished by %s", id, owner)
			return
		}
	}
	c.t.Errorf("job %s left by the killed node: state %s, want done", id, state)
}

// checkCutAnswers: with the database unreachable, a node answers a write with 503 and
// Retry-After (never 2xx), and HAProxy, finding no node ready, answers the same way.
func (c *cluster) checkCutAnswers() {
	email := fmt.Sprintf("cut-%d@faults.example", time.Now().UnixNano())
	code, body, h := c.callHeader(c.nodes[0], "POST", "/v1/customers", c.owner, `{"fields":{"email":"`+email+`"}}`, nil)
	if code != 503 || h.Get("Retry-After") == "" {
		c.t.Errorf("write during the cut: got %d (Retry-After %q) %s, want 503 with Retry-After", code, h.Get("Retry-After"), tail(body, 200))
	}
	// HAProxy marks a node down after two failed checks, 500 ms apart; until then a request
	// may still reach a node, which answers 503 with Retry-After just the same.
	down := false
	for end := time.Now().Add(10 * time.Second); !down && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		code, _, h = c.callHeader(c.front, "GET", "/v1/customers?email=x@faults.example", c.owner, "", nil)
		if code != 503 || h.Get("Retry-After") == "" {
			break
		}
		_, body, _ := c.callHeader(c.front, "GET", "/readyz", "", "", nil)
		down = strings.Contains(body, "no Steward node is ready")
	}
	switch {
	case code != 503 || h.Get("Retry-After") == "":
		c.t.Errorf("through HAProxy during the cut: got %d (Retry-After %q), want 503 with Retry-After", code, h.Get("Retry-After"))
	case !down:
		c.t.Errorf("HAProxy still found a node ready 10 s into the cut: /readyz must fail without the database")
	}
}

// checkStandbyStall: with the synchronous standby stopped, a write sent to a node waits (its
// commit held by the primary) and is not acknowledged; within seconds every node's /readyz
// answers 503 naming the standby, and HAProxy, finding no node ready, answers 503 with
// Retry-After. It returns a function to call once the standby is started again, which checks
// that the held write is then acknowledged and stored.
func (c *cluster) checkStandbyStall() func() {
	email := fmt.Sprintf("held-%d@faults.example", time.Now().UnixNano())
	type answer struct {
		code int
		body string
	}
	held := make(chan answer, 1)
	// The held write waits longer than the load's requests may.
	patient := *c
	patient.client = &http.Client{Timeout: 2 * time.Minute}
	go func() {
		code, body, _ := patient.callHeader(c.nodes[0], "POST", "/v1/customers", c.owner, `{"fields":{"email":"`+email+`"}}`, nil)
		held <- answer{code, body}
	}()
	notReady := map[int]bool{}
	for end := time.Now().Add(20 * time.Second); len(notReady) < len(c.nodes) && time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		for i, node := range c.nodes {
			code, body, _ := c.callHeader(node, "GET", "/readyz", "", "", nil)
			if code == 503 && strings.Contains(body, "synchronous standby") {
				notReady[i] = true
			}
		}
	}
	if len(notReady) < len(c.nodes) {
		c.t.Errorf("with the standby stopped, %d of %d nodes reported themselves not ready within 20 s", len(notReady), len(c.nodes))
	}
	// HAProxy marks a node down after two failed checks, 500 ms apart. Until then a request
	// may still reach a node and be held there, so its own readiness is asked first.
	down := false
	for end := time.Now().Add(10 * time.Second); !down && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		_, body, _ := c.callHeader(c.front, "GET", "/readyz", "", "", nil)
		down = strings.Contains(body, "no Steward node is ready")
	}
	if !down {
		c.t.Errorf("HAProxy still found a node ready 10 s after every node reported the standby missing")
	}
	code, _, h := c.callHeader(c.front, "GET", "/v1/customers?email=x@faults.example", c.owner, "", nil)
	if code != 503 || h.Get("Retry-After") == "" {
		c.t.Errorf("through HAProxy with the standby stopped: got %d (Retry-After %q), want 503 with Retry-After", code, h.Get("Retry-After"))
	}
	select {
	case a := <-held:
		c.t.Errorf("a write answered %d while the standby was stopped, want it held: %s", a.code, tail(a.body, 200))
		held <- a
	default:
	}
	return func() {
		select {
		case a := <-held:
			if a.code != 201 {
				c.t.Errorf("the held write answered %d once the standby was back, want 201: %s", a.code, tail(a.body, 200))
				return
			}
		case <-time.After(30 * time.Second):
			c.t.Errorf("the held write was not answered 30 s after the standby was started again")
			return
		}
		ready := false
		for end := time.Now().Add(10 * time.Second); !ready && time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			code, _ := c.call(c.front, "GET", "/readyz", "", "")
			ready = code == 200
		}
		if !ready {
			c.t.Errorf("no node ready 10 s after the standby's return")
			return
		}
		if code, body := c.call(c.nodes[1], "GET", "/v1/customers?email="+email, c.owner, ""); code != 200 || !strings.Contains(body, `"id"`) {
			c.t.Errorf("the held write's customer, asked of another node: %d %s", code, tail(body, 200))
		}
	}
}

var productID = regexp.MustCompile(`"product_id":"(ev-[0-9]+-[0-9]+-[0-9]+)"`)

// checkInvariants pauses the load and checks, against the database itself and every node:
// every acknowledged customer, event and consent is there; no event is stored twice; no
// erased customer is back; the audit trail verifies; no job is stranded under an expired
// lease; and a withdrawal made on one node is seen by the others on their next request.
func (c *cluster) checkInvariants(ld *load, when string) {
	t := c.t
	resume := ld.pause()
	defer resume()
	l := ld.l
	l.mu.Lock()
	defer l.mu.Unlock()
	db := c.db()
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ids := make([]string, 0, len(l.customers))
	for id := range l.customers {
		ids = append(ids, id)
	}
	present := map[string]bool{}
	rows, err := db.QueryContext(ctx, `SELECT id FROM customers WHERE id = ANY($1)`, ids)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		present[id] = true
	}
	rows.Close()
	lost := 0
	for _, id := range ids {
		if !present[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%s: %d of %d acknowledged customers lost", when, lost, len(ids))
	}

	erased := make([]string, 0, len(l.erased))
	for id := range l.erased {
		erased = append(erased, id)
	}
	var back int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM customers WHERE id = ANY($1)`, erased).Scan(&back); err != nil || back > 0 {
		t.Errorf("%s: %d of %d erased customers back (%v)", when, back, len(erased), err)
	}
	for i, id := range erased {
		if i >= 20 {
			break
		}
		if code, body := c.call(c.front, "GET", "/v1/customers?email="+l.erased[id], c.owner, ""); code != 200 || strings.Contains(body, id) {
			t.Errorf("%s: look-up of an erased customer: %d %s", when, code, tail(body, 200))
		}
	}

	seen := map[string]int{}
	rows, err = db.QueryContext(ctx, `SELECT plain FROM events WHERE name = 'Product Viewed'`)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	for rows.Next() {
		var plain string
		_ = rows.Scan(&plain)
		for _, m := range productID.FindAllStringSubmatch(plain, -1) {
			seen[m[1]]++
		}
	}
	rows.Close()
	missing, twice := 0, 0
	for p := range l.events {
		if seen[p] == 0 {
			missing++
		}
	}
	for _, n := range seen {
		if n > 1 {
			twice++
		}
	}
	if missing > 0 || twice > 0 {
		t.Errorf("%s: of %d acknowledged events %d missing; %d stored more than once", when, len(l.events), missing, twice)
	}

	checked, wrong := 0, 0
	for id, granted := range l.consent {
		if l.unsure[id] || checked >= 150 {
			continue
		}
		node := c.nodes[checked%3]
		checked++
		code, body := c.call(node, "GET", "/v1/customers/"+id+"/permissions/marketing_email", c.owner, "")
		var d struct{ Allowed bool }
		if code != 200 || json.Unmarshal([]byte(body), &d) != nil || d.Allowed != granted {
			wrong++
			if wrong < 4 {
				t.Errorf("%s: consent of %s on %s: got %d %s, want allowed=%t", when, id, node, code, tail(body, 200), granted)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%s: %d of %d acknowledged consent choices not in force", when, wrong, checked)
	}

	if out, err := c.auditVerify(); err != nil {
		t.Errorf("%s: steward audit verify: %v\n%s", when, err, out)
	}
	var stranded int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_until < $1`,
		time.Now().Add(-30*time.Second).UnixMicro()).Scan(&stranded); err != nil || stranded > 0 {
		t.Errorf("%s: %d jobs stranded under a lease expired 30 s ago (%v)", when, stranded, err)
	}
	c.checkWithdrawalSeen(l, when)
	t.Logf("%s: %d customers, %d erased, %d events, %d consent choices checked: all there, none twice, audit intact",
		when, len(ids), len(erased), len(l.events), checked)
}

// checkWithdrawalSeen: a customer's consent is read on every node (so each caches it), then
// withdrawn on one node; each other node must refuse on its very next check.
func (c *cluster) checkWithdrawalSeen(l *ledger, when string) {
	var id string
	for cid := range l.customers {
		if !l.unsure[cid] {
			id = cid
			break
		}
	}
	if id == "" {
		return
	}
	set := func(node string, granted bool) {
		code, body := c.call(node, "POST", "/v1/customers/"+id+"/consents", c.owner,
			fmt.Sprintf(`{"purpose":"marketing_email","granted":%t,"policy_version":"faults-1","source":"api","channel":"web"}`, granted))
		if code != 201 {
			c.t.Fatalf("%s: consent on %s: %d %s", when, node, code, body)
		}
		l.consent[id] = granted
	}
	allowed := func(node string) bool {
		code, body := c.call(node, "GET", "/v1/customers/"+id+"/permissions/marketing_email", c.owner, "")
		var d struct{ Allowed bool }
		if code != 200 || json.Unmarshal([]byte(body), &d) != nil {
			c.t.Fatalf("%s: permission on %s: %d %s", when, node, code, body)
		}
		return d.Allowed
	}
	set(c.nodes[1], true)
	for _, n := range c.nodes {
		if !allowed(n) {
			c.t.Errorf("%s: a grant made on node2 not seen by %s", when, n)
		}
	}
	set(c.nodes[0], false)
	for _, n := range c.nodes[1:] {
		if allowed(n) {
			c.t.Errorf("%s: a withdrawal made on node1 not seen by %s on its next check", when, n)
		}
	}
}

// waitImports waits for every acknowledged import to end: done with its rows stored, or
// failed because the node holding the upload died (docs/import.md), never left running.
func (c *cluster) waitImports(l *ledger) {
	for id, emails := range l.imports {
		var st struct {
			State    string
			Imported int
			Error    string
		}
		for end := time.Now().Add(90 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
			_, body := c.call(c.front, "GET", "/v1/imports/"+id, c.owner, "")
			_ = json.Unmarshal([]byte(body), &st)
			if st.State == "done" || st.State == "failed" {
				break
			}
		}
		switch st.State {
		case "done":
			for _, e := range emails {
				if code, body := c.call(c.front, "GET", "/v1/customers?email="+e, c.owner, ""); code != 200 || !strings.Contains(body, `"id"`) {
					c.t.Errorf("import %s done but %s not found: %d", id, e, code)
				}
			}
		case "failed":
			c.t.Logf("import %s failed: %s", id, st.Error)
		default:
			c.t.Errorf("import %s: state %q after 90 s", id, st.State)
		}
	}
}

// report prints, per interval, each operation's count, p50 and p99, failures and retries,
// and each node's memory.
type report struct {
	t      *testing.T
	c      *cluster
	ld     *load
	start  time.Time
	events int64
	size   int64
	fails  int
}

func newReport(t *testing.T, c *cluster, ld *load) *report {
	r := &report{t: t, c: c, ld: ld, start: time.Now()}
	r.events, r.size = r.dbSize()
	return r
}

func (r *report) interval(name string) {
	lat, failures, retries, notes := r.ld.rec.take()
	var b strings.Builder
	fmt.Fprintf(&b, "%5.0fs %-14s", time.Since(r.start).Seconds(), name)
	names := make([]string, 0, len(lat))
	for op := range lat {
		names = append(names, op)
	}
	sort.Strings(names)
	for _, op := range names {
		fmt.Fprintf(&b, " %s n=%d p50=%.0fms p99=%.0fms", op, len(lat[op]), ms(pct(lat[op], 0.5)), ms(pct(lat[op], 0.99)))
		if failures[op] > 0 || retries[op] > 0 {
			fmt.Fprintf(&b, " (failed %d, retried %d)", failures[op], retries[op])
		}
	}
	for op, n := range failures {
		r.fails += n
		if lat[op] == nil {
			fmt.Fprintf(&b, " %s failed %d", op, n)
		}
	}
	fmt.Fprintf(&b, " | RSS MiB")
	for n := 1; n <= 3; n++ {
		fmt.Fprintf(&b, " %.0f", r.c.rssMiB(n))
	}
	r.t.Log(b.String())
	for _, n := range notes {
		r.t.Logf("  %s", n)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *report) dbSize() (events, bytes int64) {
	db := r.c.db()
	defer db.Close()
	_ = db.QueryRow(`SELECT (SELECT COUNT(*) FROM events), pg_database_size(current_database())`).Scan(&events, &bytes)
	return
}

// growth reports the database's growth per event stored since the start.
func (r *report) growth() {
	events, size := r.dbSize()
	if events > r.events {
		r.t.Logf("database growth: %d bytes over %d events stored (%.0f bytes per event, customers and audit included)",
			size-r.size, events-r.events, float64(size-r.size)/float64(events-r.events))
	}
}

// summary fails the test for any operation that failed after its retries: under every fault
// the load must only have waited, never lost an answer.
func (r *report) summary() {
	r.growth()
	if r.fails > 0 {
		r.t.Errorf("%d operations failed after their retries (see the intervals above)", r.fails)
	}
}
