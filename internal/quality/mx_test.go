package quality

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeResolver answers from a table; it is the DNS the MX check talks to in tests.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]*net.MX
	errs    map[string]error
	calls   atomic.Int32
	names   []string
	gate    chan struct{} // when set, lookups wait on it
}

func (f *fakeResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.names = append(f.names, name)
	f.mu.Unlock()
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err, ok := f.errs[name]; ok {
		return nil, err
	}
	if mx, ok := f.answers[name]; ok {
		return mx, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func newFake() *fakeResolver {
	return &fakeResolver{
		answers: map[string][]*net.MX{
			"example.com.":           {{Host: "mx1.example.com.", Pref: 10}},
			"xn--bcher-kva.example.": {{Host: "mx.xn--bcher-kva.example.", Pref: 10}},
			"nullmx.example.":        {{Host: ".", Pref: 0}},
			"empty.example.":         {},
		},
		errs: map[string]error{
			"slow.example.":  &net.DNSError{Err: "i/o timeout", Name: "slow.example", IsTimeout: true},
			"flaky.example.": &net.DNSError{Err: "server misbehaving", Name: "flaky.example", IsTemporary: true},
		},
	}
}

func TestMXCheckAnswers(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	c := NewMXChecker(f, time.Minute, time.Second)
	cases := []struct {
		domain string
		ok     bool
		err    error
	}{
		{"example.com", true, nil},
		{"Example.COM.", true, nil},
		{"bücher.example", true, nil},
		{"missing.example", false, nil},
		{"nullmx.example", false, nil},
		{"empty.example", false, nil},
		{"slow.example", false, ErrMXTimeout},
		{"flaky.example", false, ErrMXLookup},
		{"not a domain", false, ErrMXInvalidDomain},
		{"localhost", false, ErrMXInvalidDomain},
	}
	for _, tc := range cases {
		ok, err := c.Check(ctx, tc.domain)
		if ok != tc.ok || !errors.Is(err, tc.err) {
			t.Errorf("Check(%q) = %v, %v; want %v, %v", tc.domain, ok, err, tc.ok, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), strings.TrimSuffix(strings.ToLower(tc.domain), ".")) {
			t.Errorf("Check(%q): error %q names the domain", tc.domain, err)
		}
	}
	for _, n := range f.names {
		if !strings.HasSuffix(n, ".") {
			t.Errorf("query %q is not absolute", n)
		}
	}
}

func TestMXCheckCaches(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	now := time.Unix(1_700_000_000, 0)
	c := NewMXChecker(f, time.Minute, time.Second)
	c.now = func() time.Time { return now }

	for range 3 {
		c.Check(ctx, "example.com")
		c.Check(ctx, "missing.example") // negative answers are cached too
	}
	if got := f.calls.Load(); got != 2 {
		t.Fatalf("lookups = %d, want 2 (cached)", got)
	}
	for range 2 {
		c.Check(ctx, "slow.example") // failures are not cached
	}
	if got := f.calls.Load(); got != 4 {
		t.Fatalf("lookups = %d, want 4 (errors not cached)", got)
	}
	now = now.Add(2 * time.Minute)
	c.Check(ctx, "example.com")
	if got := f.calls.Load(); got != 5 {
		t.Fatalf("lookups = %d, want 5 (entry expired)", got)
	}
}

func TestMXCheckSharesConcurrentLookups(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	c := NewMXChecker(f, time.Minute, 5*time.Second)
	var wg sync.WaitGroup
	results := make(chan bool, 10)
	for range 10 {
		wg.Go(func() {
			ok, _ := c.Check(context.Background(), "example.com")
			results <- ok
		})
	}
	for f.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(f.gate)
	wg.Wait()
	close(results)
	for ok := range results {
		if !ok {
			t.Error("a concurrent check returned false")
		}
	}
	if got := f.calls.Load(); got != 1 {
		t.Errorf("lookups = %d, want 1 shared lookup", got)
	}
}

func TestMXCheckTimeout(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{}) // never opened: the lookup hangs
	c := NewMXChecker(f, time.Minute, 20*time.Millisecond)
	start := time.Now()
	ok, err := c.Check(context.Background(), "example.com")
	if ok || !errors.Is(err, ErrMXTimeout) {
		t.Errorf("Check = %v, %v; want false, ErrMXTimeout", ok, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout not honoured: took %v", d)
	}
}

func TestMXCheckDisabled(t *testing.T) {
	var nilChecker *MXChecker
	if nilChecker.Enabled() {
		t.Error("nil checker claims to be enabled")
	}
	if ok, err := nilChecker.Check(context.Background(), "anything.example"); !ok || err != nil {
		t.Errorf("nil checker = %v, %v; want true, nil", ok, err)
	}
	if ok, err := NewMXChecker(nil, 0, 0).Check(context.Background(), "x.example"); !ok || err != nil {
		t.Errorf("checker without resolver = %v, %v; want true, nil", ok, err)
	}
}

func TestApplyMX(t *testing.T) {
	c := NewMXChecker(newFake(), time.Minute, time.Second)
	r, err := c.ApplyMX(context.Background(), ValidateEmail("someone@missing.example"))
	if err != nil || r.Category != CategoryDNSWarning || r.Diagnosis != "DNSWARN_NO_MX_RECORD" || !r.Acceptable {
		t.Errorf("ApplyMX(no MX) = %+v, %v", r, err)
	}
	r, err = c.ApplyMX(context.Background(), ValidateEmail("someone@example.com"))
	if err != nil || r.Category != CategoryValid {
		t.Errorf("ApplyMX(MX) = %+v, %v", r, err)
	}
}
