package segment

import (
	"fmt"
	"strings"
)

// opWords says each operator as a person reads it.
var opWords = map[string]string{
	OpEq: "is", OpNe: "is not", OpIn: "is one of", OpNotIn: "is none of", OpGt: "is more than", OpGte: "is at least",
	OpLt: "is less than", OpLte: "is at most", OpBetween: "is between",
}

// Words says the rule in plain English, for the people who read a segment rather than write
// its JSON: "gender is female and order count is at least 2". It holds nothing but the rule,
// which holds no personal value (identifying fields are only tested for presence).
func (r Rule) Words() string { return r.words(false) }

// words says r; nested says it sits inside another and/or, which brackets a list.
func (r Rule) words(nested bool) string {
	join := func(parts []Rule, sep string) string {
		out := make([]string, len(parts))
		for i, p := range parts {
			out[i] = p.words(true)
		}
		s := strings.Join(out, sep)
		if nested && len(parts) > 1 {
			s = "(" + s + ")"
		}
		return s
	}
	switch {
	case len(r.And) > 0:
		return join(r.And, " and ")
	case len(r.Or) > 0:
		return join(r.Or, " or ")
	case r.Not != nil:
		return "not " + r.Not.words(true)
	case r.Consent != "":
		return "may be reached for " + spaced(r.Consent) + " now"
	case r.Event != nil:
		return r.eventWords()
	case r.Field != "":
		subject := spaced(r.Field)
		if r.Form == FormGeneralized {
			subject += " (generalised)"
		}
		return subject + " " + r.compareWords()
	case r.Figure != "":
		return spaced(r.Figure) + " " + r.compareWords()
	}
	return "everyone"
}

// eventWords says an event condition: how many events of which kind in how many days.
func (r Rule) eventWords() string {
	e := r.Event
	what := "events"
	if e.Type != "" {
		what = e.Type + " " + what
	}
	if e.Category != "" {
		what = e.Category + " " + what
	}
	if e.Name != "" {
		what += fmt.Sprintf(" named %q", e.Name)
	}
	within := fmt.Sprintf(" in the last %d days", e.WithinDays)
	if r.Op == "" && r.Value == nil {
		return "at least one of " + what + within
	}
	return "the number of " + what + within + " " + r.compareWords()
}

// compareWords says the operator and the value of a condition.
func (r Rule) compareWords() string {
	if r.Op == OpExists {
		if r.Value == false {
			return "is missing"
		}
		return "is present"
	}
	vs := values(r.Value)
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = valueWords(v)
	}
	sep := ", "
	if r.Op == OpBetween {
		sep = " and "
	}
	op, ok := opWords[r.Op]
	if !ok {
		op = r.Op
	}
	return op + " " + strings.Join(out, sep)
}

// valueWords says one value of a rule: words for codes (25_34 → 25–34), numbers plainly.
func valueWords(v any) string {
	switch x := v.(type) {
	case string:
		if lo, hi, ok := strings.Cut(x, "_"); ok && isDigits(lo) && isDigits(hi) {
			return lo + "–" + hi
		}
		return spaced(x)
	case float64:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", x), "0"), ".")
	}
	return fmt.Sprint(v)
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// spaced writes a code with spaces: order_count → order count.
func spaced(s string) string { return strings.ReplaceAll(s, "_", " ") }
