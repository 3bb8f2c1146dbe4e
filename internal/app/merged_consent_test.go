package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// TestMergedCustomerAnsweredByWinner: once two customers are merged, the customer merged away
// is answered for by the one it was merged into, for choices and decisions alike. A client
// holding the old id (an unsubscribe link sent before the merge, a list exported then) never
// records a choice where nothing reads it, and never acts on a choice the person has since
// taken back under the other id. ads_sharing is not a marketing purpose, so no suppression
// entry on a shared address stands in for the ledger here.
func TestMergedCustomerAnsweredByWinner(t *testing.T) { mergedAnsweredByWinner(t, "") }

func TestMergedCustomerAnsweredByWinnerPostgres(t *testing.T) {
	mergedAnsweredByWinner(t, pgtest.URL(t))
}

func mergedAnsweredByWinner(t *testing.T, db string) {
	e := newEnv(t, db, reviewOnly)
	e.population(120)
	a, b := e.likelyDuplicates()
	e.publish(`{"version":"2026-01","text":"We share audiences with ad platforms.","purposes":["ads_sharing","marketing_email"]}`)
	choose := func(id string, granted bool) string {
		t.Helper()
		code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
			body: fmt.Sprintf(`{"purpose":"ads_sharing","granted":%v,"policy_version":"2026-01","source":"api"}`, granted)})
		if code != 201 {
			t.Fatalf("consent for %s: got %d %s", id, code, body)
		}
		var r struct {
			CustomerID string `json:"customer_id"`
		}
		_ = json.Unmarshal([]byte(body), &r)
		return r.CustomerID
	}
	choose(a, true)
	choose(b, true)
	// Both decisions are read (and cached) before the merge.
	if !allowed(e, a, "ads_sharing") || !allowed(e, b, "ads_sharing") {
		t.Fatal("consent not given")
	}

	w, l, mergeID := e.mergeDuplicates(a, b)

	// The winner withdraws: asked by the old id, the answer is the winner's, at once.
	choose(w, false)
	if allowed(e, l, "ads_sharing") {
		t.Fatal("the merged customer's old id still allows what the person withdrew")
	}
	bulk := func() string {
		t.Helper()
		code, body := e.do(call{method: "POST", path: "/v1/permissions/check", role: "owner",
			body: fmt.Sprintf(`{"purpose":"ads_sharing","customer_ids":[%q,%q]}`, l, w)})
		if code != 200 {
			t.Fatalf("bulk check: got %d %s", code, body)
		}
		return body
	}
	if got := bulk(); !strings.Contains(got, `"allowed":[]`) || strings.Count(got, `"reason":"withdrawn"`) != 2 {
		t.Fatalf("bulk check after the winner's withdrawal: got %s", got)
	}

	// Choices sent to the old id are the person's: recorded in the winner's ledger.
	if got := choose(l, true); got != w {
		t.Fatalf("a choice sent to the merged id was recorded for %s, want the winner %s", got, w)
	}
	if !allowed(e, w, "ads_sharing") || !allowed(e, l, "ads_sharing") {
		t.Fatal("a consent given under the old id does not count for the person")
	}
	if got := choose(l, false); got != w {
		t.Fatalf("a withdrawal sent to the merged id was recorded for %s, want the winner %s", got, w)
	}
	if allowed(e, w, "ads_sharing") {
		t.Fatal("a withdrawal sent to the merged id did not reach the winner")
	}
	if got := bulk(); !strings.Contains(got, `"allowed":[]`) {
		t.Fatalf("bulk check after the withdrawal under the old id: got %s", got)
	}
	_, body := e.do(call{method: "GET", path: "/v1/customers/" + l + "/consents", role: "owner"})
	var hist struct{ History []struct{ Purpose string } }
	if err := json.Unmarshal([]byte(body), &hist); err != nil || len(hist.History) != 1 {
		t.Fatalf("the merged customer's own ledger grew after the merge: %s", body)
	}

	// Undone, each answers for itself again, and the withdrawal made while they were one
	// customer stays with both: whose it was is not known.
	if code, body := e.do(call{method: "POST", path: "/v1/merges/" + mergeID + "/undo", role: "admin"}); code != 200 {
		t.Fatalf("undo: got %d %s", code, body)
	}
	if allowed(e, l, "ads_sharing") || allowed(e, w, "ads_sharing") {
		t.Fatal("after the undo, a withdrawal made while the two were merged was lost for one of them")
	}
	if got := choose(l, true); got != l {
		t.Fatalf("after the undo a choice was recorded for %s, want %s", got, l)
	}
	if !allowed(e, l, "ads_sharing") || allowed(e, w, "ads_sharing") {
		t.Fatal("after the undo, each customer's choices are not its own")
	}
}

// TestWithdrawalDuringStitching withdraws a visitor's consent while the batch that stitches
// the visitor into a signed-in customer is being stored, many times over: whichever commits
// first, the person's withdrawal holds for the merged profile. Before merges locked and
// counted the two ledgers, a withdrawal committed between the merge's read and its commit
// stayed in the visitor's ledger, which nothing reads after the merge.
func TestWithdrawalDuringStitching(t *testing.T) { withdrawalDuringStitching(t, "") }

func TestWithdrawalDuringStitchingPostgres(t *testing.T) {
	withdrawalDuringStitching(t, pgtest.URL(t))
}

func withdrawalDuringStitching(t *testing.T, db string) {
	e := newEnv(t, db)
	ps := e.racePeople("race", 5)
	codes := e.withdrawDuring(ps, func(p racePerson) int {
		code, _ := e.track("/v1/identify", fmt.Sprintf(`{"userId":%q,"anonymousId":%q}`, p.user, p.anon))
		return code
	})
	for i, p := range ps {
		if codes[i] != [2]int{200, 201} {
			t.Fatalf("person %d: stitch and withdrawal answered %v", i, codes[i])
		}
		if allowed(e, p.winner, "ads_sharing") {
			t.Fatalf("person %d: the withdrawal made during stitching was lost", i)
		}
		if allowed(e, p.visitor, "ads_sharing") {
			t.Fatalf("person %d: the visitor's old id allows what the person withdrew", i)
		}
	}
	// Undone, the stitch leaves the withdrawal with both, whichever ledger it went to.
	for i, p := range ps[:6] {
		code, body := e.do(call{method: "GET", path: "/v1/customers/" + p.winner + "/merges", role: "owner"})
		var ms struct{ Data []struct{ ID string } }
		_ = json.Unmarshal([]byte(body), &ms)
		if code != 200 || len(ms.Data) != 1 {
			t.Fatalf("person %d: merges: got %d %s", i, code, body)
		}
		if code, body := e.do(call{method: "POST", path: "/v1/merges/" + ms.Data[0].ID + "/undo", role: "admin"}); code != 200 {
			t.Fatalf("person %d: undo: got %d %s", i, code, body)
		}
		if allowed(e, p.winner, "ads_sharing") || allowed(e, p.visitor, "ads_sharing") {
			t.Fatalf("person %d: after the undo, the withdrawal is lost for one of the two", i)
		}
	}
}

// racePerson is one person of the race tests: a customer signed in by user id with an
// e-mail address, and a visitor known by an anonymous id with a phone, both consenting to
// ads_sharing.
type racePerson struct{ user, anon, winner, visitor, merge string }

// racePeople publishes a policy of ads_sharing and makes 24 such people, their ids, e-mail
// addresses and phones told apart by tag and digit.
func (e *env) racePeople(tag string, digit int) []racePerson {
	e.t.Helper()
	e.publish(`{"version":"2026-01","text":"We share audiences with ad platforms.","purposes":["ads_sharing"]}`)
	ps := make([]racePerson, 24)
	for i := range ps {
		p := &ps[i]
		p.user, p.anon = fmt.Sprintf("u-%s-%d", tag, i), fmt.Sprintf("anon-%s-%d", tag, i)
		email, phone := fmt.Sprintf("%s.%d@example.com", tag, i), fmt.Sprintf("+44 7400 %d%05d", digit, i)
		e.mustTrack("/v1/identify", fmt.Sprintf(`{"userId":%q,"traits":{"email":%q}}`, p.user, email))
		e.mustTrack("/v1/identify", fmt.Sprintf(`{"anonymousId":%q,"traits":{"phone":%q}}`, p.anon, phone))
		p.winner, p.visitor = e.customerOf(email), e.byPhone(phone)
		for _, id := range []string{p.winner, p.visitor} {
			if code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
				body: `{"purpose":"ads_sharing","granted":true,"policy_version":"2026-01","source":"banner"}`}); code != 201 {
				e.t.Fatalf("consent: got %d %s", code, body)
			}
		}
	}
	return ps
}

// withdrawDuring runs, for every person at once, act beside a withdrawal of ads_sharing sent
// to the visitor's id, and returns each pair of status codes.
func (e *env) withdrawDuring(ps []racePerson, act func(racePerson) int) [][2]int {
	codes := make([][2]int, len(ps))
	var wg sync.WaitGroup
	for i := range ps {
		p := ps[i]
		wg.Add(2)
		go func() {
			defer wg.Done()
			codes[i][0] = act(p)
		}()
		go func() {
			defer wg.Done()
			codes[i][1], _ = e.do(call{method: "POST", path: "/v1/customers/" + p.visitor + "/consents", role: "owner",
				body: `{"purpose":"ads_sharing","granted":false,"source":"api"}`})
		}()
	}
	wg.Wait()
	return codes
}

// byPhone is the one customer holding phone.
func (e *env) byPhone(phone string) string {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers?phone=" + strings.NewReplacer("+", "%2B", " ", "").Replace(phone), role: "owner"})
	var found struct{ Data []struct{ ID string } }
	_ = json.Unmarshal([]byte(body), &found)
	if code != 200 || len(found.Data) != 1 {
		e.t.Fatalf("look-up by phone: got %d %s", code, body)
	}
	return found.Data[0].ID
}

// object records an objection to fraud_prevention, a legitimate-interest purpose every
// customer is allowed until they object.
func (e *env) object(id string) {
	e.t.Helper()
	if code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
		body: `{"kind":"objection","purpose":"fraud_prevention","granted":false,"source":"api"}`}); code != 201 {
		e.t.Fatalf("objection: got %d %s", code, body)
	}
}

// TestStitchingCarriesRefusalsWithinABatch: merges a batch makes among customers it creates
// or merges twice still carry every refusal to where the merged ids are answered.
func TestStitchingCarriesRefusalsWithinABatch(t *testing.T) { stitchingWithinABatch(t, "") }

func TestStitchingCarriesRefusalsWithinABatchPostgres(t *testing.T) {
	stitchingWithinABatch(t, pgtest.URL(t))
}

func stitchingWithinABatch(t *testing.T, db string) {
	e := newEnv(t, db)
	// A visitor who objected is stitched into a customer the same batch creates.
	e.mustTrack("/v1/identify", `{"anonymousId":"anon-e","traits":{"phone":"+44 7400 500001"}}`)
	visitor := e.byPhone("+44 7400 500001")
	e.object(visitor)
	e.mustTrack("/v1/batch", `{"batch":[
	  {"type":"identify","messageId":"n1","userId":"u-new","anonymousId":"anon-new","traits":{"email":"new.person@example.com"}},
	  {"type":"identify","messageId":"n2","userId":"u-new","anonymousId":"anon-e"}]}`)
	winner := e.customerOf("new.person@example.com")
	if root, _, err := e.app.Store.Ingest().CustomerTree(context.Background(), visitor); err != nil || root != winner {
		t.Fatalf("not stitched into the new customer: root %s, %v", root, err)
	}
	if allowed(e, winner, "fraud_prevention") || allowed(e, visitor, "fraud_prevention") {
		t.Fatal("an objection was lost when its customer was stitched into one created by the same batch")
	}

	// B is merged into A and A into C by one batch: B's objection reaches C, and A keeps
	// it should the merge into C be undone.
	e.mustTrack("/v1/identify", `{"anonymousId":"anon-a","traits":{"email":"a.person@example.com"}}`)
	e.mustTrack("/v1/identify", `{"anonymousId":"anon-b","traits":{"phone":"+44 7400 500002"}}`)
	e.mustTrack("/v1/identify", `{"userId":"u-c","traits":{"phone":"+44 7400 500003"}}`)
	a, b, c := e.customerOf("a.person@example.com"), e.byPhone("+44 7400 500002"), e.byPhone("+44 7400 500003")
	e.object(b)
	e.mustTrack("/v1/batch", `{"batch":[
	  {"type":"identify","messageId":"c1","anonymousId":"anon-b","traits":{"email":"a.person@example.com"}},
	  {"type":"identify","messageId":"c2","userId":"u-c","traits":{"email":"a.person@example.com"}}]}`)
	for _, id := range []string{a, b} {
		if root, _, err := e.app.Store.Ingest().CustomerTree(context.Background(), id); err != nil || root != c {
			t.Fatalf("chain not made: root of %s is %s, %v", id, root, err)
		}
	}
	if allowed(e, c, "fraud_prevention") || allowed(e, b, "fraud_prevention") || allowed(e, a, "fraud_prevention") {
		t.Fatal("an objection did not reach the top of a chain of merges made by one batch")
	}
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + c + "/merges", role: "owner"})
	var ms struct {
		Data []struct {
			ID       string
			WinnerID string `json:"winner_id"`
			LoserID  string `json:"loser_id"`
		}
	}
	_ = json.Unmarshal([]byte(body), &ms)
	undone := false
	for _, m := range ms.Data {
		if m.WinnerID == c && m.LoserID == a {
			if code, body := e.do(call{method: "POST", path: "/v1/merges/" + m.ID + "/undo", role: "admin"}); code != 200 {
				t.Fatalf("undo: got %d %s", code, body)
			}
			undone = true
		}
	}
	if code != 200 || !undone {
		t.Fatalf("merge of a into c not listed: got %d %s", code, body)
	}
	if allowed(e, a, "fraud_prevention") || allowed(e, b, "fraud_prevention") {
		t.Fatal("after undoing the upper merge, the objection made under the lowest id is lost")
	}
}

// TestGPCForMergedCustomer: a Global Privacy Control signal relayed with a merged customer's
// old id reaches the customer answering for it, even though the merged customer's own ledger
// already holds the opt-out from before the merge.
func TestGPCForMergedCustomer(t *testing.T) {
	e := newEnv(t, "", reviewOnly)
	e.population(120)
	a, b := e.likelyDuplicates()
	e.publish(`{"version":"2026-01","text":"We share audiences with ad platforms.","purposes":["ads_sharing"]}`)
	grant := func(id string) {
		t.Helper()
		if code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
			body: `{"purpose":"ads_sharing","granted":true,"policy_version":"2026-01","source":"api"}`}); code != 201 {
			t.Fatalf("consent: got %d %s", code, body)
		}
	}
	grant(a)
	grant(b)
	// Both browsers relay the signal: each ledger holds the opt-out.
	e.reason(a, "ads_sharing", gpc)
	e.reason(b, "ads_sharing", gpc)
	w, l, _ := e.mergeDuplicates(a, b)
	// The person consents again; then a page relays the signal with the old id.
	grant(w)
	if !allowed(e, w, "ads_sharing") {
		t.Fatal("consent given again not counted")
	}
	e.reason(l, "ads_sharing", gpc)
	if allowed(e, w, "ads_sharing") {
		t.Fatal("a GPC signal relayed with the merged id was not recorded for the customer answering for it")
	}
	if got := e.gpcRecords(l); got["ads_sharing"] != 1 {
		t.Fatalf("the merged customer's own ledger grew: %v", got)
	}
}

// likelyDuplicates creates two profiles of one person that a scan proposes as a pair.
func (e *env) likelyDuplicates() (string, string) {
	e.t.Helper()
	return e.create(`{"first_name":"Margaret","last_name":"Thornbury","birth_date":"1971-05-14","email":"m.thornbury@example.net","address_line1":"14 Orchard Close","city":"Ipswich","postal_code":"IP1 3QT"}`),
		e.create(`{"first_name":"Peggy","last_name":"Thornbury","birth_date":"1971-05-14","email":"peggy.thornbury@example.org","phone":"+44 7400 123123","address_line1":"14 Orchard Close","address_line2":"Flat 2","city":"Ipswich","postal_code":"IP1 3QT"}`)
}

// mergeDuplicates scans, merges the pair of a and b through the review API and returns the
// winner, the loser and the merge.
func (e *env) mergeDuplicates(a, b string) (winner, loser, mergeID string) {
	e.t.Helper()
	e.scan()
	p := pairOf(e.duplicates("pending"), a, b)
	if p == nil {
		e.t.Fatal("pair not proposed")
	}
	code, body := e.do(call{method: "POST", path: "/v1/duplicates/" + p.ID + "/merge", role: "admin"})
	var merged struct{ Duplicate pairView }
	_ = json.Unmarshal([]byte(body), &merged)
	if code != 200 || merged.Duplicate.MergeID == "" {
		e.t.Fatalf("merge: got %d %s", code, body)
	}
	if merged.Duplicate.WinnerID == b {
		return b, a, merged.Duplicate.MergeID
	}
	return a, b, merged.Duplicate.MergeID
}

// TestUndoLowerMergeKeepsRefusals: B merged into A, then A into D; a withdrawal sent to B's
// id is recorded for D. Undoing the lower merge, or both in either order, leaves it with B.
func TestUndoLowerMergeKeepsRefusals(t *testing.T) {
	for _, order := range []string{"lower first", "upper first"} {
		t.Run(order, func(t *testing.T) {
			e := newEnv(t, "", reviewOnly)
			e.population(120)
			d := e.create(`{"first_name":"Margaret","last_name":"Thornbury","birth_date":"1971-05-14","email":"maggie.t@example.net","address_line1":"14 Orchard Close","city":"Ipswich","postal_code":"IP1 3QT"}`)
			a, b := e.likelyDuplicates()
			e.publish(`{"version":"2026-01","text":"We share audiences with ad platforms.","purposes":["ads_sharing"]}`)
			choose := func(id string, granted bool) {
				t.Helper()
				if code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
					body: fmt.Sprintf(`{"purpose":"ads_sharing","granted":%v,"policy_version":"2026-01","source":"api"}`, granted)}); code != 201 {
					t.Fatalf("consent for %s: got %d %s", id, code, body)
				}
			}
			for _, id := range []string{a, b, d} {
				choose(id, true)
			}
			w1, l1, m1 := e.mergeDuplicates(a, b)
			_, _, m2 := e.mergeDuplicates(w1, d)
			choose(l1, false)
			undo := func(m string) {
				t.Helper()
				if code, body := e.do(call{method: "POST", path: "/v1/merges/" + m + "/undo", role: "admin"}); code != 200 {
					t.Fatalf("undo: got %d %s", code, body)
				}
			}
			if order == "lower first" {
				undo(m1)
			} else {
				undo(m2)
				undo(m1)
			}
			if allowed(e, l1, "ads_sharing") {
				t.Fatal("the customer whose id sent the withdrawal is allowed again after the undo")
			}
		})
	}
}

// TestRefusalsStewardCarriesHoldAgainstImports: a withdrawal Steward records for a customer
// on its own — carried into a merge's winner, or kept by a loser after an undo — holds
// against an imported "yes" as the customer's own withdrawal does (there through the
// suppression list): the import skips it, and a fresh opt-in still counts. Before, the next
// import of a list that still said "yes" switched marketing back on. What is not the
// person's choice does not hold: the winner's own consent given back by an undo, or a
// consent the loser merely never gave, carried twice.
func TestRefusalsStewardCarriesHoldAgainstImports(t *testing.T) { refusalsAgainstImports(t, false) }

func TestRefusalsStewardCarriesHoldAgainstImportsPostgres(t *testing.T) {
	refusalsAgainstImports(t, true)
}

func refusalsAgainstImports(t *testing.T, postgres bool) {
	for _, path := range []string{"carried by the merge", "kept by the undo", "carried by stitching", "given back by the undo", "never given, carried twice",
		"an objection carried by the merge", "carried, then an imported no"} {
		t.Run(path, func(t *testing.T) {
			db := ""
			if postgres {
				db = pgtest.URL(t)
			}
			e := newEnv(t, db, reviewOnly)
			e.population(120)
			// No phone: an address the merged profile took from the other customer would
			// be on the suppression list after any withdrawal, and hide what is checked.
			d := ""
			if path == "never given, carried twice" {
				d = e.create(`{"first_name":"Margaret","last_name":"Thornbury","birth_date":"1971-05-14","email":"maggie.t@example.net","address_line1":"14 Orchard Close","city":"Ipswich","postal_code":"IP1 3QT"}`)
			}
			a := e.create(`{"first_name":"Margaret","last_name":"Thornbury","birth_date":"1971-05-14","email":"m.thornbury@example.net","address_line1":"14 Orchard Close","city":"Ipswich","postal_code":"IP1 3QT"}`)
			b := e.create(`{"first_name":"Peggy","last_name":"Thornbury","birth_date":"1971-05-14","email":"peggy.thornbury@example.org","address_line1":"14 Orchard Close","address_line2":"Flat 2","city":"Ipswich","postal_code":"IP1 3QT"}`)
			// The customer created first wins.
			e.publish(`{"version":"2026-01","text":"We send a newsletter.","purposes":["marketing_email"]}`)
			choose := func(id string, granted bool) {
				t.Helper()
				if code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
					body: fmt.Sprintf(`{"purpose":"marketing_email","granted":%v,"policy_version":"2026-01","source":"api"}`, granted)}); code != 201 {
					t.Fatalf("consent for %s: got %d %s", id, code, body)
				}
			}
			importYes := func(email string) {
				t.Helper()
				q := url.Values{"map": {"E-mail=email"}, "consent": {"Newsletter=marketing_email"}, "policy_version": {"2026-01"}}
				if code, body := e.upload("owner", q, "E-mail,Newsletter\n"+email+",yes\n"); code != 202 {
					t.Fatalf("import: got %d %s", code, body)
				}
				e.runJobs()
			}
			undo := func(mergeID string) {
				t.Helper()
				if code, body := e.do(call{method: "POST", path: "/v1/merges/" + mergeID + "/undo", role: "admin"}); code != 200 {
					t.Fatalf("undo: got %d %s", code, body)
				}
			}
			var who, email string
			holds := true
			switch path {
			case "carried by stitching":
				// A visitor known by a phone withdraws, then signs in as a customer known by
				// an e-mail address: the customer takes the visitor's refusal.
				e.mustTrack("/v1/identify", `{"userId":"u-imports","traits":{"email":"signed.in@example.com"}}`)
				e.mustTrack("/v1/identify", `{"anonymousId":"anon-imports","traits":{"phone":"+44 7400 700700"}}`)
				who, email = e.customerOf("signed.in@example.com"), "signed.in@example.com"
				visitor := e.byPhone("+44 7400 700700")
				choose(who, true)
				choose(visitor, true)
				choose(visitor, false)
				e.mustTrack("/v1/identify", `{"userId":"u-imports","anonymousId":"anon-imports"}`)
			case "carried by the merge", "given back by the undo", "an objection carried by the merge", "carried, then an imported no":
				// The loser withdraws (or objects) before the merge; the winner takes the
				// refusal, and gets its own consent back if the merge is undone.
				choose(a, true)
				choose(b, true)
				if path == "an objection carried by the merge" {
					if code, body := e.do(call{method: "POST", path: "/v1/customers/" + b + "/consents", role: "owner",
						body: `{"kind":"objection","purpose":"marketing_email","granted":false,"source":"api"}`}); code != 201 {
						t.Fatalf("objection: got %d %s", code, body)
					}
				} else {
					choose(b, false)
				}
				w, _, mergeID := e.mergeDuplicates(a, b)
				if w != a {
					t.Fatalf("winner %s, want %s", w, a)
				}
				who, email = a, "m.thornbury@example.net"
				switch path {
				case "given back by the undo":
					undo(mergeID)
					holds = false
				case "carried, then an imported no":
					q := url.Values{"map": {"E-mail=email"}, "consent": {"Newsletter=marketing_email"}, "policy_version": {"2026-01"}}
					if code, body := e.upload("owner", q, "E-mail,Newsletter\n"+email+",no\n"); code != 202 {
						t.Fatalf("import: got %d %s", code, body)
					}
					e.runJobs()
				}
			case "kept by the undo":
				// A withdrawal sent by the loser's id while merged is recorded for the winner;
				// after the undo the loser keeps it.
				choose(a, true)
				choose(b, true)
				w, l, mergeID := e.mergeDuplicates(a, b)
				choose(l, false)
				undo(mergeID)
				if allowed(e, w, "marketing_email") {
					t.Fatal("the winner lost the withdrawal made while merged")
				}
				who, email = l, "peggy.thornbury@example.org"
			default:
				// b never consents: a takes that as a refusal, and d takes it from a. Nobody
				// opted out.
				choose(a, true)
				choose(d, true)
				if w, _, _ := e.mergeDuplicates(a, b); w != a {
					t.Fatalf("winner %s, want %s", w, a)
				}
				if w, _, _ := e.mergeDuplicates(d, a); w != d {
					t.Fatalf("winner %s, want %s", w, d)
				}
				who, email = d, "maggie.t@example.net"
				holds = false
			}
			if path != "given back by the undo" && allowed(e, who, "marketing_email") {
				t.Fatal("the refusal was not recorded")
			}
			importYes(email)
			if got := allowed(e, who, "marketing_email"); got == holds {
				t.Fatalf("after an imported yes: allowed %v, want %v", got, !holds)
			}
			// A fresh opt-in given afterwards counts, and an import after it changes nothing.
			choose(who, true)
			importYes(email)
			if !allowed(e, who, "marketing_email") {
				t.Fatal("a fresh opt-in does not count")
			}
		})
	}
}

// TestCarriedOptOutsKeepTheirReason: a GPC opt-out carried into a merge's winner, or kept by
// the merged-away customer after an undo, still answers gpc_opt_out, not withdrawn: what the
// person did is what a report of opt-outs of sale and sharing counts.
func TestCarriedOptOutsKeepTheirReason(t *testing.T) {
	for _, path := range []string{"carried by the merge", "kept by the undo"} {
		t.Run(path, func(t *testing.T) {
			e := newEnv(t, "", reviewOnly)
			e.population(120)
			a, b := e.likelyDuplicates() // a is created first: it wins
			e.publish(`{"version":"2026-01","text":"We share audiences with ad platforms.","purposes":["ads_sharing"]}`)
			for _, id := range []string{a, b} {
				if code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/consents", role: "owner",
					body: `{"purpose":"ads_sharing","granted":true,"policy_version":"2026-01","source":"api"}`}); code != 201 {
					t.Fatalf("consent: got %d %s", code, body)
				}
			}
			who := a
			if path == "carried by the merge" {
				e.reason(b, "ads_sharing", gpc)
				e.mergeDuplicates(a, b)
			} else {
				_, l, mergeID := e.mergeDuplicates(a, b)
				e.reason(l, "ads_sharing", gpc) // recorded for the winner
				if code, body := e.do(call{method: "POST", path: "/v1/merges/" + mergeID + "/undo", role: "admin"}); code != 200 {
					t.Fatalf("undo: got %d %s", code, body)
				}
				who = l
			}
			if got := e.reason(who, "ads_sharing", nil); got != consent.ReasonGPCOptOut {
				t.Fatalf("reason %q, want %q", got, consent.ReasonGPCOptOut)
			}
		})
	}
}

// TestWithdrawalDuringUndo withdraws a visitor's consent, by the visitor's id, while the
// stitch that merged the visitor into a signed-in customer is undone, many times over.
// Whichever commits first, the visitor refuses afterwards: sent while merged, the withdrawal
// is recorded for the customer and the undo keeps it for the visitor; sent after, it is the
// visitor's own. Before undos checked the ledgers' counters under lock, a withdrawal
// committed between the undo's read and its commit stayed with the customer alone.
func TestWithdrawalDuringUndo(t *testing.T) { withdrawalDuringUndo(t, "") }

func TestWithdrawalDuringUndoPostgres(t *testing.T) { withdrawalDuringUndo(t, pgtest.URL(t)) }

func withdrawalDuringUndo(t *testing.T, db string) {
	e := newEnv(t, db)
	ps := e.racePeople("undo", 6)
	for i := range ps {
		p := &ps[i]
		e.mustTrack("/v1/identify", fmt.Sprintf(`{"userId":%q,"anonymousId":%q}`, p.user, p.anon))
		code, body := e.do(call{method: "GET", path: "/v1/customers/" + p.winner + "/merges", role: "owner"})
		var ms struct{ Data []struct{ ID string } }
		_ = json.Unmarshal([]byte(body), &ms)
		if code != 200 || len(ms.Data) != 1 {
			t.Fatalf("person %d: merges: got %d %s", i, code, body)
		}
		p.merge = ms.Data[0].ID
	}
	codes := e.withdrawDuring(ps, func(p racePerson) int {
		code, _ := e.do(call{method: "POST", path: "/v1/merges/" + p.merge + "/undo", role: "admin"})
		return code
	})
	for i, p := range ps {
		if codes[i] != [2]int{200, 201} {
			t.Fatalf("person %d: undo and withdrawal answered %v", i, codes[i])
		}
		if allowed(e, p.visitor, "ads_sharing") {
			t.Fatalf("person %d: the visitor is allowed again after withdrawing while the undo was stored", i)
		}
	}
}

// TestImportForMergedCustomer: a list's row that names a merged-away customer records its
// consent column for the customer answering for it, and nothing in the merged-away ledger.
func TestImportForMergedCustomer(t *testing.T) {
	e := newEnv(t, "", reviewOnly)
	e.population(120)
	a, b := e.likelyDuplicates() // a is created first: it wins
	e.publish(`{"version":"2026-01","text":"We send a newsletter.","purposes":["marketing_email"]}`)
	w, l, _ := e.mergeDuplicates(a, b)
	if w != a || l != b {
		t.Fatalf("winner %s, loser %s", w, l)
	}
	q := url.Values{"map": {"E-mail=email"}, "consent": {"Newsletter=marketing_email"}, "policy_version": {"2026-01"}}
	if code, body := e.upload("owner", q, "E-mail,Newsletter\npeggy.thornbury@example.org,yes\n"); code != 202 {
		t.Fatalf("import: got %d %s", code, body)
	}
	e.runJobs()
	if !allowed(e, w, "marketing_email") || !allowed(e, l, "marketing_email") {
		t.Fatal("the imported consent of the merged-away customer's address does not count for the person")
	}
	for id, want := range map[string]int{w: 1, l: 0} {
		_, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/consents", role: "owner"})
		var hist struct{ History []struct{ Source string } }
		if err := json.Unmarshal([]byte(body), &hist); err != nil || len(hist.History) != want {
			t.Fatalf("%s's ledger: %s, want %d records", id, body, want)
		}
	}
}
