package ingest

import (
	"encoding/json"
	"testing"
	"time"
)

// TestFiguresMoneyIsExact: amounts are added in minor units, so sums that floats get wrong come
// out exact; refunds come off their orders; cancelled orders and refunds of orders never
// reported do not count; other currencies are left out of the lifetime value.
func TestFiguresMoneyIsExact(t *testing.T) {
	at := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	var a Activity
	for i := 0; i < 10; i++ {
		a.Orders = append(a.Orders, ActivityOrder{OrderID: "dime-" + string(rune('a'+i)), Status: "completed", Currency: "EUR", Total: 0.1, PlacedAt: at(2 + i)})
	}
	a.Orders = append(a.Orders,
		ActivityOrder{OrderID: "big", Status: "partially_refunded", Currency: "EUR", Total: 120.50, PlacedAt: at(1)},
		ActivityOrder{OrderID: "gone", Status: "cancelled", Currency: "EUR", Total: 99, PlacedAt: at(20)},
		ActivityOrder{OrderID: "ghost", Status: "refunded", Currency: "EUR", Total: 0, PlacedAt: at(21)},
		ActivityOrder{OrderID: "yen", Status: "completed", Currency: "JPY", Total: 1500, PlacedAt: at(15)})
	a.Refunds = []ActivityRefund{{OrderID: "big", Kind: "refund", Amount: 60.25}, {OrderID: "ghost", Kind: "return", Amount: 5},
		{OrderID: "dime-a", Kind: "return", Amount: 0.1}}
	f := Figures(a)
	for field, want := range map[string]string{
		FieldOrderCount:    "12",
		FieldLifetimeValue: "61.15", // 120.50 - 60.25 + 10 × 0.10 - 0.10; the yen order is left out
		FieldFirstOrderAt:  "2026-01-01T00:00:00Z",
		FieldLastOrderAt:   "2026-01-15T00:00:00Z",
		FieldReturnCount:   "2",
	} {
		if got := jsonText(f[field]); got != want {
			t.Errorf("%s: got %s, want %s", field, got, want)
		}
	}
	for _, field := range []string{FieldLastReviewRating, FieldComplaintCount, FieldSocialCount} {
		if f[field] != nil {
			t.Errorf("%s: got %v, want none", field, f[field])
		}
	}
	if f := Figures(Activity{}); f[FieldOrderCount] != nil || f[FieldLifetimeValue] != nil || len(f) != len(FigureFields) {
		t.Errorf("no activity: got %v", f)
	}
}

func jsonText(v any) string {
	switch x := v.(type) {
	case json.Number:
		return string(x)
	case string:
		return x
	}
	return ""
}

func TestMinorUnits(t *testing.T) {
	for _, tc := range []struct {
		amount float64
		exp    int
		want   int64
		text   string
	}{
		{0.1, 2, 10, "0.10"}, {120.5, 2, 12050, "120.50"}, {60.25, 2, 6025, "60.25"}, {1500, 0, 1500, "1500"},
		{1.2345, 3, 1235, "1.235"}, {-0.005, 2, -1, "-0.01"}, {0.005, 2, 1, "0.01"},
	} {
		got := minorUnits(tc.amount, tc.exp)
		if got != tc.want || formatMinor(got, tc.exp) != tc.text {
			t.Errorf("%v (exp %d): got %d %q, want %d %q", tc.amount, tc.exp, got, formatMinor(got, tc.exp), tc.want, tc.text)
		}
	}
}
