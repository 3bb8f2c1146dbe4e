package segment

import (
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
)

// Facts is what is known about one customer when rules are evaluated: their opened profile
// values, their recent events, the permission decisions asked for and their contact status.
// Facts live in memory for the evaluation only; nothing of them is stored.
type Facts struct {
	CustomerID string
	// Values are the profile's values as stored; the evaluator reads only the fields the
	// rule was validated to use, in the form the purpose may see.
	Values map[string]any
	// Events are the customer's events within the longest window the rules need.
	Events []Event
	// Allowed is the permission decision for each purpose asked (Needs.Purposes).
	Allowed map[string]bool
	// ContactStatus is the customer's contact status (quality.Status*), when needed.
	ContactStatus string
}

// Event is one event as behaviour rules see it: no properties, no values.
type Event struct {
	Type, Name, Category string
	At                   time.Time
}

// Generalizer turns a field's value into its generalised form, as the vault does for purposes
// that see only that; ok is false when the generalised form withholds the value.
type Generalizer func(f catalog.Field, v any, now time.Time) (any, bool)

// Evaluator decides whether customers match rules. Breaks are the RFM quintile boundaries of
// the whole base (see ComputeBreaks); zero Breaks score every customer with orders 1.
type Evaluator struct {
	Catalog    *catalog.Catalog
	Generalize Generalizer
	Breaks     Breaks
}

// Match reports whether f satisfies r for purpose at now. r must have passed Validate for the
// purpose: a condition it would refuse matches nothing here.
func (e *Evaluator) Match(r Rule, purpose string, f *Facts, now time.Time) bool {
	switch {
	case r.And != nil:
		for _, sub := range r.And {
			if !e.Match(sub, purpose, f, now) {
				return false
			}
		}
		return true
	case r.Or != nil:
		for _, sub := range r.Or {
			if e.Match(sub, purpose, f, now) {
				return true
			}
		}
		return false
	case r.Not != nil:
		return !e.Match(*r.Not, purpose, f, now)
	case r.Consent != "":
		return f.Allowed[r.Consent]
	case r.Event != nil:
		n := countEvents(f.Events, *r.Event, now)
		if r.Op == "" && r.Value == nil {
			return n > 0
		}
		return compare(float64(n), r.Op, r.Value)
	case r.Figure != "":
		v, ok := e.figure(r.Figure, f, now)
		if r.Op == OpExists {
			want, _ := r.Value.(bool)
			return ok == want
		}
		return ok && compare(v, r.Op, r.Value)
	case r.Field != "":
		v, ok := e.field(r, purpose, f, now)
		if r.Op == OpExists {
			want, _ := r.Value.(bool)
			return ok == want
		}
		return ok && compare(v, r.Op, r.Value)
	}
	return false
}

// field is the value of r.Field in the form the purpose compares it.
func (e *Evaluator) field(r Rule, purpose string, f *Facts, now time.Time) (any, bool) {
	fd, ok := e.Catalog.Field(r.Field)
	if !ok || !fd.AllowsPurpose(purpose) {
		return nil, false
	}
	v, ok := f.Values[r.Field]
	if !ok || v == nil {
		return nil, false
	}
	p, _ := e.Catalog.Purpose(purpose)
	if (p.GeneralizedOnly || r.Form == FormGeneralized) && fd.Generalize != "" && fd.Generalize != catalog.GeneralizeNone {
		if e.Generalize == nil {
			return nil, false
		}
		return e.Generalize(fd, v, now)
	}
	return v, true
}

func countEvents(evs []Event, m EventMatch, now time.Time) int {
	since := now.Add(-time.Duration(m.WithinDays) * 24 * time.Hour)
	n := 0
	for _, ev := range evs {
		if ev.At.Before(since) || ev.At.After(now) {
			continue
		}
		if (m.Type == "" || ev.Type == m.Type) && (m.Name == "" || strings.EqualFold(ev.Name, m.Name)) &&
			(m.Category == "" || ev.Category == m.Category) {
			n++
		}
	}
	return n
}

// figure returns the derived figure name of f, and false when the customer has none (no
// orders, no activity).
func (e *Evaluator) figure(name string, f *Facts, now time.Time) (any, bool) {
	val := func(field string) (float64, bool) { return number(f.Values[field]) }
	at := func(field string) (time.Time, bool) { return timeOf(f.Values[field]) }
	days := func(t time.Time, ok bool) (any, bool) {
		if !ok {
			return nil, false
		}
		return math.Floor(now.Sub(t).Hours() / 24), true
	}
	switch name {
	case FigureOrderCount:
		return orZero(val("order_count"))
	case FigureLifetimeValue:
		return orZero(val("lifetime_value"))
	case FigureReturnCount:
		return orZero(val("return_count"))
	case FigureAverageOrderValue:
		n, _ := val("order_count")
		v, _ := val("lifetime_value")
		if n <= 0 {
			return nil, false
		}
		return math.Round(v/n*100) / 100, true
	case FigureFirstOrderAt, FigureLastOrderAt:
		t, ok := at(name)
		if !ok {
			return nil, false
		}
		return t.UTC().Format(time.RFC3339), true
	case FigureDaysSinceFirst:
		return days(at("first_order_at"))
	case FigureDaysSinceLast:
		return days(at("last_order_at"))
	case FigureDaysSinceActivity:
		t, ok := at("last_active_at")
		for _, ev := range f.Events {
			if !ok || ev.At.After(t) {
				t, ok = ev.At, true
			}
		}
		return days(t, ok)
	case FigureRecency, FigureFrequency, FigureMonetary:
		s := e.Breaks.Score(name, f, now)
		if s == 0 {
			return nil, false
		}
		return float64(s), true
	case FigureContactStatus:
		if f.ContactStatus == "" {
			return nil, false
		}
		return f.ContactStatus, true
	}
	return nil, false
}

func orZero(v float64, ok bool) (any, bool) {
	if !ok {
		return float64(0), true
	}
	return v, true
}

// compare applies op to a value (a number, a string or a boolean) and the rule's value.
func compare(v any, op string, want any) bool {
	switch op {
	case OpEq:
		return equal(v, want)
	case OpNe:
		return !equal(v, want)
	case OpIn:
		return slices.ContainsFunc(values(want), func(w any) bool { return equal(v, w) })
	case OpNotIn:
		return !slices.ContainsFunc(values(want), func(w any) bool { return equal(v, w) })
	case OpBetween:
		list := values(want)
		if len(list) != 2 {
			return false
		}
		return order(v, list[0]) >= 0 && order(v, list[1]) <= 0
	case OpGt:
		return order(v, want) > 0 && order(v, want) != unordered
	case OpGte:
		c := order(v, want)
		return c >= 0 && c != unordered
	case OpLt:
		return order(v, want) < 0
	case OpLte:
		return order(v, want) <= 0
	}
	return false
}

// unordered is order's answer for values of different kinds.
const unordered = math.MinInt32

func order(a, b any) int {
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
		return unordered
	}
	x, ok1 := a.(string)
	y, ok2 := b.(string)
	if !ok1 || !ok2 {
		return unordered
	}
	return strings.Compare(x, y)
}

func equal(a, b any) bool {
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x == y
	}
	if x, ok := a.(string); ok {
		y, ok := b.(string)
		return ok && strings.EqualFold(x, y)
	}
	return a == b
}

// number reads the numeric kinds a decoded value or a JSON rule may hold.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func timeOf(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok || s == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Breaks are the quintile boundaries of recency (days since the last order), frequency (order
// count) and monetary value (lifetime value) over every customer with an order: four
// boundaries each, splitting the base into fifths.
type Breaks struct {
	Recency   [4]float64 `json:"recency"`
	Frequency [4]float64 `json:"frequency"`
	Monetary  [4]float64 `json:"monetary"`
	Customers int        `json:"customers"`
}

// RFM is one customer's raw recency, frequency and monetary value, the input of ComputeBreaks.
type RFM struct {
	RecencyDays, Frequency, Monetary float64
}

// RFMOf reads f's raw RFM values; ok is false for a customer with no orders.
func RFMOf(f *Facts, now time.Time) (RFM, bool) {
	n, _ := number(f.Values["order_count"])
	last, ok := timeOf(f.Values["last_order_at"])
	if n <= 0 || !ok {
		return RFM{}, false
	}
	m, _ := number(f.Values["lifetime_value"])
	return RFM{RecencyDays: now.Sub(last).Hours() / 24, Frequency: n, Monetary: m}, true
}

// ComputeBreaks finds the quintile boundaries of a population.
func ComputeBreaks(pop []RFM) Breaks {
	b := Breaks{Customers: len(pop)}
	if len(pop) == 0 {
		return b
	}
	col := make([]float64, len(pop))
	quint := func(get func(RFM) float64) [4]float64 {
		for i, p := range pop {
			col[i] = get(p)
		}
		sort.Float64s(col)
		var q [4]float64
		for i := range q {
			q[i] = col[(i+1)*len(col)/5]
		}
		return q
	}
	b.Recency = quint(func(r RFM) float64 { return r.RecencyDays })
	b.Frequency = quint(func(r RFM) float64 { return r.Frequency })
	b.Monetary = quint(func(r RFM) float64 { return r.Monetary })
	return b
}

// Score is the customer's quintile (1–5) for the RFM figure name, 0 without orders.
func (b Breaks) Score(name string, f *Facts, now time.Time) int {
	r, ok := RFMOf(f, now)
	if !ok {
		return 0
	}
	above := func(v float64, q [4]float64) int {
		s := 1
		for _, edge := range q {
			if v >= edge {
				s++
			}
		}
		return s
	}
	switch name {
	case FigureRecency:
		// Fewer days since the last order is better: the most recent fifth scores 5.
		if b.Customers == 0 {
			return 1
		}
		return 6 - above(r.RecencyDays, b.Recency)
	case FigureFrequency:
		if b.Customers == 0 {
			return 1
		}
		return above(r.Frequency, b.Frequency)
	case FigureMonetary:
		if b.Customers == 0 {
			return 1
		}
		return above(r.Monetary, b.Monetary)
	}
	return 0
}
