package storetest

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store"
)

// testLoyaltyLedger: a posting decides on the state it reads with the account locked, so
// concurrent debits of the same points cannot both pass and concurrent postings with one
// dedup key write one entry; the database itself refuses a negative balance and any change
// of an entry; an order's earned and reversed points are reported to the next posting.
func testLoyaltyLedger(t *testing.T, db *store.Engine) {
	l := db.Loyalty()
	id := ident.New()
	at := time.Now().UTC().Truncate(time.Microsecond)
	entries := []audit.Entry{audit.New(ctx, "loyalty.enrol", id, nil, "service")}
	if created, err := l.OpenAccount(ctx, id, "bronze", at, entries); err != nil || !created {
		t.Fatalf("open: %v %v", created, err)
	}
	if created, err := l.OpenAccount(ctx, id, "bronze", at, entries); err != nil || created {
		t.Fatalf("open again: %v %v", created, err)
	}
	if _, err := l.Account(ctx, ident.New()); !problem.Is(err, problem.NotFound) {
		t.Fatalf("unknown member: %v", err)
	}
	tiers := loyalty.TierRule{Since: at.Add(-time.Hour), At: at, Of: func(q int64) string {
		if q >= 100 {
			return "silver"
		}
		return "bronze"
	}}
	credit := func(st loyalty.State) (loyalty.Posting, error) {
		if st.OrderEarned != 0 {
			return loyalty.Posting{}, nil
		}
		return loyalty.Posting{Kind: loyalty.KindEarn, Cause: loyalty.CauseOrder, Ref: "O-1", OrderID: "O-1", Points: 100, Qualifying: true, At: at}, nil
	}
	e, replay, err := l.Post(ctx, loyalty.Write{CustomerID: id, Dedup: "earn:order:O-1", OrderID: "O-1", Decide: credit, Tiers: tiers})
	if err != nil || replay || e.Balance != 100 || e.ID == 0 {
		t.Fatalf("credit: %+v %v %v", e, replay, err)
	}
	if acc, _ := l.Account(ctx, id); acc.Tier != "silver" {
		t.Fatalf("tier after crossing the threshold: %+v", acc)
	}
	if ch, _ := l.TierChanges(ctx, id); len(ch) != 1 || ch[0].To != "silver" || ch[0].Qualifying != 100 {
		t.Fatalf("tier history: %+v", ch)
	}
	// Ten debits of 60 at once against 100 points: exactly one passes.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, refused := 0, 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := l.Post(context.WithoutCancel(ctx), loyalty.Write{CustomerID: id, Dedup: "redeem:" + strconv.Itoa(i),
				Decide: func(st loyalty.State) (loyalty.Posting, error) {
					if st.Balance < 60 {
						return loyalty.Posting{}, problem.Conflictf("points: the balance is %d", st.Balance)
					}
					return loyalty.Posting{Kind: loyalty.KindRedeem, Cause: loyalty.CauseRedemption, Points: -60, At: at}, nil
				}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case problem.Is(err, problem.Conflict):
				refused++
			default:
				t.Errorf("debit: %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || refused != 9 {
		t.Fatalf("concurrent debits: %d passed, %d refused", won, refused)
	}
	// Five postings with one dedup key at once: one entry, four replays of it.
	ids := make([]int64, 5)
	replays := make([]bool, 5)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, r, err := l.Post(ctx, loyalty.Write{CustomerID: id, Dedup: "redeem:same",
				Decide: func(st loyalty.State) (loyalty.Posting, error) {
					return loyalty.Posting{Kind: loyalty.KindRedeem, Cause: loyalty.CauseRedemption, Points: -10, At: at}, nil
				}})
			if err != nil {
				t.Errorf("same key: %v", err)
			}
			ids[i], replays[i] = e.ID, r
		}()
	}
	wg.Wait()
	fresh := 0
	for i := range ids {
		if ids[i] != ids[0] {
			t.Fatalf("same key gave entries %v", ids)
		}
		if !replays[i] {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("same key: %d fresh postings, want 1", fresh)
	}
	// The order's state: what it earned and what was taken back.
	if _, _, err := l.Post(ctx, loyalty.Write{CustomerID: id, Dedup: "reverse:O-1", OrderID: "O-1", Tiers: tiers,
		Decide: func(st loyalty.State) (loyalty.Posting, error) {
			if st.OrderEarned != 100 || st.OrderReversed != 0 || st.Balance != 30 {
				t.Errorf("state: %+v", st)
			}
			return loyalty.Posting{Kind: loyalty.KindReverse, Cause: loyalty.CauseRefund, OrderID: "O-1", Points: -30, Qualifying: true, At: at}, nil
		}}); err != nil {
		t.Fatal(err)
	}
	if acc, _ := l.Account(ctx, id); acc.Balance != 0 || acc.Tier != "bronze" {
		t.Fatalf("after the reversal: %+v", acc)
	}
	// A posting below zero is refused and writes nothing.
	if _, _, err := l.Post(ctx, loyalty.Write{CustomerID: id, Dedup: "redeem:over", Decide: func(loyalty.State) (loyalty.Posting, error) {
		return loyalty.Posting{Kind: loyalty.KindRedeem, Cause: loyalty.CauseRedemption, Points: -1, At: at}, nil
	}}); !problem.Is(err, problem.Conflict) {
		t.Fatalf("below zero: %v", err)
	}
	all, err := l.Ledger(ctx, id)
	if err != nil || len(all) != 4 {
		t.Fatalf("ledger: %d entries, %v", len(all), err)
	}
	var sum int64
	for _, e := range all {
		sum += e.Points
	}
	if sum != 0 {
		t.Fatalf("ledger sums to %d", sum)
	}
	// The database holds the invariants itself.
	if _, err := db.Write().Exec(`UPDATE loyalty_entries SET points = 1000 WHERE customer_id = $1`, id); err == nil {
		t.Error("a ledger entry was changed")
	}
	if _, err := db.Write().Exec(`UPDATE loyalty_accounts SET balance = -1 WHERE customer_id = $1`, id); err == nil {
		t.Error("a balance went below zero")
	}
}
