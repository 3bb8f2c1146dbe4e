package source

import (
	"net/textproto"
	"strings"
	"testing"
)

// TestEveryEventKind translates one fixture of every event kind each vendor documents, written
// from the vendor's published payload schema (the members Steward reads, and some it must
// ignore), and checks what it becomes: the messages' names in order, and what identifies
// the customer.
func TestEveryEventKind(t *testing.T) {
	shopifyOrder := `{"id":450789469,"email":"bob@example.com","phone":"+447911123456","currency":"GBP","total_price":"598.94",
		"total_tax":"11.94","total_discounts":"10.00","created_at":"2026-11-02T10:00:00-05:00","updated_at":"2026-11-02T11:00:00-05:00",
		"customer":{"id":207119551,"email":"bob@example.com","first_name":"Bob","last_name":"Norman","phone":null,
		"default_address":{"city":"Ottawa","zip":"K2P 1L4","country_code":"CA"}},
		"line_items":[{"product_id":632910392,"sku":"IPOD2008PINK","title":"IPod Nano","quantity":1,"price":"199.00"}],
		"total_shipping_price_set":{"shop_money":{"amount":"10.00"}},"note":"leave at the door","browser_ip":"203.0.113.1"}`
	stripeObj := func(typ, obj string) string {
		return `{"id":"evt_1","object":"event","type":"` + typ + `","created":1764000000,"data":{"object":` + obj + `}}`
	}
	charge := `{"id":"ch_1","amount":2000,"amount_refunded":500,"currency":"usd","customer":"cus_1","payment_intent":"pi_1","payment_method":"pm_1",
		"billing_details":{"email":"bob@example.com"},"payment_method_details":{"card":{"brand":"mastercard","last4":"4444","exp_month":1,"exp_year":2029}},
		"refunds":{"data":[{"id":"re_1","amount":500}]}}`
	sg := func(ev, extra string) string {
		return `[{"email":"bob@example.com","timestamp":1764000000,"event":"` + ev + `","sg_event_id":"e1","sg_message_id":"m1"` + extra + `}]`
	}
	mg := func(ev, extra string) string {
		return `{"signature":{},"event-data":{"id":"mg1","event":"` + ev + `","timestamp":1764000000.5,"recipient":"bob@example.com"` + extra + `}}`
	}
	tests := []struct {
		name, kind, topic, body string
		want                    string // message names, "+" between events' messages, "|" between events; "-" an ignored event
		who                     string // a value that must identify the customer, or "orderOf:ID"
	}{
		{"shopify orders/create", Shopify, "orders/create", shopifyOrder, "identify,Order Completed", "bob@example.com"},
		{"shopify orders/paid", Shopify, "orders/paid", shopifyOrder, "identify,Order Completed", "207119551"},
		{"shopify orders/updated", Shopify, "orders/updated", shopifyOrder, "identify,Order Updated", "bob@example.com"},
		{"shopify orders/fulfilled", Shopify, "orders/fulfilled", shopifyOrder, "identify,Order Updated", "bob@example.com"},
		{"shopify orders/cancelled", Shopify, "orders/cancelled", shopifyOrder, "identify,Order Cancelled", "bob@example.com"},
		{"shopify refunds/create", Shopify, "refunds/create", `{"id":509562969,"order_id":450789469,"created_at":"2026-11-03T10:00:00Z",
			"transactions":[{"kind":"refund","status":"success","amount":"41.94"},{"kind":"refund","status":"failure","amount":"9.00"}]}`, "Order Refunded", "orderOf:shopify:450789469"},
		{"shopify customers/create", Shopify, "customers/create", `{"id":207119551,"email":"bob@example.com","first_name":"Bob","updated_at":"2026-11-02T10:00:00Z"}`, "identify", "bob@example.com"},
		{"shopify customers/update sms unsubscribed", Shopify, "customers/update", `{"id":207119551,"phone":"+447911123456",
			"sms_marketing_consent":{"state":"unsubscribed","consent_updated_at":"2026-11-02T10:00:00Z"}}`, "identify,Unsubscribed", "+447911123456"},
		{"shopify checkouts/create", Shopify, "checkouts/create", `{"id":1,"token":"b1946ac92492d2347c6235b4d2611184","email":"bob@example.com",
			"total_price":"398.00","currency":"USD","created_at":"2026-11-02T10:00:00Z","line_items":[{"product_id":1,"title":"x","quantity":2,"price":"199.00"}]}`, "Checkout Started", "bob@example.com"},
		{"shopify shop/redact", Shopify, "shop/redact", `{"shop_id":1,"shop_domain":"x.myshopify.com"}`, "-", ""},
		{"woocommerce order.created", WooCommerce, "order.created", `{"id":727,"status":"processing","currency":"USD","total":"29.35",
			"customer_id":0,"billing":{"email":"bob@example.com","first_name":"Bob"},"line_items":[]}`, "identify,Order Completed", "bob@example.com"},
		{"woocommerce order.updated refunded", WooCommerce, "order.updated", `{"id":727,"status":"refunded","total":"29.35","customer_id":25,
			"billing":{"email":"bob@example.com"},"refunds":[{"id":731,"total":"-29.35"}]}`, "identify,Order Updated,Order Refunded", "25"},
		{"woocommerce order.deleted", WooCommerce, "order.deleted", `{"id":727,"status":"trash","billing":{"email":"bob@example.com"}}`, "identify,Order Cancelled", "bob@example.com"},
		{"woocommerce customer.updated", WooCommerce, "customer.updated", `{"id":25,"email":"bob@example.com","first_name":"Bob","billing":{"phone":"+447911123456"}}`, "identify", "25"},
		{"stripe customer.created", Stripe, "", stripeObj("customer.created", `{"id":"cus_1","email":"bob@example.com","name":"Bob Norman"}`), "identify", "cus_1"},
		{"stripe charge.succeeded", Stripe, "", stripeObj("charge.succeeded", charge), "identify,Order Completed", "bob@example.com"},
		{"stripe payment_intent.succeeded", Stripe, "", stripeObj("payment_intent.succeeded", `{"id":"pi_1","amount":2000,"amount_received":2000,"currency":"usd","customer":"cus_1"}`), "Order Completed", "cus_1"},
		{"stripe charge.refunded", Stripe, "", stripeObj("charge.refunded", charge), "Order Refunded", "cus_1"},
		{"stripe refund.created", Stripe, "", stripeObj("refund.created", `{"id":"re_1","amount":500,"currency":"usd","charge":"ch_1","payment_intent":"pi_1"}`), "Order Refunded", "orderOf:stripe:pi_1"},
		{"stripe charge.dispute.created", Stripe, "", stripeObj("charge.dispute.created", `{"id":"dp_1","amount":2000,"charge":"ch_1","payment_intent":"pi_1","reason":"fraudulent","evidence":{}}`), "Complaint Filed", "orderOf:stripe:pi_1"},
		{"stripe invoice.paid", Stripe, "", stripeObj("invoice.paid", `{"id":"in_1"}`), "-", ""},
		{"sendgrid delivered", SendGrid, "", sg("delivered", ""), "Email Delivered", "bob@example.com"},
		{"sendgrid open", SendGrid, "", sg("open", `,"useragent":"Mozilla"`), "Email Opened", "bob@example.com"},
		{"sendgrid click", SendGrid, "", sg("click", `,"url":"https://shop.example/a"`), "Email Link Clicked", "bob@example.com"},
		{"sendgrid bounce", SendGrid, "", sg("bounce", `,"type":"bounce","reason":"550"`), "Email Bounced", "bob@example.com"},
		{"sendgrid dropped", SendGrid, "", sg("dropped", `,"reason":"Bounced Address"`), "Email Dropped", "bob@example.com"},
		{"sendgrid deferred", SendGrid, "", sg("deferred", ""), "Email Deferred", "bob@example.com"},
		{"sendgrid spamreport", SendGrid, "", sg("spamreport", ""), "Email Marked as Spam", "bob@example.com"},
		{"sendgrid unsubscribe", SendGrid, "", sg("unsubscribe", ""), "Unsubscribed", "bob@example.com"},
		{"sendgrid group_unsubscribe", SendGrid, "", sg("group_unsubscribe", `,"asm_group_id":42`), "Unsubscribed", "bob@example.com"},
		{"sendgrid group_resubscribe", SendGrid, "", sg("group_resubscribe", `,"asm_group_id":42`), "Email Resubscribed", "bob@example.com"},
		{"sendgrid processed", SendGrid, "", sg("processed", ""), "-", ""},
		{"mailgun delivered", Mailgun, "", mg("delivered", ""), "Email Delivered", "bob@example.com"},
		{"mailgun opened", Mailgun, "", mg("opened", ""), "Email Opened", "bob@example.com"},
		{"mailgun clicked", Mailgun, "", mg("clicked", `,"url":"https://shop.example"`), "Email Link Clicked", "bob@example.com"},
		{"mailgun failed permanent", Mailgun, "", mg("failed", `,"severity":"permanent"`), "Email Bounced", "bob@example.com"},
		{"mailgun unsubscribed", Mailgun, "", mg("unsubscribed", ""), "Unsubscribed", "bob@example.com"},
		{"mailgun complained", Mailgun, "", mg("complained", ""), "Email Marked as Spam", "bob@example.com"},
		{"twilio STOP", Twilio, "", "MessageSid=SM1&From=%2B447911123456&Body=Stop", "Unsubscribed", "+447911123456"},
		{"twilio OptOutType STOP", Twilio, "", "MessageSid=SM1&From=%2B447911123456&Body=arret&OptOutType=STOP", "Unsubscribed", "+447911123456"},
		{"twilio START", Twilio, "", "MessageSid=SM1&From=%2B447911123456&Body=START", "Resubscribed", "+447911123456"},
		{"twilio UNSTOP", Twilio, "", "MessageSid=SM1&From=%2B447911123456&Body=unstop", "Resubscribed", "+447911123456"},
		{"twilio message", Twilio, "", "MessageSid=SM1&From=%2B447911123456&Body=When+do+you+open%3F", "SMS Received", "+447911123456"},
		{"twilio delivered", Twilio, "", "MessageSid=SM1&MessageStatus=delivered&To=%2B447911123456", "SMS Delivered", "+447911123456"},
		{"twilio undelivered", Twilio, "", "MessageSid=SM1&MessageStatus=undelivered&To=%2B447911123456&ErrorCode=30003", "SMS Undelivered", "+447911123456"},
		{"twilio 21610", Twilio, "", "MessageSid=SM1&MessageStatus=failed&To=%2B447911123456&ErrorCode=21610", "Unsubscribed", "+447911123456"},
		{"meta leadgen", MetaLeads, "", `{"object":"page","entry":[{"id":"1","time":1764000000,"changes":[{"field":"leadgen","value":{"leadgen_id":"44","page_id":"1","form_id":"2","created_time":1764000000}},{"field":"feed","value":{}}]}]}`, "Lead Submitted|-", "44"},
		{"meta lead export", MetaLeads, "", `{"id":"45","created_time":"2026-11-02T10:00:00+0000","field_data":[{"name":"email","values":["bob@example.com"]},{"name":"zip_code","values":["K2P 1L4"]}]}`, "identify,Lead Submitted", "bob@example.com"},
		{"trustpilot review", Trustpilot, "", `{"events":[{"eventName":"service-review-created","eventData":{"id":"r1","stars":4,"consumer":{"id":"c1"}}},{"eventName":"service-review-deleted","eventData":{"id":"r1"}}]}`, "Product Reviewed|-", "c1"},
		{"zendesk event subscription", Zendesk, "", `{"type":"zen:event-type:ticket.created","id":"ev1","time":"2026-11-02T10:00:00Z","detail":{"id":"35","requester_id":"9","subject":"broken"}}`, "Complaint Filed", "9"},
		{"zendesk trigger solved", Zendesk, "", `{"ticket_id":"35","event":"ticket.solved","requester_email":"bob@example.com"}`, "Ticket Updated", "bob@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := textproto.MIMEHeader{}
			if tt.topic != "" {
				h.Set(topicHeader[tt.kind], tt.topic)
			}
			evs, err := translate(tt.kind, h, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var ids []string
			for _, ev := range evs {
				var names []string
				for _, m := range ev.msgs {
					n := m.Name
					if n == "" {
						n = m.Type
					}
					names = append(names, n)
					if m.MessageID == "" {
						t.Errorf("%s has no message id", n)
					}
					ids = append(ids, m.MessageID)
					for _, x := range m.Context.ExternalIDs {
						ids = append(ids, x.ID)
					}
					for _, v := range []any{m.Context.Traits["email"], m.Context.Traits["phone"], m.Traits["email"], m.Traits["phone"]} {
						if s, ok := v.(string); ok {
							ids = append(ids, s)
						}
					}
				}
				if ev.orderOf != "" {
					ids = append(ids, "orderOf:"+ev.orderOf)
				}
				if len(names) == 0 {
					names = []string{"-"}
				}
				got = append(got, strings.Join(names, ","))
			}
			if g := strings.Join(got, "|"); g != tt.want {
				t.Fatalf("got %s, want %s", g, tt.want)
			}
			if tt.who != "" && !strings.Contains(strings.Join(ids, " "), tt.who) {
				t.Fatalf("%s does not identify the customer: %v", tt.who, ids)
			}
		})
	}
}
