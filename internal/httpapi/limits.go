package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/steward/internal/problem"
)

// Limits on what one client may take of the server. Tracking routes are public to anyone
// holding a browser write key, and every route accepts guesses at keys, so the limits are per
// client address (and, for tracking, per write key) rather than global: a client that misbehaves
// uses up its own share, not everyone's.
const (
	// TrackingPerAddress bounds the tracking requests one client address may have in progress
	// (being read, waiting for a slot, or being stored). A browser sends a few at a time; a
	// slow-upload attack from one address stops here instead of holding every slot.
	TrackingPerAddress = 32
	// AuthFailuresPerMinute is how many failed authentications one client address may make in
	// a minute (from its first failure); beyond it, every authentication from that address is
	// refused with 429 until the minute is over, so keys cannot be guessed at speed.
	AuthFailuresPerMinute = 30
	// PortalRequestsPerAddress is how many privacy requests one client address may make on the
	// portal in PortalWindow; beyond it they are refused with 429 until the window is over. Each
	// request sends a message to the address it names, so without it one client could make
	// Steward mail any number of addresses (the limit per target address is in rights.CreateSelf).
	// A household or office behind one address makes a few; a script making hundreds stops here.
	PortalRequestsPerAddress = 20
	// FormPostsPerAddress is how many hosted-form submissions and confirmations one client
	// address may make in PortalWindow: sign-ups at a shop's own counter share one address,
	// a script filling forms by the thousand stops here.
	FormPostsPerAddress = 60
	// FormChecksPerAddress bounds the as-you-type checks of hosted forms per address and
	// PortalWindow: a person types a few dozen fields an hour, not thousands.
	FormChecksPerAddress = 600
	// trackedAddresses bounds the addresses remembered for the failure count: the table is
	// cleared when full, which only forgives some failures early.
	trackedAddresses = 100_000
)

// PortalWindow is the period PortalRequestsPerAddress counts over.
const PortalWindow = time.Hour

// TrackingReadTimeout is how long a tracking request may take to send its body. A batch of
// 500 KiB arrives in well under a second on any real connection; a trickle is cut off.
var TrackingReadTimeout = 10 * time.Second

// limits holds the counts behind the limits above.
type limits struct {
	trusted []netip.Prefix

	mu       sync.Mutex
	inflight map[string]int           // tracking requests in progress per client address
	readers  int                      // tracking bodies being read or held, all addresses
	perKey   map[string]chan struct{} // the slots one write key may hold at once
	failures map[string]failures      // failed authentications per client address
	portal   map[string]failures      // privacy portal requests per client address
	forms    map[string]failures      // hosted-form posts per client address
	checks   map[string]failures      // hosted-form field checks per client address

	refused *prometheus.CounterVec
	failed  prometheus.Counter
}

func newLimits(trusted []netip.Prefix) *limits {
	return &limits{trusted: trusted, inflight: map[string]int{}, perKey: map[string]chan struct{}{}, failures: map[string]failures{},
		portal: map[string]failures{}, forms: map[string]failures{}, checks: map[string]failures{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_http_limited_total",
			Help: "Requests refused by a per-client limit, by limit (tracking_address, tracking_bodies, auth_failures, portal_address, form_posts, form_checks) — never the address."},
			[]string{"limit"}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "steward_auth_failures_total",
			Help: "Failed authentications (unknown, revoked or malformed keys), every route."})}
}

// clientAddr is the address of the client a request comes from: the peer, or, when the peer is
// a trusted proxy, the nearest address in X-Forwarded-For that is not a trusted proxy itself.
// Without trusted proxies the header is ignored, since any client can write it.
func (l *limits) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !l.isTrusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if !l.isTrusted(hop) {
			return hop
		}
		host = hop
	}
	return host
}

func (l *limits) isTrusted(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	for _, p := range l.trusted {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// enterTracking admits one more tracking request from addr, refusing it with 429 when the
// address already has TrackingPerAddress in progress or maxReaders bodies are held in all; a
// successful call must be paired with leaveTracking. Together the two bound the memory bodies
// take: they are read before a slot is taken.
func (l *limits) enterTracking(addr string, maxReaders int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inflight[addr] >= TrackingPerAddress {
		l.refused.WithLabelValues("tracking_address").Inc()
		return problem.New(problem.RateLimited, "too many tracking requests in progress from this address; retry later")
	}
	if l.readers >= maxReaders {
		l.refused.WithLabelValues("tracking_bodies").Inc()
		return problem.New(problem.RateLimited, "server is saturated; retry later")
	}
	l.inflight[addr]++
	l.readers++
	return nil
}

func (l *limits) leaveTracking(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.readers--
	if l.inflight[addr]--; l.inflight[addr] <= 0 {
		delete(l.inflight, addr)
	}
}

// keySlots returns the semaphore of a write key's share of the slots: max at once, so that
// one key, a browser key in a page anyone can copy, cannot take the slots the other keys (the
// server-side ingest key, the tills) need. Keys are few, so the table stays small.
func (l *limits) keySlots(keyID string, max int) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.perKey[keyID]
	if !ok {
		c = make(chan struct{}, max)
		l.perKey[keyID] = c
	}
	return c
}

// failures counts one address's failed authentications in the minute since the first of them.
type failures struct {
	since time.Time
	n     int
}

// authWindow is how long failed authentications count against an address.
const authWindow = time.Minute

// allowAuth refuses an authentication attempt from addr with 429 once it has failed
// AuthFailuresPerMinute times within a minute of its first failure.
func (l *limits) allowAuth(addr string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.failures[addr]
	if !ok {
		return nil
	}
	if time.Since(f.since) > authWindow {
		delete(l.failures, addr)
		return nil
	}
	if f.n >= AuthFailuresPerMinute {
		l.refused.WithLabelValues("auth_failures").Inc()
		return problem.New(problem.RateLimited, "too many failed authentications from this address; retry in a minute")
	}
	return nil
}

// failedAuth counts a failed authentication from addr.
func (l *limits) failedAuth(addr string) {
	l.failed.Inc()
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.failures[addr]
	if !ok || time.Since(f.since) > authWindow {
		if len(l.failures) >= trackedAddresses {
			clear(l.failures)
		}
		f = failures{since: time.Now()}
	}
	f.n++
	l.failures[addr] = f
}

// allowPortal counts one privacy portal request from addr and refuses it with 429 once the
// address has made PortalRequestsPerAddress within PortalWindow of its first. The counts are
// per node and kept in memory: behind a load balancer spreading one client over n nodes, it
// gets up to n times the share, and a restart forgives everyone.
func (l *limits) allowPortal(addr string) error {
	return l.allowWithin(l.portal, addr, PortalRequestsPerAddress, "portal_address", "too many privacy requests from this address; retry in an hour")
}

// allowFormPost counts one hosted-form submission or confirmation (see FormPostsPerAddress).
func (l *limits) allowFormPost(addr string) error {
	return l.allowWithin(l.forms, addr, FormPostsPerAddress, "form_posts", "too many form submissions from this address; retry in an hour")
}

// allowFormCheck counts one as-you-type check (see FormChecksPerAddress).
func (l *limits) allowFormCheck(addr string) error {
	return l.allowWithin(l.checks, addr, FormChecksPerAddress, "form_checks", "too many checks from this address; retry in an hour")
}

// allowWithin counts one request from addr in m and refuses it with 429 once the address has
// made max within PortalWindow of its first. The counts are per node and kept in memory:
// behind a load balancer spreading one client over n nodes, it gets up to n times the share,
// and a restart forgives everyone.
func (l *limits) allowWithin(m map[string]failures, addr string, max int, label, msg string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := m[addr]
	if !ok || time.Since(f.since) > PortalWindow {
		if len(m) >= trackedAddresses {
			clear(m)
		}
		f = failures{since: time.Now()}
	}
	if f.n >= max {
		l.refused.WithLabelValues(label).Inc()
		return problem.New(problem.RateLimited, "%s", msg)
	}
	f.n++
	m[addr] = f
	return nil
}
