package source

import (
	"fmt"
	"net/textproto"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
)

// Shops and card processors: orders, refunds, cancellations, customers, abandoned checkouts
// and the card on file.

// shopifyOrderEvents maps Shopify order topics to Segment's order events. orders/paid is a
// completion too: an order paid later than it was placed is still one order (the order row
// is upserted by its id).
var shopifyOrderEvents = map[string]string{
	"orders/create": "Order Completed", "orders/paid": "Order Completed", "orders/updated": "Order Updated",
	"orders/fulfilled": "Order Updated", "orders/partially_fulfilled": "Order Updated", "orders/edited": "Order Updated",
	"orders/cancelled": "Order Cancelled",
}

// shopify maps a Shopify webhook: the topic is in X-Shopify-Topic, the event's id in
// X-Shopify-Event-Id (or, from older API versions, the delivery's X-Shopify-Webhook-Id).
func shopify(h textproto.MIMEHeader, body []byte) ([]event, error) {
	topic := h.Get("X-Shopify-Topic")
	o, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if topic == "" {
		return nil, problem.InvalidField("X-Shopify-Topic", "is required")
	}
	id := h.Get("X-Shopify-Event-Id")
	if id == "" {
		id = h.Get("X-Shopify-Webhook-Id")
	}
	if id == "" {
		id = topic + ":" + o.str("id") + ":" + o.str("updated_at")
	}
	id = "shopify:" + id
	switch {
	case shopifyOrderEvents[topic] != "":
		return []event{shopifyOrder(id, shopifyOrderEvents[topic], o)}, nil
	case topic == "refunds/create":
		return []event{shopifyRefund(id, o)}, nil
	case topic == "customers/create", topic == "customers/update":
		return []event{shopifyCustomer(id, o, o.time("updated_at"))}, nil
	case topic == "customers/redact", topic == "customers/data_request":
		c := o.obj("customer")
		typ := rights.TypeErasure
		if topic == "customers/data_request" {
			typ = rights.TypeAccess
		}
		req := &rights.NewRequest{Type: typ}
		switch {
		case c.str("email") != "":
			req.Email = c.str("email")
		case c.str("phone") != "":
			req.Phone = c.str("phone")
		default:
			return []event{{}}, nil
		}
		return []event{{redact: req}}, nil
	case topic == "checkouts/create", topic == "checkouts/update":
		w := shopifyWho(o)
		if w.empty() {
			return []event{{}}, nil
		}
		cid := o.str("token")
		if cid == "" {
			cid = o.str("id")
		}
		props := map[string]any{"checkout_id": orderID(Shopify, cid), "total": number(o.num("total_price")), "currency": o.str("currency"),
			"products": shopifyLines(o.list("line_items"))}
		return []event{{msgs: []ingest.Message{track(id, "Checkout Started", o.time("created_at"), w, props)}}}, nil
	}
	return []event{{}}, nil
}

// shopifyWho identifies an order's or checkout's buyer: the Shopify customer id, the order's
// e-mail (or the customer's), its phone.
func shopifyWho(o obj) who {
	c := o.obj("customer")
	w := who{extType: "shopify_customer", extID: c.str("id"), email: o.str("email"), phone: o.str("phone")}
	if w.email == "" {
		w.email = c.str("email")
	}
	if w.phone == "" {
		w.phone = c.str("phone")
	}
	return w
}

func shopifyLines(lines []obj) []any {
	out := make([]any, 0, len(lines))
	for _, l := range lines {
		out = append(out, product(l.str("product_id"), l.str("sku"), l.str("title"), l.num("price"), int64(l.num("quantity"))))
	}
	return out
}

func shopifyOrder(id, name string, o obj) event {
	w := shopifyWho(o)
	if w.empty() || o.str("id") == "" {
		return event{}
	}
	at := o.time("processed_at")
	if at.IsZero() {
		at = o.time("created_at")
	}
	if name != "Order Completed" {
		if u := o.time("updated_at"); !u.IsZero() {
			at = u
		}
	}
	props := map[string]any{"order_id": orderID(Shopify, o.str("id")), "total": number(o.num("total_price")), "currency": o.str("currency"),
		"tax": number(o.num("total_tax")), "discount": number(o.num("total_discounts")), "products": shopifyLines(o.list("line_items"))}
	if s := o.obj("total_shipping_price_set").obj("shop_money"); s != nil {
		props["shipping"] = number(s.num("amount"))
	}
	ev := event{msgs: []ingest.Message{track(id, name, at, w, props)}}
	if c := o.obj("customer"); c != nil {
		ev.msgs = append(shopifyCustomer(id+":customer", c, at).msgs, ev.msgs...)
	}
	return ev
}

// shopifyCustomer updates a profile from a Shopify customer, and records a marketing
// unsubscribe it reports (once per change: the message id holds the time of the change).
func shopifyCustomer(id string, c obj, at time.Time) event {
	w := who{extType: "shopify_customer", extID: c.str("id"), email: c.str("email"), phone: c.str("phone")}
	if w.empty() {
		return event{}
	}
	traits := map[string]any{"first_name": c.str("first_name"), "last_name": c.str("last_name")}
	if a := c.obj("default_address"); a != nil {
		traits["city"], traits["country"], traits["postal_code"] = a.str("city"), a.str("country_code"), a.str("zip")
	}
	var ev event
	if hasTraits(traits) || w.email != "" || w.phone != "" {
		ev.msgs = append(ev.msgs, identify(id, at, w, traits))
	}
	for _, m := range []struct{ member, channel string }{{"email_marketing_consent", "email"}, {"sms_marketing_consent", "sms"}} {
		mc := c.obj(m.member)
		if mc == nil || mc.str("state") != "unsubscribed" {
			continue
		}
		when := mc.str("consent_updated_at")
		ev.msgs = append(ev.msgs, unsubscribed(fmt.Sprintf("shopify:customer:%s:%s-unsubscribed:%s", c.str("id"), m.channel, when), at, w, m.channel))
	}
	return ev
}

// shopifyRefund maps refunds/create, which names the order but not the buyer: the amount is
// what the successful refund transactions returned, or the refunded lines' subtotal.
func shopifyRefund(id string, o obj) event {
	if o.str("order_id") == "" {
		return event{}
	}
	amount := 0.0
	for _, t := range o.list("transactions") {
		if t.str("kind") == "refund" && (t.str("status") == "success" || t.str("status") == "") {
			amount += t.num("amount")
		}
	}
	var lines []any
	lineTotal := 0.0
	for _, l := range o.list("refund_line_items") {
		li := l.obj("line_item")
		lines = append(lines, product(li.str("product_id"), li.str("sku"), li.str("title"), li.num("price"), int64(l.num("quantity"))))
		lineTotal += l.num("subtotal")
	}
	if amount == 0 {
		amount = lineTotal
	}
	oid := orderID(Shopify, o.str("order_id"))
	props := map[string]any{"order_id": oid, "total": number(amount), "products": lines}
	m := track(id, "Order Refunded", o.time("created_at"), who{}, props)
	return event{msgs: []ingest.Message{m}, orderOf: oid}
}

// woocommerce maps a WooCommerce webhook: the topic in X-WC-Webhook-Topic (order.created …),
// the delivery's id in X-WC-Webhook-Delivery-ID. The order's status says what it is now;
// each refund it lists is recorded once, by its own id, whichever delivery brings it first.
func woocommerce(h textproto.MIMEHeader, body []byte) ([]event, error) {
	if wooPing.Match(body) {
		return []event{{}}, nil
	}
	o, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	topic := h.Get("X-Wc-Webhook-Topic")
	id := "woocommerce:" + topic + ":" + o.str("id") + ":" + o.str("date_modified_gmt")
	if d := h.Get("X-Wc-Webhook-Delivery-Id"); d != "" {
		id = "woocommerce:delivery:" + d
	}
	b := o.obj("billing")
	w := who{extType: "woocommerce_customer", extID: o.str("customer_id"), email: b.str("email"), phone: b.str("phone")}
	switch topic {
	case "order.created", "order.updated", "order.restored", "order.deleted":
	case "customer.created", "customer.updated":
		w.extID = o.str("id")
		if w.email == "" {
			w.email = o.str("email")
		}
		traits := map[string]any{"first_name": o.str("first_name"), "last_name": o.str("last_name"),
			"city": b.str("city"), "country": b.str("country"), "postal_code": b.str("postcode")}
		if w.empty() {
			return []event{{}}, nil
		}
		return []event{{msgs: []ingest.Message{identify(id, o.time("date_modified_gmt"), w, traits)}}}, nil
	default:
		return []event{{}}, nil
	}
	if w.empty() || o.str("id") == "" {
		return []event{{}}, nil
	}
	oid := orderID(WooCommerce, o.str("id"))
	name := "Order Updated"
	switch o.str("status") {
	case "processing", "completed", "on-hold":
		name = "Order Completed"
	case "cancelled", "failed", "trash":
		name = "Order Cancelled"
	}
	if topic == "order.deleted" {
		name = "Order Cancelled"
	}
	at := o.time("date_created_gmt")
	if name != "Order Completed" {
		if u := o.time("date_modified_gmt"); !u.IsZero() {
			at = u
		}
	}
	var lines []any
	for _, l := range o.list("line_items") {
		lines = append(lines, product(l.str("product_id"), l.str("sku"), l.str("name"), l.num("price"), int64(l.num("quantity"))))
	}
	props := map[string]any{"order_id": oid, "total": number(o.num("total")), "currency": o.str("currency"),
		"tax": number(o.num("total_tax")), "shipping": number(o.num("shipping_total")), "discount": number(o.num("discount_total")), "products": lines}
	msgs := []ingest.Message{
		identify(id+":customer", at, w, map[string]any{"first_name": b.str("first_name"), "last_name": b.str("last_name"),
			"city": b.str("city"), "country": b.str("country"), "postal_code": b.str("postcode")}),
		track(id, name, at, w, props),
	}
	for _, r := range o.list("refunds") {
		amount := r.num("total")
		if amount < 0 {
			amount = -amount
		}
		msgs = append(msgs, track("woocommerce:refund:"+r.str("id"), "Order Refunded", o.time("date_modified_gmt"), w,
			map[string]any{"order_id": oid, "total": number(amount)}))
	}
	return []event{{msgs: msgs}}, nil
}

// zeroDecimal and threeDecimal are the currencies whose Stripe amounts are not in hundredths.
var (
	zeroDecimal  = map[string]bool{"BIF": true, "CLP": true, "DJF": true, "GNF": true, "JPY": true, "KMF": true, "KRW": true, "MGA": true, "PYG": true, "RWF": true, "UGX": true, "VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true}
	threeDecimal = map[string]bool{"BHD": true, "JOD": true, "KWD": true, "OMR": true, "TND": true}
)

// stripeAmount converts an amount in a currency's smallest unit, as Stripe sends it.
func stripeAmount(minor float64, currency string) float64 {
	switch c := strings.ToUpper(currency); {
	case zeroDecimal[c]:
		return minor
	case threeDecimal[c]:
		return minor / 1000
	}
	return minor / 100
}

// stripe maps a Stripe event: customers, charges and payment intents that succeeded (an
// order, and the card as token, brand, last four and expiry), refunds and disputes.
func stripe(body []byte) ([]event, error) {
	e, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	typ, evID := e.str("type"), e.str("id")
	if typ == "" || evID == "" {
		return nil, problem.InvalidField("body", "is not a Stripe event: id and type are required")
	}
	o := e.obj("data").obj("object")
	if o == nil {
		return nil, problem.InvalidField("data.object", "is required")
	}
	id := "stripe:" + evID
	at := e.time("created")
	cur := strings.ToUpper(o.str("currency"))
	switch typ {
	case "customer.created", "customer.updated":
		w := who{extType: "stripe_customer", extID: o.str("id"), email: o.str("email"), phone: o.str("phone")}
		if w.empty() {
			return []event{{}}, nil
		}
		return []event{{msgs: []ingest.Message{identify(id, at, w, map[string]any{"full_name": o.str("name")})}}}, nil
	case "charge.succeeded", "payment_intent.succeeded":
		w := stripeWho(o)
		if w.empty() {
			return []event{{}}, nil
		}
		order := o.str("id")
		amount := o.num("amount")
		if typ == "charge.succeeded" && o.str("payment_intent") != "" {
			order = o.str("payment_intent")
		}
		if typ == "payment_intent.succeeded" && o.num("amount_received") > 0 {
			amount = o.num("amount_received")
		}
		props := map[string]any{"order_id": orderID(Stripe, order), "total": number(stripeAmount(amount, cur)), "currency": cur}
		var msgs []ingest.Message
		if card := o.obj("payment_method_details").obj("card"); card != nil {
			msgs = append(msgs, identify(id+":card", at, w, cardTraits(o.str("payment_method"), card)))
		}
		msgs = append(msgs, track(id, "Order Completed", at, w, props))
		return []event{{msgs: msgs}}, nil
	case "charge.refunded":
		order := o.str("payment_intent")
		if order == "" {
			order = o.str("id")
		}
		// The refund itself, by its own id, so that the same refund reported again as
		// refund.created is one refund; else the increase over the previous amount refunded.
		mid, amount := id, o.num("amount_refunded")-e.obj("data").obj("previous_attributes").num("amount_refunded")
		if rs := o.obj("refunds").list("data"); len(rs) > 0 {
			mid, amount = "stripe:refund:"+rs[0].str("id"), rs[0].num("amount")
		}
		props := map[string]any{"order_id": orderID(Stripe, order), "total": number(stripeAmount(amount, cur)), "currency": cur}
		w := stripeWho(o)
		ev := event{msgs: []ingest.Message{track(mid, "Order Refunded", at, w, props)}}
		if w.empty() {
			ev.orderOf = orderID(Stripe, order)
		}
		return []event{ev}, nil
	case "refund.created":
		order := o.str("payment_intent")
		if order == "" {
			order = o.str("charge")
		}
		oid := orderID(Stripe, order)
		props := map[string]any{"order_id": oid, "total": number(stripeAmount(o.num("amount"), cur)), "currency": cur}
		return []event{{msgs: []ingest.Message{track("stripe:refund:"+o.str("id"), "Order Refunded", at, who{}, props)}, orderOf: oid}}, nil
	case "charge.dispute.created":
		order := o.str("payment_intent")
		if order == "" {
			order = o.str("charge")
		}
		w := who{email: o.obj("evidence").str("customer_email_address")}
		props := map[string]any{"complaint_id": "stripe:" + o.str("id"), "channel": "card_dispute"}
		ev := event{msgs: []ingest.Message{track(id, "Complaint Filed", at, w, props)}}
		if w.empty() {
			ev.orderOf = orderID(Stripe, order)
		}
		return []event{ev}, nil
	}
	return []event{{}}, nil
}

// stripeWho identifies a charge's or payment intent's payer.
func stripeWho(o obj) who {
	w := who{extType: "stripe_customer", extID: o.str("customer"), email: o.obj("billing_details").str("email"), phone: o.obj("billing_details").str("phone")}
	if w.email == "" {
		w.email = o.str("receipt_email")
	}
	return w
}

// cardTraits keeps of a card what the catalog allows: the processor's token (the payment
// method id), the brand, the last four digits and the expiry. Anything else Stripe sends
// about the card (fingerprint, country, checks) is not read.
func cardTraits(token string, card obj) map[string]any {
	brand := strings.ToLower(card.str("brand"))
	if !cardBrands[brand] {
		brand = "other"
	}
	t := map[string]any{"payment_token": token, "card_brand": brand, "card_last4": card.str("last4")}
	if m, y := int(card.num("exp_month")), int(card.num("exp_year")); m >= 1 && m <= 12 && y > 2000 {
		t["card_expiry"] = fmt.Sprintf("%02d/%04d", m, y)
	}
	return t
}

// cardBrands are the brands the catalog's card_brand names; Stripe's others (eftpos_au,
// cartes_bancaires, unknown …) are "other".
var cardBrands = map[string]bool{"visa": true, "mastercard": true, "amex": true, "discover": true, "jcb": true, "diners": true, "unionpay": true, "maestro": true}
