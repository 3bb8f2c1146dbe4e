package loyalty

import (
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
)

func defaultCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	return catalog.Default()
}

func TestDefaultProgrammeParses(t *testing.T) {
	p, err := Parse(DefaultYAML(), defaultCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if p.Purpose != "service" || p.Tiers.Levels[0].EarnMultiplier != 1 || p.Expiry.SoonDays != 30 {
		t.Fatalf("got %+v", p)
	}
}

// TestParseNamesEveryProblem: a broken programme is refused with every problem named, each
// by the key that holds it.
func TestParseNamesEveryProblem(t *testing.T) {
	cat := defaultCatalog(t)
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown key":   {"purpose: service\ncurrency: GBP\nbonus: 3\n", "field bonus not found"},
		"purpose":       {strings.Replace(string(DefaultYAML()), "purpose: service", "purpose: loyalty", 1), `purpose: "loyalty" is not a purpose`},
		"currency":      {strings.Replace(string(DefaultYAML()), "currency: GBP", "currency: pounds", 1), "currency: must be a three-letter"},
		"first tier":    {strings.Replace(string(DefaultYAML()), "threshold: 0", "threshold: 10", 1), "tiers.levels[0].threshold"},
		"thresholds":    {strings.Replace(string(DefaultYAML()), "threshold: 2000", "threshold: 400", 1), "tiers.levels[2].threshold: thresholds must rise"},
		"window":        {strings.Replace(string(DefaultYAML()), "window_months: 12", "window_months: 0", 1), "tiers.window_months"},
		"redemption":    {strings.Replace(string(DefaultYAML()), "points_per_unit: 100", "points_per_unit: 0", 1), "redemption.points_per_unit"},
		"reasons":       {strings.Replace(string(DefaultYAML()), "reasons: [goodwill,", "reasons: [Good Will,", 1), "adjustments.reasons[0]"},
		"event name":    {strings.Replace(string(DefaultYAML()), "referral: 100", "Refer A Friend: 100", 1), `earning.events: "Refer A Friend"`},
		"member digits": {strings.Replace(string(DefaultYAML()), "digits: 9", "digits: 3", 1), "member_numbers.digits"},
		// Birth dates may be used for the bonus only if the catalog declares them for the
		// programme's purpose: support is not among birth_date's purposes.
		"birthday without the catalog": {strings.Replace(string(DefaultYAML()), "purpose: service", "purpose: support", 1),
			`earning.birthday_bonus: the catalog does not declare birth_date for purpose "support"`},
	} {
		_, err := Parse([]byte(tc.yaml), cat)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %q", name, err, tc.want)
		}
	}
	// Without the bonus, the same programme under support is fine.
	y := strings.Replace(strings.Replace(string(DefaultYAML()), "purpose: service", "purpose: support", 1), "birthday_bonus: 100", "birthday_bonus: 0", 1)
	if _, err := Parse([]byte(y), cat); err != nil {
		t.Errorf("support without a birthday bonus: %v", err)
	}
}

func TestOrderPoints(t *testing.T) {
	p, err := Parse(DefaultYAML(), defaultCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Earning.Categories = map[string]float64{"books": 3}
	bronze, _ := p.Level("bronze")
	gold, _ := p.Level("gold")
	for name, tc := range map[string]struct {
		o    Order
		tier Level
		want int64
	}{
		"base rate on goods, not tax or shipping": {Order{Currency: "GBP", Total: 120.99, Tax: 20, Shipping: 5}, bronze, 95},
		"another currency earns nothing":          {Order{Currency: "EUR", Total: 100}, bronze, 0},
		"category rate per line":                  {Order{Currency: "GBP", Total: 40, Items: []Item{{Category: "books", Price: 10, Quantity: 2}, {Price: 20, Quantity: 1}}}, bronze, 80},
		"a discount shrinks every line":           {Order{Currency: "GBP", Total: 20, Items: []Item{{Category: "books", Price: 10, Quantity: 2}, {Price: 20, Quantity: 1}}}, bronze, 40},
		"tier multiplier":                         {Order{Currency: "GBP", Total: 100}, gold, 150},
		"nothing paid":                            {Order{Currency: "GBP", Total: 5, Shipping: 5}, bronze, 0},
	} {
		if got := p.OrderPoints(tc.o, tc.tier); got != tc.want {
			t.Errorf("%s: got %d, want %d", name, got, tc.want)
		}
	}
}

func TestRefundTarget(t *testing.T) {
	for _, tc := range []struct {
		earned          int64
		total, refunded float64
		want            int64
	}{
		{300, 300, 150, 150}, {300, 300, 300, 300}, {300, 300, 500, 300}, {301, 3, 1, 100}, {0, 10, 10, 0}, {50, 0, 10, 50},
	} {
		if got := RefundTarget(tc.earned, tc.total, tc.refunded); got != tc.want {
			t.Errorf("RefundTarget(%d, %v, %v) = %d, want %d", tc.earned, tc.total, tc.refunded, got, tc.want)
		}
	}
}

// TestLotsOldestFirst: debits take the oldest credits first, so what expires is what was
// earned longest ago, and what expires soon is counted from what is left.
func TestLotsOldestFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	month := func(n int) time.Time { return t0.AddDate(0, n, 0) }
	entries := []Entry{
		{Points: 100, At: month(0), ExpiresAt: month(12)},
		{Points: 50, At: month(1), ExpiresAt: month(13)},
		{Points: -120, At: month(2)},
		{Points: 70, At: month(3), ExpiresAt: month(15)},
	}
	lots := Lots(entries)
	if len(lots) != 2 || lots[0].Remaining != 30 || lots[1].Remaining != 70 {
		t.Fatalf("lots: %+v", lots)
	}
	if got := Expired(lots, month(13)); got != 30 {
		t.Errorf("expired by month 13: %d, want 30", got)
	}
	if got, first := ExpiringBetween(lots, month(12), month(16)); got != 100 || !first.Equal(month(13)) {
		t.Errorf("expiring: %d from %v", got, first)
	}
}

func TestMemberNumbers(t *testing.T) {
	p, err := Parse(DefaultYAML(), defaultCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		n, err := p.NewMemberNumber()
		if err != nil {
			t.Fatal(err)
		}
		if len(n) != 11 || n[0] != 'M' || !p.ValidMemberNumber(n) {
			t.Fatalf("member number %q", n)
		}
		seen[n] = true
		// Every single-digit error is caught by the check digit.
		for pos := 1; pos < len(n); pos++ {
			b := []byte(n)
			b[pos] = '0' + (b[pos]-'0'+1)%10
			if p.ValidMemberNumber(string(b)) {
				t.Fatalf("%s with digit %d changed still checks", n, pos)
			}
		}
	}
	if len(seen) < 199 {
		t.Errorf("%d distinct numbers of 200", len(seen))
	}
	if !p.ValidMemberNumber("M0000000000") || p.ValidMemberNumber("X0000000000") || p.ValidMemberNumber("M00000000000") {
		t.Error("shape checks")
	}
}
