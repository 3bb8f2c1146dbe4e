package app

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// trackWith sends a tracking call with the write key and extra headers: the server-side key,
// or on a browser's short path (/v1/t …) the browser-safe one, the only kind it takes.
func (e *env) trackWith(path, body string, header map[string]string) (int, string) {
	e.t.Helper()
	key := e.keys["ingest"]
	if len(strings.TrimPrefix(path, "/v1/")) == 1 {
		key = e.keys["collect"]
	}
	h := basic(key)
	for k, v := range header {
		h[k] = v
	}
	return e.do(call{method: "POST", path: path, body: body, header: h})
}

// decision is the customer's permission for purpose, asked without a GPC signal, so that
// only the ledger speaks.
func (e *env) decision(id, purpose string) consent.Decision {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/permissions/" + purpose, role: "owner"})
	var d consent.Decision
	if code != 200 || json.Unmarshal([]byte(body), &d) != nil {
		e.t.Fatalf("permission: got %d %s", code, body)
	}
	return d
}

// bySource counts the customer's ledger records by source and purpose ("banner:ads_sharing").
func (e *env) bySource(id string) map[string]int {
	out := map[string]int{}
	for _, r := range e.ledger(id) {
		out[r.Source+":"+r.Purpose]++
	}
	return out
}

// trackingMessage is a message of kind from user, wrapped in a batch for the batch routes.
func trackingMessage(kind, messageID, user, extraContext string) string {
	m := map[string]string{
		ingest.TypeIdentify: `"type":"identify"`,
		ingest.TypeTrack:    `"type":"track","event":"Product Viewed"`,
		ingest.TypePage:     `"type":"page","name":"Home"`,
		ingest.TypeScreen:   `"type":"screen","name":"Home"`,
		ingest.TypeGroup:    `"type":"group","groupId":"g-1"`,
		ingest.TypeAlias:    `"type":"alias","previousId":"anon-` + messageID + `"`,
		ingest.KindBatch:    `"type":"track","event":"Product Viewed"`,
	}[kind]
	msg := `{` + m + `,"messageId":"` + messageID + `","userId":"` + user + `","context":{"library":{"name":"test"}` + extraContext + `}}`
	if kind == ingest.KindBatch {
		return `{"batch":[` + msg + `]}`
	}
	return msg
}

// identified makes the customer of user, with an e-mail address to find them by, and
// returns their id.
func (e *env) identified(user string) string {
	e.t.Helper()
	e.mustTrack("/v1/identify", `{"type":"identify","messageId":"setup-`+user+`","userId":"`+user+`","traits":{"email":"`+user+`@example.com"}}`)
	return e.customerOf(user + "@example.com")
}

func TestTrackingGPCSQLite(t *testing.T)   { trackingGPC(t, "") }
func TestTrackingGPCPostgres(t *testing.T) { trackingGPC(t, pgtest.URL(t)) }

// trackingGPC: Sec-GPC: 1 on any tracking route records, in the ledger, an opt-out of every
// GPC-sensitive purpose for the customer the call identifies, once: a retry of the same
// message and the signal repeated on later calls add nothing.
func trackingGPC(t *testing.T, db string) {
	e := newEnv(t, db)
	short := map[string]string{}
	for k, v := range ingest.ShortKinds {
		short[v] = k
	}
	gpcHeader := map[string]string{"Sec-GPC": "1"}
	for _, kind := range ingest.Kinds {
		for _, path := range []string{"/v1/" + kind, "/v1/" + short[kind]} {
			t.Run(path, func(t *testing.T) {
				user := "gpc-" + path[len("/v1/"):]
				id := e.identified(user)
				body := trackingMessage(kind, user, user, `,"userAgent":"Mozilla/5.0 (GPC test)","ip":"203.0.113.9"`)
				if code, out := e.trackWith(path, body, gpcHeader); code != 200 {
					t.Fatalf("got %d %s", code, out)
				}
				d := e.decision(id, "ads_sharing")
				if d.Allowed || d.Reason != consent.ReasonGPCOptOut {
					t.Fatalf("ads_sharing: got allowed %v reason %q, want refused for %q", d.Allowed, d.Reason, consent.ReasonGPCOptOut)
				}
				want := map[string]int{"gpc:ads_sharing": 1, "gpc:personalization": 1}
				if got := e.bySource(id); !maps.Equal(got, want) {
					t.Fatalf("got ledger %v, want %v", got, want)
				}
				// The client retries the same message; then the browser sends the signal
				// again with a new one.
				if code, out := e.trackWith(path, body, gpcHeader); code != 200 || !strings.Contains(out, `"duplicates":1`) {
					t.Fatalf("retry: got %d %s", code, out)
				}
				if code, out := e.trackWith(path, trackingMessage(kind, "again-"+user, user, ""), gpcHeader); code != 200 {
					t.Fatalf("again: got %d %s", code, out)
				}
				if got := e.bySource(id); !maps.Equal(got, want) {
					t.Fatalf("after retries: got ledger %v, want %v", got, want)
				}
			})
		}
	}
	// The records carry the message's user agent and a keyed hash of its IP address as
	// evidence, and a receipt that says it was a signal.
	id := e.customerOf("gpc-track@example.com")
	if len(e.ledger(id)) != 2 {
		t.Fatalf("got %d records, want 2", len(e.ledger(id)))
	}
	for _, r := range e.ledger(id) {
		rc, err := consent.Verify(r.Receipt, e.app.Keys.ReceiptPublicKey())
		if err != nil || rc.Event != "withdrawn" || rc.Purposes[0].ConsentType != "signal" || r.Evidence.UserAgent != "" || len(r.SealedEvidence) == 0 || !rc.Evidence.HasUserAgent || r.Evidence.IPHash == "" {
			t.Fatalf("GPC record %+v, receipt %+v %v", r, rc, err)
		}
	}
	if acts := strings.Join(e.auditActions(id), " "); strings.Count(acts, "consent.record:ingest") != 2 {
		t.Fatalf("audit: got %s, want two consent.record entries by the write key", acts)
	}
	// Without the signal nothing is recorded.
	plain := e.identified("plain")
	if code, out := e.trackWith("/v1/track", trackingMessage(ingest.TypeTrack, "plain", "plain", ""), map[string]string{"Sec-GPC": "0"}); code != 200 {
		t.Fatalf("got %d %s", code, out)
	}
	if n := len(e.ledger(plain)); n != 0 {
		t.Fatalf("a call without the signal recorded %d records", n)
	}
}

func TestTrackingConsentManagerSQLite(t *testing.T)   { trackingConsentManager(t, "") }
func TestTrackingConsentManagerPostgres(t *testing.T) { trackingConsentManager(t, pgtest.URL(t)) }

// trackingConsentManager: the choices a Segment consent manager sends with tracking calls
// (context.consent.categoryPreferences) reach the ledger with source banner, for the
// purposes the catalog maps the categories to; grants only under a policy in force.
func trackingConsentManager(t *testing.T, db string) {
	e := newEnv(t, db)
	prefs := func(p string) string { return `,"consent":{"categoryPreferences":` + p + `}` }
	send := func(id, user, p string) {
		t.Helper()
		if code, out := e.track("/v1/track", trackingMessage(ingest.TypeTrack, id, user, prefs(p))); code != 200 {
			t.Fatalf("got %d %s", code, out)
		}
	}

	// No policy in force: a refusal is recorded, a grant is not (it needs a notice shown).
	early := e.identified("early")
	send("early", "early", `{"Advertising":false,"Personalization":true}`)
	if got, want := e.bySource(early), map[string]int{"banner:ads_sharing": 1}; !maps.Equal(got, want) {
		t.Fatalf("no policy: got ledger %v, want %v", got, want)
	}

	e.publish(policyV1)
	id := e.identified("cm")
	send("m1", "cm", `{"Advertising":false,"Personalization":true,"Analytics":false,"Functional":true}`)
	if d := e.decision(id, "ads_sharing"); d.Allowed || d.Reason != consent.ReasonWithdrawn {
		t.Fatalf("ads_sharing: got %+v, want withdrawn", d)
	}
	if d := e.decision(id, "personalization"); !d.Allowed || d.PolicyVersion != "2026-01" {
		t.Fatalf("personalization: got %+v, want consent under 2026-01", d)
	}
	if d := e.decision(id, "analytics"); d.Allowed || d.Reason != consent.ReasonObjected {
		t.Fatalf("analytics: got %+v, want objected", d)
	}
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/consents", role: "owner"})
	var h consent.History
	if code != 200 || json.Unmarshal([]byte(body), &h) != nil {
		t.Fatalf("history: got %d %s", code, body)
	}
	sources := map[string]string{}
	for _, r := range h.History {
		sources[r.Purpose] = fmt.Sprintf("%s %s granted=%v", r.Kind, r.Source, r.Granted)
	}
	want := map[string]string{"ads_sharing": "consent banner granted=false", "personalization": "consent banner granted=true", "analytics": "objection banner granted=false"}
	if !maps.Equal(sources, want) || len(h.History) != 3 {
		t.Fatalf("history: got %v, want %v", sources, want)
	}

	// The consent manager repeats the choices with every call, and the client retries: the
	// ledger only grows when a choice changes.
	send("m1", "cm", `{"Advertising":false,"Personalization":true,"Analytics":false,"Functional":true}`)
	send("m2", "cm", `{"Advertising":false,"Personalization":true,"Analytics":false}`)
	if n := len(e.ledger(id)); n != 3 {
		t.Fatalf("repeated choices grew the ledger to %d records, want 3", n)
	}
	send("m3", "cm", `{"Advertising":true,"Analytics":true}`)
	if d := e.decision(id, "ads_sharing"); !d.Allowed {
		t.Fatalf("ads_sharing after a grant: got %+v", d)
	}
	if d := e.decision(id, "analytics"); !d.Allowed {
		t.Fatalf("analytics after lifting the objection: got %+v", d)
	}
	// GPC in the same call wins over a grant of a GPC-sensitive purpose.
	if code, out := e.trackWith("/v1/track", trackingMessage(ingest.TypeTrack, "m4", "cm", prefs(`{"Advertising":true}`)), map[string]string{"Sec-GPC": "1"}); code != 200 {
		t.Fatalf("got %d %s", code, out)
	}
	if d := e.decision(id, "ads_sharing"); d.Allowed || d.Reason != consent.ReasonGPCOptOut {
		t.Fatalf("ads_sharing with GPC: got %+v", d)
	}
	// Withdrawing marketing e-mail consent puts the address on the suppression list, as any
	// withdrawal of a consent given does.
	send("m5", "cm", `{"Marketing":true}`)
	send("m6", "cm", `{"Marketing":false}`)
	var n int
	if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM suppressions WHERE purpose = 'marketing_email'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("got %d suppression entries (%v), want the e-mail address", n, err)
	}
	if _, err := e.app.Audit.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// refuseConsent makes a database refuse every consent record, and allowConsent undoes it:
// the failure that tests of "in the same transaction" inject, per engine.
var (
	refuseConsent = map[string]string{
		"sqlite": `CREATE TRIGGER refuse_consent BEFORE INSERT ON consent_records BEGIN SELECT RAISE(ABORT, 'consent write refused'); END`,
		"postgres": `CREATE FUNCTION refuse_consent() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'consent write refused'; END $$;
		CREATE TRIGGER refuse_consent BEFORE INSERT ON consent_records FOR EACH ROW EXECUTE FUNCTION refuse_consent()`,
	}
	allowConsent = map[string]string{
		"sqlite":   `DROP TRIGGER refuse_consent`,
		"postgres": `DROP TRIGGER refuse_consent ON consent_records; DROP FUNCTION refuse_consent()`,
	}
)

func TestTrackingConsentAtomicSQLite(t *testing.T) {
	trackingConsentAtomic(t, "", refuseConsent["sqlite"], allowConsent["sqlite"])
}

func TestTrackingConsentAtomicPostgres(t *testing.T) {
	trackingConsentAtomic(t, pgtest.URL(t), refuseConsent["postgres"], allowConsent["postgres"])
}

// trackingConsentAtomic proves the consent records are written in the transaction that
// stores the events: when the database refuses the consent write, the call fails and
// nothing of it is stored (no event, no customer, no message id), so the client's retry
// stores both once the database accepts it.
func trackingConsentAtomic(t *testing.T, db, refuse, allow string) {
	e := newEnv(t, db)
	count := func(table string) int {
		t.Helper()
		var n int
		if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	customers, events := count("customers"), count("events")
	if _, err := e.app.Store.Write().Exec(refuse); err != nil {
		t.Fatal(err)
	}
	body := `{"batch":[{"type":"identify","messageId":"atomic","userId":"atomic","traits":{"email":"atomic@example.com"}}]}`
	if code, out := e.trackWith("/v1/batch", body, map[string]string{"Sec-GPC": "1"}); code < 500 {
		t.Fatalf("got %d %s, want a server error", code, out)
	}
	if c, ev, msgs := count("customers"), count("events"), count("ingest_messages"); c != customers || ev != events || msgs != 0 {
		t.Fatalf("after the refused consent write: %d customers, %d events, %d message ids; want %d, %d, 0", c, ev, msgs, customers, events)
	}
	if _, err := e.app.Store.Write().Exec(allow); err != nil {
		t.Fatal(err)
	}
	if code, out := e.trackWith("/v1/batch", body, map[string]string{"Sec-GPC": "1"}); code != 200 || !strings.Contains(out, `"stored":1`) {
		t.Fatalf("retry: got %d %s", code, out)
	}
	id := e.customerOf("atomic@example.com")
	if got := e.bySource(id); got["gpc:ads_sharing"] != 1 || count("events") != events+1 {
		t.Fatalf("retry: got ledger %v and %d events", got, count("events")-events)
	}
}
