package ingest

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// PII modes say what happens to a free-text value in which an e-mail address, phone number or
// card number is found.
const (
	// PIIDrop drops the value and counts it: the default, because data never collected
	// cannot leak.
	PIIDrop = "drop"
	// PIIEncrypt keeps the value but sealed with the customer's key, even when the property
	// is declared non-personal.
	PIIEncrypt = "encrypt"
)

// reservedTraits maps Segment's reserved traits (and common spellings) to catalog fields.
// Traits named like a catalog field (or its camelCase form) map to it as well.
var reservedTraits = map[string]string{
	"email": "email", "phone": "phone",
	"firstName": "first_name", "first_name": "first_name", "firstname": "first_name",
	"lastName": "last_name", "last_name": "last_name", "lastname": "last_name",
	"name": "full_name", "username": "username", "birthday": "birth_date",
	"gender": "gender", "title": "job_title", "company": "company",
}

// addressTraits maps the members of Segment's address trait.
var addressTraits = map[string]string{
	"street": "address_line1", "street2": "address_line2", "city": "city", "state": "region",
	"region": "region", "postalCode": "postal_code", "postal_code": "postal_code", "zip": "postal_code",
	"country": "country",
}

// Drop reasons, the prefix of every counter name.
const (
	DropUndeclared = "undeclared"
	DropInvalid    = "invalid"
	DropPII        = "pii"
	DropLimit      = "limit"
)

// drops counts what minimisation removed from one batch, by "reason:name".
type drops map[string]int64

func (d drops) add(reason, name string) { d[reason+":"+clip(name)]++ }

// traitFields turns traits into normalised catalog values. A trait the catalog does not
// declare is dropped and counted; a declared one with a value that fails validation is too,
// because a client cannot fix a profile value by retrying the message.
func (s *Service) traitFields(traits map[string]any, d drops) map[string]any {
	if len(traits) == 0 {
		return nil
	}
	raw := map[string]any{}
	for _, k := range sortedNames(traits) {
		v := traits[k]
		if k == "id" || v == nil {
			continue // id repeats userId
		}
		if k == "address" {
			addr, ok := v.(map[string]any)
			if !ok {
				d.add(DropInvalid, "address")
				continue
			}
			for _, ak := range sortedNames(addr) {
				if f, ok := addressTraits[ak]; ok && addr[ak] != nil {
					raw[f] = addr[ak]
				} else if addr[ak] != nil {
					d.add(DropUndeclared, "address."+ak)
				}
			}
			continue
		}
		if k == "company" {
			if o, ok := v.(map[string]any); ok {
				v = o["name"]
				if v == nil {
					continue
				}
			}
		}
		f := s.traitField(k)
		if f == "" {
			d.add(DropUndeclared, "trait."+k)
			continue
		}
		raw[f] = v
	}
	out := make(map[string]any, len(raw))
	for _, f := range sortedNames(raw) {
		v := adaptTrait(f, raw[f])
		n, _, err := s.norm.Value(f, v)
		if err != nil {
			d.add(DropInvalid, f)
			continue
		}
		out[f] = n
	}
	if err := s.norm.Address(out); err != nil {
		delete(out, "postal_code")
		d.add(DropInvalid, "postal_code")
	}
	return out
}

// traitField names the catalog field a trait maps to, or "".
func (s *Service) traitField(trait string) string {
	if f, ok := s.config.TraitMap[trait]; ok {
		return f
	}
	if f, ok := reservedTraits[trait]; ok {
		if _, declared := s.catalog.Field(f); declared {
			return f
		}
		return ""
	}
	snake := snakeCase(trait)
	if _, ok := s.catalog.Field(snake); ok && !identifierField[snake] {
		return snake
	}
	return ""
}

// identifierField lists catalog fields that identities own: traits never set them directly.
var identifierField = map[string]bool{"anonymous_id": true, "device_id": true}

// adaptTrait converts Segment's conventions to the catalog's: birthdays as date-times,
// genders as words.
func adaptTrait(field string, v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	switch field {
	case "birth_date":
		if len(s) > 10 && s[10] == 'T' {
			return s[:10]
		}
	case "gender":
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "f", "w", "woman", "female":
			return "female"
		case "m", "man", "male":
			return "male"
		case "non-binary", "nonbinary", "non binary":
			return "non_binary"
		}
	}
	return v
}

func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// properties splits declared properties into what may be kept in clear and what is sealed,
// dropping (and counting) undeclared ones and PII found in free text.
func (s *Service) properties(props map[string]any, d drops) (plain, sealed map[string]any) {
	for _, k := range sortedNames(props) {
		v := props[k]
		if v == nil {
			continue
		}
		p, ok := s.schema.Property(k)
		if !ok {
			d.add(DropUndeclared, "property."+k)
			continue
		}
		personal := p.Personal
		v, hasPersonal, keep := s.propertyValue(p, v, d, 0)
		if !keep {
			continue
		}
		if hasPersonal {
			personal = true
		}
		if personal {
			if sealed == nil {
				sealed = map[string]any{}
			}
			sealed[k] = v
		} else {
			if plain == nil {
				plain = map[string]any{}
			}
			plain[k] = v
		}
	}
	return plain, sealed
}

// propertyValue checks one declared value: scalars are scanned for PII, arrays of objects
// keep only their declared members. It reports whether the value must be sealed and whether
// it is kept at all.
func (s *Service) propertyValue(p Property, v any, d drops, depth int) (out any, personal, keep bool) {
	switch x := v.(type) {
	case string:
		if kind := findPII(x); kind != "" {
			d.add(DropPII, p.Name)
			if s.config.PIIMode == PIIEncrypt {
				return x, true, true
			}
			return nil, false, false
		}
		return x, p.Personal, true
	case json.Number, bool:
		if n, ok := x.(json.Number); ok && looksLikeCard(n.String()) {
			d.add(DropPII, p.Name)
			return nil, false, false
		}
		return x, p.Personal, true
	case []any:
		if len(p.Items) == 0 || depth > 0 {
			d.add(DropInvalid, p.Name)
			return nil, false, false
		}
		list := make([]any, 0, len(x))
		for _, e := range x {
			o, ok := e.(map[string]any)
			if !ok {
				d.add(DropInvalid, p.Name)
				continue
			}
			item := map[string]any{}
			for _, k := range sortedNames(o) {
				if o[k] == nil {
					continue
				}
				if !contains(p.Items, k) {
					d.add(DropUndeclared, "property."+p.Name+"."+k)
					continue
				}
				ip, _ := s.schema.Property(k)
				iv, ipers, ok := s.propertyValue(ip, o[k], d, depth+1)
				if !ok {
					continue
				}
				personal = personal || ipers
				item[k] = iv
			}
			list = append(list, item)
		}
		return list, personal || p.Personal, true
	}
	d.add(DropInvalid, p.Name)
	return nil, false, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var (
	emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+`)
	// Phone numbers written as phone numbers: international with a plus, or grouped national
	// ones. Bare digit runs are left alone, because order ids and SKUs are bare digit runs.
	phonePattern = regexp.MustCompile(`\+[1-9][0-9 ().\-]{7,18}[0-9]|\(?\b[0-9]{3}\)?[ .\-][0-9]{3}[ .\-][0-9]{4}\b|\b0[0-9]{3,4}[ \-][0-9]{3}[ \-]?[0-9]{3,4}\b`)
	cardPattern  = regexp.MustCompile(`\b[0-9](?:[ \-]?[0-9]){12,18}\b`)
)

// findPII returns "email", "phone" or "card" when s holds one, else "".
func findPII(s string) string {
	if strings.IndexByte(s, '@') >= 0 && emailPattern.MatchString(s) {
		return "email"
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			digits++
		}
	}
	if digits < 8 {
		return ""
	}
	for _, m := range cardPattern.FindAllString(s, -1) {
		if looksLikeCard(m) {
			return "card"
		}
	}
	if phonePattern.MatchString(s) {
		return "phone"
	}
	return ""
}

// looksLikeCard reports a Luhn-valid run of 13 to 19 digits.
func looksLikeCard(s string) bool {
	var digits []int
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits = append(digits, int(c-'0'))
		case c == ' ' || c == '-':
		default:
			return false
		}
	}
	if len(digits) < 13 || len(digits) > 19 {
		return false
	}
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := digits[i]
		if (len(digits)-1-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
