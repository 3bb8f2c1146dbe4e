package duplicate

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Rule is a survivorship rule: which of two merged customers' values of a field the merged
// customer keeps. A value only one of them holds is always kept.
type Rule string

// The rules.
const (
	// MostRecent keeps the value of the customer whose profile changed last: people move
	// and change addresses, and the newer record is the likelier to be current.
	MostRecent Rule = "most_recent"
	// MostComplete keeps the longer value: "Elizabeth" over "Liz", a full address over a
	// partial one.
	MostComplete Rule = "most_complete"
	// SourcePriority keeps the value of the customer created by the better source (see
	// Config.SourcePriority), then the most recent: a birth date staff checked against a
	// document beats one a web form collected.
	SourcePriority Rule = "source_priority"
	// Winner keeps the value of the customer merged into. It is the default for the contact
	// values look-ups and creates match on (e-mail, phone): the winner stays found by the
	// value it held, and the merged-away customer's value finds the winner through it, so a
	// merge never leaves an address of the person finding nobody.
	Winner Rule = "winner"
)

// DefaultSourcePriority ranks the roles that create customers: people at the business who
// spoke to the customer first, collection from sites and apps last.
var DefaultSourcePriority = []string{"support", "dpo", "owner", "admin", "marketer", "ingest"}

// DefaultRules are the rules for fields Config.Rules does not name. Everything else is
// MostRecent. "address" stands for every address group (address_line1, address_line2, city,
// region, postal_code, country, and the same with a prefix such as shipping_): an address
// survives whole, from one customer, so lines from two homes are never mixed.
var DefaultRules = map[string]Rule{
	"first_name":  MostComplete,
	"last_name":   MostComplete,
	"full_name":   MostComplete,
	"company":     MostComplete,
	"birth_date":  SourcePriority,
	"gender":      SourcePriority,
	"national_id": SourcePriority,
	"tax_id":      SourcePriority,
	"address":     MostRecent,
	"email":       Winner,
	"phone":       Winner,
}

// addressParts are the fields that make up an address group, after any prefix.
var addressParts = []string{"address_line1", "address_line2", "city", "region", "postal_code", "country"}

// ParseRules reads "field=rule,field=rule" as configuration gives it.
func ParseRules(s string) (map[string]Rule, error) {
	out := map[string]Rule{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f, r, ok := strings.Cut(part, "=")
		f, r = strings.TrimSpace(f), strings.TrimSpace(r)
		if !ok || f == "" {
			return nil, fmt.Errorf("survivorship: %q is not field=rule", part)
		}
		switch Rule(r) {
		case MostRecent, MostComplete, SourcePriority, Winner:
		default:
			return nil, fmt.Errorf("survivorship: %s: rule must be most_recent, most_complete, source_priority or winner", f)
		}
		out[f] = Rule(r)
	}
	return out, nil
}

// side is one of two customers being merged, as survivorship sees it.
type side struct {
	values  map[string]any
	updated time.Time
	origin  string
}

// groupOf names a field's survivorship group: "prefix+address" for address parts, the field
// itself otherwise.
func groupOf(field string) string {
	for _, p := range addressParts {
		if prefix, ok := strings.CutSuffix(field, p); ok && (prefix == "" || strings.HasSuffix(prefix, "_")) {
			return prefix + "address"
		}
	}
	return field
}

func (c Config) ruleFor(group string) Rule {
	key := group
	if strings.HasSuffix(group, "address") {
		key = "address"
		if r, ok := c.Rules[group]; ok {
			return r
		}
	}
	if r, ok := c.Rules[key]; ok {
		return r
	}
	if r, ok := DefaultRules[key]; ok {
		return r
	}
	return MostRecent
}

// survive merges the values of winner and loser field by field (address groups whole) and
// returns the merged values and the fields whose value differs from the winner's (or that
// the winner held and the merged customer does not).
func (c Config) survive(winner, loser side) (map[string]any, []string) {
	groups := map[string][]string{}
	for _, vs := range []map[string]any{winner.values, loser.values} {
		for f := range vs {
			g := groupOf(f)
			if !slices.Contains(groups[g], f) {
				groups[g] = append(groups[g], f)
			}
		}
	}
	out := make(map[string]any, len(winner.values))
	for g, fields := range groups {
		w, l := holds(winner.values, fields), holds(loser.values, fields)
		from := winner
		switch {
		case w == 0:
			from = loser
		case l == 0:
		default:
			if c.prefer(c.ruleFor(g), winner, loser, fields) == 1 {
				from = loser
			}
		}
		for _, f := range fields {
			if v, ok := from.values[f]; ok {
				out[f] = v
			}
		}
	}
	var changed []string
	for f, v := range out {
		if old, ok := winner.values[f]; !ok || !sameValue(old, v) {
			changed = append(changed, f)
		}
	}
	for f := range winner.values {
		if _, ok := out[f]; !ok {
			changed = append(changed, f) // a part of the winner's address the loser's replaced
		}
	}
	sort.Strings(changed)
	return out, changed
}

// prefer returns 0 to keep the winner's values of fields, 1 to take the loser's.
func (c Config) prefer(r Rule, w, l side, fields []string) int {
	recent := func() int {
		if l.updated.After(w.updated) {
			return 1
		}
		return 0
	}
	switch r {
	case Winner:
		return 0
	case MostComplete:
		a, b := completeness(w.values, fields), completeness(l.values, fields)
		if b > a {
			return 1
		}
		if a > b {
			return 0
		}
		return recent()
	case SourcePriority:
		a, b := c.rank(w.origin), c.rank(l.origin)
		if b < a {
			return 1
		}
		if a < b {
			return 0
		}
		return recent()
	}
	return recent()
}

// rank is a role's place in the source priority; unknown roles come last.
func (c Config) rank(role string) int {
	if i := slices.Index(c.SourcePriority, role); i >= 0 {
		return i
	}
	return len(c.SourcePriority)
}

func holds(vs map[string]any, fields []string) int {
	n := 0
	for _, f := range fields {
		if _, ok := vs[f]; ok {
			n++
		}
	}
	return n
}

// completeness scores values for MostComplete: fields held first, then characters.
func completeness(vs map[string]any, fields []string) int {
	n := 0
	for _, f := range fields {
		v, ok := vs[f]
		if !ok {
			continue
		}
		n += 1 << 16
		if s, ok := v.(string); ok {
			n += min(utf8.RuneCountInString(strings.TrimSpace(s)), 1<<16-1)
		}
	}
	return n
}

func sameValue(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
