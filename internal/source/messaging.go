package source

import (
	"net/textproto"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
)

// E-mail and SMS services: what recipients did with the business's messages. Deliveries,
// opens and clicks are engagement events; a hard bounce marks the address undeliverable, an
// unsubscribe or a spam complaint withdraws marketing e-mail, an SMS STOP withdraws
// marketing SMS (the ingest service records these in the consent ledger, with the platform
// named in the evidence).

// sendgridEvents maps SendGrid event webhook types to Segment's e-mail events.
var sendgridEvents = map[string]string{
	"delivered": "Email Delivered", "open": "Email Opened", "click": "Email Link Clicked", "bounce": "Email Bounced",
	"dropped": "Email Dropped", "deferred": "Email Deferred", "spamreport": "Email Marked as Spam",
	"unsubscribe": "Unsubscribed", "group_unsubscribe": "Unsubscribed", "group_resubscribe": "Email Resubscribed",
}

// sendgrid maps SendGrid's event webhook: a JSON array of events, each with sg_event_id.
func sendgrid(body []byte) ([]event, error) {
	var raw []map[string]any
	if err := decodeJSON(body, &raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, problem.InvalidField("body", "holds no events")
	}
	out := make([]event, 0, len(raw))
	for _, r := range raw {
		o := obj(r)
		name, id := sendgridEvents[o.str("event")], o.str("sg_event_id")
		w := who{email: o.str("email")}
		if name == "" || id == "" || w.empty() {
			out = append(out, event{})
			continue
		}
		props := map[string]any{"email_id": o.str("sg_message_id")}
		switch o.str("event") {
		case "bounce":
			// SendGrid reports a refusal for good as type bounce and a temporary one as
			// type blocked.
			props["bounce_type"] = "hard"
			if o.str("type") == "blocked" {
				props["bounce_type"] = "soft"
			}
		case "click":
			props["link_url"] = o.str("url")
		case "unsubscribe", "group_unsubscribe":
			props["channel"] = "email"
		}
		if g := o.str("asm_group_id"); g != "" {
			props["campaign_id"] = "asm:" + g
		}
		out = append(out, event{msgs: []ingest.Message{track("sendgrid:"+id, name, o.time("timestamp"), w, props)}})
	}
	return out, nil
}

// mailgunEvents maps Mailgun's webhook event names.
var mailgunEvents = map[string]string{
	"delivered": "Email Delivered", "opened": "Email Opened", "clicked": "Email Link Clicked", "failed": "Email Bounced",
	"unsubscribed": "Unsubscribed", "complained": "Email Marked as Spam",
}

// mailgun maps one Mailgun webhook: event-data with its id, event, recipient and, for a
// failure, its severity (permanent is a hard bounce).
func mailgun(body []byte) ([]event, error) {
	o, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	d := o.obj("event-data")
	if d == nil {
		return nil, problem.InvalidField("event-data", "is required")
	}
	name, id := mailgunEvents[d.str("event")], d.str("id")
	w := who{email: d.str("recipient")}
	if name == "" || id == "" || w.empty() {
		return []event{{}}, nil
	}
	props := map[string]any{}
	if mid := d.obj("message").obj("headers").str("message-id"); mid != "" {
		props["email_id"] = mid
	}
	switch d.str("event") {
	case "failed":
		props["bounce_type"] = "soft"
		if d.str("severity") == "permanent" {
			props["bounce_type"] = "hard"
		}
	case "clicked":
		props["link_url"] = d.str("url")
	case "unsubscribed":
		props["channel"] = "email"
	}
	return []event{{msgs: []ingest.Message{track("mailgun:"+id, name, d.time("timestamp"), w, props)}}}, nil
}

// SMS keywords, as carriers and Twilio's default opt-out handling read them: the whole
// message, trimmed, in any case.
var (
	stopWords  = map[string]bool{"STOP": true, "STOPALL": true, "STOP ALL": true, "UNSUBSCRIBE": true, "CANCEL": true, "END": true, "QUIT": true, "OPTOUT": true, "REVOKE": true}
	startWords = map[string]bool{"START": true, "UNSTOP": true, "YES": true}
)

// timeZero leaves a message's time to the delivery's: Twilio's webhooks carry none.
var timeZero time.Time

// twilioOptOutError is the error code of a message Twilio would not send because the
// recipient had replied STOP.
const twilioOptOutError = "21610"

// twilio maps Twilio's messaging webhooks, a form: an inbound message (STOP, START and
// their synonyms change SMS consent; the text of any other message is not kept) or a status
// callback for a message the business sent.
func twilio(body []byte) ([]event, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	sid := f.Get("MessageSid")
	if sid == "" {
		sid = f.Get("SmsSid")
	}
	if sid == "" {
		return nil, problem.InvalidField("MessageSid", "is required")
	}
	id := "twilio:" + sid
	if status := f.Get("MessageStatus"); status != "" && status != "received" {
		w := who{phone: f.Get("To")}
		switch {
		case status == "delivered":
			return []event{{msgs: []ingest.Message{track(id+":delivered", "SMS Delivered", timeZero, w, nil)}}}, nil
		case f.Get("ErrorCode") == twilioOptOutError:
			return []event{{msgs: []ingest.Message{unsubscribed(id+":opted-out", timeZero, w, "sms")}}}, nil
		case status == "undelivered" || status == "failed":
			return []event{{msgs: []ingest.Message{track(id+":"+status, "SMS Undelivered", timeZero, w, nil)}}}, nil
		}
		return []event{{}}, nil
	}
	w := who{phone: f.Get("From")}
	if w.empty() {
		return nil, problem.InvalidField("From", "is required")
	}
	word := strings.ToUpper(strings.Join(strings.Fields(f.Get("Body")), " "))
	switch ot := strings.ToUpper(f.Get("OptOutType")); {
	case ot == "STOP" || ot == "" && stopWords[word]:
		return []event{{msgs: []ingest.Message{unsubscribed(id, timeZero, w, "sms")}}}, nil
	case ot == "START" || ot == "" && startWords[word]:
		return []event{{msgs: []ingest.Message{track(id, ingest.EventResubscribed, timeZero, w, map[string]any{"channel": "sms"})}}}, nil
	}
	return []event{{msgs: []ingest.Message{track(id, "SMS Received", timeZero, w, nil)}}}, nil
}

// metaLeads maps a Meta lead ads webhook: page entries whose leadgen changes each name a
// lead. The lead's answers are not in the webhook: Meta serves them to a page access token
// (see Service.fetchLeads), and an export of leads replayed through the source carries them
// as field_data too; either way they fill the profile.
func metaLeads(body []byte) ([]event, error) {
	o, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if o.str("object") == "" && o["entry"] == nil && o["field_data"] != nil {
		// One lead as the Graph API (and its export) gives it.
		return []event{metaLead(o.str("id"), o)}, nil
	}
	if o["entry"] == nil {
		return nil, problem.InvalidField("entry", "is required")
	}
	var out []event
	for _, e := range o.list("entry") {
		for _, c := range e.list("changes") {
			if c.str("field") != "leadgen" {
				out = append(out, event{})
				continue
			}
			v := c.obj("value")
			ev := metaLead(v.str("leadgen_id"), v)
			if v["field_data"] == nil {
				ev.lead = v.str("leadgen_id")
			}
			out = append(out, ev)
		}
	}
	return out, nil
}

func metaLead(leadID string, v obj) event {
	if leadID == "" {
		return event{}
	}
	w := who{extType: "meta_lead", extID: leadID}
	traits := map[string]any{}
	for _, fd := range v.list("field_data") {
		vals, _ := fd["values"].([]any)
		if len(vals) == 0 {
			continue
		}
		val, _ := vals[0].(string)
		switch fd.str("name") {
		case "email":
			w.email = val
		case "phone_number":
			w.phone = val
		case "first_name", "last_name", "full_name", "city", "country", "company":
			traits[fd.str("name")] = val
		case "zip_code", "post_code":
			traits["postal_code"] = val
		}
	}
	at := v.time("created_time")
	id := "meta:lead:" + leadID
	msgs := []ingest.Message{}
	if hasTraits(traits) || w.email != "" || w.phone != "" {
		msgs = append(msgs, identify(id+":identify", at, w, traits))
	}
	msgs = append(msgs, track(id, "Lead Submitted", at, w, map[string]any{"channel": "meta_lead_ads"}))
	return event{msgs: msgs}
}

// trustpilot maps Trustpilot's service-review webhooks (and relays of them): events, each
// with eventName and eventData (the review's id, stars, title, text, referenceId and its
// consumer). Trustpilot leaves the reviewer's e-mail out of its payloads and suggests the
// referenceId — the reference the business gave the review invitation, an order number — to
// find them: the review goes to that order's customer, else to the customer its consumer id
// (or the e-mail a relay adds: consumer.email, referenceEmail) names. A service review is
// recorded as a review of the product "service"; its title and text are sealed with the
// event.
func trustpilot(body []byte) ([]event, error) {
	o, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if o["events"] == nil {
		return nil, problem.InvalidField("events", "is required")
	}
	var out []event
	for _, e := range o.list("events") {
		d := e.obj("eventData")
		if !strings.HasSuffix(e.str("eventName"), "review-created") || d.str("id") == "" {
			out = append(out, event{})
			continue
		}
		c := d.obj("consumer")
		w := who{extType: "trustpilot_consumer", extID: c.str("id"), email: c.str("email")}
		if w.email == "" {
			w.email = d.str("referenceEmail")
		}
		ev := event{orderOf: d.str("referenceId"), orderOptional: true, named: !w.empty()}
		product := "service"
		if p := d.obj("product"); p.str("sku") != "" {
			product = p.str("sku")
		}
		text := strings.TrimSpace(d.str("title") + "\n" + d.str("text"))
		props := map[string]any{"review_id": "trustpilot:" + d.str("id"), "product_id": product, "rating": number(d.num("stars")), "review_body": text}
		ev.msgs = []ingest.Message{track("trustpilot:"+d.str("id"), "Product Reviewed", d.time("createdAt"), w, props)}
		out = append(out, ev)
	}
	return out, nil
}

// zendesk maps Zendesk webhooks: an event subscription (type zen:event-type:ticket.created,
// with the ticket in detail) or a trigger's webhook whose JSON body the business pastes from
// docs/sources.md (ticket_id, event, requester_email …). A new ticket is a complaint filed on
// the requester's profile; its subject and text are never read.
func zendesk(h textproto.MIMEHeader, body []byte) ([]event, error) {
	o, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	typ := strings.TrimPrefix(o.str("type"), "zen:event-type:")
	ticket, w := o.obj("detail").str("id"), who{extType: "zendesk_user", extID: o.obj("detail").str("requester_id")}
	if typ == "" {
		typ, ticket = o.str("event"), o.str("ticket_id")
		w = who{extType: "zendesk_user", extID: o.str("requester_id"), email: o.str("requester_email")}
	}
	if ticket == "" {
		return nil, problem.InvalidField("ticket_id", "is required (detail.id in an event subscription)")
	}
	id := o.str("id")
	if id == "" {
		id = h.Get("X-Zendesk-Webhook-Invocation-Id")
	}
	if id == "" {
		id = typ + ":" + ticket + ":" + o.str("updated_at")
	}
	id = "zendesk:" + id
	at := o.time("time")
	if at.IsZero() {
		at = o.time("updated_at")
	}
	if w.empty() {
		return []event{{}}, nil
	}
	switch typ {
	case "ticket.created":
		return []event{{msgs: []ingest.Message{track(id, "Complaint Filed", at, w, map[string]any{"complaint_id": "zendesk:" + ticket, "channel": "helpdesk"})}}}, nil
	case "ticket.solved", "ticket.status_changed", "ticket.updated":
		return []event{{msgs: []ingest.Message{track(id, "Ticket Updated", at, w, map[string]any{"complaint_id": "zendesk:" + ticket})}}}, nil
	}
	return []event{{}}, nil
}
