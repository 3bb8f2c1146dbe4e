package segment

import "testing"

// TestRuleWords: the console shows a rule as a sentence; nested lists are bracketed so that
// "and" and "or" read unambiguously, and codes read as words.
func TestRuleWords(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{`{"and": [{"field": "gender", "op": "eq", "value": "female"},
			{"field": "birth_date", "form": "generalized", "op": "in", "value": ["25_34", "35_44"]},
			{"event": {"name": "Order Completed", "within_days": 90}, "op": "gte", "value": 2},
			{"consent": "marketing_email"}]}`,
			`gender is female and birth date (generalised) is one of 25–34, 35–44 and the number of events named "Order Completed" in the last 90 days is at least 2 and may be reached for marketing email now`},
		{`{"or": [{"figure": "rfm_recency", "op": "between", "value": [4, 5]}, {"not": {"and": [{"field": "email", "op": "exists", "value": true}, {"figure": "lifetime_value", "op": "gt", "value": 99.5}]}}]}`,
			`rfm recency is between 4 and 5 or not (email is present and lifetime value is more than 99.5)`},
		{`{"event": {"type": "page", "category": "engagement", "within_days": 7}}`, `at least one of engagement page events in the last 7 days`},
		{`{"field": "phone", "op": "exists", "value": false}`, `phone is missing`},
	} {
		if got := rule(t, tc.rule).Words(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
