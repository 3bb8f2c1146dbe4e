package loyalty

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// fifoLots is how lots were computed before transfers existed: the sum of all debits taken
// from the credits in ledger order. Ledgers without transfers must be spent exactly so.
func fifoLots(entries []Entry) []Lot {
	var debit int64
	for _, e := range entries {
		if e.Points < 0 {
			debit -= e.Points
		}
	}
	var lots []Lot
	for _, e := range entries {
		if e.Points <= 0 {
			continue
		}
		take := min(debit, e.Points)
		debit -= take
		if r := e.Points - take; r > 0 {
			lots = append(lots, Lot{ID: e.ID, At: e.At, ExpiresAt: e.ExpiresAt, Remaining: r, Qualifying: e.Qualifying})
		}
	}
	return lots
}

// TestLotsWithoutTransfersAsBefore: on random ledgers that never go below zero — orders
// settled late (earlier earn dates and expiries after later ones), credits that never
// expire — the lots are those of the plain oldest-first rule.
func TestLotsWithoutTransfersAsBefore(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		var ledger []Entry
		var bal int64
		for i := 1; i <= 40; i++ {
			e := Entry{ID: int64(i), At: base.AddDate(0, 0, r.IntN(400))}
			if bal == 0 || r.IntN(3) > 0 {
				e.Points = int64(1 + r.IntN(500))
				e.Qualifying = r.IntN(2) == 0
				if r.IntN(5) > 0 {
					e.ExpiresAt = e.At.AddDate(2, 0, 0)
				}
			} else {
				e.Points = -int64(1 + r.IntN(int(bal)))
			}
			bal += e.Points
			ledger = append(ledger, e)
		}
		if got, want := fmt.Sprint(Lots(ledger)), fmt.Sprint(fifoLots(ledger)); got != want {
			t.Fatalf("seed %d: got %s, want %s", seed, got, want)
		}
	}
}

// apply writes postings as entries after ledger, with ids from next on.
func apply(ledger []Entry, ps []Posting, next int64, account string) []Entry {
	for i, p := range ps {
		ledger = append(ledger, Entry{ID: next + int64(i), CustomerID: account, Kind: p.Kind, Points: p.Points, Ref: p.Ref, Lot: p.Lot,
			Qualifying: p.Qualifying, QualifyingPoints: p.TierPoints(), ExpiresAt: p.ExpiresAt, At: p.At})
	}
	return ledger
}

func qualifyingOf(ledger []Entry) int64 {
	var n int64
	for _, e := range ledger {
		if e.Qualifying {
			n += e.QualifyingPoints
		}
	}
	return n
}

func balanceOf(ledger []Entry) int64 {
	var n int64
	for _, e := range ledger {
		n += e.Points
	}
	return n
}

// TestPlanMergeAndUndo: a merge moves each remaining lot with its earn date and expiry and
// every qualifying point, spent or not; the winner then spends the oldest expiry first,
// the moved lots in among its own; planning the same merge again moves nothing; undoing it
// gives back what is left of the moved lots and their qualifying points, and nothing of the
// winner's own.
func TestPlanMergeAndUndo(t *testing.T) {
	d := func(m int) time.Time { return time.Date(2026, time.Month(m), 1, 0, 0, 0, 0, time.UTC) }
	loser := []Entry{
		{ID: 1, Kind: KindEarn, Points: 500, Qualifying: true, QualifyingPoints: 500, At: d(2), ExpiresAt: d(26)},
		{ID: 3, Kind: KindEarn, Points: 100, At: d(4), ExpiresAt: d(28)},
		{ID: 5, Kind: KindRedeem, Points: -300, At: d(5)},
	}
	winner := []Entry{
		{ID: 2, Kind: KindEarn, Points: 50, Qualifying: true, QualifyingPoints: 50, At: d(3), ExpiresAt: d(27)},
		{ID: 4, Kind: KindEarn, Points: 70, Qualifying: true, QualifyingPoints: 70, At: d(1), ExpiresAt: d(25)}, // settled late
	}
	m := Transfer{From: "L", To: "W", Cause: CauseMerge, Ref: "m1"}
	out, in := Plan(loser, m)
	loser, winner = apply(loser, out, 10, "L"), apply(winner, in, 20, "W")
	if b, q := balanceOf(loser), qualifyingOf(loser); b != 0 || q != 0 {
		t.Fatalf("loser after the merge: balance %d, qualifying %d; want 0, 0", b, q)
	}
	if b, q := balanceOf(winner), qualifyingOf(winner); b != 420 || q != 620 {
		t.Fatalf("winner after the merge: balance %d, qualifying %d; want 420, 620", b, q)
	}
	var order []string
	for _, l := range Lots(winner) {
		order = append(order, fmt.Sprintf("%s:%d:%s", l.From, l.Remaining, l.ExpiresAt.Format("2006-01")))
	}
	// The winner's own lots keep their order (the late-settled one stays last); the moved
	// lots go in by expiry, before the first lot that expires later.
	if got := fmt.Sprint(order); got != "[L:200:2028-02 :50:2028-03 :70:2028-01 L:100:2028-04]" {
		t.Fatalf("winner's lots: %s", got)
	}
	if o, i := Plan(loser, m); len(o) != 0 || len(i) != 0 {
		t.Fatalf("the same merge planned again moved %v %v", o, i)
	}
	// The winner spends 230: the moved lot expiring first, then its own.
	winner = append(winner, Entry{ID: 30, Kind: KindRedeem, Points: -230, At: d(6)})
	u := Transfer{From: "W", To: "L", Cause: CauseUnmerge, Ref: "m1", Only: "L"}
	out, in = Plan(winner, u)
	winner, loser = apply(winner, out, 40, "W"), apply(loser, in, 50, "L")
	if b, q := balanceOf(loser), qualifyingOf(loser); b != 100 || q != 500 {
		t.Fatalf("loser after the undo: balance %d, qualifying %d; want 100, 500", b, q)
	}
	if b, q := balanceOf(winner), qualifyingOf(winner); b != 90 || q != 120 {
		t.Fatalf("winner after the undo: balance %d, qualifying %d; want 90, 120", b, q)
	}
	if l := Lots(loser); len(l) != 1 || l[0].ExpiresAt != d(28) || l[0].At != d(4) {
		t.Fatalf("loser's lots after the undo: %+v", l)
	}
	if o, i := Plan(winner, u); len(o) != 0 || len(i) != 0 {
		t.Fatalf("the same undo planned again moved %v %v", o, i)
	}
}
