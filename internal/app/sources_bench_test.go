package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/source"
)

// benchDelivery is one signed vendor delivery, and the same event as Segment messages for
// the /v1/batch baseline.
type benchDelivery struct {
	path    string
	body    []byte
	header  map[string]string
	segment []string
	// who is the customer, named by an anonymousId in the Segment messages, which Segment's
	// API requires.
	who int
}

// BenchmarkSourceWebhooksHTTP: signed webhook deliveries of mixed kinds (Shopify orders with
// their customer, Stripe charges with the card, SendGrid events, Twilio inbound messages),
// one HTTP request each from concurrent vendors over loopback into SQLite — verify, translate,
// minimise, stitch, seal, deduplicate by event id, audit — against the same events sent
// through /v1/batch (500 messages per batch) in the same run. It reports deliveries/s, the
// ratio of their events/s to /v1/batch's, and p99 delivery latency.
func BenchmarkSourceWebhooksHTTP(b *testing.B) { benchSourceWebhooks(b, commerceMix) }

// BenchmarkSourceWebhooksEmailHTTP is the same with a shop's everyday mix, where e-mail
// engagement outnumbers orders: 75% SendGrid events, 10% Twilio messages, 10% Shopify
// orders, 5% Stripe charges.
func BenchmarkSourceWebhooksEmailHTTP(b *testing.B) { benchSourceWebhooks(b, everydayMix) }

// Delivery mixes: the kind of delivery i is mix[i % len(mix)].
var (
	// commerceMix is 40% Shopify orders, 20% Stripe charges, 30% SendGrid events and 10%
	// Twilio messages: the costly kinds first.
	commerceMix = []string{source.Shopify, source.Shopify, source.Shopify, source.Shopify, source.Stripe, source.Stripe,
		source.SendGrid, source.SendGrid, source.SendGrid, source.Twilio}
	everydayMix = append([]string{source.Shopify, source.Shopify, source.Stripe, source.Twilio, source.Twilio}, repeat(source.SendGrid, 15)...)
)

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func benchSourceWebhooks(b *testing.B, mix []string) {
	a := benchApp(b, b.TempDir())
	defer a.Close()
	srv := httptest.NewServer(a.HTTP().Handler())
	defer srv.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	mk := func(kind, secret string) string {
		c, err := a.Sources.Create(ctx, source.Input{Kind: kind, Name: kind, Secret: secret})
		if err != nil {
			b.Fatal(err)
		}
		return c.Endpoint
	}
	shop, cards, twilio := mk(source.Shopify, "shpss_bench"), mk(source.Stripe, "whsec_bench"), mk(source.Twilio, "twilio_bench")
	// SendGrid's deliveries are signed with ECDSA, which the benchmark pays for too.
	sgKey, sgPub := benchECKey(b)
	sendgrid := mk(source.SendGrid, sgPub)
	key, _, err := a.APIKeys.Create(ctx, "ingest", "bench")
	if err != nil {
		b.Fatal(err)
	}
	n := max(b.N, 100)
	ds := make([]benchDelivery, n)
	for i := range ds {
		ds[i] = benchSourceDelivery(b, i, mix[i%len(mix)], shop, cards, sendgrid, twilio, sgKey)
	}
	const vendors = 32
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: vendors}}
	post := func(path string, body []byte, h map[string]string) (int, time.Duration) {
		return timedPost(b, client, srv.URL+path, body, h)
	}
	var mu sync.Mutex
	var lat []time.Duration
	var next atomic.Int64
	run := func(workers, count int, fn func(i int)) time.Duration {
		next.Store(0)
		start := time.Now()
		var wg sync.WaitGroup
		for c := 0; c < workers; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < count; i = int(next.Add(1)) - 1 {
					fn(i)
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	b.ResetTimer()
	cpuStart := cpuTime()
	took := run(vendors, n, func(i int) {
		code, d := post(ds[i].path, ds[i].body, ds[i].header)
		if code != 200 {
			b.Errorf("delivery %d: got %d", i, code)
		}
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
	})
	b.StopTimer()
	cpu := cpuTime() - cpuStart
	// What the Go runtime holds from the system after the deliveries (its heap and the rest;
	// SQLite's pages are outside it): the cost of the collector's pace in memory.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys)/(1<<20), "go_MiB")
	// How often deliveries of several sources stored in one transaction had to be stored
	// apart (two touched one customer or order, or one merged or recorded consent).
	together, apart := a.Ingest.Stats().Shared()
	b.ReportMetric(100*float64(apart)/float64(max(1, together+apart)), "apart_%")
	var events, segment []string
	for _, d := range ds {
		for _, m := range d.segment {
			events = append(events, fmt.Sprintf(`{"anonymousId":"vendor-%d",`, d.who)+m[1:])
		}
	}
	var stored int
	if err := a.Store.Write().QueryRow(`SELECT COUNT(*) FROM events`).Scan(&stored); err != nil || stored != len(events) {
		b.Fatalf("stored %d events, want %d (%v)", stored, len(events), err)
	}
	// The baseline: the same events as Segment messages, in batches of 500 from 8 clients.
	const perBatch, clients = 500, 8
	var batches [][]byte
	for start := 0; start < len(events); start += perBatch {
		segment = events[start:min(len(events), start+perBatch)]
		var buf bytes.Buffer
		buf.WriteString(`{"batch":[`)
		for i, m := range segment {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(m)
		}
		buf.WriteString(`]}`)
		batches = append(batches, buf.Bytes())
	}
	auth := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":")), "Content-Type": "application/json"}
	cpuStart = cpuTime()
	base := run(clients, len(batches), func(i int) {
		if code, _ := post("/v1/batch", batches[i], auth); code != 200 {
			b.Errorf("batch %d: got %d", i, code)
		}
	})
	baseCPU := cpuTime() - cpuStart
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99 := lat[min(len(lat)-1, len(lat)*99/100)]
	b.ReportMetric(float64(n)/took.Seconds(), "deliveries/s")
	b.ReportMetric(float64(len(events))/took.Seconds(), "events/s")
	b.ReportMetric(float64(len(events))/base.Seconds(), "batch_events/s")
	b.ReportMetric(base.Seconds()/took.Seconds(), "ratio")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	// Processor time, the server's and the vendors' together: on a shared machine it varies
	// less than throughput does.
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu_us/delivery")
	b.ReportMetric(float64(baseCPU.Microseconds())/float64(len(events)), "batch_cpu_us/event")
}

// benchSourceDelivery builds delivery i of kind (a Shopify order, a Stripe charge, a SendGrid
// event or a Twilio inbound message), about 2,000 customers between them.
func benchSourceDelivery(b *testing.B, i int, kind, shop, cards, sendgrid, twilio string, sgKey *benchSigner) benchDelivery {
	who := (i * 7919) % 2000
	email := fmt.Sprintf("buyer%d@example.com", who)
	mac := func(key, data string) []byte {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	d := benchDeliveryOf(b, i, kind, who, email, shop, cards, sendgrid, twilio, sgKey, mac)
	d.who = who
	return d
}

func benchDeliveryOf(b *testing.B, i int, kind string, who int, email, shop, cards, sendgrid, twilio string, sgKey *benchSigner, mac func(key, data string) []byte) benchDelivery {
	switch kind {
	case source.Shopify:
		body := fmt.Sprintf(`{"id":%d,"email":%q,"currency":"EUR","total_price":"%d.50","total_tax":"3.00","created_at":"2026-11-02T10:00:00Z",`+
			`"customer":{"id":%d,"email":%q,"first_name":"Bea","last_name":"Buyer"},"line_items":[{"product_id":%d,"sku":"S-%d","title":"Boots","quantity":1,"price":"%d.50"}]}`,
			100000+i, email, 20+i%50, 5000+who, email, i%300, i%300, 20+i%50)
		return benchDelivery{path: shop, body: []byte(body), header: map[string]string{"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
			"X-Shopify-Event-Id": "bench-" + strconv.Itoa(i), "X-Shopify-Hmac-Sha256": base64.StdEncoding.EncodeToString(mac("shpss_bench", body))},
			segment: []string{
				fmt.Sprintf(`{"type":"identify","messageId":"s-%d-c","context":{"externalIds":[{"id":"%d","type":"shopify_customer"}]},"traits":{"email":%q,"first_name":"Bea","last_name":"Buyer"}}`, i, 5000+who, email),
				fmt.Sprintf(`{"type":"track","messageId":"s-%d","event":"Order Completed","context":{"externalIds":[{"id":"%d","type":"shopify_customer"}],"traits":{"email":%q}},"properties":{"order_id":"b:%d","total":%d.5,"currency":"EUR","tax":3,"products":[{"product_id":"%d","sku":"S-%d","name":"Boots","quantity":1,"price":%d.5}]}}`, i, 5000+who, email, 100000+i, 20+i%50, i%300, i%300, 20+i%50),
			}}
	case source.Stripe:
		body := fmt.Sprintf(`{"id":"evt_b%d","object":"event","type":"charge.succeeded","created":%d,"data":{"object":{"id":"ch_b%d","amount":%d,"currency":"eur",`+
			`"customer":"cus_b%d","payment_intent":"pi_b%d","payment_method":"pm_b%d","billing_details":{"email":%q},`+
			`"payment_method_details":{"card":{"brand":"visa","last4":"4242","exp_month":8,"exp_year":2030}}}}}`, i, time.Now().Unix(), i, 1000+i, who, i, who, email)
		p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: "whsec_bench"})
		return benchDelivery{path: cards, body: []byte(body), header: map[string]string{"Content-Type": "application/json", "Stripe-Signature": p.Header},
			segment: []string{
				fmt.Sprintf(`{"type":"identify","messageId":"c-%d-card","context":{"externalIds":[{"id":"cus_b%d","type":"stripe_customer"}]},"traits":{"email":%q,"payment_token":"pm_b%d","card_brand":"visa","card_last4":"4242","card_expiry":"08/2030"}}`, i, who, email, who),
				fmt.Sprintf(`{"type":"track","messageId":"c-%d","event":"Order Completed","context":{"externalIds":[{"id":"cus_b%d","type":"stripe_customer"}],"traits":{"email":%q}},"properties":{"order_id":"c:%d","total":%d,"currency":"EUR"}}`, i, who, email, i, 10+i/100),
			}}
	case source.SendGrid:
		ev := []string{"delivered", "open", "click"}[i%3]
		body := fmt.Sprintf(`[{"email":%q,"timestamp":%d,"event":%q,"sg_event_id":"sg-b%d","sg_message_id":"m-%d","url":"https://shop.example/x"}]`, email, time.Now().Unix(), ev, i, i)
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		name := map[string]string{"delivered": "Email Delivered", "open": "Email Opened", "click": "Email Link Clicked"}[ev]
		return benchDelivery{path: sendgrid, body: []byte(body), header: map[string]string{"Content-Type": "application/json",
			"X-Twilio-Email-Event-Webhook-Timestamp": ts, "X-Twilio-Email-Event-Webhook-Signature": sgKey.sign(b, ts+body)},
			segment: []string{fmt.Sprintf(`{"type":"track","messageId":"g-%d","event":%q,"context":{"traits":{"email":%q}},"properties":{"email_id":"m-%d"}}`, i, name, email, i)}}
	default:
		phone := fmt.Sprintf("+4479111%05d", who)
		form := url.Values{"MessageSid": {"SMb" + strconv.Itoa(i)}, "From": {phone}, "To": {"+15005550006"}, "Body": {"When do you open?"}}
		body := form.Encode()
		full := publicURL + twilio
		keys := []string{"Body", "From", "MessageSid", "To"}
		s := full
		for _, k := range keys {
			s += k + form.Get(k)
		}
		m := hmac.New(sha1.New, []byte("twilio_bench"))
		m.Write([]byte(s))
		return benchDelivery{path: twilio, body: []byte(body), header: map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"X-Twilio-Signature": base64.StdEncoding.EncodeToString(m.Sum(nil))},
			segment: []string{fmt.Sprintf(`{"type":"track","messageId":"t-%d","event":"SMS Received","context":{"traits":{"phone":%q}}}`, i, phone)}}
	}
}

// benchSigner signs SendGrid deliveries.
type benchSigner struct{ key *ecdsa.PrivateKey }

func (s *benchSigner) sign(b *testing.B, data string) string {
	digest := sha256.Sum256([]byte(data))
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func benchECKey(b *testing.B) (*benchSigner, string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return &benchSigner{k}, base64.StdEncoding.EncodeToString(der)
}

// timedPost posts body with headers h and returns the status and how long the answer took.
func timedPost(b *testing.B, client *http.Client, url string, body []byte, h map[string]string) (int, time.Duration) {
	start := time.Now()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Error(err)
		return 0, 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}
