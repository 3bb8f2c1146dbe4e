package storetest

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store"
)

func auditCount(t *testing.T, db *store.Engine) int {
	t.Helper()
	list, err := db.Audit().ListAudit(ctx, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func policy(version string, seq int64, eff time.Time) consent.Policy {
	return consent.Policy{Version: version, Seq: seq, EffectiveAt: eff, Text: "text of " + version, ContentHash: consent.ContentHash("text of " + version),
		Language: "en", Controller: consent.Controller{Name: "Example Shop Ltd"}, Purposes: []string{"marketing_email", "marketing_sms"},
		MaterialChange: []string{}, PublishedAt: eff, PublishedBy: "key:test"}
}

func testPolicies(t *testing.T, db *store.Engine) {
	t0 := clock.System()
	p1 := policy("2026-01", 1, t0)
	p2 := policy("2026-06", 2, t0.Add(time.Hour))
	p2.MaterialChange = []string{"marketing_sms"}
	p2.URL = "https://shop.example/privacy"
	for _, p := range []consent.Policy{p1, p2} {
		if err := db.Consents().PublishPolicy(ctx, p, []audit.Entry{entry(consent.ActionPolicyPublish, "")}); err != nil {
			t.Fatal(err)
		}
	}
	before := auditCount(t, db)
	dup := policy("2026-01", 3, t0.Add(2*time.Hour))
	wantKind(t, db.Consents().PublishPolicy(ctx, dup, []audit.Entry{entry(consent.ActionPolicyPublish, "")}), problem.Conflict)
	sameSeq := policy("2026-07", 2, t0.Add(2*time.Hour))
	wantKind(t, db.Consents().PublishPolicy(ctx, sameSeq, []audit.Entry{entry(consent.ActionPolicyPublish, "")}), problem.Conflict)
	if after := auditCount(t, db); after != before {
		t.Fatalf("refused publications wrote %d audit entries", after-before)
	}
	list, err := db.Consents().Policies(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("got %d policies (%v), want 2", len(list), err)
	}
	got := list[1]
	if got.Version != "2026-06" || got.Seq != 2 || !got.EffectiveAt.Equal(p2.EffectiveAt) || got.Text != "" || got.URL != p2.URL ||
		len(got.MaterialChange) != 1 || got.MaterialChange[0] != "marketing_sms" || len(got.Purposes) != 2 || got.Controller.Name != "Example Shop Ltd" {
		t.Fatalf("got %+v", got)
	}
	if len(list[0].MaterialChange) != 0 || list[0].MaterialChange == nil {
		t.Fatalf("an empty material change reads back as %#v", list[0].MaterialChange)
	}
	one, err := db.Consents().Policy(ctx, "2026-01")
	if err != nil || one.Text != "text of 2026-01" || one.ContentHash != p1.ContentHash {
		t.Fatalf("got %+v %v", one, err)
	}
	_, err = db.Consents().Policy(ctx, "nope")
	wantKind(t, err, problem.NotFound)
	for _, stmt := range []string{`UPDATE policies SET text = 'changed'`, `DELETE FROM policies`} {
		if _, err := db.Write().ExecContext(ctx, stmt); err == nil {
			t.Errorf("the engine allowed %q on an append-only table", stmt)
		}
	}
}

func consentRecord(customerID, kind, purpose string, granted bool, at time.Time) consent.Record {
	return consent.Record{ID: fmt.Sprintf("%s-%s-%s-%d", customerID[len(customerID)-4:], kind, purpose, at.UnixNano()), CustomerID: customerID, Kind: kind,
		Purpose: purpose, Granted: granted, PolicyVersion: "2026-01", Source: consent.SourceSignupForm, Channel: "web", At: at,
		Evidence: consent.Evidence{IPHash: "ab12"}, SealedEvidence: []byte("\x01sealed"),
		ActorID: "key:test", RequestID: "req1", Receipt: "a.b.c"}
}

func testConsentLedger(t *testing.T, db *store.Engine) {
	c1, c2, missing := id(1), id(2), id(99)
	for _, c := range []string{c1, c2} {
		if err := db.Customers().CreateCustomer(ctx, record(c, 1), nil); err != nil {
			t.Fatal(err)
		}
	}
	// Evidence that identifies a person is refused unless sealed, whichever writer forgot.
	for _, ev := range []consent.Evidence{{UserAgent: "Mozilla/5.0"}, {FormID: "footer"}, {TCF: "CPXx"}, {GPP: "DBAB"}} {
		r := consentRecord(c1, consent.KindConsent, "marketing_email", true, time.Unix(1, 0))
		r.Evidence = ev
		if err := db.Consents().AppendConsent(ctx, consent.Append{CustomerID: c1, Records: []consent.Record{r}}); err == nil {
			t.Fatalf("evidence %+v stored unsealed", ev)
		}
	}
	at := clock.System()
	before := auditCount(t, db)
	err := db.Consents().AppendConsent(ctx, consent.Append{CustomerID: missing, Records: []consent.Record{consentRecord(missing, consent.KindConsent, "marketing_email", true, at)},
		Entries: []audit.Entry{entry(consent.ActionRecord, missing)}})
	wantKind(t, err, problem.NotFound)
	if auditCount(t, db) != before {
		t.Fatal("a refused append wrote its audit entry")
	}
	appends := []consent.Record{
		consentRecord(c1, consent.KindConsent, "marketing_email", true, at),
		consentRecord(c1, consent.KindConsent, "marketing_sms", true, at.Add(time.Second)),
		consentRecord(c1, consent.KindRestriction, "", false, at.Add(2*time.Second)),
		consentRecord(c1, consent.KindConsent, "marketing_email", false, at.Add(3*time.Second)),
		consentRecord(c2, consent.KindObjection, "analytics", false, at.Add(4*time.Second)),
	}
	for _, r := range appends {
		if err := db.Consents().AppendConsent(ctx, consent.Append{CustomerID: r.CustomerID, Records: []consent.Record{r},
			Entries: []audit.Entry{entry(consent.ActionRecord, r.CustomerID)}}); err != nil {
			t.Fatal(err)
		}
	}
	full, err := db.Consents().CustomerRecords(ctx, c1)
	if err != nil || len(full) != 4 {
		t.Fatalf("got %d records (%v), want 4", len(full), err)
	}
	want := appends[3]
	got := full[3]
	if got.ID != want.ID || got.Granted || got.Evidence != want.Evidence || string(got.SealedEvidence) != string(want.SealedEvidence) || got.Receipt != "a.b.c" || got.Channel != "web" ||
		got.ActorID != "key:test" || got.RequestID != "req1" || !got.At.Equal(want.At) || got.PolicyVersion != "2026-01" {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := 1; i < len(full); i++ {
		if full[i].Seq <= full[i-1].Seq {
			t.Fatalf("records out of ledger order: %d then %d", full[i-1].Seq, full[i].Seq)
		}
	}
	// For one purpose: its records and the restriction, not the other purposes'.
	exist, _, slim, err := db.Consents().DecisionRecords(ctx, []string{c1, c2, missing}, "marketing_email")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(slim, func(a, b consent.Record) int { return cmp.Compare(a.Seq, b.Seq) })
	if len(slim) != 3 || slim[0].Purpose != "marketing_email" || slim[1].Kind != consent.KindRestriction || slim[2].Granted ||
		slim[2].Receipt != "" || slim[2].CustomerID != c1 || !slim[2].At.Equal(appends[3].At) || slim[2].Source != consent.SourceSignupForm {
		t.Fatalf("got %+v", slim)
	}
	if !exist[c1] || !exist[c2] || exist[missing] {
		t.Fatalf("got existence %v", exist)
	}
	_, _, every, err := db.Consents().DecisionRecords(ctx, []string{c2}, "")
	if err != nil || len(every) != 1 || every[0].Kind != consent.KindObjection {
		t.Fatalf("got %+v %v", every, err)
	}

	// An expectation that no longer holds writes nothing.
	latest := full[3].Seq
	before = auditCount(t, db)
	err = db.Consents().AppendConsent(ctx, consent.Append{CustomerID: c1, Expect: map[string]int64{"marketing_email": latest - 1},
		Records: []consent.Record{consentRecord(c1, consent.KindConsent, "marketing_email", false, at.Add(5*time.Second))},
		Entries: []audit.Entry{entry(consent.ActionRecord, c1)}})
	wantKind(t, err, problem.Conflict)
	if n, _ := db.Consents().CustomerRecords(ctx, c1); len(n) != 4 || auditCount(t, db) != before {
		t.Fatalf("a conflicting append wrote %d records", len(n)-4)
	}
	err = db.Consents().AppendConsent(ctx, consent.Append{CustomerID: c1, Expect: map[string]int64{"marketing_email": latest, "ads_sharing": 0},
		Records: []consent.Record{consentRecord(c1, consent.KindConsent, "ads_sharing", false, at.Add(5*time.Second))}})
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`UPDATE consent_records SET granted = ` + trueLiteral(db), `DELETE FROM consent_records`} {
		if _, err := db.Write().ExecContext(ctx, stmt); err == nil {
			t.Errorf("the engine allowed %q on the ledger", stmt)
		}
	}
}

// trueLiteral is true in both engines' SQL (SQLite reads TRUE as 1).
func trueLiteral(*store.Engine) string { return "TRUE" }

// testConsentBatches checks the batched look-ups across more ids than one batch holds.
func testConsentBatches(t *testing.T, db *store.Engine) {
	const n = 1234
	recs := make([]*customer.Record, n)
	ids := make([]string, 0, n+10)
	for i := range recs {
		recs[i] = record(id(1000+i), int64(i))
		ids = append(ids, recs[i].ID)
	}
	if err := db.Customers().CreateCustomers(ctx, recs, nil); err != nil {
		t.Fatal(err)
	}
	at := clock.System()
	for i := 0; i < n; i += 7 {
		r := consentRecord(ids[i], consent.KindConsent, "marketing_email", true, at)
		if err := db.Consents().AppendConsent(ctx, consent.Append{CustomerID: ids[i], Records: []consent.Record{r}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		ids = append(ids, id(90000+i)) // unknown
	}
	exist, _, slim, err := db.Consents().DecisionRecords(ctx, ids, "marketing_email")
	if err != nil || len(exist) != n || exist[id(90000)] {
		t.Fatalf("got %d existing (%v), want %d", len(exist), err, n)
	}
	if len(slim) != (n+6)/7 {
		t.Fatalf("got %d records (%v), want %d", len(slim), err, (n+6)/7)
	}
	got, err := db.Customers().CustomersByID(ctx, ids)
	if err != nil || len(got) != n {
		t.Fatalf("got %d customers (%v), want %d", len(got), err, n)
	}
	for _, r := range got {
		if string(r.Sealed["email"]) != "ct-email-"+r.ID {
			t.Fatalf("customer %s came back with another's values", r.ID)
		}
	}
}

func testSuppressions(t *testing.T, db *store.Engine) {
	listed, err := db.Consents().HasSuppressions(ctx, "marketing_email")
	if err != nil || listed {
		t.Fatalf("got %v %v on an empty list", listed, err)
	}
	t0 := clock.System()
	hash := func(i int) []byte { return []byte(fmt.Sprintf("hash-%032d", i)) }
	var entries []consent.Suppression
	for i := 0; i < 700; i++ {
		entries = append(entries, consent.Suppression{Hash: hash(i), Field: consent.ContactEmail, Purpose: "marketing_email", Source: consent.SuppressAPI, At: t0, ActorID: "key:test"})
	}
	entries = append(entries,
		consent.Suppression{Hash: hash(5), Field: consent.ContactEmail, Purpose: "marketing_email", Source: consent.SuppressWithdrawal, At: t0.Add(time.Hour)},
		consent.Suppression{Hash: hash(6), Field: consent.ContactPhone, Purpose: "marketing_sms", Source: consent.SuppressWithdrawal, At: t0})
	before := auditCount(t, db)
	if err := db.Consents().AddSuppressions(ctx, entries, []audit.Entry{entry(consent.ActionSuppress, "")}); err != nil {
		t.Fatal(err)
	}
	if auditCount(t, db) != before+1 {
		t.Fatal("the addition was not audited")
	}
	if listed, _ := db.Consents().HasSuppressions(ctx, "marketing_sms"); !listed {
		t.Fatal("marketing_sms has an entry")
	}
	if listed, _ := db.Consents().HasSuppressions(ctx, "ads_sharing"); listed {
		t.Fatal("ads_sharing has no entry")
	}
	var ask [][]byte
	for i := 0; i < 1200; i += 2 {
		ask = append(ask, hash(i))
	}
	ask = append(ask, hash(5))
	at, err := db.Consents().SuppressedAt(ctx, "marketing_email", ask)
	if err != nil || len(at) != 351 {
		t.Fatalf("got %d matches (%v), want 351", len(at), err)
	}
	if !at[string(hash(5))].Equal(t0.Add(time.Hour)) || !at[string(hash(4))].Equal(t0) {
		t.Fatalf("got %v and %v, want the newest time per hash", at[string(hash(5))], at[string(hash(4))])
	}
	other, _ := db.Consents().SuppressedAt(ctx, "marketing_sms", [][]byte{hash(6), hash(4)})
	if len(other) != 1 || !bytes.Equal([]byte(firstKey(other)), hash(6)) {
		t.Fatalf("got %v for marketing_sms, want only hash 6", other)
	}
	// Suspects: customers whose email or phone token is an entry's token for the purpose.
	for i, tok := range []int64{77, 78, 79} {
		if err := db.Customers().CreateCustomer(ctx, record(id(500+i), tok), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Consents().AddSuppressions(ctx, []consent.Suppression{
		{Hash: hash(9001), Token: 77, Field: consent.ContactEmail, Purpose: "marketing_email", Source: consent.SuppressAPI, At: t0},
		{Hash: hash(9002), Token: 79, Field: consent.ContactPhone, Purpose: "marketing_email", Source: consent.SuppressAPI, At: t0},
	}, nil); err != nil {
		t.Fatal(err)
	}
	sus, err := db.Consents().SuppressionSuspects(ctx, "marketing_email", []string{id(500), id(501), id(502), id(999)})
	if err != nil || len(sus) != 1 || !sus[id(500)] {
		t.Fatalf("got suspects %v (%v), want only the customer whose email token is listed", sus, err)
	}
	// Asked for fewer customers than there are entries, it goes from the customers instead.
	if sus, err := db.Consents().SuppressionSuspects(ctx, "marketing_email", []string{id(500)}); err != nil || !sus[id(500)] {
		t.Fatalf("got suspects %v (%v), want the one customer", sus, err)
	}
	if sus, _ := db.Consents().SuppressionSuspects(ctx, "marketing_email", []string{id(501)}); len(sus) != 0 {
		t.Fatalf("got suspects %v, want none", sus)
	}
	if sus, _ := db.Consents().SuppressionSuspects(ctx, "marketing_sms", []string{id(500)}); len(sus) != 0 {
		t.Fatalf("got suspects %v for another purpose", sus)
	}
	for _, stmt := range []string{`DELETE FROM suppressions`, `UPDATE suppressions SET at = 0`} {
		if _, err := db.Write().ExecContext(ctx, stmt); err == nil {
			t.Errorf("the engine allowed %q on the suppression list", stmt)
		}
	}
}

func firstKey[V any](m map[string]V) string {
	for k := range m {
		return k
	}
	return ""
}

// watcher records what the engine reports as changed.
type watcher struct {
	mu       sync.Mutex
	ids      []string
	policies int
}

func (w *watcher) Forget(ids ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ids = append(w.ids, ids...)
}

func (w *watcher) ForgetPolicies() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.policies++
}

func (w *watcher) take() ([]string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids, n := w.ids, w.policies
	w.ids, w.policies = nil, 0
	return ids, n
}

// testDecisionVersions: every write that changes what a permission decision reads bumps the
// change counter of exactly the customers it concerns (for other processes) and tells the
// watcher about them (for this one); writes about others leave a customer's counter alone.
func testDecisionVersions(t *testing.T, db *store.Engine) {
	w := &watcher{}
	db.SetDecisionWatcher(w)
	a, b := record(id(1), 11), record(id(2), 22)
	if err := db.Customers().CreateCustomers(ctx, []*customer.Record{a, b}, nil); err != nil {
		t.Fatal(err)
	}
	version := func(customerID string) consent.Version {
		t.Helper()
		v, err := db.Consents().DecisionVersion(ctx, customerID)
		if err != nil {
			t.Fatal(err)
		}
		// The batched read says the same.
		counters, err := db.Consents().DecisionCounters(ctx, []string{customerID, id(404)})
		if got, ok := counters[customerID]; err != nil || len(counters) > 1 || ok != (v.Customer >= 0) || ok && got != v.Customer {
			t.Fatalf("counters of %s: got %v, %v; want %d", customerID, counters, err, v.Customer)
		}
		return v
	}
	if v := version(id(3)); v.Customer != -1 || v.Policies != 0 {
		t.Fatalf("unknown customer, no policy: got %+v", v)
	}
	t0 := clock.System()
	steps := []struct {
		name    string
		write   func() error
		changed []string // customers whose counter moves and whom the watcher hears of
		policy  bool
	}{
		{"customers created", func() error { return nil }, nil, false},
		{"policy published", func() error { return db.Consents().PublishPolicy(ctx, policy("v1", 1, t0), nil) }, nil, true},
		{"record appended", func() error {
			return db.Consents().AppendConsent(ctx, consent.Append{CustomerID: a.ID, Records: []consent.Record{consentRecord(a.ID, consent.KindConsent, "marketing_email", true, t0)}})
		}, []string{a.ID}, false},
		{"suppression matching the other's email token", func() error {
			return db.Consents().AddSuppressions(ctx, []consent.Suppression{{Hash: []byte("h22"), Token: 22, Field: consent.ContactEmail, Purpose: "marketing_email", Source: consent.SuppressAPI, At: t0}}, nil)
		}, []string{b.ID}, false},
		{"suppression with a withdrawal matches the other", func() error {
			return db.Consents().AppendConsent(ctx, consent.Append{CustomerID: a.ID, Records: []consent.Record{consentRecord(a.ID, consent.KindConsent, "marketing_email", false, t0.Add(time.Second))},
				Suppressions: []consent.Suppression{{Hash: []byte("h22b"), Token: 22, Field: consent.ContactEmail, Purpose: "marketing_email", Source: consent.SuppressWithdrawal, At: t0}}})
		}, []string{a.ID, b.ID}, false},
		{"suppression matching nobody", func() error {
			return db.Consents().AddSuppressions(ctx, []consent.Suppression{{Hash: []byte("h99"), Token: 99, Field: consent.ContactEmail, Purpose: "marketing_email", Source: consent.SuppressAPI, At: t0}}, nil)
		}, nil, false},
		{"profile updated", func() error {
			a.Version++
			return db.Customers().UpdateCustomer(ctx, a, a.Version-1, nil)
		}, []string{a.ID}, false},
	}
	prev := map[string]consent.Version{a.ID: version(a.ID), b.ID: version(b.ID)}
	w.take()
	for _, st := range steps {
		if err := st.write(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		heard, policies := w.take()
		for _, c := range []string{a.ID, b.ID} {
			v := version(c)
			moved := v.Customer != prev[c].Customer
			if moved != slices.Contains(st.changed, c) {
				t.Errorf("%s: counter of %s moved %v, want %v", st.name, c, moved, !moved)
			}
			if slices.Contains(st.changed, c) && !slices.Contains(heard, c) {
				t.Errorf("%s: watcher not told of %s (heard %v)", st.name, c, heard)
			}
			if (v.Policies != prev[c].Policies) != st.policy || st.policy && policies == 0 {
				t.Errorf("%s: policies %d → %d, watcher told %d times", st.name, prev[c].Policies, v.Policies, policies)
			}
			prev[c] = v
		}
	}
}
