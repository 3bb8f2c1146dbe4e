package cluster

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// The operations of the mixed load, with their weights out of 100.
var ops = []struct {
	name   string
	weight int
	run    func(*worker) string // "" or why the operation failed
}{
	{"create", 22, (*worker).create}, {"lookup", 22, (*worker).lookup}, {"reveal", 10, (*worker).reveal},
	{"batch", 24, (*worker).batch}, {"consent", 12, (*worker).consent}, {"import", 3, (*worker).upload},
	{"export", 4, func(w *worker) string { return w.request("access") }}, {"erasure", 3, func(w *worker) string { return w.request("erasure") }},
}

// ledger is what the cluster acknowledged: every later check compares the database with it.
type ledger struct {
	mu        sync.Mutex
	customers map[string]string // id → e-mail, acknowledged and not erased
	erased    map[string]string // id → e-mail, erasure acknowledged
	consent   map[string]bool   // id → the last acknowledged marketing_email choice
	unsure    map[string]bool   // ids whose last consent or erasure outcome is unknown
	events    map[string]bool   // product_id of every acknowledged event
	imports   map[string][]string
}

func newLedger() *ledger {
	return &ledger{customers: map[string]string{}, erased: map[string]string{}, consent: map[string]bool{},
		unsure: map[string]bool{}, events: map[string]bool{}, imports: map[string][]string{}}
}

// recorder keeps per-operation latencies and failures, per reporting interval.
type recorder struct {
	mu       sync.Mutex
	lat      map[string][]time.Duration
	failures map[string]int
	retries  map[string]int
	notes    []string
}

func newRecorder() *recorder {
	return &recorder{lat: map[string][]time.Duration{}, failures: map[string]int{}, retries: map[string]int{}}
}

func (r *recorder) ok(op string, d time.Duration) {
	r.mu.Lock()
	r.lat[op] = append(r.lat[op], d)
	r.mu.Unlock()
}

func (r *recorder) fail(op, why string) {
	r.mu.Lock()
	r.failures[op]++
	if len(r.notes) < 20 {
		r.notes = append(r.notes, op+": "+why)
	}
	r.mu.Unlock()
}

func (r *recorder) retried(op string) {
	r.mu.Lock()
	r.retries[op]++
	r.mu.Unlock()
}

// take returns the interval's figures and starts a new interval.
func (r *recorder) take() (lat map[string][]time.Duration, failures, retries map[string]int, notes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lat, failures, retries, notes = r.lat, r.failures, r.retries, r.notes
	r.lat, r.failures, r.retries, r.notes = map[string][]time.Duration{}, map[string]int{}, map[string]int{}, nil
	return
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// load is the mixed load: workers, each owning the customers it created, so that its
// consents and erasures of one customer happen in order.
type load struct {
	c      *cluster
	l      *ledger
	rec    *recorder
	gate   sync.RWMutex // workers hold it for reading per operation; pause takes it for writing
	stop   chan struct{}
	wg     sync.WaitGroup
	period time.Duration // per worker between operations; zero as fast as answered
}

func startLoad(c *cluster, workers int, period time.Duration) *load {
	ld := &load{c: c, l: newLedger(), rec: newRecorder(), stop: make(chan struct{}), period: period}
	for w := range workers {
		ld.wg.Add(1)
		go ld.worker(w)
	}
	return ld
}

// pause waits for the operations in flight and holds the workers until the returned function.
func (ld *load) pause() func() {
	ld.gate.Lock()
	return ld.gate.Unlock
}

func (ld *load) end() {
	close(ld.stop)
	ld.wg.Wait()
}

type worker struct {
	ld   *load
	id   int
	seq  int
	mine []string // live customers this worker created
}

func (ld *load) worker(id int) {
	defer ld.wg.Done()
	w := &worker{ld: ld, id: id}
	tick := time.NewTicker(max(ld.period, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ld.stop:
			return
		default:
		}
		if ld.period > 0 {
			select {
			case <-ld.stop:
				return
			case <-tick.C:
			}
		}
		ld.gate.RLock()
		w.one()
		ld.gate.RUnlock()
	}
}

func (w *worker) one() {
	n := rand.IntN(100)
	op := ops[0]
	for _, o := range ops {
		if n < o.weight {
			op = o
			break
		}
		n -= o.weight
	}
	if len(w.mine) < 3 && op.name != "batch" && op.name != "import" {
		op = ops[0] // create: the other operations act on the worker's own customers
	}
	w.seq++
	start := time.Now()
	if why := op.run(w); why != "" {
		w.ld.rec.fail(op.name, why)
		return
	}
	w.ld.rec.ok(op.name, time.Since(start))
}

// retry sends a request until it is answered with something other than a transport error,
// 502, 503 or 504, for up to a minute: what a well-behaved client does when a node or the
// database is away, sending the very same request again (to whichever node HAProxy picks).
func (w *worker) retry(op, method, path, key, body string, hdr map[string]string) (int, string) {
	deadline := time.Now().Add(time.Minute)
	for {
		code, b, h := w.ld.c.callHeader(w.ld.c.front, method, path, key, body, hdr)
		switch code {
		case 0, 502, 503, 504:
		default:
			return code, b
		}
		if code == 503 && h.Get("Retry-After") == "" {
			w.ld.rec.fail(op, "503 without Retry-After: "+tail(b, 200))
		}
		if time.Now().After(deadline) {
			return code, b
		}
		w.ld.rec.retried(op)
		time.Sleep(time.Duration(200+rand.IntN(300)) * time.Millisecond)
	}
}

func (w *worker) pick() string { return w.mine[rand.IntN(len(w.mine))] }

func (w *worker) create() string {
	email := fmt.Sprintf("w%d-%d@faults.example", w.id, w.seq)
	code, body := w.retry("create", "POST", "/v1/customers", w.ld.c.owner, `{"fields":{"email":"`+email+`","first_name":"Load"}}`, nil)
	var r struct {
		ID         string `json:"id"`
		ExistingID string `json:"existing_id"`
	}
	_ = json.Unmarshal([]byte(body), &r)
	switch {
	case code == 201 && r.ID != "":
	case code == 409 && r.ExistingID != "":
		// An earlier attempt was stored though its answer was lost: the same customer.
		r.ID = r.ExistingID
	default:
		return fmt.Sprintf("%d %s", code, tail(body, 200))
	}
	w.ld.l.mu.Lock()
	w.ld.l.customers[r.ID] = email
	w.ld.l.mu.Unlock()
	w.mine = append(w.mine, r.ID)
	return ""
}

func (w *worker) email(id string) string {
	w.ld.l.mu.Lock()
	defer w.ld.l.mu.Unlock()
	return w.ld.l.customers[id]
}

func (w *worker) lookup() string {
	id := w.pick()
	code, body := w.retry("lookup", "GET", "/v1/customers?email="+url.QueryEscape(w.email(id)), w.ld.c.owner, "", nil)
	if code != 200 || !strings.Contains(body, id) {
		return fmt.Sprintf("acknowledged customer not found: %d %s", code, tail(body, 200))
	}
	return ""
}

func (w *worker) reveal() string {
	id := w.pick()
	code, body := w.retry("reveal", "GET", "/v1/customers/"+id, w.ld.c.owner, "", map[string]string{"Steward-Purpose": "support"})
	if code != 200 || !strings.Contains(body, w.email(id)) {
		return fmt.Sprintf("reveal: %d %s", code, tail(body, 200))
	}
	return ""
}

// batch sends 20 Segment events whose messageIds are also their product_id, so that the
// database can be searched for each one; a retry repeats the messageIds.
func (w *worker) batch() string {
	var b strings.Builder
	b.WriteString(`{"batch":[`)
	pids := make([]string, 20)
	for i := range pids {
		pids[i] = fmt.Sprintf("ev-%d-%d-%d", w.id, w.seq, i)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"track","event":"Product Viewed","userId":"load-%d","messageId":%q,"properties":{"product_id":%q}}`, w.id, pids[i], pids[i])
	}
	b.WriteString(`]}`)
	code, body := w.retry("batch", "POST", "/v1/batch", "", b.String(), map[string]string{"Authorization": basic(w.ld.c.ingest)})
	if code != 200 {
		return fmt.Sprintf("%d %s", code, tail(body, 200))
	}
	w.ld.l.mu.Lock()
	for _, p := range pids {
		w.ld.l.events[p] = true
	}
	w.ld.l.mu.Unlock()
	return ""
}

func basic(key string) string {
	r, _ := http.NewRequest("GET", "http://x", nil)
	r.SetBasicAuth(key, "")
	return r.Header.Get("Authorization")
}

func (w *worker) consent() string {
	id := w.pick()
	w.ld.l.mu.Lock()
	granted := !w.ld.l.consent[id]
	w.ld.l.mu.Unlock()
	code, body := w.retry("consent", "POST", "/v1/customers/"+id+"/consents", w.ld.c.owner,
		fmt.Sprintf(`{"purpose":"marketing_email","granted":%t,"policy_version":"faults-1","source":"api","channel":"web"}`, granted), nil)
	w.ld.l.mu.Lock()
	defer w.ld.l.mu.Unlock()
	if code != 201 {
		w.ld.l.unsure[id] = true
		return fmt.Sprintf("%d %s", code, tail(body, 200))
	}
	w.ld.l.consent[id] = granted
	delete(w.ld.l.unsure, id)
	return ""
}

func (w *worker) upload() string {
	emails := make([]string, 5)
	for i := range emails {
		emails[i] = fmt.Sprintf("imp%d-%d-%d@faults.example", w.id, w.seq, i)
	}
	req, _ := http.NewRequest("POST", w.ld.c.front+"/v1/imports?map=E-mail=email", csvBody(emails))
	req.Header.Set("Authorization", "Bearer "+w.ld.c.owner)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := w.ld.c.client.Do(req)
	if err != nil {
		return "" // not acknowledged: nothing to check
	}
	defer resp.Body.Close()
	var r struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&r)
	switch {
	case resp.StatusCode == 202 && r.ID != "":
	case resp.StatusCode >= 502:
		return ""
	default:
		return fmt.Sprintf("import: %d", resp.StatusCode)
	}
	w.ld.l.mu.Lock()
	w.ld.l.imports[r.ID] = emails
	w.ld.l.mu.Unlock()
	return ""
}

// request opens a staff request for one of the worker's customers, and the DPO verifies and
// completes it: an access export, or an erasure.
func (w *worker) request(kind string) string {
	id := w.pick()
	code, body := w.retry(kind, "POST", "/v1/requests", w.ld.c.owner, `{"type":"`+kind+`","customer_id":"`+id+`"}`, nil)
	var r struct{ ID string }
	_ = json.Unmarshal([]byte(body), &r)
	if code != 201 || r.ID == "" {
		return fmt.Sprintf("open: %d %s", code, tail(body, 200))
	}
	// A 409 saying it is verified answers a retry whose first attempt was stored.
	if code, body := w.retry(kind, "POST", "/v1/requests/"+r.ID+"/verify", w.ld.c.dpo, "", nil); code != 200 && !(code == 409 && strings.Contains(body, "request is verified")) {
		return fmt.Sprintf("verify: %d %s", code, tail(body, 200))
	}
	if kind == "erasure" {
		w.ld.l.mu.Lock()
		w.ld.l.unsure[id] = true
		w.ld.l.mu.Unlock()
	}
	code, body = w.retry(kind, "POST", "/v1/requests/"+r.ID+"/complete", w.ld.c.dpo, "", nil)
	if code != 200 && !(code == 409 && strings.Contains(body, "already completed")) {
		return fmt.Sprintf("complete: %d %s", code, tail(body, 200))
	}
	if kind == "erasure" {
		w.ld.l.mu.Lock()
		w.ld.l.erased[id] = w.ld.l.customers[id]
		delete(w.ld.l.customers, id)
		delete(w.ld.l.consent, id)
		delete(w.ld.l.unsure, id)
		w.ld.l.mu.Unlock()
		w.mine = slices.DeleteFunc(w.mine, func(s string) bool { return s == id })
	}
	return ""
}
