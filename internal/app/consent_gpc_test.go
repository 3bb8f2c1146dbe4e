package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/sqlite"
	"github.com/stewardhq/steward/internal/vault"
)

var gpc = map[string]string{"Sec-GPC": "1", "User-Agent": "Mozilla/5.0 (GPC test)"}

// gpcRecords returns the customer's records with source gpc, by purpose.
func (e *env) gpcRecords(id string) map[string]int {
	out := map[string]int{}
	for _, r := range e.ledger(id) {
		if r.Source == consent.SourceGPC {
			out[r.Purpose]++
		}
	}
	return out
}

func (e *env) reason(id, purpose string, header map[string]string) string {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/permissions/" + purpose, role: "owner", header: header})
	var d consent.Decision
	if code != 200 || json.Unmarshal([]byte(body), &d) != nil {
		e.t.Fatalf("permission: got %d %s", code, body)
	}
	return d.Reason
}

// TestGPC: a request carrying Sec-GPC: 1 that identifies a customer records an opt-out of the
// catalog's GPC-sensitive purposes (personalization and ads_sharing by default), overriding
// earlier consent, once however often the signal repeats.
func TestGPC(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"gpc@example.com"}`)
	e.consentToAll(id)
	records := len(e.ledger(id))
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support", header: gpc})
	if code != 200 {
		t.Fatalf("got %d %s", code, body)
	}
	if got := e.gpcRecords(id); got["personalization"] != 1 || got["ads_sharing"] != 1 || len(got) != 2 {
		t.Fatalf("got GPC records %v, want one each for personalization and ads_sharing", got)
	}
	// The two opt-outs are recorded once the read is known to be allowed, then the read is
	// audited (newest first).
	if acts := e.auditActions(id); !strings.HasPrefix(acts[0], "customer.read:support") ||
		!strings.HasPrefix(acts[1], "consent.record:support:") || !strings.HasPrefix(acts[2], "consent.record:support:") {
		t.Fatalf("got audit %v", acts[:4])
	}
	for i := 0; i < 3; i++ {
		e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support", header: gpc})
		e.do(call{method: "GET", path: "/v1/customers/" + id + "/consents", role: "support", header: gpc})
	}
	if n := len(e.ledger(id)); n != records+2 {
		t.Fatalf("repeated signals grew the ledger to %d records, want %d", n, records+2)
	}
	if r := e.reason(id, "ads_sharing", nil); r != consent.ReasonGPCOptOut {
		t.Fatalf("ads_sharing: got %s, want gpc_opt_out", r)
	}
	if r := e.reason(id, "marketing_email", gpc); r != consent.ReasonConsent {
		t.Fatalf("marketing_email is not GPC-sensitive: got %s", r)
	}
	// The customer opts back in on the site; the next request with the signal opts out again.
	code, body = e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
		body: `{"purpose":"ads_sharing","granted":true,"policy_version":"all","source":"banner"}`})
	if code != 201 || e.reason(id, "ads_sharing", nil) != consent.ReasonConsent {
		t.Fatalf("opt back in: %d %s", code, body)
	}
	if r := e.reason(id, "ads_sharing", gpc); r != consent.ReasonGPCOptOut {
		t.Fatalf("got %s, want the signal to win again", r)
	}
	if got := e.gpcRecords(id); got["ads_sharing"] != 2 || got["personalization"] != 1 {
		t.Fatalf("got %v", got)
	}
	// A reveal for a GPC-sensitive purpose in a request with the signal is refused.
	if code, _ := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "marketer", purpose: "personalization", header: gpc}); code != 403 {
		t.Fatalf("got %d, want 403", code)
	}
	// GPC receipts say it was a signal.
	for _, r := range e.ledger(id) {
		if r.Source != consent.SourceGPC {
			continue
		}
		rc, err := consent.Verify(r.Receipt, e.app.Keys.ReceiptPublicKey())
		if err != nil || rc.Event != "withdrawn" || rc.Purposes[0].ConsentType != "signal" || r.Evidence.UserAgent != "" || len(r.SealedEvidence) == 0 || !rc.Evidence.HasUserAgent || r.Evidence.IPHash == "" {
			t.Fatalf("GPC record %+v, receipt %+v %v", r, rc, err)
		}
	}

	// Creating a customer with the signal records the opt-out for the new customer.
	code, body = e.do(call{method: "POST", path: "/v1/customers", role: "ingest", body: `{"fields":{"email":"new.gpc@example.com"}}`, header: gpc})
	var created struct{ ID string }
	_ = json.Unmarshal([]byte(body), &created)
	if code != 201 || len(e.gpcRecords(created.ID)) != 2 {
		t.Fatalf("create with GPC: %d %s, records %v", code, body, e.gpcRecords(created.ID))
	}
	// So does looking one up.
	looked := e.create(`{"email":"lookup.gpc@example.com"}`)
	e.do(call{method: "GET", path: "/v1/customers?email=lookup.gpc@example.com", role: "support", header: gpc})
	if got := e.gpcRecords(looked); len(got) != 2 {
		t.Fatalf("look-up with GPC: records %v", got)
	}
	// A refused request carrying the signal writes nothing, the opt-out included.
	refused := e.create(`{"email":"refused.gpc@example.com"}`)
	for _, c := range []call{
		{method: "PATCH", path: "/v1/customers/" + refused, role: "owner", body: `{"fields":{"shoe_size":44}}`, header: gpc},
		{method: "GET", path: "/v1/customers/" + refused + "/permissions/mind_reading", role: "owner", header: gpc},
		{method: "GET", path: "/v1/customers/" + refused, role: "ingest", header: gpc},
	} {
		if code, body := e.do(c); code < 400 {
			t.Fatalf("%s %s: got %d %s, want a refusal", c.method, c.path, code, body)
		}
	}
	if n := len(e.ledger(refused)); n != 0 {
		t.Fatalf("refused requests recorded %d opt-outs", n)
	}
	// A read-only role relays nobody's signal: the header on its reads records nothing in the
	// customer's name.
	readOnly := e.create(`{"email":"readonly.gpc@example.com"}`)
	for _, role := range []string{"analyst", "marketer", "auditor"} {
		e.do(call{method: "GET", path: "/v1/customers/" + readOnly, role: role, header: gpc})
		e.do(call{method: "GET", path: "/v1/customers/" + readOnly + "/consents", role: role, header: gpc})
		e.do(call{method: "GET", path: "/v1/customers?email=readonly.gpc@example.com", role: role, header: gpc})
	}
	if n := len(e.ledger(readOnly)); n != 0 {
		t.Fatalf("read-only roles recorded %d opt-outs in the customer's name", n)
	}
	// Without the signal, or with another value, nothing is recorded.
	plain := e.create(`{"email":"nogpc@example.com"}`)
	e.do(call{method: "GET", path: "/v1/customers/" + plain, role: "support"})
	e.do(call{method: "GET", path: "/v1/customers/" + plain, role: "support", header: map[string]string{"Sec-GPC": "0"}})
	if len(e.ledger(plain)) != 0 {
		t.Fatal("a request without the signal recorded an opt-out")
	}
}

// testGPCConcurrent sends the signal for one customer from many requests at once: exactly one
// opt-out per purpose lands, because appends re-check the ledger under the customer's lock.
func testGPCConcurrent(t *testing.T, e *env) {
	id := e.create(`{"email":"race@example.com"}`)
	ctx := authz.WithActor(context.Background(), authz.Actor{ID: "key:race", Role: "ingest"})
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := e.app.Consents.ApplyGPC(ctx, id, consent.EvidenceInput{})
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.gpcRecords(id); got["personalization"] != 1 || got["ads_sharing"] != 1 {
		t.Fatalf("got %v, want exactly one opt-out per purpose", got)
	}
	if _, err := e.app.Audit.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestGPCConcurrentSQLite(t *testing.T)   { testGPCConcurrent(t, newEnv(t, "")) }
func TestGPCConcurrentPostgres(t *testing.T) { testGPCConcurrent(t, newEnv(t, pgtest.URL(t))) }

// TestSuppressionSurvivesErasureAndReimport: a customer's opt-out of email marketing puts
// their email and phone, hashed, on the suppression list; after the profile is gone, the same
// address imported again with a carried-over consent stays blocked, while a fresh opt-in made
// afterwards counts.
func TestSuppressionSurvivesErasureAndReimport(t *testing.T) {
	e := newEnv(t, "")
	e.publish(policyV1)
	grantAs := func(id, purpose, source string) {
		t.Helper()
		code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
			body: `{"purpose":"` + purpose + `","granted":true,"policy_version":"2026-01","source":"` + source + `"}`})
		if code != 201 {
			t.Fatalf("grant: %d %s", code, body)
		}
	}
	a := e.create(`{"email":"Sup.Pressed@Example.com","phone":"+44 20 7946 0001"}`)
	grantAs(a, "marketing_email", "signup_form")
	grantAs(a, "marketing_sms", "signup_form")
	e.do(call{method: "POST", path: "/v1/customers/" + a + "/consents", role: "owner", body: `{"purpose":"marketing_email","granted":false,"source":"portal"}`})
	var n int
	_ = e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM suppressions WHERE purpose = 'marketing_email'`).Scan(&n)
	if n != 2 {
		t.Fatalf("got %d suppression entries, want email and phone", n)
	}
	// The profile goes (as an erasure removes it); the ledger and the list stay.
	if _, err := e.app.Store.Write().Exec(`DELETE FROM customers WHERE id = $1`, a); err != nil {
		t.Fatal(err)
	}
	// Re-imported under a new id, with the consent an old list still carries.
	b := e.create(`{"email":"sup.pressed@example.com"}`)
	grantAs(b, "marketing_email", "import")
	grantAs(b, "marketing_sms", "import")
	if r := e.reason(b, "marketing_email", nil); r != consent.ReasonSuppressed {
		t.Fatalf("re-imported email: got %s, want suppressed", r)
	}
	if r := e.reason(b, "marketing_sms", nil); r != consent.ReasonConsent {
		t.Fatalf("only email marketing was withdrawn: got %s", r)
	}
	// The same person by phone, opting in afresh on the site: that counts.
	c := e.create(`{"phone":"020 7946 0001"}`)
	grantAs(c, "marketing_email", "signup_form")
	if r := e.reason(c, "marketing_email", nil); r != consent.ReasonConsent {
		t.Fatalf("fresh opt-in after suppression: got %s, want consent", r)
	}
	// An address suppressed through the API blocks a consent given before it.
	d := e.create(`{"email":"bounced@example.com"}`)
	grantAs(d, "marketing_email", "banner")
	code, body := e.do(call{method: "POST", path: "/v1/suppressions", role: "support", body: `{"email":"BOUNCED@example.com"}`})
	if code != 201 || strings.Contains(body, "bounced") || !strings.Contains(body, `"purposes":["marketing_email","marketing_sms"]`) {
		t.Fatalf("suppress: %d %s", code, body)
	}
	if r := e.reason(d, "marketing_email", nil); r != consent.ReasonSuppressed {
		t.Fatalf("got %s, want suppressed", r)
	}
	// The bulk check sees the same.
	code, body = e.do(call{method: "POST", path: "/v1/permissions/check", role: "marketer",
		body: fmt.Sprintf(`{"purpose":"marketing_email","customer_ids":["%s","%s","%s","%s"]}`, a, b, c, d)})
	if code != 200 {
		t.Fatalf("check: %d %s", code, body)
	}
	var res consent.Bulk
	_ = json.Unmarshal([]byte(body), &res)
	want := map[string]string{a: consent.ReasonUnknownCustomer, b: consent.ReasonSuppressed, d: consent.ReasonSuppressed}
	if len(res.Allowed) != 1 || res.Allowed[0] != c || len(res.Denied) != 3 {
		t.Fatalf("got %s", body)
	}
	for _, den := range res.Denied {
		if want[den.CustomerID] != den.Reason {
			t.Errorf("%s: got %s, want %s", den.CustomerID, den.Reason, want[den.CustomerID])
		}
	}
}

// TestBulkCheck: allowed and denied with reasons, repeated ids answered once, one audit entry
// naming the purpose and the counts, no customer values anywhere.
func TestBulkCheck(t *testing.T) {
	e := newEnv(t, "")
	e.publish(policyV1)
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, e.create(fmt.Sprintf(`{"email":"bulk%d@example.com"}`, i)))
	}
	for _, id := range ids[:3] {
		e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner", body: `{"purpose":"marketing_email","granted":true,"policy_version":"2026-01","source":"api"}`})
	}
	e.do(call{method: "POST", path: "/v1/customers/" + ids[2] + "/consents", role: "owner", body: `{"purpose":"marketing_email","granted":false,"source":"api"}`})
	unknown := "0190a000-0000-7000-8000-000000000042"
	ask := append(append([]string{}, ids...), unknown, ids[0])
	b, _ := json.Marshal(map[string]any{"purpose": "marketing_email", "customer_ids": ask})
	code, body := e.do(call{method: "POST", path: "/v1/permissions/check", role: "marketer", body: string(b)})
	if code != 200 {
		t.Fatalf("got %d %s", code, body)
	}
	var res consent.Bulk
	_ = json.Unmarshal([]byte(body), &res)
	if strings.Join(res.Allowed, ",") != ids[0]+","+ids[1] || len(res.Denied) != 5 {
		t.Fatalf("got %s", body)
	}
	reasons := map[string]string{}
	for _, d := range res.Denied {
		reasons[d.CustomerID] = d.Reason
	}
	if reasons[ids[2]] != consent.ReasonWithdrawn || reasons[ids[3]] != consent.ReasonNoConsent || reasons[unknown] != consent.ReasonUnknownCustomer {
		t.Fatalf("got %v", reasons)
	}
	entries, _ := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Action: consent.ActionCheck, Limit: 10})
	if len(entries) != 1 || entries[0].Purpose != "marketing_email" || entries[0].Target != "customers:7 allowed:2" || entries[0].ActorRole != "marketer" {
		t.Fatalf("got %+v, want one permission.check entry", entries)
	}
	if strings.Contains(body, "bulk0@") {
		t.Fatal("the answer holds a value")
	}
}

// TestReceiptKeyAddedToOldInstallation: a data directory made before consent receipts existed
// has no receipt key; opening it creates one, stores it wrapped by the root key, audits it, and
// later opens keep it.
func TestReceiptKeyAddedToOldInstallation(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	root, err := openRoot(e.app.Config)
	if err != nil {
		t.Fatal(err)
	}
	blob, bits, err := e.app.Store.Keysets().LoadKeyset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := root.Unwrap(ctx, blob, []byte("steward keyset v1"))
	if err != nil {
		t.Fatal(err)
	}
	var ks map[string]any
	if err := json.Unmarshal(plain, &ks); err != nil || ks["receipt_seed"] == nil {
		t.Fatalf("a new keyset lacks a receipt seed: %v", err)
	}
	delete(ks, "receipt_seed")
	old, _ := json.Marshal(ks)
	oldBlob, err := root.Wrap(ctx, old, []byte("steward keyset v1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Store.Write().Exec(`UPDATE keyset SET blob = $1, index_bits = $2`, oldBlob, bits); err != nil {
		t.Fatal(err)
	}
	e.app.Close()
	if legacy, err := vault.OpenKeyset(ctx, root, oldBlob); err != nil || legacy.HasReceiptKey() {
		t.Fatalf("the legacy keyset still has a receipt key (%v)", err)
	}

	a, err := Open(ctx, e.app.Config, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := a.Keys.ReceiptPublicKey()
	if len(pub) == 0 {
		t.Fatal("no receipt key after opening an old installation")
	}
	entries, _ := a.Store.Audit().ListAudit(ctx, audit.Filter{Action: "keys.receipt_key_create", Limit: 5})
	if len(entries) != 1 || entries[0].ActorID != authz.System.ID {
		t.Fatalf("got %+v, want one audited key creation", entries)
	}
	a.Close()
	b, err := Open(ctx, e.app.Config, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if string(b.Keys.ReceiptPublicKey()) != string(pub) {
		t.Fatal("the receipt key changed on the next open")
	}
	if entries, _ := b.Store.Audit().ListAudit(ctx, audit.Filter{Action: "keys.receipt_key_create", Limit: 5}); len(entries) != 1 {
		t.Fatalf("got %d key creations, want 1", len(entries))
	}
	if _, err := b.Audit.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestConsentCanaries: the raw IP of consent evidence and suppressed addresses never reach the
// database files.
func TestConsentCanaries(t *testing.T) {
	e := newEnv(t, "")
	e.publish(policyV1)
	id := e.create(`{"email":"ledger@example.com"}`)
	code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
		body: `{"purpose":"marketing_email","granted":true,"policy_version":"2026-01","source":"signup_form","evidence":{"ip":"198.51.100.177"}}`})
	if code != 201 {
		t.Fatalf("got %d %s", code, body)
	}
	e.do(call{method: "POST", path: "/v1/suppressions", role: "owner", body: `{"email":"canary.suppressed.zq@example.com","phone":"+44 7911 123888"}`})
	if err := sqlite.Checkpoint(context.Background(), e.app.Store); err != nil {
		t.Fatal(err)
	}
	e.app.Close()
	assertNoCanary(t, e.dir, []string{"198.51.100.177", "canary.suppressed.zq", "447911123888"})
}

// TestGPCCreateIsAtomic: the opt-out a create carries (Sec-GPC: 1) is stored in the create's
// own transaction. When the database refuses the consent write, the create fails and leaves no
// customer behind, so the client's retry makes exactly one customer, with the opt-out; a patch
// carrying the signal is the same: refused together, or stored together.
func TestGPCCreateIsAtomicSQLite(t *testing.T) {
	gpcCreateAtomic(t, "", refuseConsent["sqlite"], allowConsent["sqlite"])
}

func TestGPCCreateIsAtomicPostgres(t *testing.T) {
	gpcCreateAtomic(t, pgtest.URL(t), refuseConsent["postgres"], allowConsent["postgres"])
}

func gpcCreateAtomic(t *testing.T, db, refuse, allow string) {
	e := newEnv(t, db)
	count := func() int64 {
		t.Helper()
		n, err := e.app.Store.Customers().CountCustomers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := e.app.Store.Write().Exec(refuse); err != nil {
		t.Fatal(err)
	}
	create := call{method: "POST", path: "/v1/customers", role: "ingest", body: `{"fields":{"email":"atomic.gpc@example.com"}}`, header: gpc}
	if code, body := e.do(create); code < 500 {
		t.Fatalf("create with a refused opt-out: got %d %s, want a server error", code, body)
	}
	if n := count(); n != 0 {
		t.Fatalf("the failed create left %d customers behind", n)
	}
	// Without the signal the create needs no consent write and succeeds.
	plain := e.create(`{"email":"plain.gpc@example.com"}`)
	patch := call{method: "PATCH", path: "/v1/customers/" + plain, role: "owner", body: `{"fields":{"first_name":"Ada"}}`, header: gpc}
	if code, body := e.do(patch); code < 500 {
		t.Fatalf("patch with a refused opt-out: got %d %s, want a server error", code, body)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/customers/" + plain, role: "owner"}); code != 200 || strings.Contains(body, `"first_name"`) {
		t.Fatalf("the failed patch changed the customer: %d %s", code, body)
	}
	if _, err := e.app.Store.Write().Exec(allow); err != nil {
		t.Fatal(err)
	}
	code, body := e.do(create)
	if code != 201 || count() != 2 {
		t.Fatalf("retry: got %d %s and %d customers, want 201 and 2", code, body, count())
	}
	var v struct{ ID string }
	_ = json.Unmarshal([]byte(body), &v)
	if got := e.bySource(v.ID); got["gpc:ads_sharing"] != 1 {
		t.Fatalf("retry: ledger %v, want one GPC opt-out of ads_sharing", got)
	}
	if code, body := e.do(patch); code != 200 || e.bySource(plain)["gpc:ads_sharing"] != 1 {
		t.Fatalf("patch retry: got %d %s, ledger %v", code, body, e.bySource(plain))
	}
}

// TestLookupAuditsOnlyWhatItReturns: a look-up with a limit reads, and audits, only the
// matches it returns.
func TestLookupAuditsOnlyWhatItReturns(t *testing.T) {
	e := newEnv(t, "")
	sys := authz.WithActor(context.Background(), authz.System)
	var ids []string
	for range 3 {
		// Several customers may hold one address (stored before creates were matched on it,
		// or loaded in bulk, and waiting for review).
		got, err := e.app.Customers.CreateBatch(sys, []map[string]any{{"email": "shared@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got[0])
	}
	code, body := e.do(call{method: "GET", path: "/v1/customers?email=shared@example.com&limit=1", role: "support"})
	var page struct{ Data []struct{ ID string } }
	if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil || len(page.Data) != 1 {
		t.Fatalf("got %d %s, want one match", code, body)
	}
	read := 0
	for _, id := range ids {
		for _, a := range e.auditActions(id) {
			if strings.HasPrefix(a, "customer.lookup") {
				read++
			}
		}
	}
	if read != 1 {
		t.Fatalf("got %d look-up entries for a look-up that returned one customer, want 1", read)
	}
}
