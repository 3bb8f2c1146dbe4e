package offer

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/problem"
)

func programme(t *testing.T) *loyalty.Programme {
	t.Helper()
	p, err := loyalty.Parse(loyalty.DefaultYAML(), catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOfferChecks: every malformed offer is refused naming its field, a segment condition
// must name its segment (whether it exists is the service's check), and a good one is normalised (code in capitals, the purpose
// personalization, a minimum spend over a year).
func TestOfferChecks(t *testing.T) {
	cat, p := catalog.Default(), programme(t)
	good := func() Offer {
		return Offer{Code: "mug10", Description: "10% off", Reward: Reward{Kind: RewardPercentage, Value: 10},
			ValidFrom: time.Unix(0, 0), ValidUntil: time.Unix(100, 0), Eligibility: []Condition{{Kind: EligibleMinSpend, Amount: 50}}}
	}
	o := good()
	if err := o.check(cat, p); err != nil {
		t.Fatal(err)
	}
	if o.Code != "MUG10" || o.Purpose != "personalization" || o.Eligibility[0].Days != 365 {
		t.Fatalf("normalised: %+v", o)
	}
	for want, change := range map[string]func(*Offer){
		"code":          func(o *Offer) { o.Code = "a b" },
		"description":   func(o *Offer) { o.Description = " " },
		"valid_until":   func(o *Offer) { o.ValidUntil = o.ValidFrom },
		"holdout":       func(o *Offer) { o.Holdout = 0.9 },
		"reward.value":  func(o *Offer) { o.Reward.Value = 120 },
		"reward.kind":   func(o *Offer) { o.Reward.Kind = "free_beer" },
		"purpose":       func(o *Offer) { o.Purpose = "gossip" },
		"frequency_cap": func(o *Offer) { o.FrequencyCap.Count = -1 },
		"eligibility":   func(o *Offer) { o.Eligibility = []Condition{{Kind: EligibleTier, Tiers: []string{"diamond"}}} },
	} {
		o := good()
		change(&o)
		err := o.check(cat, p)
		if !problem.Is(err, problem.Invalid) || !strings.Contains(problem.FieldOf(err)+problem.Detail(err), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	o = good()
	o.Eligibility = []Condition{{Kind: EligibleSegment, Segment: " "}}
	if err := o.check(cat, p); !problem.Is(err, problem.Invalid) || !strings.Contains(problem.Detail(err), "names the segment's id") {
		t.Errorf("segment without an id: %v", err)
	}
	o.Eligibility = []Condition{{Kind: EligibleSegment, Segment: "vip"}}
	if err := o.check(cat, p); err != nil {
		t.Errorf("segment: %v", err)
	}
}

// TestHoldoutDraw: the hold-out group is about the configured share, the same for a customer
// every time, independent between offers, and different under another server's key.
func TestHoldoutDraw(t *testing.T) {
	s := &Service{d: Deps{Secret: []byte("key one")}}
	other := &Service{d: Deps{Secret: []byte("key two")}}
	a, b := Offer{ID: "offer-a", Holdout: 0.2}, Offer{ID: "offer-b", Holdout: 0.2}
	inA, inB, both, differ := 0, 0, 0, 0
	const n = 20_000
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("customer-%d", i)
		ha, hb := s.InHoldout(a, id), s.InHoldout(b, id)
		if ha != s.InHoldout(a, id) {
			t.Fatal("the draw changed")
		}
		if ha {
			inA++
		}
		if hb {
			inB++
		}
		if ha && hb {
			both++
		}
		if ha != other.InHoldout(a, id) {
			differ++
		}
	}
	for _, got := range []int{inA, inB} {
		if got < n*18/100 || got > n*22/100 {
			t.Errorf("hold-out of %d customers at 20%%: %d", n, got)
		}
	}
	if both < n*3/100 || both > n*5/100 {
		t.Errorf("in both groups: %d, want about 4%%", both)
	}
	if differ < n*25/100 {
		t.Errorf("another key changes only %d draws", differ)
	}
	if s.InHoldout(Offer{ID: "x"}, "c") {
		t.Error("no hold-out share, yet held out")
	}
}

func TestCoPurchaseCounts(t *testing.T) {
	pairs := map[string]map[string]int{}
	addBasket(pairs, []string{"MUG", "TEA", "MUG"})
	addBasket(pairs, []string{"TEA", "MUG", "SPOON"})
	if pairs["MUG"]["TEA"] != 2 || pairs["TEA"]["MUG"] != 2 || pairs["MUG"]["SPOON"] != 1 || pairs["MUG"]["MUG"] != 0 {
		t.Fatalf("pairs: %v", pairs)
	}
}
