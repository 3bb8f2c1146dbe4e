package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	pebbledb "github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// acmeHost is the name Steward asks Pebble for; the test resolver answers 127.0.0.1 for it.
const acmeHost = "steward.test"

// TestACMETLSALPN obtains a real certificate from Pebble, the ACME test CA of Let's Encrypt,
// run inside this process, through the TLS-ALPN-01 challenge on Steward's HTTPS listener
// (no plain-HTTP listener is configured), and completes a verified handshake with it.
func TestACMETLSALPN(t *testing.T) {
	ports := freePorts(t, 2)
	pebble := startPebble(t, ports[1], ports[0]) // HTTP-01 would go to a closed port
	e, addr := serveACME(t, pebble, ports[0], 0)
	checkACMECertificate(t, e, addr, pebble)
}

// TestACMEHTTP01 does the same through the HTTP-01 challenge on --acme-http-addr: Pebble's
// TLS-ALPN-01 attempt goes to a closed port and fails, and Steward falls back to HTTP-01 with
// a new order. The plain-HTTP listener redirects everything else to HTTPS.
func TestACMEHTTP01(t *testing.T) {
	ports := freePorts(t, 3)
	pebble := startPebble(t, ports[1], ports[2])
	e, addr := serveACME(t, pebble, ports[0], ports[1])
	checkACMECertificate(t, e, addr, pebble)

	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(ports[1])+"/healthz?x=1", nil)
	req.Host = acmeHost
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "https://"+acmeHost+"/healthz?x=1" {
		t.Fatalf("plain HTTP answered %d to %q, want a redirect to HTTPS", resp.StatusCode, loc)
	}
}

// pebbleCA is a running Pebble: its directory URL, a file holding the certificate its ACME
// API is served with (what --acme-ca-root names) and the roots its certificates chain to.
type pebbleCA struct {
	directory, apiCertFile string
	roots                  *x509.CertPool
}

// startPebble runs Pebble's web front end, CA and validation authority in this process. The
// validation authority resolves every name to 127.0.0.1 through a DNS server of the test, and
// dials httpPort for HTTP-01 and tlsPort for TLS-ALPN-01 (a real CA dials 80 and 443).
func startPebble(t *testing.T, httpPort, tlsPort int) pebbleCA {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // validate at once instead of after up to 5 s
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // Pebble rejects 5% of good nonces by default
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(os.Stderr, "pebble ", log.Lmicroseconds)
	}
	store := pebbledb.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, tlsPort, false, startLoopbackDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	certFile := filepath.Join(t.TempDir(), "pebble-api.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	return pebbleCA{directory: srv.URL + wfe.DirectoryPath, apiCertFile: certFile, roots: roots}
}

// startLoopbackDNS answers every A question with 127.0.0.1 and every other question with no
// records (no AAAA, no CAA: issuance is allowed), over TCP as Pebble asks.
func startLoopbackDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// serveACME runs Steward with --acme-domain steward.test against pebble on port, and on
// httpPort with --acme-http-addr unless it is 0.
func serveACME(t *testing.T, pebble pebbleCA, port, httpPort int) (*env, string) {
	t.Helper()
	e := newEnv(t, "")
	c := &e.app.Config
	c.Addr = "127.0.0.1:" + strconv.Itoa(port)
	c.ACMEDomains = []string{acmeHost}
	c.ACMEDirectory = pebble.directory
	c.ACMEEmail = "ops@example.com"
	c.ACMECARoot = pebble.apiCertFile
	if httpPort != 0 {
		c.ACMEHTTPAddr = "127.0.0.1:" + strconv.Itoa(httpPort)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- e.app.Serve(ctx, func(addr string) { addrc <- addr }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case addr := <-addrc:
		return e, addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	return nil, ""
}

// checkACMECertificate asks Steward for steward.test over TLS, trusting only Pebble's root, and
// checks the API answers through it, the certificate is kept privately in the data directory
// and a name that was not configured gets no certificate.
func checkACMECertificate(t *testing.T, e *env, addr string, pebble pebbleCA) {
	t.Helper()
	dialer := &net.Dialer{Timeout: 60 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{ServerName: acmeHost, RootCAs: pebble.roots})
	if err != nil {
		t.Fatalf("TLS handshake with the ACME certificate: %v", err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeHost || leaf.NotAfter.Before(time.Now().Add(24*time.Hour)) {
		t.Fatalf("got a certificate for %v until %v, want one for %s", leaf.DNSNames, leaf.NotAfter, acmeHost)
	}

	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: acmeHost, RootCAs: pebble.roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + acmeHost + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("got %d with HSTS %q, want 200 with HSTS", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}

	cache := e.app.Config.ACMECacheDir()
	for _, name := range []string{"", acmeHost, "acme_account+key"} {
		info, err := os.Stat(filepath.Join(cache, name))
		if err != nil {
			t.Fatalf("the ACME cache lacks %q: %v", name, err)
		}
		want := os.FileMode(0o600)
		if info.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", info.Name(), info.Mode().Perm(), want)
		}
	}

	if c, err := tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{ServerName: "other.test", InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Fatal("a server name that was not configured got a certificate")
	}
}

// freePorts reserves n loopback ports and frees them for the caller, which needs to know them
// before it listens (Pebble's validation authority takes its ports when it is made).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
		defer ln.Close()
	}
	return out
}
