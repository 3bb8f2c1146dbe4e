package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlidp"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/browsertest"
	"github.com/stewardhq/steward/internal/config"
)

// samlIdP is crewjam's SAML identity provider running in the test process, with its own key
// and certificate, as a company's would be.
type samlIdP struct {
	*samlidp.Server
	url string
	key *rsa.PrivateKey
}

func selfSigned(t *testing.T, cn string, hosts ...string) (*rsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, der
}

// testClock is the provider's clock read from a function (Steward's clock in these tests, so
// that moving Steward's clock moves the provider's too).
type testClock struct {
	clockwork.Clock
	now func() time.Time
}

func (c testClock) Now() time.Time                  { return c.now() }
func (c testClock) Since(t time.Time) time.Duration { return c.now().Sub(t) }

func newSAMLIdP(t *testing.T, now func() time.Time) *samlIdP {
	t.Helper()
	key, cert, _ := selfSigned(t, "idp.example")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	u, _ := url.Parse(base)
	s, err := samlidp.New(samlidp.Options{URL: *u, Key: key, Signer: key, Certificate: cert, Store: &samlidp.MemoryStore{},
		Clock: dsig.NewFakeClock(testClock{Clock: clockwork.NewRealClock(), now: now})})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: s}}
	srv.Start()
	t.Cleanup(srv.Close)
	return &samlIdP{Server: s, url: base, key: key}
}

// put calls the provider's administrative API.
func (p *samlIdP) put(t *testing.T, path, body string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", p.url+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT %s: %d", path, resp.StatusCode)
	}
}

func (p *samlIdP) user(t *testing.T, name, email, password string, groups ...string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"name": name, "email": email, "password": password, "groups": groups})
	p.put(t, "/users/"+name, string(b))
}

// samlEnv is Steward with SAML sign-in configured against a test provider, which knows
// Steward from its metadata at /console/saml/metadata.
func samlEnv(t *testing.T, withKey bool) (*portalEnv, *samlIdP) {
	now := time.Now
	idp := newSAMLIdP(t, func() time.Time { return now() })
	var keyFile, certFile string
	if withKey {
		key, _, der := selfSigned(t, "steward.example")
		dir := t.TempDir()
		keyFile, certFile = filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := newPortalEnv(t, "", func(c *config.Config) {
		c.SAMLIdPMetadata, c.SAMLRoles, c.SAMLGroups = idp.url+"/metadata", "privacy-team=dpo,helpdesk=support", "eduPersonAffiliation"
		c.SAMLKeyFile, c.SAMLCertFile = keyFile, certFile
	})
	resp, err := http.Get(p.public + "/console/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/samlmetadata+xml" || !strings.Contains(string(meta), p.public+"/console/saml/acs") ||
		strings.Contains(string(meta), "KeyDescriptor") != withKey {
		t.Fatalf("SP metadata: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), meta)
	}
	idp.put(t, "/services/steward", string(meta))
	now = p.clock.Now
	return p, idp
}

// TestConsoleSAMLInChromium signs a person in through a SAML identity provider in a real
// browser: the console's link, the provider's own sign-in page, the signed assertion posted
// back (encrypted to Steward's own key), the account made with the role the person's groups map to, and the audit trail naming
// them; a person whose groups map to no role is refused.
func TestConsoleSAMLInChromium(t *testing.T) {
	b := browsertest.New(t)
	p, idp := samlEnv(t, true)
	idp.user(t, "priya", "Priya@Shop.example", "idp password", "staff", "privacy-team")
	idp.user(t, "guest", "guest@shop.example", "idp password", "staff")
	id := p.create(`{"email":"quinn@example.com","first_name":"Quinn","city":"York"}`)

	signIn := func(user string) int {
		t.Helper()
		b.Navigate(p.public + "/console/login")
		b.Submit(`a[href^="/console/saml/login"]`)
		if !strings.HasPrefix(b.URL(), idp.url) {
			t.Fatalf("not at the provider: %s", b.URL())
		}
		b.Fill(`input[name=user]`, user)
		b.Fill(`input[name=password]`, "idp password")
		status := b.Submit(`input[type=submit]`)
		b.WaitFor(`location.pathname.startsWith("/console")`)
		b.WaitFor(`document.readyState === "complete" && document.querySelector("main") !== null`)
		return status
	}
	signIn("priya")
	if got := b.Text("header"); !strings.Contains(got, "priya@shop.example (dpo)") {
		t.Fatalf("after SAML sign-in: %q at %s", got, b.URL())
	}
	b.RequireAccessible("console-saml-home")
	b.Screenshot("console-saml-home")

	// Eleven minutes on, a reveal sends the person to the provider, which must ask again.
	p.clock.Advance(11 * time.Minute)
	b.Navigate(p.public + "/console/customers/" + id)
	reveal(b, "privacy_requests", "request 12")
	if !strings.Contains(b.URL(), "/console/reauth") {
		t.Fatalf("the reveal did not ask again: %s", b.URL())
	}
	b.Submit(`a[href^="/console/saml/login?force=1"]`)
	if !strings.HasPrefix(b.URL(), idp.url) {
		t.Fatalf("the provider did not ask again: %s", b.URL())
	}
	b.Fill(`input[name=user]`, "priya")
	b.Fill(`input[name=password]`, "idp password")
	b.Submit(`input[type=submit]`)
	b.WaitFor(`location.pathname === "/console/customers/` + id + `" && document.querySelector("#reason") !== null`)
	reveal(b, "privacy_requests", "request 12")
	if got := b.Text("main"); !strings.Contains(got, "quinn@example.com") {
		t.Fatalf("revealed after confirming at the provider: %q", got)
	}
	es, _ := p.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Action: "staff.sign_in", Limit: 10})
	if len(es) == 0 || !strings.HasPrefix(es[0].ActorID, "staff:") || es[0].Target != "via:saml" || es[0].ActorRole != "dpo" || es[0].Outcome != "ok" {
		t.Errorf("audit of the sign-in: %+v", es)
	}
	b.Submit("header button")

	// The provider keeps its own session: signing in again as someone else needs a fresh
	// browser profile, as a second person has.
	b2 := browsertest.New(t)
	b = b2
	signIn("guest")
	if got := b.Text("main"); !strings.Contains(got, "no role") {
		t.Errorf("a person whose groups map to no role: %q", got)
	}
	for _, e := range b.ConsoleErrors() {
		if !strings.Contains(e, "status of 403") && !strings.Contains(e, idp.url+"/favicon.ico") {
			t.Errorf("browser reported: %s", e)
		}
	}
}

// samlFlight starts a SAML sign-in at Steward and returns the sign-in's cookie and the
// provider's view of the request, which a test then answers as it likes.
func samlFlight(t *testing.T, p *portalEnv, idp *samlIdP) (cookie string, req *saml.IdpAuthnRequest) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(p.public + "/console/saml/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "steward_saml" {
			cookie = ck.Value
		}
	}
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || cookie == "" || !strings.HasPrefix(loc, idp.url+"/sso?") {
		t.Fatalf("start: %d %s", resp.StatusCode, loc)
	}
	req, err = saml.NewIdpAuthnRequest(&idp.IDP, httptest.NewRequest("GET", loc, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	return cookie, req
}

// answer makes the provider's signed answer to req for a person, after edit changes the
// assertion (before it is signed), and returns it base64-encoded as the form carries it.
func answer(t *testing.T, req *saml.IdpAuthnRequest, email string, groups []string, edit func(*saml.Assertion)) string {
	t.Helper()
	sess := &saml.Session{ID: "s1", CreateTime: req.Now, ExpireTime: req.Now.Add(time.Hour), Index: "1", NameID: email,
		NameIDFormat: string(saml.EmailAddressNameIDFormat), UserEmail: email, Groups: groups}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, sess); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req.Assertion)
	}
	if err := req.MakeResponse(); err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.ResponseEl)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// postACS posts an answer to the assertion consumer service as the provider's page would.
func postACS(t *testing.T, p *portalEnv, cookie, response, relay string) (int, string) {
	t.Helper()
	form := url.Values{"SAMLResponse": {response}, "RelayState": {relay}}
	req, _ := http.NewRequest("POST", p.public+"/console/saml/acs", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.AddCookie(&http.Cookie{Name: "steward_saml", Value: cookie})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestConsoleSAMLRefusals answers Steward's SAML requests with what an attacker or a
// misconfigured provider sends, each signed (or not) by the provider's real key: a valid
// answer is accepted once, and a replay, a forged (edited after signing) or unsigned answer,
// an assertion for another audience, an expired one, one for another request and one
// without the sign-in's cookie are each refused, naming the check that failed.
func TestConsoleSAMLRefusals(t *testing.T) {
	p, idp := samlEnv(t, false)
	groups := []string{"helpdesk"}

	cookie, req := samlFlight(t, p, idp)
	good := answer(t, req, "sam@shop.example", groups, nil)
	if code, page := postACS(t, p, cookie, good, req.RelayState); code != 303 {
		t.Fatalf("a valid answer: %d %.300s", code, page)
	}
	if code, page := postACS(t, p, cookie, good, req.RelayState); code != 401 || !strings.Contains(page, "used already") {
		t.Errorf("a replayed answer: %d %.300s", code, page)
	}

	refused := []struct {
		name, want string
		make       func() (cookie, response, relay string)
	}{
		{"forged after signing", "not signed by the identity provider", func() (string, string, string) {
			c, r := samlFlight(t, p, idp)
			raw, _ := base64.StdEncoding.DecodeString(answer(t, r, "sam@shop.example", groups, nil))
			forged := strings.ReplaceAll(string(raw), "sam@shop.example", "boss@shop.example")
			return c, base64.StdEncoding.EncodeToString([]byte(forged)), r.RelayState
		}},
		{"unsigned", "signed", func() (string, string, string) {
			c, r := samlFlight(t, p, idp)
			raw, _ := base64.StdEncoding.DecodeString(answer(t, r, "sam@shop.example", groups, nil))
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(raw); err != nil {
				t.Fatal(err)
			}
			for _, sig := range doc.FindElements("//Signature") {
				sig.Parent().RemoveChild(sig)
			}
			b, _ := doc.WriteToBytes()
			return c, base64.StdEncoding.EncodeToString(b), r.RelayState
		}},
		{"another audience", "meant for another service", func() (string, string, string) {
			c, r := samlFlight(t, p, idp)
			return c, answer(t, r, "sam@shop.example", groups, func(a *saml.Assertion) {
				a.Conditions.AudienceRestrictions = []saml.AudienceRestriction{{Audience: saml.Audience{Value: "https://other.example/saml"}}}
			}), r.RelayState
		}},
		{"expired", "expired", func() (string, string, string) {
			c, r := samlFlight(t, p, idp)
			r.Now = r.Now.Add(-8 * time.Minute)
			return c, answer(t, r, "sam@shop.example", groups, nil), r.RelayState
		}},
		{"for another sign-in", "does not belong to this sign-in", func() (string, string, string) {
			c, _ := samlFlight(t, p, idp)
			_, other := samlFlight(t, p, idp)
			return c, answer(t, other, "sam@shop.example", groups, nil), other.RelayState
		}},
		{"without the sign-in's cookie", "not started here", func() (string, string, string) {
			_, r := samlFlight(t, p, idp)
			return "", answer(t, r, "sam@shop.example", groups, nil), r.RelayState
		}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, relay := tc.make()
			code, page := postACS(t, p, c, resp, relay)
			if code != 401 || !strings.Contains(page, tc.want) {
				t.Errorf("got %d, want 401 naming %q: %.400s", code, tc.want, page)
			}
		})
	}
	es, _ := p.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Action: "staff.sign_in", Limit: 50})
	denied := 0
	for _, e := range es {
		if e.Outcome == audit.OutcomeDenied && strings.HasPrefix(e.Target, "via:saml") {
			denied++
		}
	}
	if denied != len(refused)+1 {
		t.Errorf("got %d denied SAML sign-ins in the audit trail, want %d", denied, len(refused)+1)
	}
}

// TestConsoleSAMLEncrypted: with Steward's own key configured, the provider encrypts the
// assertion to it — the browser carries nothing readable back — and Steward decrypts it.
func TestConsoleSAMLEncrypted(t *testing.T) {
	p, idp := samlEnv(t, true)
	cookie, req := samlFlight(t, p, idp)
	resp := answer(t, req, "enc@shop.example", []string{"helpdesk"}, nil)
	raw, _ := base64.StdEncoding.DecodeString(resp)
	if !strings.Contains(string(raw), "EncryptedAssertion") || strings.Contains(string(raw), "enc@shop.example") {
		t.Fatalf("the answer is not encrypted:\n%.600s", raw)
	}
	if code, page := postACS(t, p, cookie, resp, req.RelayState); code != 303 {
		t.Fatalf("an encrypted answer: %d %.300s", code, page)
	}
}
