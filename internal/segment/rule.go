package segment

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

// Rule is a segment's condition: exactly one of And, Or, Not, or a single condition over one
// subject (Field, Figure, Event or Consent) compared by Op with Value. It is JSON as clients
// write it, so the console, the API and a saved segment all speak the same language:
//
//	{"and": [
//	  {"field": "gender", "op": "eq", "value": "female"},
//	  {"field": "birth_date", "form": "generalized", "op": "in", "value": ["25_34"]},
//	  {"event": {"name": "Order Completed", "within_days": 90}, "op": "gte", "value": 2},
//	  {"consent": "marketing_email"}
//	]}
type Rule struct {
	And []Rule `json:"and,omitempty"`
	Or  []Rule `json:"or,omitempty"`
	Not *Rule  `json:"not,omitempty"`

	// Field is a profile field the catalog declares for the segment's purpose.
	Field string `json:"field,omitempty"`
	// Form is "generalized" to compare the field's generalised form (an age band for a birth
	// date, a network for an IP address). Purposes that see only generalised data
	// (analytics) always compare that form, whatever Form says.
	Form string `json:"form,omitempty"`
	// Figure is a derived figure (see Figures): order count, lifetime value, RFM scores,
	// days since last activity, contact status.
	Figure string `json:"figure,omitempty"`
	// Event counts the customer's events matching it; Op and Value compare the count (at
	// least one when both are left out).
	Event *EventMatch `json:"event,omitempty"`
	// Consent is a purpose: true while the permission decision allows it for the customer
	// now (their consent, objections, restrictions, GPC and the suppression list).
	Consent string `json:"consent,omitempty"`

	Op    string `json:"op,omitempty"`
	Value any    `json:"value,omitempty"`
}

// EventMatch selects events by type (track, page, screen …), name and catalog category
// within the last WithinDays days. Empty parts match anything.
type EventMatch struct {
	Type       string `json:"type,omitempty"`
	Name       string `json:"name,omitempty"`
	Category   string `json:"category,omitempty"`
	WithinDays int    `json:"within_days"`
}

// Operators a condition may use.
const (
	OpEq      = "eq"
	OpNe      = "ne"
	OpIn      = "in"
	OpNotIn   = "not_in"
	OpGt      = "gt"
	OpGte     = "gte"
	OpLt      = "lt"
	OpLte     = "lte"
	OpBetween = "between" // inclusive, value [low, high]
	OpExists  = "exists"  // value true or false
)

var ops = []string{OpEq, OpNe, OpIn, OpNotIn, OpGt, OpGte, OpLt, OpLte, OpBetween, OpExists}

// FormGeneralized is Rule.Form for the generalised form of a field.
const FormGeneralized = "generalized"

// MaxWindowDays bounds an event window: a year of events is what behaviour rules need, and
// the bound keeps one rule from reading a customer's whole history on every change.
const MaxWindowDays = 366

// maxDepth and maxConditions bound a rule, so that a request cannot make evaluation of every
// customer arbitrarily expensive.
const (
	maxDepth      = 8
	maxConditions = 64
)

// Figures are the derived figures a rule may compare, each with the catalog fields it is
// derived from: a purpose may use a figure only if it may use all of them.
var Figures = map[string][]string{
	FigureOrderCount:        {"order_count"},
	FigureLifetimeValue:     {"lifetime_value"},
	FigureAverageOrderValue: {"lifetime_value", "order_count"},
	FigureReturnCount:       {"return_count"},
	FigureFirstOrderAt:      {"first_order_at"},
	FigureLastOrderAt:       {"last_order_at"},
	FigureDaysSinceFirst:    {"first_order_at"},
	FigureDaysSinceLast:     {"last_order_at"},
	FigureDaysSinceActivity: {"last_active_at"},
	FigureRecency:           {"last_order_at"},
	FigureFrequency:         {"order_count"},
	FigureMonetary:          {"lifetime_value"},
	FigureContactStatus:     {},
}

// Names of the derived figures. RFM scores are quintiles of the whole customer base (1 the
// lowest fifth, 5 the best; 0 without orders): recency by days since the last order (fewer
// is better), frequency by order count and monetary by lifetime value.
const (
	FigureOrderCount        = "order_count"
	FigureLifetimeValue     = "lifetime_value"
	FigureAverageOrderValue = "average_order_value"
	FigureReturnCount       = "return_count"
	FigureFirstOrderAt      = "first_order_at"
	FigureLastOrderAt       = "last_order_at"
	FigureDaysSinceFirst    = "days_since_first_order"
	FigureDaysSinceLast     = "days_since_last_order"
	FigureDaysSinceActivity = "days_since_last_activity"
	FigureRecency           = "rfm_recency"
	FigureFrequency         = "rfm_frequency"
	FigureMonetary          = "rfm_monetary"
	FigureContactStatus     = "contact_status"
)

// Validate checks r against what the catalog lets purpose use. The error is Invalid and names
// the offending part of the rule ("rule.and[1].field"), the field and the purpose.
func (r Rule) Validate(c *catalog.Catalog, purpose string) error {
	p, ok := c.Purpose(purpose)
	if !ok {
		return problem.InvalidField("purpose", "unknown purpose %q", purpose)
	}
	n := 0
	return r.validate(c, p, "rule", 0, &n)
}

func (r Rule) validate(c *catalog.Catalog, p catalog.Purpose, at string, depth int, n *int) error {
	if depth > maxDepth {
		return problem.InvalidField(at, "rules nest at most %d deep", maxDepth)
	}
	*n++
	if *n > maxConditions {
		return problem.InvalidField(at, "a rule has at most %d conditions", maxConditions)
	}
	kinds := 0
	for _, set := range []bool{r.And != nil, r.Or != nil, r.Not != nil, r.Field != "", r.Figure != "", r.Event != nil, r.Consent != ""} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return problem.InvalidField(at, "must have exactly one of and, or, not, field, figure, event, consent")
	}
	switch {
	case r.And != nil || r.Or != nil:
		list, name := r.And, "and"
		if r.Or != nil {
			list, name = r.Or, "or"
		}
		if len(list) == 0 {
			return problem.InvalidField(at+"."+name, "must list at least one rule")
		}
		for i, sub := range list {
			if err := sub.validate(c, p, fmt.Sprintf("%s.%s[%d]", at, name, i), depth+1, n); err != nil {
				return err
			}
		}
		return nil
	case r.Not != nil:
		return r.Not.validate(c, p, at+".not", depth+1, n)
	case r.Field != "":
		return r.validateField(c, p, at)
	case r.Figure != "":
		fields, ok := Figures[r.Figure]
		if !ok {
			return problem.InvalidField(at+".figure", "unknown figure %q; known: %s", r.Figure, strings.Join(figureNames(), ", "))
		}
		for _, f := range fields {
			if fd, ok := c.Field(f); !ok || !fd.AllowsPurpose(p.Name) {
				return problem.InvalidField(at+".figure", "figure %q is derived from field %q, which purpose %q may not use", r.Figure, f, p.Name)
			}
		}
		if r.Figure == FigureContactStatus || r.Figure == FigureFirstOrderAt || r.Figure == FigureLastOrderAt {
			return r.validateCompare(at, false)
		}
		return r.validateCompare(at, true)
	case r.Event != nil:
		return r.validateEvent(c, p, at)
	default:
		if _, ok := c.Purpose(r.Consent); !ok {
			return problem.InvalidField(at+".consent", "unknown purpose %q", r.Consent)
		}
		if r.Op != "" || r.Value != nil {
			return problem.InvalidField(at+".consent", "takes no op or value; wrap it in not for customers who may not be reached")
		}
		return nil
	}
}

func (r Rule) validateField(c *catalog.Catalog, p catalog.Purpose, at string) error {
	f, ok := c.Field(r.Field)
	if !ok {
		return problem.InvalidField(at+".field", "field %q is not declared in the data catalog", r.Field)
	}
	if !f.AllowsPurpose(p.Name) {
		return problem.InvalidField(at+".field", "field %q may not be used for purpose %q", r.Field, p.Name)
	}
	// A rule is stored as written: a value of an identifying field in it would be personal
	// data at rest in clear, so such fields can only be tested for presence.
	if (f.Sensitivity == catalog.Identifier || f.Sensitivity == catalog.Sensitive) && r.Op != OpExists {
		return problem.InvalidField(at+".op", "field %q identifies a person: a rule may only test whether it exists", r.Field)
	}
	if r.Form != "" && r.Form != FormGeneralized {
		return problem.InvalidField(at+".form", "must be %q or left out", FormGeneralized)
	}
	general := p.GeneralizedOnly || r.Form == FormGeneralized
	if general {
		switch f.Generalize {
		case catalog.GeneralizeCityRegionCountry:
			return problem.InvalidField(at+".field", "field %q is withheld from purpose %q in its generalised form; use city, region or country", r.Field, p.Name)
		case catalog.GeneralizeHash:
			if r.Op != OpExists {
				return problem.InvalidField(at+".op", "field %q is a keyed token for purpose %q: only exists applies", r.Field, p.Name)
			}
		case "", catalog.GeneralizeNone:
			if r.Form == FormGeneralized && !p.GeneralizedOnly {
				return problem.InvalidField(at+".form", "field %q has no generalised form", r.Field)
			}
		}
	}
	numeric := !general && slices.Contains([]string{catalog.TypeInteger, catalog.TypeNumber}, f.Type)
	if err := r.validateCompare(at, numeric); err != nil {
		return err
	}
	if general && f.Generalize == catalog.GeneralizeAgeBand && r.Op != OpExists {
		for _, v := range values(r.Value) {
			if s, _ := v.(string); !slices.Contains(AgeBands, s) {
				return problem.InvalidField(at+".value", "field %q is compared as an age band for purpose %q: one of %s", r.Field, p.Name, strings.Join(AgeBands, ", "))
			}
		}
	}
	return nil
}

// AgeBands are the generalised forms of a birth date, youngest first (catalog age_band).
var AgeBands = []string{"under_18", "18_24", "25_34", "35_44", "45_54", "55_64", "65_plus"}

func (r Rule) validateEvent(c *catalog.Catalog, p catalog.Purpose, at string) error {
	e := r.Event
	if e.WithinDays <= 0 || e.WithinDays > MaxWindowDays {
		return problem.InvalidField(at+".event.within_days", "must be between 1 and %d", MaxWindowDays)
	}
	if e.Type == "" && e.Name == "" && e.Category == "" {
		return problem.InvalidField(at+".event", "must name a type, a name or a category")
	}
	cats := []string{"behavioural", "engagement"}
	if e.Category != "" {
		if _, ok := c.Category(e.Category); !ok {
			return problem.InvalidField(at+".event.category", "unknown category %q", e.Category)
		}
		cats = []string{e.Category}
	}
	for _, cat := range cats {
		if !categoryAllows(c, cat, p.Name) {
			return problem.InvalidField(at+".event", "events of category %q may not be used for purpose %q", cat, p.Name)
		}
	}
	if r.Op == "" && r.Value == nil {
		return nil
	}
	return r.validateCompare(at, true)
}

// categoryAllows reports whether purpose may use data of category: whether the catalog
// declares any field of that category for it.
func categoryAllows(c *catalog.Catalog, category, purpose string) bool {
	for _, f := range c.Fields {
		if f.Category == category && f.AllowsPurpose(purpose) {
			return true
		}
	}
	return false
}

// validateCompare checks Op and Value: numeric comparisons need numbers.
func (r Rule) validateCompare(at string, numeric bool) error {
	if !slices.Contains(ops, r.Op) {
		return problem.InvalidField(at+".op", "must be one of %s", strings.Join(ops, ", "))
	}
	switch r.Op {
	case OpExists:
		if _, ok := r.Value.(bool); !ok {
			return problem.InvalidField(at+".value", "exists takes true or false")
		}
		return nil
	case OpIn, OpNotIn:
		list, ok := r.Value.([]any)
		if !ok || len(list) == 0 || len(list) > 100 {
			return problem.InvalidField(at+".value", "%s takes a list of 1 to 100 values", r.Op)
		}
		for _, v := range list {
			if !scalar(v) {
				return problem.InvalidField(at+".value", "list values must be strings, numbers or booleans")
			}
		}
		return nil
	case OpBetween:
		list, ok := r.Value.([]any)
		if !ok || len(list) != 2 {
			return problem.InvalidField(at+".value", "between takes [low, high]")
		}
		for _, v := range list {
			if _, isNum := number(v); numeric && !isNum {
				return problem.InvalidField(at+".value", "between takes two numbers")
			}
		}
		return nil
	}
	if !scalar(r.Value) {
		return problem.InvalidField(at+".value", "must be a string, a number or a boolean")
	}
	if _, isNum := number(r.Value); numeric && !isNum && r.Op != OpEq && r.Op != OpNe {
		return problem.InvalidField(at+".value", "%s compares numbers", r.Op)
	}
	return nil
}

func scalar(v any) bool {
	switch v.(type) {
	case string, bool:
		return true
	}
	_, ok := number(v)
	return ok
}

func values(v any) []any {
	if list, ok := v.([]any); ok {
		return list
	}
	return []any{v}
}

func figureNames() []string {
	return slices.Sorted(maps.Keys(Figures))
}

// Needs is what evaluating a set of rules reads about a customer, so that the caller loads no
// more: the purposes whose permission decision is asked, and the longest event window.
type Needs struct {
	Purposes   []string
	WindowDays int
	Events     bool
	Contact    bool
}

// Add widens n by what r reads.
func (n *Needs) Add(r Rule) {
	for _, sub := range append(append([]Rule{}, r.And...), r.Or...) {
		n.Add(sub)
	}
	if r.Not != nil {
		n.Add(*r.Not)
	}
	if r.Consent != "" && !slices.Contains(n.Purposes, r.Consent) {
		n.Purposes = append(n.Purposes, r.Consent)
	}
	if r.Event != nil {
		n.Events = true
		n.WindowDays = max(n.WindowDays, r.Event.WithinDays)
	}
	if r.Figure == FigureContactStatus {
		n.Contact = true
	}
}

// AddPurpose makes n ask the decision for purpose too.
func (n *Needs) AddPurpose(purpose string) {
	if !slices.Contains(n.Purposes, purpose) {
		n.Purposes = append(n.Purposes, purpose)
	}
}
