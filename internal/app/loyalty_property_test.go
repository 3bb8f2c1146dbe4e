package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestLedgerPropertiesSQLite(t *testing.T) {
	ledgerProperties(t, func(*testing.T) string { return "" }, 6, 120)
}
func TestLedgerPropertiesPostgres(t *testing.T) {
	ledgerProperties(t, func(t *testing.T) string { return pgtest.URL(t) }, 2, 80)
}

// ledgerProperties drives the programme with random sequences of what happens to members —
// orders from the till, partial and repeated refunds, cancellations, redemptions (some by
// several tills at once, some repeated with the same key), adjustments, referrals, months
// passing with expiry and tier recomputes — and checks after every step that each balance is
// the sum of its ledger, that no running balance is negative, that no order had more points
// taken back than it earned, and that the service's own reading agrees. A failure names its
// seed, which replays it.
func ledgerProperties(t *testing.T, db func(*testing.T) string, seeds, steps int) {
	seen := map[string]int{}
	defer func() {
		// The sequences must have exercised every kind of entry, or they proved little.
		for _, k := range []string{loyalty.KindEarn, loyalty.KindRedeem, loyalty.KindReverse, loyalty.KindExpire, loyalty.KindAdjust} {
			if seen[k] == 0 && !t.Failed() {
				t.Errorf("no %s entry in any sequence: %v", k, seen)
			}
		}
	}()
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run("seed "+strconv.FormatUint(seed, 10), func(t *testing.T) {
			e := newEnv(t, db(t))
			ctx := authz.WithActor(context.Background(), authz.System)
			r := rand.New(rand.NewPCG(seed, 21))
			var members []string
			for i := 0; i < 3; i++ {
				members = append(members, e.create(fmt.Sprintf(`{"email":"prop%d.%d@example.com"}`, seed, i)))
			}
			type order struct {
				id    string
				total float64
			}
			var orders []*order
			for step := 0; step < steps; step++ {
				m := members[r.IntN(len(members))]
				var op string
				switch k := r.IntN(100); {
				case k < 30:
					op = "order"
					o := &order{id: fmt.Sprintf("P%d-%d", seed, step), total: float64(1 + r.IntN(900))}
					if _, err := e.app.Ingest.RecordOrder(ctx, "", ingest.TillOrder{CustomerID: m, OrderID: o.id, Currency: "GBP", Total: o.total,
						Items: []ingest.OrderItem{{SKU: "X", Price: o.total, Quantity: 1}}}); err != nil {
						t.Fatalf("step %d order: %v", step, err)
					}
					orders = append(orders, o)
				case k < 45 && len(orders) > 0:
					op = "refund"
					o := orders[r.IntN(len(orders))]
					amount := float64(r.IntN(int(o.total) + 50))
					_, err := e.app.Ingest.RecordRefund(ctx, "", o.id, ingest.TillRefund{RefundID: "r" + strconv.Itoa(step), Amount: amount})
					if err != nil {
						t.Fatalf("step %d refund: %v", step, err)
					}
				case k < 50 && len(orders) > 0:
					op = "cancel"
					if _, err := e.app.Ingest.CancelOrder(ctx, "", orders[r.IntN(len(orders))].id); err != nil {
						t.Fatalf("step %d cancel: %v", step, err)
					}
				case k < 70:
					op = "redeem"
					pts := int64(100 + r.IntN(800))
					n := 1 + r.IntN(3)
					key := "redeem-key-" + strconv.Itoa(step)
					var wg sync.WaitGroup
					for i := 0; i < n; i++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							k := key
							if r2 := i % 2; r2 == 1 {
								k = key + "-other"
							}
							_, err := e.app.Loyalty.Redeem(ctx, m, loyalty.RedeemInput{Points: pts, IdempotencyKey: k})
							if err != nil && !problem.Is(err, problem.Conflict) && !problem.Is(err, problem.NotFound) {
								t.Errorf("step %d redeem: %v", step, err)
							}
						}()
					}
					wg.Wait()
				case k < 80:
					op = "adjust"
					pts := int64(r.IntN(400) - 200)
					if pts == 0 {
						pts = 1
					}
					_, err := e.app.Loyalty.Adjust(ctx, m, loyalty.AdjustInput{Points: pts, Reason: "correction", IdempotencyKey: "adjust-key-" + strconv.Itoa(step)})
					if err != nil && !problem.Is(err, problem.Conflict) && !problem.Is(err, problem.NotFound) {
						t.Fatalf("step %d adjust: %v", step, err)
					}
				case k < 85:
					op = "referral"
					_, err := e.app.Loyalty.RecordEvent(ctx, m, loyalty.EventInput{Event: "referral", Ref: "referral-" + strconv.Itoa(step)})
					if err != nil {
						t.Fatalf("step %d referral: %v", step, err)
					}
				default:
					op = "months pass"
					e.clock.Advance(time.Duration(1+r.IntN(8)) * 30 * 24 * time.Hour)
					if _, err := e.app.Loyalty.Settle(ctx); err != nil {
						t.Fatal(err)
					}
					if _, err := e.app.Loyalty.Expire(ctx); err != nil {
						t.Fatalf("step %d expire: %v", step, err)
					}
					if _, err := e.app.Loyalty.RecomputeTiers(ctx); err != nil {
						t.Fatalf("step %d tiers: %v", step, err)
					}
				}
				if _, err := e.app.Loyalty.Settle(ctx); err != nil {
					t.Fatal(err)
				}
				e.ledgerInvariants()
				for _, id := range members {
					s, err := e.app.Loyalty.Get(ctx, id, 0, 1)
					if problem.Is(err, problem.NotFound) {
						continue
					}
					if err != nil {
						t.Fatalf("step %d (%s): %v", step, op, err)
					}
					if s.Balance < 0 || s.Tier != e.app.Loyalty.Programme().TierFor(s.Qualifying).Name {
						t.Fatalf("step %d (%s): balance %d, tier %s with %d qualifying points", step, op, s.Balance, s.Tier, s.Qualifying)
					}
				}
				if t.Failed() {
					t.Fatalf("invariants broken at step %d (%s)", step, op)
				}
			}
			rows, err := e.app.Store.Read().Query(`SELECT kind, COUNT(*) FROM loyalty_entries GROUP BY kind`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var k string
				var n int
				if err := rows.Scan(&k, &n); err != nil {
					t.Fatal(err)
				}
				seen[k] += n
			}
		})
	}
}
