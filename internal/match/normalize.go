package match

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/stewardhq/steward/internal/quality"
)

// maxValueBytes bounds every raw value before it is normalised. No real name, address or
// identifier comes near it; a longer value is garbage or an attack, and cutting it keeps
// the cost of one record bounded.
const maxValueBytes = 256

// Normalized is a record in the canonical form the matcher compares and derives blocking
// keys from. Every value is a pure function of the raw value (and, for phone numbers, of
// the default region), so the same person typed twice the same way always normalises the
// same, and a server can compute blocking keys at write time.
type Normalized struct {
	ID     string
	Fields [numFields]string
	// DateValid says whether Fields[BirthDate] is a real calendar date (YYYY-MM-DD). A
	// date that is not is kept as its digits, because a corrupted date ("19620231") still
	// says a lot when compared character by character with a good one.
	DateValid bool
}

// Normalize puts a record into canonical form:
//
//   - names, address lines, city, region and country: Unicode NFKC with diacritics
//     removed, lower case, apostrophes dropped ("O'Brien" → "obrien"), other punctuation
//     turned into spaces, runs of spaces collapsed;
//   - postal code and national identifier: letters and digits only, lower case (several
//     countries put letters in both, so digits-only would merge distinct values);
//   - birth date: YYYY-MM-DD when the value is a valid date written year first, day first
//     or as YYYYMMDD, otherwise its digits;
//   - email: the look-up form of quality.NormalizeEmail, or the lower-cased value when it
//     is not an acceptable address (a mistyped address still helps to match);
//   - phone: E.164 through quality.NormalizePhone with defaultRegion for national numbers,
//     otherwise its digits.
//
// Bytes that are not UTF-8 are read as Latin-1, the usual culprit in mixed-encoding files.
func Normalize(r Record, defaultRegion string) Normalized {
	n := Normalized{ID: r.ID}
	for f := range numFields {
		raw := clean(r.Fields[f])
		if raw == "" {
			continue
		}
		switch f {
		case PostalCode, NationalID:
			n.Fields[f] = alnum(foldText(raw))
		case BirthDate:
			n.Fields[f], n.DateValid = normalizeDate(raw)
		case Email:
			n.Fields[f] = normalizeEmail(raw)
		case Phone:
			n.Fields[f] = normalizePhone(raw, defaultRegion)
		default:
			n.Fields[f] = foldText(raw)
		}
		n.Fields[f] = bound(n.Fields[f])
	}
	return n
}

// bound cuts a normalised value to maxValueBytes, as clean cuts a raw one: folding can
// lengthen a value ("ß" becomes "ss", a ligature two letters), and a stored value longer than
// the bound would be cut when normalised again, giving other blocking keys than the first
// time.
func bound(s string) string {
	if len(s) <= maxValueBytes {
		return s
	}
	cut := maxValueBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimSpace(s[:cut])
}

// normalizeEmail returns the look-up form of an acceptable address, or else the value
// lower-cased without blanks, tried as an address once more so that normalising twice
// gives what normalising once did (see normalizePhone).
func normalizeEmail(raw string) string {
	if e, err := quality.NormalizeEmail(raw); err == nil {
		return e
	}
	folded := strings.ToLower(strings.Join(strings.Fields(raw), ""))
	if e, err := quality.NormalizeEmail(folded); err == nil {
		return e
	}
	return folded
}

// normalizePhone returns the E.164 form of a valid number, or else its digits (after a
// "+" if it had one). Those digits are tried as a number once more, so that normalising
// twice gives what normalising once did: the server keeps normalised values and must
// derive the same blocking keys from them as from the raw input.
func normalizePhone(raw, region string) string {
	if p, err := quality.NormalizePhone(raw, region); err == nil {
		return p
	}
	d := digits(raw)
	if strings.HasPrefix(strings.TrimSpace(raw), "+") && d != "" {
		d = "+" + d
	}
	if p, err := quality.NormalizePhone(d, region); err == nil {
		return p
	}
	return d
}

// clean makes a raw value valid UTF-8 of bounded length with no surrounding blanks.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = latin1(s)
	}
	return strings.TrimSpace(bound(s))
}

// latin1 decodes every byte as the code point of the same number, which is what
// ISO 8859-1 is; a file mixing UTF-8 and Latin-1 lines then still yields letters.
func latin1(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// letterFolds covers the Latin letters that carry no combining mark to drop, so that
// NFKD leaves them alone although people write them without the stroke just as often.
var letterFolds = map[rune]string{
	'ß': "ss", 'ø': "o", 'æ': "ae", 'œ': "oe", 'ł': "l", 'đ': "d", 'ð': "d",
	'þ': "th", 'ı': "i", 'ħ': "h", 'ŧ': "t",
}

// foldText is the normalisation of free text: names, address lines, places.
func foldText(s string) string {
	if isASCII(s) {
		b := make([]byte, 0, len(s))
		space := false
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			case c == '\'' || c == '`':
				continue
			default:
				space = len(b) > 0
				continue
			}
			if space {
				b = append(b, ' ')
				space = false
			}
			b = append(b, c)
		}
		return string(b)
	}
	var b strings.Builder
	space := false
	for _, r := range norm.NFKD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		r = unicode.ToLower(r)
		fold, special := letterFolds[r]
		switch {
		case special:
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		case r == '\'' || r == '`' || r == '’' || r == 'ʼ':
			continue
		default:
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if special {
			b.WriteString(fold)
		} else {
			b.WriteRune(r)
		}
	}
	return norm.NFC.String(b.String())
}

// alnum keeps letters and digits only.
func alnum(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, s)
}

// digits keeps the ASCII digits only.
func digits(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// Plausible birth years: a date outside them is kept as digits, like any corrupted date.
const (
	minBirthYear = 1850
	maxBirthYear = 2100
)

// normalizeDate reads the date notations people and systems write: YYYYMMDD,
// YYYY-MM-DD (any separator, with or without a time after it) and DD/MM/YYYY, falling back
// to MM/DD/YYYY only when the day-first reading is impossible. It returns YYYY-MM-DD and
// true for a valid date, or the value's digits and false.
func normalizeDate(s string) (string, bool) {
	if i := strings.IndexAny(s, "Tt "); i >= 8 {
		s = s[:i] // an ISO timestamp: the date is what identifies a person
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	var y, m, d string
	switch {
	case len(parts) == 1 && len(parts[0]) == 8:
		y, m, d = parts[0][:4], parts[0][4:6], parts[0][6:]
	case len(parts) == 3 && len(parts[0]) == 4:
		y, m, d = parts[0], parts[1], parts[2]
	case len(parts) == 3 && len(parts[2]) == 4:
		y, m, d = parts[2], parts[1], parts[0]
		if !validDate(y, m, d) && validDate(parts[2], parts[0], parts[1]) {
			m, d = parts[0], parts[1]
		}
	}
	if y == "" || !validDate(y, m, d) {
		// What is kept is the digits, so they must read the same way when normalised
		// again: digits that spell a valid YYYYMMDD are that date.
		all := digits(s)
		if len(all) != 8 || !validDate(all[:4], all[4:6], all[6:]) {
			return all, false
		}
		y, m, d = all[:4], all[4:6], all[6:]
	}
	yi, _ := strconv.Atoi(y)
	mi, _ := strconv.Atoi(m)
	di, _ := strconv.Atoi(d)
	return time.Date(yi, time.Month(mi), di, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), true
}

func validDate(y, m, d string) bool {
	if len(m) > 2 || len(d) > 2 || len(m) == 0 || len(d) == 0 {
		return false
	}
	yi, err1 := strconv.Atoi(y)
	mi, err2 := strconv.Atoi(m)
	di, err3 := strconv.Atoi(d)
	if err1 != nil || err2 != nil || err3 != nil || yi < minBirthYear || yi > maxBirthYear {
		return false
	}
	t := time.Date(yi, time.Month(mi), di, 0, 0, 0, 0, time.UTC)
	return t.Year() == yi && int(t.Month()) == mi && t.Day() == di
}

// FoldText is the matcher's normalisation of free text (names, places): diacritics removed,
// lower case, apostrophes dropped, punctuation turned into single spaces. Search indexes and
// queries names with it, so that a name is found however the matcher would compare it.
func FoldText(s string) string { return foldText(clean(s)) }

// Alnum keeps the letters and digits of s, as postal codes and identifiers are compared.
func Alnum(s string) string { return alnum(s) }

// Digits keeps the ASCII digits of s, as phone numbers are compared.
func Digits(s string) string { return digits(s) }
