package quality

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// MXResolver is the one DNS query the MX check needs. *net.Resolver satisfies it; tests
// and air-gapped deployments pass their own.
type MXResolver interface {
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
}

// Errors from MXChecker.Check. They deliberately carry no domain: the domain is part of
// an address, and the resolver's own errors (which name it) are not passed through.
var (
	ErrMXInvalidDomain = errors.New("mx check: domain is not a valid host name")
	ErrMXTimeout       = errors.New("mx check: lookup timed out")
	ErrMXLookup        = errors.New("mx check: lookup failed")
)

// Defaults for NewMXChecker when given zero values.
const (
	DefaultMXTTL     = time.Hour
	DefaultMXTimeout = 3 * time.Second
	// mxCacheMax bounds the cache so a bulk import of distinct domains cannot grow it
	// without limit.
	mxCacheMax = 10000
)

// MXChecker answers "does this domain accept mail?" from DNS MX records, with a cache
// and a per-lookup timeout. It is off by default: ValidateEmail never touches the
// network, and a nil *MXChecker (or one without a resolver) reports every domain as
// deliverable, so code written for an optional check never rejects an address because
// nobody configured DNS. It is safe for concurrent use.
type MXChecker struct {
	resolver MXResolver
	ttl      time.Duration
	timeout  time.Duration
	now      func() time.Time

	mu       sync.Mutex
	cache    map[string]mxEntry
	inflight map[string]*mxCall
}

type mxEntry struct {
	ok      bool
	expires time.Time
}

// mxCall lets concurrent checks of one domain share a single lookup, which matters for
// bulk imports where thousands of rows share gmail.com.
type mxCall struct {
	done chan struct{}
	ok   bool
	err  error
}

// NewMXChecker returns a checker that asks r, caches answers for ttl and gives each
// lookup at most timeout. Zero durations take DefaultMXTTL and DefaultMXTimeout.
func NewMXChecker(r MXResolver, ttl, timeout time.Duration) *MXChecker {
	if ttl <= 0 {
		ttl = DefaultMXTTL
	}
	if timeout <= 0 {
		timeout = DefaultMXTimeout
	}
	return &MXChecker{
		resolver: r,
		ttl:      ttl,
		timeout:  timeout,
		now:      time.Now,
		cache:    make(map[string]mxEntry),
		inflight: make(map[string]*mxCall),
	}
}

// Enabled reports whether the checker will actually query DNS.
func (c *MXChecker) Enabled() bool { return c != nil && c.resolver != nil }

// Check reports whether domain publishes at least one usable MX record. A domain that
// does not exist, has no MX records, or publishes the RFC 7505 "null MX" gets false with
// a nil error, and that answer is cached. Timeouts and other resolver failures return
// false with an error and are not cached: they say nothing about the domain, and callers
// should not reject an address because DNS was having a bad moment.
func (c *MXChecker) Check(ctx context.Context, domain string) (bool, error) {
	if !c.Enabled() {
		return true, nil
	}
	key, ok := mxKey(domain)
	if !ok {
		return false, ErrMXInvalidDomain
	}

	c.mu.Lock()
	if e, hit := c.cache[key]; hit && c.now().Before(e.expires) {
		c.mu.Unlock()
		return e.ok, nil
	}
	if call, busy := c.inflight[key]; busy {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.ok, call.err
		case <-ctx.Done():
			return false, ctxErr(ctx.Err())
		}
	}
	call := &mxCall{done: make(chan struct{})}
	c.inflight[key] = call
	c.mu.Unlock()

	call.ok, call.err = c.lookup(ctx, key)

	c.mu.Lock()
	delete(c.inflight, key)
	if call.err == nil {
		c.store(key, call.ok)
	}
	c.mu.Unlock()
	close(call.done)
	return call.ok, call.err
}

func (c *MXChecker) lookup(ctx context.Context, key string) (bool, error) {
	lctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// The trailing dot makes the name absolute, so resolv.conf search domains can never
	// turn "example.com" into "example.com.corp.internal".
	mxs, err := c.resolver.LookupMX(lctx, key+".")
	if err != nil {
		var dnsErr *net.DNSError
		switch {
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			return false, nil
		case errors.As(err, &dnsErr) && dnsErr.IsTimeout,
			errors.Is(err, context.DeadlineExceeded):
			return false, ErrMXTimeout
		case errors.Is(err, context.Canceled):
			return false, ctxErr(err)
		}
		return false, ErrMXLookup
	}
	for _, mx := range mxs {
		if mx == nil {
			continue
		}
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			return true, nil
		}
	}
	// No records, or only the null MX ("."), which declares that the domain takes no mail.
	return false, nil
}

// store caches an answer, keeping the cache under its bound: expired entries go first,
// then arbitrary ones, since any entry can be fetched again.
func (c *MXChecker) store(key string, ok bool) {
	now := c.now()
	if len(c.cache) >= mxCacheMax {
		for k, e := range c.cache {
			if !now.Before(e.expires) {
				delete(c.cache, k)
			}
		}
		for k := range c.cache {
			if len(c.cache) < mxCacheMax {
				break
			}
			delete(c.cache, k)
		}
	}
	c.cache[key] = mxEntry{ok: ok, expires: now.Add(c.ttl)}
}

// ApplyMX folds an MX answer into a result the way is_email does when its DNS check is
// on: an acceptable address whose domain publishes no MX is graded dns_warning. The
// address stays Acceptable (the grade is a warning, and a domain may still take mail
// through its A record); what to do with the warning is the caller's policy.
func (c *MXChecker) ApplyMX(ctx context.Context, r EmailResult) (EmailResult, error) {
	if !r.Acceptable || !c.Enabled() {
		return r, nil
	}
	domain := r.Normalized[strings.LastIndexByte(r.Normalized, '@')+1:]
	ok, err := c.Check(ctx, domain)
	if err != nil {
		return r, err
	}
	if !ok && r.Category == CategoryValid {
		r.Category = CategoryDNSWarning
		r.Diagnosis = diagDNSWarnNoMX.String()
	}
	return r, nil
}

// mxKey is the cache key and query name: lower-case, ASCII, without a trailing dot.
func mxKey(domain string) (string, bool) {
	d := strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if d == "" || len(d) > maxIDNAInput {
		return "", false
	}
	if isASCII(d) {
		d = lowerASCII(d)
	} else {
		a, err := idnaProfile.ToASCII(d)
		if err != nil {
			return "", false
		}
		d = a
	}
	if !isHostname(d) {
		return "", false
	}
	return d, true
}

// ctxErr reports the caller's own cancellation as such, so errors.Is(err,
// context.Canceled) keeps working; context errors carry no personal data.
func ctxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrMXTimeout
	}
	return fmt.Errorf("mx check: %w", err)
}
