package quality

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// PostalResult is what NormalizePostalCode learnt about one postal code.
type PostalResult struct {
	// Normalized is the code as the country's post office writes it: upper case, with its
	// separator where it belongs ("SW1A 1AA", "1234 AB", "12345-6789", "123-4567").
	// Empty unless Valid.
	Normalized string
	// Valid reports that the code has the country's shape, or, when the country's shape
	// is not known (Checked false), that it looks like a postal code at all.
	Valid bool
	// Checked reports that the code was checked against its country's format.
	Checked bool
	// Format names the country's format ("UK postcode", "US ZIP code") when Checked.
	Format string
	// Example is a well-formed code of the country's format, for error messages and forms.
	Example string
	// Reason says in words why the code is not Valid; it never quotes the code.
	Reason string
}

// postalRule is one country's postal code format. A code is read by folding it to upper
// case, dropping a leading country prefix ("D-10115", "SE-114 55"), and removing blanks
// and hyphens; the compact form must match shape, and format spells it the official way.
// Reading the compact form is what lets "sw1a1aa", "SW1A  1AA" and "sw1a-1aa" all become
// "SW1A 1AA".
type postalRule struct {
	format   string
	example  string
	shape    *regexp.Regexp // anchored, over the compact form
	spell    func(compact string) string
	prefixes []string // country prefixes written before the code, without the separator
}

// Spellers for the common layouts.
func asIs(c string) string { return c }

// splitAt inserts sep before the last n characters.
func splitAt(n int, sep string) func(string) string {
	return func(c string) string { return c[:len(c)-n] + sep + c[len(c)-n:] }
}

// splitAfter inserts sep after the first n characters.
func splitAfter(n int, sep string) func(string) string {
	return func(c string) string { return c[:n] + sep + c[n:] }
}

func re(s string) *regexp.Regexp { return regexp.MustCompile("^(?:" + s + ")$") }

// ukPostcode is the UK's outward code (area, district, optional sub-district) followed by
// the inward code (sector digit and two unit letters, never C, I, K, M, O or V).
const ukPostcode = `(?:[A-PR-UWYZ][0-9][0-9]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?|[A-PR-UWYZ][0-9][A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])[0-9][ABD-HJLNP-UW-Z]{2}`

// postalRules holds the formats of the countries most customers live in. A country not
// here still gets the generic check, reported with Checked false.
var postalRules = map[string]postalRule{
	"US": {format: "US ZIP code", example: "20500 or 20500-0003", prefixes: []string{"US", "USA"},
		shape: re(`[0-9]{5}(?:[0-9]{4})?`),
		spell: func(c string) string {
			if len(c) == 9 {
				return c[:5] + "-" + c[5:]
			}
			return c
		}},
	"GB": {format: "UK postcode", example: "SW1A 1AA", prefixes: []string{"GB", "UK"},
		shape: re(ukPostcode + `|GIR0AA|BFPO[0-9]{1,4}`),
		spell: func(c string) string {
			if strings.HasPrefix(c, "BFPO") {
				return "BFPO " + c[4:]
			}
			return c[:len(c)-3] + " " + c[len(c)-3:]
		}},
	"CA": {format: "Canadian postal code", example: "K1A 0B1", prefixes: []string{"CA"},
		shape: re(`[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z][0-9][ABCEGHJ-NPRSTV-Z][0-9]`),
		spell: splitAfter(3, " ")},
	"IE": {format: "Eircode", example: "D02 X285", prefixes: []string{"IE", "IRL"},
		shape: re(`(?:[AC-FHKNPRTV-Y][0-9]{2}|D6W)[0-9AC-FHKNPRTV-Y]{4}`),
		spell: splitAfter(3, " ")},
	"NL": {format: "Dutch postcode", example: "1012 AB", prefixes: []string{"NL"},
		// Four digits not starting with 0, then two letters; SA, SD and SS are never issued.
		shape: re(`[1-9][0-9]{3}(?:[A-RT-Z][A-Z]|S[BCE-RT-Z])`),
		spell: splitAt(2, " ")},
	"DE": {format: "German postcode", example: "10115", prefixes: []string{"DE", "D"},
		shape: re(`(?:0[1-9]|[1-9][0-9])[0-9]{3}`), spell: asIs},
	"FR": {format: "French postcode", example: "75008", prefixes: []string{"FR", "F"},
		shape: re(`(?:0[1-9]|[1-8][0-9]|9[0-8])[0-9]{3}`), spell: asIs},
	"ES": {format: "Spanish postcode", example: "28013", prefixes: []string{"ES", "E"},
		shape: re(`(?:0[1-9]|[1-4][0-9]|5[0-2])[0-9]{3}`), spell: asIs},
	"IT": {format: "Italian postcode (CAP)", example: "00184", prefixes: []string{"IT", "I"},
		shape: re(`[0-9]{5}`), spell: asIs},
	"PT": {format: "Portuguese postcode", example: "1100-148", prefixes: []string{"PT", "P"},
		shape: re(`[1-9][0-9]{6}`), spell: splitAfter(4, "-")},
	"BE": {format: "Belgian postcode", example: "1000", prefixes: []string{"BE", "B"},
		shape: re(`[1-9][0-9]{3}`), spell: asIs},
	"LU": {format: "Luxembourg postcode", example: "L-1648", prefixes: []string{"LU", "L"},
		shape: re(`[0-9]{4}`), spell: func(c string) string { return "L-" + c }},
	"AT": {format: "Austrian postcode", example: "1010", prefixes: []string{"AT", "A"},
		shape: re(`[1-9][0-9]{3}`), spell: asIs},
	"CH": {format: "Swiss postcode", example: "3003", prefixes: []string{"CH"},
		shape: re(`[1-9][0-9]{3}`), spell: asIs},
	"LI": {format: "Liechtenstein postcode", example: "9490", prefixes: []string{"LI", "FL"},
		shape: re(`94(?:8[5-9]|9[0-8])`), spell: asIs},
	"DK": {format: "Danish postcode", example: "1050", prefixes: []string{"DK"},
		shape: re(`[0-9]{4}`), spell: asIs},
	"NO": {format: "Norwegian postcode", example: "0150", prefixes: []string{"NO", "N"},
		shape: re(`[0-9]{4}`), spell: asIs},
	"SE": {format: "Swedish postcode", example: "114 55", prefixes: []string{"SE", "S"},
		shape: re(`[1-9][0-9]{4}`), spell: splitAfter(3, " ")},
	"FI": {format: "Finnish postcode", example: "00100", prefixes: []string{"FI", "FIN"},
		shape: re(`[0-9]{5}`), spell: asIs},
	"IS": {format: "Icelandic postcode", example: "101", prefixes: []string{"IS"},
		shape: re(`[1-9][0-9]{2}`), spell: asIs},
	"PL": {format: "Polish postcode", example: "00-950", prefixes: []string{"PL"},
		shape: re(`[0-9]{5}`), spell: splitAfter(2, "-")},
	"CZ": {format: "Czech postcode", example: "110 00", prefixes: []string{"CZ"},
		shape: re(`[1-7][0-9]{4}`), spell: splitAfter(3, " ")},
	"SK": {format: "Slovak postcode", example: "811 01", prefixes: []string{"SK"},
		shape: re(`[089][0-9]{4}`), spell: splitAfter(3, " ")},
	"HU": {format: "Hungarian postcode", example: "1051", prefixes: []string{"HU", "H"},
		shape: re(`[1-9][0-9]{3}`), spell: asIs},
	"GR": {format: "Greek postcode", example: "105 57", prefixes: []string{"GR"},
		shape: re(`[1-8][0-9]{4}`), spell: splitAfter(3, " ")},
	"SI": {format: "Slovenian postcode", example: "1000", prefixes: []string{"SI"},
		shape: re(`[1-9][0-9]{3}`), spell: asIs},
	"HR": {format: "Croatian postcode", example: "10000", prefixes: []string{"HR"},
		shape: re(`[1-5][0-9]{4}`), spell: asIs},
	"RO": {format: "Romanian postcode", example: "010011", prefixes: []string{"RO"},
		shape: re(`[0-9]{6}`), spell: asIs},
	"EE": {format: "Estonian postcode", example: "10111", prefixes: []string{"EE"},
		shape: re(`[1-9][0-9]{4}`), spell: asIs},
	"LV": {format: "Latvian postcode", example: "LV-1050", prefixes: []string{"LV"},
		shape: re(`[0-9]{4}`), spell: func(c string) string { return "LV-" + c }},
	"LT": {format: "Lithuanian postcode", example: "LT-01100", prefixes: []string{"LT"},
		shape: re(`[0-9]{5}`), spell: func(c string) string { return "LT-" + c }},
	"AU": {format: "Australian postcode", example: "2600", prefixes: []string{"AU"},
		shape: re(`[0-9]{4}`), spell: asIs},
	"NZ": {format: "New Zealand postcode", example: "6011", prefixes: []string{"NZ"},
		shape: re(`[0-9]{4}`), spell: asIs},
	"JP": {format: "Japanese postcode", example: "100-8994", prefixes: []string{"JP", "〒"},
		shape: re(`[0-9]{7}`), spell: splitAfter(3, "-")},
	"KR": {format: "South Korean postcode", example: "03187", prefixes: []string{"KR"},
		shape: re(`[0-9]{5}`), spell: asIs},
	"CN": {format: "Chinese postcode", example: "100000", prefixes: []string{"CN"},
		shape: re(`[0-9]{6}`), spell: asIs},
	"TW": {format: "Taiwanese postcode", example: "100 or 10048", prefixes: []string{"TW"},
		shape: re(`[1-9][0-9]{2}(?:[0-9]{2,3})?`), spell: asIs},
	"SG": {format: "Singapore postcode", example: "178957", prefixes: []string{"SG"},
		shape: re(`[0-9]{6}`), spell: asIs},
	"MY": {format: "Malaysian postcode", example: "50088", prefixes: []string{"MY"},
		shape: re(`[0-9]{5}`), spell: asIs},
	"TH": {format: "Thai postcode", example: "10200", prefixes: []string{"TH"},
		shape: re(`[1-9][0-9]{4}`), spell: asIs},
	"PH": {format: "Philippine postcode", example: "1000", prefixes: []string{"PH"},
		shape: re(`[0-9]{4}`), spell: asIs},
	"ID": {format: "Indonesian postcode", example: "10110", prefixes: []string{"ID"},
		shape: re(`[1-9][0-9]{4}`), spell: asIs},
	"IN": {format: "Indian PIN code", example: "110001", prefixes: []string{"IN"},
		shape: re(`[1-9][0-9]{5}`), spell: asIs},
	"IL": {format: "Israeli postcode", example: "9614303", prefixes: []string{"IL"},
		shape: re(`[0-9]{7}`), spell: asIs},
	"TR": {format: "Turkish postcode", example: "06100", prefixes: []string{"TR"},
		shape: re(`(?:0[1-9]|[1-7][0-9]|8[01])[0-9]{3}`), spell: asIs},
	"RU": {format: "Russian postcode", example: "101000", prefixes: []string{"RU"},
		shape: re(`[1-9][0-9]{5}`), spell: asIs},
	"UA": {format: "Ukrainian postcode", example: "01001", prefixes: []string{"UA"},
		shape: re(`[0-9]{5}`), spell: asIs},
	"ZA": {format: "South African postcode", example: "0001", prefixes: []string{"ZA"},
		shape: re(`[0-9]{4}`), spell: asIs},
	"BR": {format: "Brazilian CEP", example: "01310-200", prefixes: []string{"BR"},
		shape: re(`[0-9]{8}`), spell: splitAfter(5, "-")},
	"MX": {format: "Mexican postcode", example: "06600", prefixes: []string{"MX"},
		shape: re(`[0-9]{5}`), spell: asIs},
	"AR": {format: "Argentine postcode (CPA)", example: "C1002AAR or 1002", prefixes: []string{"AR"},
		shape: re(`[A-HJ-NP-Z][0-9]{4}[A-Z]{3}|[0-9]{4}`), spell: asIs},
	"CL": {format: "Chilean postcode", example: "8320000", prefixes: []string{"CL"},
		shape: re(`[0-9]{7}`), spell: asIs},
	"CO": {format: "Colombian postcode", example: "110111", prefixes: []string{"CO"},
		shape: re(`[0-9]{6}`), spell: asIs},
	"PE": {format: "Peruvian postcode", example: "15001", prefixes: []string{"PE"},
		shape: re(`[0-9]{5}`), spell: asIs},
	"SA": {format: "Saudi postcode", example: "11564 or 11564-2121", prefixes: []string{"SA"},
		shape: re(`[0-9]{5}(?:[0-9]{4})?`),
		spell: func(c string) string {
			if len(c) == 9 {
				return c[:5] + "-" + c[5:]
			}
			return c
		}},
}

// Bounds of the generic check for countries whose format Steward does not know: every
// postal code in use is 2 to 10 letters and digits once separators are removed.
const (
	minPostal   = 2
	maxPostal   = 10
	maxPostalIn = 32 // longer input is not a postal code, whatever it holds
)

// NormalizePostalCode checks a postal code against the format of country (an ISO 3166-1
// alpha-2 code, or "" when unknown) and spells it the way that country's post office does.
// Without a known format it still folds case and blanks and checks the code looks like a
// postal code at all. It never fails: everything it has to say is in the result.
func NormalizePostalCode(raw, country string) PostalResult {
	var res PostalResult
	s := strings.TrimSpace(raw)
	switch {
	case !utf8.ValidString(s):
		res.Reason = "postal code is not valid UTF-8"
		return res
	case s == "":
		res.Reason = "postal code is empty"
		return res
	case len(s) > maxPostalIn:
		res.Reason = "postal code is too long"
		return res
	}
	// NFKC turns full-width digits and letters (common in Japanese and Chinese input) into
	// ASCII; every Unicode dash and blank then counts as a hyphen or a space.
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.Is(unicode.Pd, r):
			return '-'
		case unicode.IsSpace(r):
			return ' '
		}
		return r
	}, strings.ToUpper(norm.NFKC.String(s)))
	rule, known := postalRules[strings.ToUpper(country)]
	if known {
		res.Checked, res.Format, res.Example = true, rule.format, rule.example
		s = stripPostalPrefix(s, rule.prefixes)
	}
	compact, ok := compactPostal(s)
	if !ok {
		res.Reason = "postal code may hold only letters, digits, spaces and hyphens"
		return res
	}
	if !known {
		if len(compact) < minPostal || len(compact) > maxPostal {
			res.Reason = "postal code must have 2 to 10 letters and digits"
			return res
		}
		res.Valid, res.Normalized = true, foldPostalSpaces(s)
		return res
	}
	if !rule.shape.MatchString(compact) {
		res.Reason = "postal code is not a valid " + rule.format + " (for example " + rule.example + ")"
		return res
	}
	res.Valid, res.Normalized = true, rule.spell(compact)
	return res
}

// stripPostalPrefix drops a country prefix written before the code with a hyphen or a
// blank ("D-10115", "SE 114 55", "〒100-8994"). A prefix glued to the code is left alone:
// "L1234" is more likely a typo than Luxembourg's "L-1234".
func stripPostalPrefix(s string, prefixes []string) string {
	for _, p := range prefixes {
		rest, ok := strings.CutPrefix(s, p)
		if !ok {
			continue
		}
		if p == "〒" {
			return strings.TrimSpace(rest)
		}
		if rest != "" && (rest[0] == '-' || rest[0] == ' ') {
			return strings.TrimLeft(rest, "- ")
		}
	}
	return s
}

// compactPostal removes blanks and hyphens and reports whether only ASCII letters and
// digits remain.
func compactPostal(s string) (string, bool) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '\t':
		case c >= '0' && c <= '9' || c >= 'A' && c <= 'Z':
			b = append(b, c)
		default:
			return "", false
		}
	}
	return string(b), true
}

// foldPostalSpaces keeps the separators of a code whose format is unknown, but as single
// blanks and hyphens without surrounding space.
func foldPostalSpaces(s string) string {
	f := strings.Fields(s)
	out := strings.Join(f, " ")
	out = strings.ReplaceAll(out, " - ", "-")
	out = strings.ReplaceAll(out, "- ", "-")
	return strings.ReplaceAll(out, " -", "-")
}

// PostalCountries lists the countries whose postal code format is checked, for the
// documentation and for forms that want to say so.
func PostalCountries() []string {
	out := make([]string, 0, len(postalRules))
	for c := range postalRules {
		out = append(out, c)
	}
	return out
}
