package app

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

type statusView struct {
	Status           string
	Reasons          []string
	Validation       string
	LastEngagementAt *time.Time `json:"last_engagement_at"`
}

func (e *env) contactStatus(id string) statusView {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support"})
	if code != 200 {
		e.t.Fatalf("get: got %d %s", code, body)
	}
	var v struct {
		ContactStatus *statusView `json:"contact_status"`
	}
	_ = json.Unmarshal([]byte(body), &v)
	if v.ContactStatus == nil {
		e.t.Fatalf("no contact status in %s", body)
	}
	return *v.ContactStatus
}

// TestContactStatusFromEvents follows one address through delivery, a bounce, an open that
// shows it works again, a complaint; and another that unsubscribes.
func TestContactStatusFromEvents(t *testing.T) {
	e := newEnv(t, "")
	e.mustTrack("/v1/identify", `{"userId":"u-cs-1","traits":{"email":"cs.one@example.com"}}`)
	e.mustTrack("/v1/identify", `{"userId":"u-cs-2","traits":{"email":"cs.two@example.com"}}`)
	one, two := e.customerOf("cs.one@example.com"), e.customerOf("cs.two@example.com")
	if st := e.contactStatus(one); st.Status != "valid" || st.Validation != "valid" {
		t.Fatalf("new contact: got %+v", st)
	}
	at := func(min int) string {
		return time.Now().Add(time.Duration(min) * time.Minute).UTC().Format(time.RFC3339Nano)
	}
	steps := []struct {
		event string
		min   int
		want  string
	}{
		{"Email Delivered", -50, "valid"},
		{"Email Bounced", -40, "bounced"},
		{"Email Opened", -30, "valid"},
		{"Email Marked as Spam", -20, "complained"},
		{"Email Link Clicked", -10, "complained"},
	}
	for _, s := range steps {
		e.mustTrack("/v1/track", fmt.Sprintf(`{"userId":"u-cs-1","event":%q,"timestamp":%q}`, s.event, at(s.min)))
		if st := e.contactStatus(one); st.Status != s.want {
			t.Fatalf("after %s: got %+v, want %s; events %+v", s.event, st, s.want, e.events(one, "", ""))
		}
	}
	e.mustTrack("/v1/track", `{"userId":"u-cs-2","event":"Unsubscribed"}`)
	if st := e.contactStatus(two); st.Status != "unsubscribed" || st.LastEngagementAt == nil {
		t.Fatalf("unsubscribed: got %+v", st)
	}
	// A year on without engagement, a contact is inactive.
	three := e.create(`{"email":"cs.three@example.com"}`)
	e.clock.Set(365 * 24 * time.Hour)
	if st := e.contactStatus(three); st.Status != "inactive" {
		t.Fatalf("a year later: got %+v", st)
	}
	e.clock.Set(0)
	// A risky address: disposable domain.
	four := e.create(`{"email":"someone@mailinator.com"}`)
	if st := e.contactStatus(four); st.Status != "risky" || !strings.Contains(strings.Join(st.Reasons, ","), "disposable") {
		t.Fatalf("disposable: got %+v", st)
	}
}

func TestQualityReport(t *testing.T) {
	e := newEnv(t, "", reviewOnly)
	e.mustTrack("/v1/identify", `{"userId":"u-q-1","traits":{"email":"bounce@example.com"}}`)
	e.population(120)
	e.create(`{"email":"dup.one@example.com","first_name":"Harriet","last_name":"Quayle","birth_date":"1977-03-04","phone":"+44 7400 123999","address_line1":"1 Fen Road","city":"Ely","postal_code":"CB7 4AA"}`)
	e.legacyJSON(`{"email":"dup.two@example.com","first_name":"Hattie","last_name":"Quayle","birth_date":"1977-03-04","phone":"+44 7400 123999","address_line1":"1 Fen Road","city":"Ely","postal_code":"CB7 4AA"}`)
	e.create(`{"email":"temp@mailinator.com"}`)
	e.create(`{"city":"Cambridge"}`)
	before := e.report()
	if before.Customers != 125 || before.Unchecked != 125 {
		t.Fatalf("before a scan: got %+v", before)
	}
	e.scan()
	e.mustTrack("/v1/track", `{"userId":"u-q-1","event":"Email Bounced"}`)
	rep := e.report()
	if rep.Customers != 125 || rep.Unchecked != 0 || rep.DuplicatesPending < 1 {
		t.Fatalf("report: got %+v", rep)
	}
	want := map[string]int64{"bounced": 1, "risky": 1, "none": 1, "valid": 122}
	for st, n := range want {
		if rep.ContactStatus[st] != n {
			t.Errorf("contact status %s: got %d, want %d (%v)", st, rep.ContactStatus[st], n, rep.ContactStatus)
		}
	}
	fill := map[string]int64{}
	for _, f := range rep.Completeness {
		fill[f.Field] = f.Filled
	}
	if fill["email"] != 124 || fill["city"] != 123 || fill["national_id"] != 0 || fill["first_name"] != 122 {
		t.Fatalf("completeness: got %v", fill)
	}
	// Counts only: no value, no customer id.
	_, body := e.do(call{method: "GET", path: "/v1/quality", role: "analyst"})
	for _, leak := range []string{"Quayle", "dup.one", "mailinator", "Cambridge", "-7"} {
		if strings.Contains(body, leak) {
			t.Fatalf("report leaks %q: %s", leak, body)
		}
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/quality", role: "auditor"}); code != 403 {
		t.Fatalf("auditor: got %d, want 403", code)
	}
	// A year on, every contact without engagement is stale.
	e.clock.Set(365 * 24 * time.Hour)
	if rep := e.report(); rep.StaleContacts != 124 || rep.ContactStatus["inactive"] < 120 {
		t.Fatalf("a year later: got %+v", rep)
	}
}

type reportView struct {
	Customers         int64
	Unchecked         int64
	DuplicatesPending int64            `json:"duplicates_pending"`
	StaleContacts     int64            `json:"stale_contacts"`
	ContactStatus     map[string]int64 `json:"contact_status"`
	Completeness      []struct {
		Field  string
		Filled int64
	}
}

func (e *env) report() reportView {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/quality", role: "analyst"})
	if code != 200 {
		e.t.Fatalf("quality: got %d %s", code, body)
	}
	var v reportView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}
