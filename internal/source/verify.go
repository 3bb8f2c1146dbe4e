package source

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/problem"
)

// Each vendor signs its deliveries its own way; verify follows each one's documented scheme
// exactly, over the raw body as it arrived (a body re-encoded by a proxy no longer verifies,
// which is the point). Comparisons are constant-time. The errors say what was missing or
// wrong, never the expected value.

// verify checks a delivery's signature, and for schemes that sign a timestamp, that it lies
// within tolerance of now.
func verify(src *opened, d Delivery, now time.Time, tolerance time.Duration) error {
	key := []byte(src.Secret)
	h := d.Header
	if d.Method == "GET" {
		if src.Kind != MetaLeads {
			return errf("only Meta lead ads sources answer GET (the subscription handshake)")
		}
		// The handshake carries no signature: the verify token is its proof, checked by
		// handshake.
		return nil
	}
	switch src.Kind {
	case Shopify:
		return base64MAC(sha256.New, key, h.Get("X-Shopify-Hmac-Sha256"), "X-Shopify-Hmac-Sha256", d.Body)
	case WooCommerce:
		sig := h.Get("X-Wc-Webhook-Signature")
		if sig == "" && wooPing.Match(d.Body) {
			// WooCommerce's test delivery when a webhook is saved is unsigned: it stores
			// nothing, and is answered so that the console shows the webhook as working.
			return nil
		}
		return base64MAC(sha256.New, key, sig, "X-WC-Webhook-Signature", d.Body)
	case Stripe:
		return verifyStripe(key, h.Get("Stripe-Signature"), d.Body, now, tolerance)
	case SendGrid:
		return verifySendGrid(src.Secret, h.Get("X-Twilio-Email-Event-Webhook-Signature"), h.Get("X-Twilio-Email-Event-Webhook-Timestamp"), d.Body)
	case Mailgun:
		return verifyMailgun(key, d.Body)
	case Twilio:
		return verifyTwilio(key, h.Get("X-Twilio-Signature"), d.URL, d.Body)
	case MetaLeads:
		sig, ok := strings.CutPrefix(h.Get("X-Hub-Signature-256"), "sha256=")
		if !ok {
			return errf("X-Hub-Signature-256 is missing or does not start with sha256=")
		}
		return hexMAC(key, sig, "X-Hub-Signature-256", d.Body)
	case Trustpilot:
		return verifyTrustpilot(key, h.Get("X-Trustpilot-Signature"), d.Query.Get("token"), d.Body)
	case Zendesk:
		ts := h.Get("X-Zendesk-Webhook-Signature-Timestamp")
		if ts == "" {
			return errf("X-Zendesk-Webhook-Signature-Timestamp is missing")
		}
		return base64MAC(sha256.New, key, h.Get("X-Zendesk-Webhook-Signature"), "X-Zendesk-Webhook-Signature", []byte(ts), d.Body)
	}
	return errf("unknown source kind")
}

// verifyTrustpilot accepts a Trustpilot delivery one of two ways. Trustpilot documents no
// signature for its webhooks: a subscription is only a URL the business enters, so the
// source's secret rides in that URL as the token query parameter and is compared in constant
// time — over HTTPS it proves the sender was given the URL, not what it sent. A relay that
// can sign (Zapier, Make, a small function) sends X-Trustpilot-Signature instead, the base64
// HMAC-SHA256 of the body with the secret, which also proves the body; when that header is
// present it must verify, whatever the URL holds.
func verifyTrustpilot(key []byte, sig, token string, body []byte) error {
	if sig != "" || token == "" {
		return base64MAC(sha256.New, key, sig, "X-Trustpilot-Signature (or the token query parameter of the subscription URL)", body)
	}
	if !hmac.Equal([]byte(token), key) {
		return errf("the token query parameter does not match the source's secret")
	}
	return nil
}

// wooPing is the body of WooCommerce's unsigned test delivery.
var wooPing = regexp.MustCompile(`^webhook_id=[0-9]+$`)

// base64MAC checks a base64 HMAC of the parts concatenated.
func base64MAC(fn func() hash.Hash, key []byte, sig, header string, parts ...[]byte) error {
	if sig == "" {
		return errf("%s is missing", header)
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return errf("%s is not base64", header)
	}
	if !hmac.Equal(got, mac(fn, key, parts...)) {
		return errf("%s does not match the body: check the secret and that nothing re-encodes the body on the way", header)
	}
	return nil
}

// hexMAC checks a hex HMAC-SHA256 of the parts concatenated.
func hexMAC(key []byte, sig, header string, parts ...[]byte) error {
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil || len(got) == 0 {
		return errf("%s is missing or not hexadecimal", header)
	}
	if !hmac.Equal(got, mac(sha256.New, key, parts...)) {
		return errf("%s does not match the body: check the secret", header)
	}
	return nil
}

func mac(fn func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(fn, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// verifyStripe follows Stripe's scheme: Stripe-Signature holds t (Unix seconds) and one or
// more v1 signatures, each a hex HMAC-SHA256 of "t.body" with the endpoint's secret; any one
// matching will do (Stripe sends two while a secret is rolled), and t must be within tolerance.
func verifyStripe(key []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if header == "" {
		return errf("Stripe-Signature is missing")
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errf("Stripe-Signature has no timestamp")
	}
	if len(sigs) == 0 {
		return errf("Stripe-Signature has no v1 signature")
	}
	want := mac(sha256.New, key, []byte(ts), []byte("."), body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return errf("Stripe-Signature does not match the body: check the endpoint's signing secret (whsec_…)")
	}
	if at := time.Unix(sec, 0); now.Sub(at) > tolerance || at.Sub(now) > tolerance {
		return errf("Stripe-Signature timestamp is outside the %s tolerance (a replayed or delayed delivery)", tolerance)
	}
	return nil
}

// parseECKey reads SendGrid's verification key: base64 of the DER public key, with or without
// PEM armour.
func parseECKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "-----BEGIN PUBLIC KEY-----")
	s = strings.TrimSuffix(s, "-----END PUBLIC KEY-----")
	s = strings.Join(strings.Fields(s), "")
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not a public key")
	}
	ec, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("not an ECDSA public key")
	}
	return ec, nil
}

// verifySendGrid follows SendGrid's signed event webhook: an ECDSA signature (ASN.1, base64)
// over the SHA-256 of the timestamp header followed by the body.
func verifySendGrid(key, sig, ts string, body []byte) error {
	if sig == "" || ts == "" {
		return errf("X-Twilio-Email-Event-Webhook-Signature or -Timestamp is missing")
	}
	pub, err := parseECKey(key)
	if err != nil {
		return errf("the source's verification key is unusable")
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return errf("X-Twilio-Email-Event-Webhook-Signature is not base64")
	}
	digest := sha256.Sum256(append([]byte(ts), body...))
	if !ecdsa.VerifyASN1(pub, digest[:], der) {
		return errf("X-Twilio-Email-Event-Webhook-Signature does not verify: check the verification key")
	}
	return nil
}

// verifyMailgun follows Mailgun's webhook signing: the body's signature object holds a
// timestamp, a random token and the hex HMAC-SHA256 of timestamp followed by token.
func verifyMailgun(key, body []byte) error {
	var b struct {
		Signature struct {
			Timestamp json.RawMessage `json:"timestamp"`
			Token     string          `json:"token"`
			Signature string          `json:"signature"`
		} `json:"signature"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Signature.Token == "" {
		return errf("the body has no Mailgun signature object")
	}
	ts := strings.Trim(string(b.Signature.Timestamp), `"`)
	return hexMAC(key, b.Signature.Signature, "signature.signature", []byte(ts), []byte(b.Signature.Token))
}

// verifyTwilio follows Twilio's request validation: X-Twilio-Signature is the base64
// HMAC-SHA1, keyed with the account's auth token, of the full URL Twilio called followed by
// each POST parameter's name and value, names sorted.
func verifyTwilio(key []byte, sig, fullURL string, body []byte) error {
	if sig == "" {
		return errf("X-Twilio-Signature is missing")
	}
	form, err := parseForm(body)
	if err != nil {
		return errf("the body is not a form")
	}
	names := slices.Sorted(maps.Keys(form))
	var b strings.Builder
	for _, k := range names {
		vs := append([]string{}, form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	// Twilio signs the URL as configured in its console, which may or may not name the
	// default port; both readings are tried, as Twilio's own validator does.
	for _, u := range urlForms(fullURL) {
		if err = base64MAC(sha1.New, key, sig, "X-Twilio-Signature (signed with the URL configured as public-url plus the path)", []byte(u), []byte(b.String())); err == nil {
			return nil
		}
	}
	return err
}

// urlForms is the URL as given and with its scheme's default port added or removed.
func urlForms(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return []string{raw}
	}
	def := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	alt := *u
	switch {
	case def == "":
		return []string{raw}
	case u.Port() == def:
		alt.Host = u.Hostname()
	case u.Port() == "":
		alt.Host = u.Host + ":" + def
	default:
		return []string{raw}
	}
	return []string{raw, alt.String()}
}

// handshake answers Meta's subscription check: hub.mode subscribe and the verify token given
// at creation earn the challenge back.
func handshake(src *opened, d Delivery) (string, error) {
	if d.Query.Get("hub.mode") != "subscribe" {
		return "", problem.InvalidField("hub.mode", "must be subscribe")
	}
	if subtle.ConstantTimeCompare([]byte(d.Query.Get("hub.verify_token")), []byte(src.VerifyToken)) != 1 {
		return "", problem.New(problem.Forbidden, "hub.verify_token is not this source's verify token")
	}
	ch := d.Query.Get("hub.challenge")
	if ch == "" || len(ch) > 256 {
		return "", problem.InvalidField("hub.challenge", "is required")
	}
	return ch, nil
}
