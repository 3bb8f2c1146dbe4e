package app

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// node opens a second Steward on e's database, as another process would: its own store
// connections and its own decision cache, and a server of its own.
func (e *env) node() *env {
	e.t.Helper()
	clk := &clock.Offset{}
	a, err := OpenWith(context.Background(), e.app.Config, Options{Clock: clk.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { a.Close() })
	n := &env{t: e.t, app: a, keys: e.keys, dir: e.dir, clock: clk}
	n.srv = httptest.NewServer(a.HTTP().Handler())
	e.t.Cleanup(n.srv.Close)
	return n
}

// may is the single check through the service, as reveals and the permission route make it.
func (e *env) may(id, purpose string) string {
	e.t.Helper()
	d, err := e.app.Consents.May(authz.WithActor(context.Background(), authz.Actor{ID: "test", Role: "owner"}), id, purpose)
	if err != nil {
		e.t.Fatal(err)
	}
	return d.Reason
}

// TestDecisionCacheFollowsEveryChange: each step changes one input of the permission decision
// through one of the paths that can change it, on the writer, then asks the checker, whose
// cache was warmed by the step before, for the very next decision. On SQLite writer and
// checker are one process; on PostgreSQL they are two Stewards sharing the database, so the
// second's cache must notice the first's writes.
func TestDecisionCacheFollowsEveryChange(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			db := ""
			if engine == "postgres" {
				db = pgtest.URL(t)
			}
			w := newEnv(t, db)
			c := w
			if engine == "postgres" {
				c = w.node()
			}
			id := w.create(`{"email":"ada@example.com","phone":"+44 20 7946 0958"}`)
			twin := w.create(`{"email":"twin@example.com"}`)
			grantTo := func(who, purpose string) call {
				return call{method: "POST", path: "/v1/customers/" + who + "/consents", role: "owner",
					body: `{"purpose":"` + purpose + `","granted":true,"policy_version":"v1","source":"portal"}`}
			}
			grant := func(purpose string) call { return grantTo(id, purpose) }
			request := func(typ, body string) func() {
				return func() {
					rid := w.request(`{"type":"` + typ + `","customer_id":"` + id + `"}`)
					if code, resp := w.verifyAndComplete(rid, body); code != 200 {
						t.Fatalf("%s: got %d %s", typ, code, resp)
					}
				}
			}
			via := func(cl call, want int) func() {
				return func() {
					if code, body := w.do(cl); code != want {
						t.Fatalf("%s %s: got %d %s, want %d", cl.method, cl.path, code, body, want)
					}
				}
			}
			// Policies take effect by the checker's clock, which the last steps move on.
			steps := []struct {
				name    string
				change  func()
				who     string // the customer checked; id when empty
				purpose string
				want    string
			}{
				{name: "no policy, no consent", change: func() {}, purpose: "marketing_email", want: "no_consent"},
				{name: "policy published", change: via(call{method: "POST", path: "/v1/policies", role: "owner",
					body: `{"version":"v1","text":"Offers by email and SMS.","purposes":["marketing_email","marketing_sms","personalization","ads_sharing"]}`}, 201),
					purpose: "marketing_email", want: "no_consent"},
				{name: "consent given", change: via(grant("marketing_email"), 201), purpose: "marketing_email", want: "consent"},
				{name: "consent withdrawn", change: via(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
					body: `{"purpose":"marketing_email","granted":false,"source":"portal"}`}, 201), purpose: "marketing_email", want: "withdrawn"},
				{name: "consent given again", change: via(grant("marketing_email"), 201), purpose: "marketing_email", want: "consent"},
				{name: "another customer consented", change: via(grantTo(twin, "marketing_email"), 201), who: twin, purpose: "marketing_email", want: "consent"},
				{name: "address suppressed through the API", change: via(call{method: "POST", path: "/v1/suppressions", role: "owner",
					body: `{"email":"ADA@example.com"}`}, 201), purpose: "marketing_email", want: "suppressed"},
				{name: "email changed", change: via(call{method: "PATCH", path: "/v1/customers/" + id, role: "owner",
					body: `{"fields":{"email":"ada.new@example.com"}}`}, 200), purpose: "marketing_email", want: "consent"},
				{name: "the other customer takes the suppressed address", change: via(call{method: "PATCH", path: "/v1/customers/" + twin, role: "owner",
					body: `{"fields":{"email":"ada@example.com"}}`}, 200), who: twin, purpose: "marketing_email", want: "suppressed"},
				{name: "personalization consented", change: via(grant("personalization"), 201), purpose: "personalization", want: "consent"},
				{name: "Global Privacy Control signal", change: via(call{method: "GET", path: "/v1/customers/" + id, role: "support",
					header: map[string]string{"Sec-GPC": "1"}}, 200), purpose: "personalization", want: "gpc_opt_out"},
				{name: "ads sharing consented", change: via(grant("ads_sharing"), 201), purpose: "ads_sharing", want: "consent"},
				{name: "opt-out request", change: request("opt_out", ""), purpose: "ads_sharing", want: "opted_out"},
				{name: "objection request", change: request("objection", `{"purposes":["analytics"]}`), purpose: "analytics", want: "objected"},
				{name: "restriction request", change: request("restriction", ""), purpose: "service", want: "restricted"},
				{name: "restriction leaves legal obligations", change: func() {}, purpose: "legal_obligation", want: "legal_obligation"},
				{name: "restriction lifted", change: request("restriction", `{"lift":true}`), purpose: "service", want: "contract"},
				{name: "SMS consented", change: via(grant("marketing_sms"), 201), purpose: "marketing_sms", want: "consent"},
				{name: "version with a material change, taking effect in an hour", change: func() {
					effective := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
					via(call{method: "POST", path: "/v1/policies", role: "owner",
						body: `{"version":"v2","effective_at":"` + effective + `","text":"SMS changed.","purposes":["marketing_email","marketing_sms","personalization","ads_sharing"],"material_change":["marketing_sms"]}`}, 201)()
				}, purpose: "marketing_sms", want: "consent"},
				{name: "the hour passes", change: func() { c.clock.Set(time.Hour + time.Minute) }, purpose: "marketing_sms", want: "needs_reconsent"},
				{name: "erased", change: request("erasure", ""), purpose: "service", want: "unknown_customer"},
			}
			for _, st := range steps {
				who := st.who
				if who == "" {
					who = id
				}
				c.may(who, st.purpose) // warm the checker's cache with the state before the change
				st.change()
				if got := c.may(who, st.purpose); got != st.want {
					t.Fatalf("%s: %s for %s: got %q, want %q", st.name, engine, st.purpose, got, st.want)
				}
				// The bulk check reads the database, not the cache: the two must agree.
				bulk, err := c.app.Consents.Check(authz.WithActor(context.Background(), authz.System), st.purpose, []string{who})
				if err != nil {
					t.Fatal(err)
				}
				if got := bulkReason(bulk); got != st.want && (got != "allowed" || !allowedReasons[st.want]) {
					t.Fatalf("%s: bulk check for %s: got %q, want %q", st.name, st.purpose, got, st.want)
				}
			}
		})
	}
}

// TestDecisionCacheIsBounded: the cache never holds more customers than its size, dropping
// the least recently checked.
func TestDecisionCacheIsBounded(t *testing.T) {
	e := newEnv(t, "")
	e.app.Consents.Cache().Size = 64 // one per shard; set before the cache's first use
	var ids []string
	for i := 0; i < 300; i++ {
		ids = append(ids, e.create(fmt.Sprintf(`{"email":"c%d@example.com"}`, i)))
	}
	for _, id := range ids {
		if got := e.may(id, "service"); got != "contract" {
			t.Fatalf("got %q", got)
		}
	}
	if n := e.app.Consents.Cache().Len(); n > 64 || n == 0 {
		t.Fatalf("got %d cached customers, want 1 to 64", n)
	}
	// The decisions stay right for customers that were dropped.
	if got := e.may(ids[0], "marketing_email"); !strings.Contains(got, "no_consent") {
		t.Fatalf("got %q", got)
	}
}

// TestDecisionCacheUnderConcurrentChecks: while other callers keep checking (and reloading) the
// same customer, every withdrawal and grant is seen by the check that follows it: a load that
// raced with the change is never kept in place of it.
func TestDecisionCacheUnderConcurrentChecks(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"busy@example.com"}`)
	e.consentToAll(id)
	sys := authz.WithActor(context.Background(), authz.System)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.app.Consents.May(sys, id, "marketing_sms"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	list, _ := e.app.Consents.Policies(sys)
	for i := 0; i < 40; i++ {
		granted := i%2 == 1
		in := consent.Input{Purpose: "marketing_sms", Granted: &granted, Source: consent.SourcePortal}
		want := "withdrawn"
		if granted {
			in.PolicyVersion, want = list.InForce, "consent"
		}
		if _, err := e.app.Consents.Record(sys, id, in); err != nil {
			t.Fatal(err)
		}
		if got := e.may(id, "marketing_sms"); got != want {
			t.Fatalf("change %d: got %q, want %q", i, got, want)
		}
	}
}

var allowedReasons = map[string]bool{consent.ReasonConsent: true, consent.ReasonContract: true,
	consent.ReasonLegitimateInterest: true, consent.ReasonLegalObligation: true}

func bulkReason(b consent.Bulk) string {
	if len(b.Denied) > 0 {
		return b.Denied[0].Reason
	}
	return "allowed"
}

// TestDecisionCacheSQLiteOtherProcess: on SQLite a second process writing the same file (a
// command run against a serving data directory) cannot tell the first process's cache; its
// change is seen once the entry's trust runs out and its change counter is compared.
func TestDecisionCacheSQLiteOtherProcess(t *testing.T) {
	e := newEnv(t, "")
	id := e.create(`{"email":"cli@example.com"}`)
	e.publish(policyV1)
	e.app.Consents.Cache().Trust = 100 * time.Millisecond
	other := e.node()
	if got := e.may(id, "marketing_email"); got != "no_consent" {
		t.Fatalf("got %q", got)
	}
	yes := true
	if _, err := other.app.Consents.Record(authz.WithActor(context.Background(), authz.System), id,
		consent.Input{Purpose: "marketing_email", Granted: &yes, PolicyVersion: "2026-01", Source: consent.SourceImport}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if got := e.may(id, "marketing_email"); got != "consent" {
		t.Fatalf("after the other process's write and the trust period: got %q, want consent", got)
	}
}
