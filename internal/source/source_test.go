package source

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
)

func hmacB64(key, data string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestVerify holds each scheme to its documented form: the right signature passes; a wrong
// secret, a changed body, a missing header and, for Stripe, a stale timestamp fail.
func TestVerify(t *testing.T) {
	now := time.Now()
	body := []byte(`{"id":1}`)
	stripeHeader := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: "whsec_1", Timestamp: now}).Header
	// Stripe sends two signatures while a secret is rolled; either verifies.
	rolled := stripeHeader + ",v1=" + strings.Repeat("ab", 32)
	mg := func(key string) []byte {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte("1700000000tok"))
		return []byte(`{"signature":{"timestamp":"1700000000","token":"tok","signature":"` + hex.EncodeToString(m.Sum(nil)) + `"},"event-data":{}}`)
	}
	tests := []struct {
		name   string
		kind   string
		secret string
		header map[string]string
		body   []byte
		ok     bool
	}{
		{"shopify", Shopify, "s1", map[string]string{"X-Shopify-Hmac-Sha256": hmacB64("s1", string(body))}, body, true},
		{"shopify wrong secret", Shopify, "s2", map[string]string{"X-Shopify-Hmac-Sha256": hmacB64("s1", string(body))}, body, false},
		{"shopify changed body", Shopify, "s1", map[string]string{"X-Shopify-Hmac-Sha256": hmacB64("s1", string(body))}, []byte(`{"id":2}`), false},
		{"shopify missing", Shopify, "s1", nil, body, false},
		{"woocommerce", WooCommerce, "w", map[string]string{"X-WC-Webhook-Signature": hmacB64("w", string(body))}, body, true},
		{"woocommerce ping", WooCommerce, "w", nil, []byte("webhook_id=3"), true},
		{"stripe", Stripe, "whsec_1", map[string]string{"Stripe-Signature": stripeHeader}, body, true},
		{"stripe rolled", Stripe, "whsec_1", map[string]string{"Stripe-Signature": rolled}, body, true},
		{"stripe wrong", Stripe, "whsec_2", map[string]string{"Stripe-Signature": stripeHeader}, body, false},
		{"stripe stale", Stripe, "whsec_1", map[string]string{"Stripe-Signature": webhook.GenerateTestSignedPayload(
			&webhook.UnsignedPayload{Payload: body, Secret: "whsec_1", Timestamp: now.Add(-6 * time.Minute)}).Header}, body, false},
		{"mailgun", Mailgun, "k", nil, mg("k"), true},
		{"mailgun wrong", Mailgun, "k2", nil, mg("k"), false},
		{"meta", MetaLeads, "app", map[string]string{"X-Hub-Signature-256": "sha256=" + hexMAC256("app", string(body))}, body, true},
		{"meta no prefix", MetaLeads, "app", map[string]string{"X-Hub-Signature-256": hexMAC256("app", string(body))}, body, false},
		{"zendesk", Zendesk, "z", map[string]string{"X-Zendesk-Webhook-Signature-Timestamp": "2026-01-01T00:00:00Z",
			"X-Zendesk-Webhook-Signature": hmacB64("z", "2026-01-01T00:00:00Z"+string(body))}, body, true},
		{"zendesk no timestamp", Zendesk, "z", map[string]string{"X-Zendesk-Webhook-Signature": hmacB64("z", string(body))}, body, false},
		{"trustpilot", Trustpilot, "t", map[string]string{"X-Trustpilot-Signature": hmacB64("t", string(body))}, body, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := textproto.MIMEHeader{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			err := verify(&opened{Source: Source{Kind: tt.kind}, secrets: secrets{Secret: tt.secret}}, Delivery{Method: "POST", Header: h, Body: tt.body}, now, DefaultTolerance)
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), tt.secret) {
				t.Fatalf("the error names the secret: %v", err)
			}
		})
	}
}

func hexMAC256(key, data string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(data))
	return hex.EncodeToString(m.Sum(nil))
}

// TestTranslateCards: a Stripe charge leaves only the token, brand, last four and expiry of
// the card; amounts follow the currency's minor unit.
func TestTranslateCards(t *testing.T) {
	body := `{"id":"evt_1","type":"charge.succeeded","created":1700000000,"data":{"object":{"id":"ch_1","amount":5000,"currency":"jpy",` +
		`"customer":"cus_1","payment_method":"pm_1","billing_details":{"email":"a@example.com"},` +
		`"payment_method_details":{"card":{"brand":"cartes_bancaires","last4":"4242","exp_month":3,"exp_year":2031,"fingerprint":"FP","number":"4242424242424242"}}}}}`
	evs, err := stripe([]byte(body))
	if err != nil || len(evs) != 1 || len(evs[0].msgs) != 2 {
		t.Fatalf("got %+v %v", evs, err)
	}
	card := evs[0].msgs[0].Traits
	if len(card) != 5 || card["card_brand"] != "other" || card["card_expiry"] != "03/2031" || card["payment_token"] != "pm_1" {
		t.Fatalf("card traits %v", card)
	}
	if got := evs[0].msgs[1].Properties["total"]; got.(interface{ String() string }).String() != "5000" {
		t.Fatalf("a JPY amount: %v", got)
	}
}

// TestTranslateRefusesMalformed: every vendor's translator refuses a body that is not its
// JSON (or form) as Invalid, naming the body.
func TestTranslateRefusesMalformed(t *testing.T) {
	h := textproto.MIMEHeader{"X-Shopify-Topic": {"orders/create"}}
	for _, kind := range Kinds {
		for _, body := range []string{"", "{", "[1,2", `"x"`} {
			if _, err := translate(kind, h, []byte(body)); !problem.Is(err, problem.Invalid) {
				t.Errorf("%s %q: got %v, want Invalid", kind, body, err)
			}
		}
	}
}

// FuzzTranslate: no body crashes a translator, and what it keeps of a card is never a number.
func FuzzTranslate(f *testing.F) {
	f.Add(Shopify, `{"id":1,"email":"a@example.com","customer":{"id":2}}`)
	f.Add(Stripe, `{"id":"e","type":"charge.succeeded","data":{"object":{"payment_method_details":{"card":{"last4":"1"}}}}}`)
	f.Add(SendGrid, `[{"email":"a@example.com","event":"bounce","sg_event_id":"1"}]`)
	f.Add(Twilio, `MessageSid=1&From=%2B447911123456&Body=STOP`)
	f.Add(MetaLeads, `{"entry":[{"changes":[{"field":"leadgen","value":{"leadgen_id":"1"}}]}]}`)
	f.Add(Zendesk, `{"ticket_id":"1","event":"ticket.created","requester_email":"a@example.com"}`)
	f.Fuzz(func(t *testing.T, kind, body string) {
		h := textproto.MIMEHeader{"X-Shopify-Topic": {"orders/create"}, "X-Wc-Webhook-Topic": {"order.created"}}
		evs, err := translate(kind, h, []byte(body))
		if err != nil {
			return
		}
		for _, ev := range evs {
			for _, m := range ev.msgs {
				if v, ok := m.Traits["card_last4"].(string); ok && len(v) > 4 {
					t.Fatalf("card_last4 %q", v)
				}
			}
		}
	})
}

// fakeIngest records the batches it is given.
type fakeIngest struct {
	mu      sync.Mutex
	batches []int
	seen    map[string]bool
	fail    string // a message id whose batch fails
}

func (f *fakeIngest) Ingest(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	time.Sleep(2 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, len(b.Messages))
	var r ingest.Result
	for _, m := range b.Messages {
		if m.MessageID == f.fail {
			return ingest.Result{}, problem.InvalidField("userId", "bad")
		}
	}
	for _, m := range b.Messages {
		fresh := !f.seen[m.MessageID]
		f.seen[m.MessageID] = true
		r.Fresh = append(r.Fresh, fresh)
		if fresh {
			r.Stored++
		} else {
			r.Duplicates++
		}
	}
	return r, nil
}

// IngestAll stores the parts one by one, as the real service does when parts share a
// customer.
func (f *fakeIngest) IngestAll(ctx context.Context, parts []ingest.Part) ([]ingest.Result, error) {
	out := make([]ingest.Result, len(parts))
	for i, p := range parts {
		r, err := f.Ingest(p.Ctx, p.Batch)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

func (f *fakeIngest) OrderCustomer(context.Context, string) (string, error) { return "", nil }

// TestMergedDeliveries: concurrent deliveries share batches, each answered with its own
// counts; a failing delivery fails alone.
func TestMergedDeliveries(t *testing.T) {
	fi := &fakeIngest{seen: map[string]bool{}, fail: "m-13"}
	s := &Service{ingest: fi}
	var wg sync.WaitGroup
	results := make([]ingest.Result, 40)
	errs := make([]error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "m-" + strconv.Itoa(i%20) // each delivered twice
			results[i], errs[i] = s.ingestMerged(context.Background(), "k", []ingest.Message{{MessageID: id}}, time.Now())
		}()
	}
	wg.Wait()
	stored := 0
	for i := range 40 {
		if i%20 == 13 {
			if !problem.Is(errs[i], problem.Invalid) {
				t.Fatalf("delivery %d: got %v, want its own failure", i, errs[i])
			}
			continue
		}
		if errs[i] != nil || results[i].Stored+results[i].Duplicates != 1 {
			t.Fatalf("delivery %d: %+v %v", i, results[i], errs[i])
		}
		stored += results[i].Stored
	}
	if stored != 19 {
		t.Fatalf("stored %d, want 19 (each id once)", stored)
	}
	merged := false
	for _, n := range fi.batches {
		merged = merged || n > 1
	}
	if !merged {
		t.Fatalf("no batch was merged: %v", fi.batches)
	}
}

// TestVerifyTwilioPorts: a signature made over the URL with or without its default port
// verifies either way, as Twilio's own validator allows; another URL does not.
func TestVerifyTwilioPorts(t *testing.T) {
	body := []byte("Body=STOP&From=%2B447911123456&MessageSid=SM1")
	sign := func(u string) string {
		m := hmac.New(sha1.New, []byte("tok"))
		m.Write([]byte(u + "BodySTOPFrom+447911123456MessageSidSM1"))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	for _, tt := range []struct {
		signed, configured string
		ok                 bool
	}{
		{"https://s.example/v1/sources/x/webhook", "https://s.example/v1/sources/x/webhook", true},
		{"https://s.example:443/v1/sources/x/webhook", "https://s.example/v1/sources/x/webhook", true},
		{"https://s.example/v1/sources/x/webhook", "https://s.example:443/v1/sources/x/webhook", true},
		{"https://other.example/v1/sources/x/webhook", "https://s.example/v1/sources/x/webhook", false},
	} {
		if err := verifyTwilio([]byte("tok"), sign(tt.signed), tt.configured, body); (err == nil) != tt.ok {
			t.Errorf("signed %s, configured %s: got %v, want ok=%v", tt.signed, tt.configured, err, tt.ok)
		}
	}
}
