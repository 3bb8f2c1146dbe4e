package search

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/stewardhq/steward/internal/match"
)

// Kind is a type of search token. Each kind has a key of its own (derived from the index key
// with the kind's name), a width and a documented leakage; a kind's number is part of every
// token it makes, so the kinds of one table never meet.
type Kind uint8

// The token kinds. The numbers are stored inside tokens: never reuse or renumber one.
const (
	KindName        Kind = 1 // a word of a name, or the formal name of a nickname
	KindNameSound   Kind = 2 // the Soundex code of a word of a name
	KindCity        Kind = 3 // the town, folded
	KindPostal      Kind = 4 // the postal code, letters and digits only
	KindEmailLocal  Kind = 5 // the part of an e-mail address before the @
	KindEmailDomain Kind = 6 // the part of an e-mail address after the @
	KindPhone4      Kind = 7 // the last four digits of a phone number
	// Kind 8 (the last seven digits of a phone number) is retired: a whole number is found
	// through the phone field's blind index instead, which costs a create no extra row.
	KindNumber Kind = 9 // a customer or loyalty member number, letters and digits only
	// Kind 10 (the first four letters of a word of a name) is retired: it found few customers
	// the Soundex code did not, and every token costs each create a row.
)

// spec is what defines a kind: its name (the key derivation's label and what audit entries
// record), its width in bits and the weight a match on it carries when candidates are ranked.
type spec struct {
	name   string
	bits   int
	weight float64
}

// specs are the kinds' definitions. Widths are chosen from the number of distinct values a
// kind has, not from the number of customers: a width well under log2(distinct values) puts
// many values behind each token (so the table cannot tell who shares a value), while keeping
// the false candidates a token brings small next to the true ones. docs/security.md gives
// each kind's leakage.
var specs = map[Kind]spec{
	KindName:        {"name", 18, 1},
	KindNameSound:   {"name_sound", 10, 0.5},
	KindCity:        {"city", 14, 0.7},
	KindPostal:      {"postal_code", 14, 0.8},
	KindEmailLocal:  {"email_local", 20, 1.5},
	KindEmailDomain: {"email_domain", 12, 0.5},
	KindPhone4:      {"phone_last4", 14, 0.8},
	KindNumber:      {"number", 22, 2},
}

// String is the kind's name, as audit entries and the documentation use it.
func (k Kind) String() string {
	if s, ok := specs[k]; ok {
		return s.name
	}
	return "kind" + strconv.Itoa(int(k))
}

// Bits is how many bits of the keyed hash a token of this kind keeps.
func (k Kind) Bits() int { return specs[k].bits }

// Kinds lists every kind in use, in number order.
func Kinds() []Kind {
	return slices.Sorted(maps.Keys(specs))
}

// Term is one thing a profile is findable by, or a query asks for: a kind and a normalised
// value.
type Term struct {
	Kind  Kind
	Value string
}

// Hasher is the keyed hash tokens are made with: the first 64 bits of an HMAC under a key
// derived for the kind's name. The vault implements it; tests may use any hash.
type Hasher interface {
	SearchHash(kind string, normalized []byte) uint64
}

// Token is t's search token: the kind's number in the bits above 32, the top Bits() bits of
// the keyed hash below. Engines store it as a plain integer.
func Token(h Hasher, t Term) int64 {
	sum := h.SearchHash(t.Kind.String(), []byte(t.Value))
	return int64(t.Kind)<<32 | int64(sum>>(64-t.Kind.Bits()))
}

// KindOf is the kind a token was made for.
func KindOf(token int64) Kind { return Kind(token >> 32) }

// Tokens are the distinct tokens of terms, in the order of their first appearance.
func Tokens(h Hasher, terms []Term) []int64 {
	out := make([]int64, 0, len(terms))
	seen := make(map[int64]bool, len(terms))
	for _, t := range terms {
		tok := Token(h, t)
		if !seen[tok] {
			seen[tok] = true
			out = append(out, tok)
		}
	}
	return out
}

// nameFields are the profile fields whose words are names; the first of them are given names,
// whose nicknames are indexed by their formal name too.
var nameFields = []string{"first_name", "last_name", "full_name"}

// numberFields are the identifiers staff read out from an order, an invoice or a card.
var numberFields = []string{"customer_number", "loyalty_member_number"}

// Index is what a profile with values (normalised, as stored) is findable by. A profile
// changes its terms only when one of these fields changes.
func Index(values map[string]any) []Term {
	var ts terms
	for _, f := range nameFields {
		for i, w := range words(str(values[f])) {
			ts.name(w, f == "first_name" || (f == "full_name" && i == 0))
		}
	}
	if c := match.FoldText(str(values["city"])); c != "" {
		ts.add(KindCity, c)
	}
	if pc := postal(str(values["postal_code"])); pc != "" {
		ts.add(KindPostal, pc)
	}
	if local, domain, ok := strings.Cut(strings.ToLower(str(values["email"])), "@"); ok {
		ts.add(KindEmailLocal, local)
		for _, p := range localParts(local) {
			ts.add(KindEmailLocal, p)
		}
		ts.add(KindEmailDomain, domain)
	}
	ts.phone(match.Digits(str(values["phone"])))
	for _, f := range numberFields {
		if n := postal(str(values[f])); n != "" {
			ts.add(KindNumber, n)
		}
	}
	return ts.list
}

// Indexed reports whether field is one Index reads: a change of any other field leaves a
// profile's tokens as they are.
func Indexed(field string) bool {
	switch field {
	case "city", "postal_code", "email", "phone":
		return true
	}
	for _, f := range append(nameFields[:len(nameFields):len(nameFields)], numberFields...) {
		if f == field {
			return true
		}
	}
	return false
}

// terms collects distinct terms.
type terms struct {
	list []Term
	seen map[Term]bool
}

func (ts *terms) add(k Kind, v string) {
	if v == "" {
		return
	}
	t := Term{k, v}
	if ts.seen == nil {
		ts.seen = map[Term]bool{}
	}
	if !ts.seen[t] {
		ts.seen[t] = true
		ts.list = append(ts.list, t)
	}
}

// name adds the terms of one word of a name: the word and its Soundex code, and for a given
// name the formal name of its nickname group.
func (ts *terms) name(w string, given bool) {
	if !hasLetter(w) {
		return
	}
	ts.add(KindName, w)
	ts.add(KindNameSound, match.Soundex(w))
	if given {
		if c := match.CanonicalName(w); c != w {
			ts.add(KindName, c)
		}
	}
}

// phone adds the ending of a number's digits.
func (ts *terms) phone(d string) {
	if len(d) >= 4 {
		ts.add(KindPhone4, d[len(d)-4:])
	}
}

// localParts are the pieces of an e-mail local part between dots, dashes, underscores and
// plus signs ("jane", "smith" of "jane.smith"), so that a local part typed in part finds it.
func localParts(local string) []string {
	return strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '-' || r == '_' || r == '+' })
}

// words are the folded words of a name or free text.
func words(s string) []string {
	return strings.Fields(match.FoldText(s))
}

// postal is a postal code or identifier as compared: folded, letters and digits only.
func postal(s string) string { return match.Alnum(match.FoldText(s)) }

func hasLetter(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return true
		}
	}
	return false
}

func hasDigit(s string) bool {
	return strings.ContainsAny(s, "0123456789")
}

// str is a stored value as text: strings as they are, numbers (a member number sent as
// a JSON number) in their decimal form.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	return ""
}
