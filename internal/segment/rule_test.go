package segment

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

func rule(t *testing.T, s string) Rule {
	t.Helper()
	var r Rule
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestValidateNamesFieldAndPurpose: what a purpose may not use is refused with a message that
// names the field and the purpose; what it may use passes.
func TestValidateNamesFieldAndPurpose(t *testing.T) {
	c := catalog.Default()
	for _, tc := range []struct {
		purpose, rule string
		want          []string // empty: valid
	}{
		{"analytics", `{"field":"gender","op":"eq","value":"female"}`, nil},
		{"analytics", `{"field":"birth_date","op":"in","value":["25_34"]}`, nil},
		{"analytics", `{"field":"birth_date","op":"eq","value":"1990-01-01"}`, []string{"birth_date", "analytics", "age band"}},
		{"analytics", `{"field":"first_name","op":"exists","value":true}`, []string{"first_name", "analytics"}},
		{"analytics", `{"field":"postal_code","op":"eq","value":"EH1"}`, []string{"postal_code", "analytics", "region"}},
		{"marketing_email", `{"field":"gender","op":"eq","value":"female"}`, []string{"gender", "marketing_email"}},
		{"marketing_email", `{"figure":"lifetime_value","op":"gt","value":100}`, []string{"lifetime_value", "marketing_email"}},
		{"personalization", `{"figure":"rfm_monetary","op":"gte","value":4}`, nil},
		{"marketing_email", `{"field":"email","op":"eq","value":"a@example.com"}`, []string{"email", "identifies"}},
		{"personalization", `{"event":{"name":"Order Completed","within_days":90},"op":"gte","value":2}`, nil},
		{"personalization", `{"event":{"name":"x","within_days":900}}`, []string{"within_days"}},
		{"personalization", `{"and":[{"consent":"marketing_email"},{"not":{"figure":"contact_status","op":"in","value":["bounced"]}}]}`, nil},
		{"personalization", `{"and":[]}`, []string{"rule.and"}},
		{"personalization", `{"field":"gender","figure":"order_count","op":"eq","value":1}`, []string{"exactly one"}},
		{"personalization", `{"consent":"nope"}`, []string{"nope"}},
	} {
		err := rule(t, tc.rule).Validate(c, tc.purpose)
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%s %s: got %v, want valid", tc.purpose, tc.rule, err)
			}
			continue
		}
		if !problem.Is(err, problem.Invalid) {
			t.Errorf("%s %s: got %v, want Invalid", tc.purpose, tc.rule, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(problem.Detail(err), w) && !strings.Contains(problem.FieldOf(err), w) {
				t.Errorf("%s %s: %q does not name %q", tc.purpose, tc.rule, problem.Detail(err), w)
			}
		}
	}
}

// TestMatch evaluates rules over facts: generalised fields, figures, behaviour windows,
// consent and contact status.
func TestMatch(t *testing.T) {
	c := catalog.Default()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	gen := func(f catalog.Field, v any, now time.Time) (any, bool) {
		if f.Generalize == catalog.GeneralizeAgeBand {
			d, _ := time.Parse("2006-01-02", v.(string))
			if now.Year()-d.Year() >= 25 && now.Year()-d.Year() < 35 {
				return "25_34", true
			}
			return "other", true
		}
		return v, true
	}
	ev := &Evaluator{Catalog: c, Generalize: gen}
	f := &Facts{CustomerID: "c1", Values: map[string]any{"gender": "female", "birth_date": "1995-03-01", "region": "Scotland",
		"order_count": int64(2), "lifetime_value": 80.0, "last_order_at": now.AddDate(0, 0, -10).Format(time.RFC3339)},
		Events: []Event{{Type: "track", Name: "Order Completed", At: now.AddDate(0, 0, -10)}, {Type: "track", Name: "Order Completed", At: now.AddDate(0, 0, -40)},
			{Type: "track", Name: "Order Completed", At: now.AddDate(0, 0, -200)}},
		Allowed: map[string]bool{"marketing_email": true}, ContactStatus: "valid"}
	for _, tc := range []struct {
		purpose, rule string
		want          bool
	}{
		{"analytics", `{"field":"birth_date","op":"eq","value":"25_34"}`, true},
		{"personalization", `{"field":"birth_date","op":"eq","value":"25_34"}`, false}, // the date itself, not a band
		{"personalization", `{"field":"birth_date","form":"generalized","op":"eq","value":"25_34"}`, true},
		{"personalization", `{"event":{"name":"order completed","within_days":90},"op":"gte","value":2}`, true},
		{"personalization", `{"event":{"name":"Order Completed","within_days":30},"op":"gte","value":2}`, false},
		{"personalization", `{"figure":"average_order_value","op":"eq","value":40}`, true},
		{"personalization", `{"figure":"days_since_last_order","op":"lte","value":10}`, true},
		{"personalization", `{"figure":"days_since_last_activity","op":"lt","value":11}`, true},
		{"personalization", `{"figure":"rfm_frequency","op":"exists","value":true}`, true},
		{"personalization", `{"and":[{"consent":"marketing_email"},{"not":{"consent":"ads_sharing"}}]}`, true},
		{"personalization", `{"figure":"contact_status","op":"in","value":["bounced","complained"]}`, false},
		{"personalization", `{"or":[{"field":"region","op":"eq","value":"wales"},{"field":"region","op":"eq","value":"scotland"}]}`, true},
	} {
		r := rule(t, tc.rule)
		if err := r.Validate(c, tc.purpose); err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		if got := ev.Match(r, tc.purpose, f, now); got != tc.want {
			t.Errorf("%s %s: got %v, want %v", tc.purpose, tc.rule, got, tc.want)
		}
	}
}

// TestRFMQuintiles: a population of 1..100 splits into fifths, the best fifth scoring 5.
func TestRFMQuintiles(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	var pop []RFM
	for i := 1; i <= 100; i++ {
		pop = append(pop, RFM{RecencyDays: float64(i), Frequency: float64(i), Monetary: float64(i)})
	}
	b := ComputeBreaks(pop)
	facts := func(days, n int) *Facts {
		return &Facts{Values: map[string]any{"order_count": int64(n), "lifetime_value": float64(n),
			"last_order_at": now.AddDate(0, 0, -days).Format(time.RFC3339)}}
	}
	if got := b.Score(FigureFrequency, facts(1, 95), now); got != 5 {
		t.Errorf("frequency 95: got %d, want 5", got)
	}
	if got := b.Score(FigureFrequency, facts(1, 3), now); got != 1 {
		t.Errorf("frequency 3: got %d, want 1", got)
	}
	if got := b.Score(FigureRecency, facts(2, 1), now); got != 5 {
		t.Errorf("recency 2 days: got %d, want 5", got)
	}
	if got := b.Score(FigureRecency, facts(99, 1), now); got != 1 {
		t.Errorf("recency 99 days: got %d, want 1", got)
	}
}

// TestSignature: a receiver verifies the signature of the body it got, and refuses a changed
// body, another secret or an old timestamp.
func TestSignature(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"action":"upsert"}`)
	h := Sign([]byte("s3cret"), now.Unix(), body)
	if !VerifySignature([]byte("s3cret"), h, body, now, time.Minute) {
		t.Fatal("a good signature is refused")
	}
	for name, ok := range map[string]bool{
		"changed body": VerifySignature([]byte("s3cret"), h, []byte(`{"action":"remove"}`), now, time.Minute),
		"other secret": VerifySignature([]byte("other"), h, body, now, time.Minute),
		"too old":      VerifySignature([]byte("s3cret"), h, body, now.Add(time.Hour), time.Minute),
		"no signature": VerifySignature([]byte("s3cret"), "", body, now, time.Minute),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if d := Backoff(1); d < 30*time.Second || d > 36*time.Second {
		t.Errorf("first backoff: got %s", d)
	}
	if d := Backoff(20); d > 6*time.Hour+6*time.Hour/5 {
		t.Errorf("backoff is not capped: %s", d)
	}
}
