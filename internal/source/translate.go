package source

import (
	"bytes"
	"encoding/json"
	"math"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
)

// What a vendor's event becomes. Each translator reads only the members it maps (facts from
// the vendor's published payload schema) and builds tracking messages from them; the ingest
// service then minimises them like any other input: undeclared properties dropped and
// counted, contact details validated, card numbers refused. Messages carry the vendor's event
// id (with a suffix per message) as their id, which is what makes a retried or replayed event
// a duplicate.

// event is what one vendor event becomes.
type event struct {
	msgs []ingest.Message
	// redact is a data-subject request the platform relayed.
	redact *rights.NewRequest
	// orderOf names an order whose customer the messages belong to, for events that name an
	// order and not its buyer (a Shopify refund, a Stripe dispute).
	orderOf string
	// orderOptional says an unknown orderOf is no reason to refuse the event (a review's
	// reference, which may name no order); named says the messages name their customer
	// otherwise.
	orderOptional, named bool
	// lead is the id of a Meta lead whose answers the webhook does not carry (see
	// Service.fetchLeads).
	lead string
}

// translate reads a verified body of a kind's vendor. A body that is not what the vendor
// sends is Invalid; an event Steward does not map becomes an event with no messages.
func translate(kind string, h textproto.MIMEHeader, body []byte) ([]event, error) {
	switch kind {
	case Shopify:
		return shopify(h, body)
	case WooCommerce:
		return woocommerce(h, body)
	case Stripe:
		return stripe(body)
	case SendGrid:
		return sendgrid(body)
	case Mailgun:
		return mailgun(body)
	case Twilio:
		return twilio(body)
	case MetaLeads:
		return metaLeads(body)
	case Trustpilot:
		return trustpilot(body)
	case Zendesk:
		return zendesk(h, body)
	}
	return nil, problem.Invalidf("unknown source kind")
}

// obj is a decoded JSON object with typed accessors that treat a missing or mistyped member
// as absent.
type obj map[string]any

// decodeObject reads a JSON object body, numbers kept exact.
func decodeObject(body []byte) (obj, error) {
	var o map[string]any
	if err := decodeJSON(body, &o); err != nil {
		return nil, err
	}
	if o == nil {
		return nil, problem.InvalidField("body", "must be a JSON object")
	}
	return o, nil
}

func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return problem.InvalidField("body", "is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return problem.InvalidField("body", "is not valid JSON of the vendor's shape: %v", err)
	}
	if dec.More() {
		return problem.InvalidField("body", "holds more than one JSON value")
	}
	return nil
}

func (o obj) obj(k string) obj {
	if m, ok := o[k].(map[string]any); ok {
		return m
	}
	return nil
}

func (o obj) list(k string) []obj {
	l, _ := o[k].([]any)
	out := make([]obj, 0, len(l))
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// str reads a string or a number as text (vendors send ids as either).
func (o obj) str(k string) string {
	switch v := o[k].(type) {
	case string:
		return strings.TrimSpace(v)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// num reads a number sent as a number or as text ("19.99", as Shopify and WooCommerce do).
func (o obj) num(k string) float64 {
	var f float64
	switch v := o[k].(type) {
	case json.Number:
		f, _ = v.Float64()
	case string:
		f, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
	case float64:
		f = v
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// time reads RFC 3339 text or Unix seconds.
func (o obj) time(k string) time.Time {
	switch v := o[k].(type) {
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
			if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
				return t.UTC()
			}
		}
	case json.Number:
		if f, err := v.Float64(); err == nil && f > 0 {
			sec, frac := math.Modf(f)
			return time.Unix(int64(sec), int64(frac*1e9)).UTC()
		}
	}
	return time.Time{}
}

// who identifies the customer an event is about: the vendor's own customer id (an external
// id of type <kind>_customer), an e-mail address, a phone number. E-mail and phone travel as
// context traits on track messages, which identify without filling the profile.
type who struct {
	extType, extID string
	email, phone   string
}

func (w who) empty() bool { return w.extID == "" && w.email == "" && w.phone == "" }

func (w who) context() ingest.Context {
	var c ingest.Context
	if w.extID != "" && w.extID != "0" {
		c.ExternalIDs = []ingest.ExternalID{{ID: w.extID, Type: w.extType}}
	}
	if w.email != "" || w.phone != "" {
		c.Traits = map[string]any{}
		if w.email != "" {
			c.Traits["email"] = w.email
		}
		if w.phone != "" {
			c.Traits["phone"] = w.phone
		}
	}
	return c
}

// track is a track message about w.
func track(id, name string, at time.Time, w who, props map[string]any) ingest.Message {
	if props == nil {
		props = map[string]any{}
	}
	return ingest.Message{Type: ingest.TypeTrack, MessageID: id, Name: name, Timestamp: at, Context: w.context(), Properties: props}
}

// identify is an identify message that fills or updates w's profile with traits (catalog
// field names); the contact details w names are traits too, so they reach the profile.
func identify(id string, at time.Time, w who, traits map[string]any) ingest.Message {
	t := map[string]any{}
	for k, v := range traits {
		if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
			continue
		}
		if v != nil {
			t[k] = v
		}
	}
	if w.email != "" {
		t["email"] = w.email
	}
	if w.phone != "" {
		t["phone"] = w.phone
	}
	c := w.context()
	c.Traits = nil
	return ingest.Message{Type: ingest.TypeIdentify, MessageID: id, Timestamp: at, Context: c, Traits: t}
}

// hasTraits reports whether an identify message would change anything beyond identifying.
func hasTraits(traits map[string]any) bool {
	for _, v := range traits {
		if s, ok := v.(string); v != nil && (!ok || strings.TrimSpace(s) != "") {
			return true
		}
	}
	return false
}

// number is a tracking property value for an amount.
func number(f float64) json.Number {
	return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
}

// product is one order line as a Segment product.
func product(id, sku, name string, price float64, qty int64) map[string]any {
	p := map[string]any{"price": number(price), "quantity": json.Number(strconv.FormatInt(max(qty, 1), 10))}
	for k, v := range map[string]string{"product_id": id, "sku": sku, "name": name} {
		if v != "" {
			p[k] = v
		}
	}
	return p
}

// parseForm reads an application/x-www-form-urlencoded body.
func parseForm(body []byte) (url.Values, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, problem.InvalidField("body", "is not a form (application/x-www-form-urlencoded)")
	}
	return v, nil
}

// orderID names a platform's order in Steward, so that two platforms' order numbers never
// collide.
func orderID(kind, id string) string { return kind + ":" + id }

// unsubscribed is the opt-out event an e-mail or SMS platform reports.
func unsubscribed(id string, at time.Time, w who, channel string) ingest.Message {
	return track(id, "Unsubscribed", at, w, map[string]any{"channel": channel})
}
