package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestLoyaltyMergeRacesRedemptionsSQLite(t *testing.T) { loyaltyMergeRacesRedemptions(t, "") }
func TestLoyaltyMergeRacesRedemptionsPostgres(t *testing.T) {
	loyaltyMergeRacesRedemptions(t, pgtest.URL(t))
}

// loyaltyMergeRacesRedemptions: two profiles of one person, each a member with points, are
// merged by the tracking API while tills redeem on both at once. Afterwards no point was
// made or lost (what was earned less what the successful redemptions spent is what the
// accounts hold), no balance went below zero, no redemption was written on the merged-away
// account after its points moved, and the surviving account holds the points and all the
// qualifying points of both, with the moved lots' expiries; the merged-away member number
// finds it. Sending the merge again, and the catch-up job, move nothing more. A third
// profile merged into the tree brings its points too; undoing the first merge gives back
// what is left of what it brought; erasing the tree removes every ledger row.
func loyaltyMergeRacesRedemptions(t *testing.T, db string) {
	e := newEnv(t, db)
	e.addTill()
	sys := authz.WithActor(context.Background(), authz.System)
	// Three visitors of one person, each known by an anonymous id and an e-mail address.
	for i, who := range []string{"one", "two", "three"} {
		e.mustTrack("/v1/identify", fmt.Sprintf(`{"messageId":"lm-id-%d","anonymousId":"lm-anon-%s","traits":{"email":"lm.%s@example.com"}}`, i, who, who))
	}
	w, l, z := e.customerOf("lm.one@example.com"), e.customerOf("lm.two@example.com"), e.customerOf("lm.three@example.com")
	e.mustTrack("/v1/identify", `{"messageId":"lm-user","userId":"lm-user","anonymousId":"lm-anon-one"}`)
	order := func(id, orderID string, total int) {
		t.Helper()
		e.mustDo(call{method: "POST", path: "/v1/orders", role: "till", body: fmt.Sprintf(`{"customer_id":"%s","order_id":"%s","currency":"GBP","total":%d}`, id, orderID, total)}, 200)
	}
	order(w, "LM-W1", 300)
	order(l, "LM-L1", 400)
	order(l, "LM-L2", 300)
	order(z, "LM-Z1", 250)
	e.conserved([]string{w, l, z}, 300+400+300+250)
	e.mustDo(call{method: "POST", path: "/v1/customers/" + l + "/loyalty/redemptions", role: "till", body: `{"points":200,"idempotency_key":"lm-before-0001"}`}, 201)
	const earned = 300 + 400 + 300 + 250
	spent := int64(200)
	if s := e.loyalty(w); s.Balance != 300 || s.Tier != "bronze" {
		t.Fatalf("winner before the merge: %+v", s)
	}
	number := e.fields(l)["loyalty_member_number"].(string)
	expiries := e.expiriesOf(l)

	// The merge (the userId arriving with the second visitor's anonymous id) races twelve
	// redemptions of 150 points, six on each profile: more than both accounts hold, so
	// which succeed depends on where the points are when each is decided.
	const tills = 12
	codes := make([]int, tills)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			id := []string{w, l}[i%2]
			codes[i], _ = e.do(call{method: "POST", path: "/v1/customers/" + id + "/loyalty/redemptions", role: "till",
				body: fmt.Sprintf(`{"points":150,"idempotency_key":"lm-race-%04d"}`, i)})
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		e.mustTrack("/v1/track", `{"messageId":"lm-merge","event":"Cart Viewed","userId":"lm-user","anonymousId":"lm-anon-two"}`)
	}()
	close(start)
	wg.Wait()
	for i, c := range codes {
		switch c {
		case 201:
			spent += 150
		case 409:
		default:
			t.Errorf("redemption %d: got %d", i, c)
		}
	}
	t.Logf("redemptions racing the merge: %v", codes)
	root, tree, err := e.app.Store.Loyalty().Tree(context.Background(), l)
	if err != nil || root != w || len(tree) != 2 {
		t.Fatalf("after the merge: %s is in the tree of %s (%v, %v), want %s", l, root, tree, err, w)
	}
	e.ledgerInvariants()
	e.conserved([]string{w, l, z}, earned-spent)
	if s := e.loyalty(w); s.Balance != earned-250-spent || s.Tier != "silver" {
		t.Fatalf("winner after the merge: balance %d tier %s, want %d silver", s.Balance, s.Tier, earned-250-spent)
	}
	if q := e.qualifying(w); q != 1000 {
		t.Errorf("winner's qualifying points after the merge: %d, want 1000 (spent points still qualify)", q)
	}
	if bal := e.balanceOf(l); bal != 0 {
		t.Errorf("merged-away balance: %d, want 0", bal)
	}
	e.nothingAfterTransfer(l)
	// The moved lots keep their expiries.
	rows, err := e.app.Store.Write().Query(`SELECT expires_at FROM loyalty_entries WHERE customer_id = $1 AND kind = 'transfer' AND points > 0`, w)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for rows.Next() {
		var exp int64
		if err := rows.Scan(&exp); err != nil {
			t.Fatal(err)
		}
		if at := time.UnixMicro(exp).UTC().String(); !expiries[at] {
			t.Errorf("a lot moved with expiry %s, not one of the merged-away lots' %v", at, expiries)
		}
		moved++
	}
	rows.Close()
	if moved == 0 {
		t.Error("no lot moved")
	}
	// The merged-away member number finds the member the points are with.
	body := e.mustDo(call{method: "GET", path: "/v1/loyalty/members?member_number=" + number, role: "till"}, 200)
	if !strings.Contains(body, `"customer_id":"`+w+`"`) || !strings.Contains(body, fmt.Sprintf(`"balance":%d`, earned-250-spent)) {
		t.Errorf("the merged-away member number: %s", body)
	}
	// The merge path again, and the catch-up, move nothing.
	entries := e.entryCount()
	e.mustTrack("/v1/track", `{"messageId":"lm-merge-again","event":"Cart Viewed","userId":"lm-user","anonymousId":"lm-anon-two"}`)
	if n, err := e.app.Loyalty.CarryMerged(sys); err != nil || n != 0 {
		t.Errorf("catch-up after the merge: moved %d accounts (%v), want none", n, err)
	}
	if n := e.entryCount(); n != entries {
		t.Errorf("the merge sent again wrote %d ledger entries", n-entries)
	}
	// A redemption retried with its key after the merge is the same redemption.
	for i, c := range codes {
		if c == 201 {
			e.mustDo(call{method: "POST", path: "/v1/customers/" + w + "/loyalty/redemptions", role: "till",
				body: fmt.Sprintf(`{"points":150,"idempotency_key":"lm-race-%04d"}`, i)}, 200)
		}
	}
	e.conserved([]string{w, l, z}, earned-spent)

	// A third profile joins the tree.
	e.mustTrack("/v1/track", `{"messageId":"lm-merge-three","event":"Cart Viewed","userId":"lm-user","anonymousId":"lm-anon-three"}`)
	if s := e.loyalty(w); s.Balance != earned-spent || e.balanceOf(z) != 0 || e.qualifying(w) != 1250 {
		t.Fatalf("after the third profile joined: balance %d (want %d), qualifying %d", s.Balance, earned-spent, e.qualifying(w))
	}
	e.conserved([]string{w, l, z}, earned-spent)

	// Undoing the first merge gives back what is left of the lots it brought, and the
	// qualifying points they were earned with.
	var lotsOfL int64
	ledger, err := e.app.Store.Loyalty().Ledger(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	for _, lot := range loyalty.Lots(ledger) {
		if lot.From == l {
			lotsOfL += lot.Remaining
		}
	}
	var merges struct {
		Data []struct {
			ID      string
			LoserID string `json:"loser_id"`
		}
	}
	_ = json.Unmarshal([]byte(e.mustDo(call{method: "GET", path: "/v1/customers/" + w + "/merges", role: "owner"}, 200)), &merges)
	for _, m := range merges.Data {
		if m.LoserID == l {
			e.mustDo(call{method: "POST", path: "/v1/merges/" + m.ID + "/undo", role: "owner"}, 200)
		}
	}
	if bal := e.balanceOf(l); bal != lotsOfL {
		t.Errorf("given back on the undo: %d, want %d", bal, lotsOfL)
	}
	if q, qw := e.qualifying(l), e.qualifying(w); q != 700 || qw != 550 {
		t.Errorf("qualifying after the undo: %d and %d, want 700 and 550", q, qw)
	}
	e.conserved([]string{w, l, z}, earned-spent)
	e.ledgerInvariants()

	// Erasing the tree (the winner and the third profile) leaves no ledger row of either.
	rid := e.request(`{"type":"erasure","customer_id":"` + w + `"}`)
	if code, body := e.verifyAndComplete(rid, ""); code != 200 || !strings.Contains(body, `"complete":true`) {
		t.Fatalf("erasure: got %d %s", code, body)
	}
	for _, id := range []string{w, z} {
		var n int
		if err := e.app.Store.Write().QueryRow(`SELECT (SELECT COUNT(*) FROM loyalty_entries WHERE customer_id = $1) +
			(SELECT COUNT(*) FROM loyalty_accounts WHERE customer_id = $1)`, id).Scan(&n); err != nil || n != 0 {
			t.Errorf("loyalty rows of an erased customer: %d (%v)", n, err)
		}
	}
}

// conserved checks that the accounts of ids hold want points between them.
func (e *env) conserved(ids []string, want int64) {
	e.t.Helper()
	if _, err := e.app.Loyalty.Settle(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	var sum int64
	for _, id := range ids {
		sum += e.balanceOf(id)
	}
	if sum != want {
		e.t.Errorf("the accounts hold %d points, want %d (earned less redeemed)", sum, want)
	}
}

func (e *env) balanceOf(id string) int64 {
	e.t.Helper()
	var b int64
	if err := e.app.Store.Write().QueryRow(`SELECT balance FROM loyalty_accounts WHERE customer_id = $1`, id).Scan(&b); err != nil {
		e.t.Fatalf("balance of %s: %v", id, err)
	}
	return b
}

// qualifying is the member's qualifying points as GET …/loyalty reads them.
func (e *env) qualifying(id string) int64 {
	e.t.Helper()
	var s struct{ Qualifying int64 }
	_ = json.Unmarshal([]byte(e.mustDo(call{method: "GET", path: "/v1/customers/" + id + "/loyalty", role: "support"}, 200)), &s)
	return s.Qualifying
}

// expiriesOf is the expiries of the member's remaining lots.
func (e *env) expiriesOf(id string) map[string]bool {
	e.t.Helper()
	ledger, err := e.app.Store.Loyalty().Ledger(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range loyalty.Lots(ledger) {
		out[l.ExpiresAt.String()] = true
	}
	return out
}

// nothingAfterTransfer checks that no entry other than a transfer was written on a
// merged-away account after its points moved out.
func (e *env) nothingAfterTransfer(id string) {
	e.t.Helper()
	var n int
	if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM loyalty_entries WHERE customer_id = $1 AND kind <> 'transfer'
		AND id > (SELECT MIN(id) FROM loyalty_entries WHERE customer_id = $1 AND kind = 'transfer')`, id).Scan(&n); err != nil || n != 0 {
		e.t.Errorf("entries written on the merged-away account after its points moved: %d (%v)", n, err)
	}
}

func (e *env) entryCount() int {
	e.t.Helper()
	var n int
	if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM loyalty_entries`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
