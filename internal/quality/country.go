package quality

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Country is one ISO 3166-1 country.
type Country struct {
	// Alpha2 is the two-letter code, the form Steward stores.
	Alpha2 string `json:"alpha2"`
	// Alpha3 is the three-letter code.
	Alpha3 string `json:"alpha3"`
	// Name is the English short name, for showing back to a person.
	Name string `json:"name"`
}

//go:embed countries.txt
var countriesTable string

// countryIndex finds countries by code and by folded name. It is built once from the
// embedded table and never written afterwards, so look-ups need no lock.
type countryIndex struct {
	byAlpha2 map[string]Country
	byAlpha3 map[string]Country
	byName   map[string]Country
	names    []string // every folded name, for typo suggestions
}

var countries = sync.OnceValue(func() *countryIndex {
	idx := &countryIndex{byAlpha2: map[string]Country{}, byAlpha3: map[string]Country{}, byName: map[string]Country{}}
	for line := range strings.Lines(countriesTable) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		a2, rest, _ := strings.Cut(line, " ")
		a3, names, _ := strings.Cut(rest, " ")
		all := strings.Split(names, "|")
		c := Country{Alpha2: a2, Alpha3: a3, Name: all[0]}
		idx.byAlpha2[a2] = c
		idx.byAlpha3[a3] = c
		for _, n := range all {
			keys := []string{countryKey(n)}
			if before, after, ok := strings.Cut(n, ","); ok {
				keys = append(keys, countryKey(after+" "+before))
			}
			for _, k := range keys {
				if _, dup := idx.byName[k]; !dup {
					idx.names = append(idx.names, k)
				}
				idx.byName[k] = c
			}
		}
	}
	return idx
})

// LookupCountry resolves what people write in a country field: an ISO 3166-1 alpha-2 or
// alpha-3 code in any case, or an English name in its common spellings ("United Kingdom",
// "UK", "Great Britain", "Czech Republic", "Korea, Republic of", "Côte d'Ivoire" with or
// without accents). A name that could be a country or a US state ("Georgia") is the country.
func LookupCountry(raw string) (Country, bool) {
	s := strings.TrimSpace(norm.NFKC.String(raw)) // full-width letters become ASCII
	if len(s) > 100 {
		return Country{}, false
	}
	idx := countries()
	if isASCIILetters(s) {
		switch len(s) {
		case 2:
			if c, ok := idx.byAlpha2[strings.ToUpper(s)]; ok {
				return c, true
			}
		case 3:
			if c, ok := idx.byAlpha3[strings.ToUpper(s)]; ok {
				return c, true
			}
		}
	}
	if c, ok := idx.byName[countryKey(s)]; ok {
		return c, true
	}
	// "Korea, Republic of" is the inverted form of "Republic of Korea".
	if before, after, ok := strings.Cut(s, ","); ok {
		if c, ok := idx.byName[countryKey(after+" "+before)]; ok {
			return c, true
		}
	}
	return Country{}, false
}

// CountryByCode returns the country with this alpha-2 code (upper case), for callers that
// hold a stored code and want its name.
func CountryByCode(alpha2 string) (Country, bool) {
	c, ok := countries().byAlpha2[alpha2]
	return c, ok
}

// SuggestCountry proposes the country a misspelt name most likely meant ("Untied Kingdom",
// "Germnay"), or false when no single name is close enough. Short inputs get no suggestion:
// too many names are within an edit or two of them.
func SuggestCountry(raw string) (Country, bool) {
	k := countryKey(norm.NFKC.String(raw))
	if len(k) < 5 || len(k) > 60 {
		return Country{}, false
	}
	limit := 2
	if len(k) < 8 {
		limit = 1
	}
	idx := countries()
	var best Country
	bestDist, found := limit+1, 0
	for _, name := range idx.names {
		d := osaWithin(k, name, min(limit, bestDist))
		if d < 0 {
			continue
		}
		c := idx.byName[name]
		switch {
		case d < bestDist:
			best, bestDist, found = c, d, 1
		case d == bestDist && c.Alpha2 != best.Alpha2:
			found++
		}
	}
	if found != 1 {
		return Country{}, false // nothing close, or a tie between two countries
	}
	return best, true
}

// countryKey folds a country name for comparison: accents, case and punctuation removed,
// "&" read as "and", "St." as "Saint", and every "the" dropped, so "St. Kitts & Nevis",
// "Saint Kitts and Nevis" and "the Netherlands" meet their table entries.
func countryKey(s string) string {
	var b strings.Builder
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == 'ß':
			b.WriteString("ss")
		case r == '&':
			b.WriteString(" and ")
		case r == '\'' || r == '’' || r == 'ʼ':
			// Apostrophes join: "Côte d'Ivoire" and "Cote dIvoire" are one key.
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteByte(' ')
		}
	}
	words := strings.Fields(b.String())
	out := words[:0]
	for _, w := range words {
		switch w {
		case "the":
			continue
		case "st":
			w = "saint"
		}
		out = append(out, w)
	}
	return strings.Join(out, " ")
}

func isASCIILetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}
