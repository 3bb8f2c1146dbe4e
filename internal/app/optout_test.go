package app

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/consent"
)

// bulkDecision is the bulk check's answer for one customer: allowed, or the denial's reason.
func (e *env) bulkDecision(id, purpose string) (bool, string) {
	e.t.Helper()
	code, body := e.do(call{method: "POST", path: "/v1/permissions/check", role: "owner",
		body: `{"purpose":"` + purpose + `","customer_ids":["` + id + `"]}`})
	var b consent.Bulk
	if code != 200 || json.Unmarshal([]byte(body), &b) != nil {
		e.t.Fatalf("bulk check: got %d %s", code, body)
	}
	for _, a := range b.Allowed {
		if a == id {
			return true, ""
		}
	}
	for _, d := range b.Denied {
		if d.CustomerID == id {
			return false, d.Reason
		}
	}
	e.t.Fatalf("bulk check: %s is in neither list: %s", id, body)
	return false, ""
}

// trackEvent sends a track event for user with the properties given (a JSON object or "").
func (e *env) trackEvent(user, messageID, event, props string) {
	e.t.Helper()
	if props == "" {
		props = "{}"
	}
	e.mustTrack("/v1/track", `{"type":"track","event":"`+event+`","messageId":"`+messageID+`","userId":"`+user+`","properties":`+props+`}`)
}

func TestEveryOptOutDeniesSQLite(t *testing.T)   { everyOptOutDenies(t, "sqlite") }
func TestEveryOptOutDeniesPostgres(t *testing.T) { everyOptOutDenies(t, "postgres") }

// everyOptOutDenies walks every way a customer can say no, or their address can become
// unusable, from a customer who consented to every consent purpose: afterwards the single
// decision and the bulk check agree, both deny the purpose concerned with the same reason, and
// a purpose the opt-out does not concern is still allowed.
func everyOptOutDenies(t *testing.T, engine string) {
	e := newEnv(t, engineURL(t, engine))
	scenarios := []struct {
		name            string
		optOut          func(id, user string)
		purpose, reason string
		// untouched is a purpose the opt-out leaves allowed.
		untouched string
	}{
		{"API withdrawal", func(id, _ string) {
			if code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
				body: `{"purpose":"marketing_email","granted":false,"source":"api"}`}); code != 201 {
				t.Fatalf("withdraw: got %d %s", code, body)
			}
		}, "marketing_email", consent.ReasonWithdrawn, "marketing_sms"},
		{"data-subject objection request", func(id, _ string) {
			rid := e.request(`{"type":"objection","customer_id":"` + id + `"}`)
			if code, body := e.verifyAndComplete(rid, `{"purposes":["marketing_email"]}`); code != 200 {
				t.Fatalf("complete: got %d %s", code, body)
			}
		}, "marketing_email", consent.ReasonObjected, "marketing_sms"},
		{"data-subject opt-out request", func(id, _ string) {
			rid := e.request(`{"type":"opt_out","customer_id":"` + id + `"}`)
			if code, body := e.verifyAndComplete(rid, ""); code != 200 {
				t.Fatalf("complete: got %d %s", code, body)
			}
		}, "ads_sharing", consent.ReasonOptedOut, "marketing_email"},
		{"GPC on REST", func(id, _ string) {
			if code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "owner", header: map[string]string{"Sec-GPC": "1"}}); code != 200 {
				t.Fatalf("read with GPC: got %d %s", code, body)
			}
		}, "ads_sharing", consent.ReasonGPCOptOut, "marketing_email"},
		{"GPC on tracking", func(_, user string) {
			if code, body := e.trackWith("/v1/track", trackingMessage("track", "gpc-"+user, user, ""), map[string]string{"Sec-GPC": "1"}); code != 200 {
				t.Fatalf("track with GPC: got %d %s", code, body)
			}
		}, "ads_sharing", consent.ReasonGPCOptOut, "marketing_email"},
		{"consent-manager category", func(_, user string) {
			e.mustTrack("/v1/track", trackingMessage("track", "cmp-"+user, user, `,"consent":{"categoryPreferences":{"Marketing":false}}`))
		}, "marketing_email", consent.ReasonWithdrawn, "marketing_sms"},
		{"unsubscribe", func(_, user string) {
			e.trackEvent(user, "unsub-"+user, "Unsubscribed", `{"campaign_id":"spring"}`)
		}, "marketing_email", consent.ReasonUnsubscribed, "marketing_sms"},
		{"unsubscribe naming a purpose", func(_, user string) {
			e.trackEvent(user, "unsub-"+user, "Unsubscribed", `{"purpose":"personalization"}`)
		}, "personalization", consent.ReasonUnsubscribed, "marketing_email"},
		{"SMS unsubscribe", func(_, user string) {
			e.trackEvent(user, "stop-"+user, "Unsubscribed", `{"channel":"sms"}`)
		}, "marketing_sms", consent.ReasonUnsubscribed, "marketing_email"},
		{"spam complaint", func(_, user string) {
			e.trackEvent(user, "spam-"+user, "Email Marked as Spam", `{"email_id":"m-1"}`)
		}, "marketing_email", consent.ReasonComplained, "marketing_sms"},
		{"hard bounce", func(_, user string) {
			e.trackEvent(user, "bounce-"+user, "Email Bounced", `{"bounce_type":"hard"}`)
		}, "marketing_email", consent.ReasonUndeliverable, "marketing_sms"},
		{"suppression list", func(_, user string) {
			if code, body := e.do(call{method: "POST", path: "/v1/suppressions", role: "owner",
				body: `{"email":"` + user + `@example.com","purposes":["marketing_email"]}`}); code != 201 {
				t.Fatalf("suppress: got %d %s", code, body)
			}
		}, "marketing_email", consent.ReasonSuppressed, "marketing_sms"},
		{"import with a consent column of no", func(_, user string) {
			q := url.Values{"map": {"E-mail=email"}, "consent": {"News=marketing_email"}, "policy_version": {"all"}}
			if code, body := e.upload("admin", q, "E-mail,News\n"+user+"@example.com,no\n"); code != 202 && code != 201 {
				t.Fatalf("import: got %d %s", code, body)
			}
			e.runJobs()
		}, "marketing_email", consent.ReasonWithdrawn, "marketing_sms"},
	}
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			user := fmt.Sprintf("optout-%d", i)
			id := e.identified(user)
			e.consentToAll(id)
			for _, p := range []string{sc.purpose, sc.untouched} {
				if d := e.decision(id, p); !d.Allowed {
					t.Fatalf("before: %s denied (%s)", p, d.Reason)
				}
			}
			sc.optOut(id, user)
			d := e.decision(id, sc.purpose)
			allowed, reason := e.bulkDecision(id, sc.purpose)
			if d.Allowed || d.Reason != sc.reason || allowed || reason != sc.reason {
				t.Fatalf("%s: single check allowed %v (%s), bulk check allowed %v (%s); want both denied for %s",
					sc.purpose, d.Allowed, d.Reason, allowed, reason, sc.reason)
			}
			if d := e.decision(id, sc.untouched); !d.Allowed {
				t.Fatalf("%s: denied (%s), but the opt-out does not concern it", sc.untouched, d.Reason)
			}
			if ok, _ := e.bulkDecision(id, sc.untouched); !ok {
				t.Fatalf("%s: the bulk check denies it, but the opt-out does not concern it", sc.untouched)
			}
		})
	}
}

func TestEventOptOutsHoldSQLite(t *testing.T)   { eventOptOutsHold(t, "sqlite") }
func TestEventOptOutsHoldPostgres(t *testing.T) { eventOptOutsHold(t, "postgres") }

// eventOptOutsHold: an unsubscribe and a spam complaint are ledger records with source event
// and evidence naming the event, never a value; a marketer can no longer reveal the
// complainer's e-mail for marketing; the refusals survive a later import that says yes, a
// re-identification and a stitching merge; a hard bounce holds until the address changes;
// and a retried event records nothing more.
func eventOptOutsHold(t *testing.T, engine string) {
	e := newEnv(t, engineURL(t, engine))

	t.Run("complaint", func(t *testing.T) {
		id := e.identified("complainer")
		e.consentToAll(id)
		if code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "marketer", purpose: "marketing_email"}); code != 200 || !strings.Contains(body, "complainer@example.com") {
			t.Fatalf("before: marketer reveal got %d %s", code, body)
		}
		e.trackEvent("complainer", "spam-1", "Email Marked as Spam", "")
		e.trackEvent("complainer", "spam-1", "Email Marked as Spam", "") // a retry
		e.trackEvent("complainer", "spam-2", "Email Marked as Spam", "") // reported twice
		if code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "marketer", purpose: "marketing_email"}); code != 403 || strings.Contains(body, "complainer@example.com") {
			t.Fatalf("after: marketer reveal got %d %s, want 403", code, body)
		}
		var events []consent.Record
		for _, r := range e.ledger(id) {
			if r.Source == consent.SourceEvent {
				events = append(events, r)
			}
		}
		if len(events) != 1 || events[0].Purpose != "marketing_email" || events[0].Granted || events[0].Channel != "email" ||
			!strings.HasPrefix(events[0].Evidence.FormID, "event:Email Marked as Spam:") || strings.Contains(events[0].Evidence.FormID, "spam-1") {
			t.Fatalf("event records: %+v", events)
		}
		if acts := strings.Join(e.auditActions(id), " "); !strings.Contains(acts, "consent.record:ingest:marketing_email") {
			t.Fatalf("audit: %s", acts)
		}
		// A list collected before says yes: the complaint still decides.
		q := url.Values{"map": {"E-mail=email"}, "consent": {"News=marketing_email"}, "policy_version": {"all"}}
		if code, body := e.upload("admin", q, "E-mail,News\ncomplainer@example.com,yes\n"); code != 202 && code != 201 {
			t.Fatalf("import: got %d %s", code, body)
		}
		e.runJobs()
		// The person identifies again, with a new name.
		e.mustTrack("/v1/identify", `{"type":"identify","messageId":"again","userId":"complainer","traits":{"first_name":"Ada"}}`)
		if d := e.decision(id, "marketing_email"); d.Allowed || d.Reason != consent.ReasonComplained {
			t.Fatalf("after an import and a re-identification: allowed %v (%s)", d.Allowed, d.Reason)
		}
	})

	t.Run("unsubscribe survives stitching", func(t *testing.T) {
		id := e.identified("member")
		e.consentToAll(id)
		// An anonymous visitor (the same person, not yet known) unsubscribes from a link.
		e.mustTrack("/v1/track", `{"type":"track","event":"Unsubscribed","messageId":"anon-unsub","anonymousId":"anon-7"}`)
		// Then signs in: the visitor is merged into the member.
		e.mustTrack("/v1/identify", `{"type":"identify","messageId":"sign-in","userId":"member","anonymousId":"anon-7"}`)
		d := e.decision(id, "marketing_email")
		allowed, reason := e.bulkDecision(id, "marketing_email")
		if d.Allowed || d.Reason != consent.ReasonUnsubscribed || allowed || reason != consent.ReasonUnsubscribed {
			t.Fatalf("after the merge: single %v (%s), bulk %v (%s)", d.Allowed, d.Reason, allowed, reason)
		}
	})

	t.Run("bounce until the address changes", func(t *testing.T) {
		id := e.identified("bouncer")
		e.consentToAll(id)
		e.trackEvent("bouncer", "soft", "Email Bounced", `{"bounce_type":"soft"}`)
		if d := e.decision(id, "marketing_email"); !d.Allowed {
			t.Fatalf("a soft bounce denied %s", d.Reason)
		}
		e.trackEvent("bouncer", "hard", "Email Bounced", `{"bounce_type":"permanent"}`)
		if d := e.decision(id, "marketing_email"); d.Allowed || d.Reason != consent.ReasonUndeliverable {
			t.Fatalf("after a hard bounce: allowed %v (%s)", d.Allowed, d.Reason)
		}
		if d := e.decision(id, "marketing_sms"); !d.Allowed {
			t.Fatalf("a bounce denied marketing_sms (%s)", d.Reason)
		}
		if code, body := e.do(call{method: "PATCH", path: "/v1/customers/" + id, role: "owner", body: `{"fields":{"email":"bouncer.new@example.com"}}`}); code != 200 {
			t.Fatalf("patch: got %d %s", code, body)
		}
		d := e.decision(id, "marketing_email")
		allowed, _ := e.bulkDecision(id, "marketing_email")
		if !d.Allowed || !allowed {
			t.Fatalf("after the address changed: single %v (%s), bulk %v", d.Allowed, d.Reason, allowed)
		}
	})

	t.Run("the consents API cannot claim an event", func(t *testing.T) {
		id := e.identified("claimer")
		code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
			body: `{"purpose":"marketing_email","granted":false,"source":"event"}`})
		if code != 422 || !strings.Contains(body, "source") {
			t.Fatalf("got %d %s, want 422 naming source", code, body)
		}
		if n := len(e.ledger(id)); n != 0 {
			t.Fatalf("a refused record wrote %d records", n)
		}
	})
}
