package quality

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// Errors from CleanText. Their messages complete a sentence that starts with a field
// name ("first_name: must not contain control characters") and never quote the value.
var (
	ErrTextNotUTF8  = errors.New("must be valid UTF-8")
	ErrTextControl  = errors.New("must not contain control characters")
	errTextTooLarge = errors.New("is too long")
)

// maxCleanInput bounds what CleanText will look at: no text field is anywhere near it,
// and it keeps a hostile value from costing more than a moment.
const maxCleanInput = 1 << 20

// CleanText is the normalisation every free-text value gets before it is stored: valid
// UTF-8, Unicode NFC (so "é" typed as e plus a combining accent and "é" typed as one
// character are the same value), surrounding white space removed, inner runs of white
// space folded to one space, and no control characters. It changes nothing a person
// would see as different, which is why it is safe to apply to what they typed.
func CleanText(s string) (string, error) {
	if len(s) > maxCleanInput {
		return "", errTextTooLarge
	}
	if !utf8.ValidString(s) {
		return "", ErrTextNotUTF8
	}
	s = norm.NFC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range strings.TrimSpace(s) {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r):
			return "", ErrTextControl
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String(), nil
}

// NameResult is what NormalizeName learnt about a person's name. A name is kept in three
// forms on purpose, because they serve different needs and only one of them may be
// stored without asking the person:
//   - Normalized is what they typed, cleaned (CleanText) but with their own casing: a
//     name is the person's to spell, and "McDonald", "van der Berg", "DeShawn" or "da
//     Silva" must survive exactly as given;
//   - Display is a suggestion for showing the name back (a greeting, a label), different
//     from Normalized only when the whole name was typed in one case ("JOHN O'BRIEN",
//     "anne-marie van der berg"), where the casing says nothing about the person's wish;
//   - Key is for comparing names (duplicate detection): case, accents and punctuation
//     folded away, so "Zoë O'Brien" and "ZOE OBRIEN" meet.
type NameResult struct {
	Normalized string
	Display    string
	Key        string
	Valid      bool
	// Reason says in words why the name is not Valid; it never quotes the name.
	Reason string
	// Placeholder flags a value people type to get past a form ("test", "asdf", "N/A",
	// "John Doe"): valid text, but probably not the customer's name.
	Placeholder bool
	// Digits flags a name containing digits, which real names almost never do.
	Digits bool
	// Initials flags a name made only of initials ("J.", "J. R. R."): valid, but too
	// little to greet someone with or to match on.
	Initials bool
}

// NormalizeName checks and normalises one name field (a given name, a family name or a
// full name). maxRunes bounds its length (0 means 256). It never fails: everything it has
// to say is in the result.
func NormalizeName(raw string, maxRunes int) NameResult {
	var res NameResult
	s, err := CleanText(raw)
	switch {
	case errors.Is(err, ErrTextNotUTF8):
		res.Reason = "name is not valid UTF-8"
		return res
	case errors.Is(err, ErrTextControl):
		res.Reason = "name contains control characters"
		return res
	case err != nil:
		res.Reason = "name is too long"
		return res
	case s == "":
		res.Reason = "name is empty"
		return res
	}
	if maxRunes <= 0 {
		maxRunes = 256
	}
	if utf8.RuneCountInString(s) > maxRunes {
		res.Reason = "name is too long"
		return res
	}
	letters := 0
	for _, r := range s {
		switch {
		case unicode.IsLetter(r):
			letters++
		case unicode.IsDigit(r):
			res.Digits = true
		}
	}
	if letters == 0 {
		res.Reason = "name contains no letters"
		return res
	}
	if looksLikeAddress(s) {
		res.Reason = "name looks like an email or web address"
		return res
	}
	res.Valid = true
	res.Normalized = s
	res.Display = displayName(s)
	res.Key = NameKey(s)
	res.Placeholder = placeholderNames[res.Key]
	res.Initials = onlyInitials(s)
	return res
}

// looksLikeAddress catches the e-mail and web addresses that bots and confused users put
// into name fields.
func looksLikeAddress(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "@") || strings.Contains(l, "://") || strings.HasPrefix(l, "www.") ||
		strings.Contains(l, " www.")
}

// NameKey folds a name for comparison: Unicode case folding (which unlike lower-casing
// maps ß to ss and final ς to σ), accents removed, hyphens and
// other punctuation read as spaces, apostrophes and dots dropped ("O'Brien" → "obrien",
// "Anne-Marie" → "anne marie"), blanks collapsed.
func NameKey(s string) string {
	var b strings.Builder
	for _, r := range norm.NFKD.String(cases.Fold().String(s)) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r == 'ı':
			// Turkish dotless i: "YILDIZ", "Yıldız" and "Yildiz" are one name.
			b.WriteByte('i')
		case r == '\'' || r == '’' || r == 'ʼ' || r == '.' || r == '`' || r == '´':
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// placeholderNames are folded names people type to get past a form. Short on purpose:
// each entry must be implausible as a real person's name.
var placeholderNames = setOf(
	"test", "testing", "tester", "test test", "asdf", "asdfgh", "asdfghjkl", "qwerty",
	"xxx", "xxxx", "x", "xx", "n a", "none", "null", "nil", "unknown", "anonymous", "anon",
	"nobody", "noname", "no name", "name", "first name", "last name", "firstname",
	"lastname", "surname", "foo", "bar", "foobar", "abc", "aaa", "guest", "customer",
	"user", "john doe", "jane doe", "mickey mouse", "donald duck",
)

// nameParticles are the lower-case joining words of Dutch, German, French, Spanish,
// Portuguese, Italian, Scandinavian and Arabic names ("van der", "von", "de la", "dos",
// "di", "af", "bin"). Inside a name they stay lower case; at its start they are
// capitalised, as when a family name stands alone ("Van der Berg").
var nameParticles = setOf(
	"van", "von", "der", "den", "dem", "de", "del", "della", "delle", "dei", "degli", "di",
	"da", "das", "dos", "do", "du", "des", "la", "le", "les", "lo", "ter", "ten", "te",
	"op", "af", "av", "zu", "zur", "y", "e", "bin", "binti", "bint", "ibn",
)

// romanSuffixes are generation suffixes written in capitals.
var romanSuffixes = setOf("ii", "iii", "iv", "vi", "vii", "viii")

// displayName suggests the casing to show a name with. Only a name typed wholly in upper
// or wholly in lower case is recased: mixed case is the person's own choice.
func displayName(s string) string {
	if !singleCase(s) {
		return s
	}
	turkish := strings.ContainsAny(s, "İı")
	lower := cases.Lower(language.Und)
	if turkish {
		lower = cases.Lower(language.Turkish)
	}
	words := strings.Split(lower.String(s), " ")
	for i, w := range words {
		inner := i > 0 && i < len(words)-1
		switch {
		case inner && nameParticles[w]:
			continue
		case i > 0 && romanSuffixes[w]:
			words[i] = strings.ToUpper(w)
			continue
		}
		words[i] = capitalizeWord(w, i > 0, turkish)
	}
	return strings.Join(words, " ")
}

// singleCase reports whether s has at least two cased letters and all of them share one
// case. Scripts without case (Chinese, Arabic, Hebrew …) never qualify.
func singleCase(s string) bool {
	upper, lower := 0, 0
	for _, r := range s {
		switch {
		case unicode.IsUpper(r) || unicode.IsTitle(r):
			upper++
		case unicode.IsLower(r):
			lower++
		}
	}
	return upper+lower >= 2 && (upper == 0 || lower == 0)
}

// capitalizeWord capitalises each part of a lower-case word: after a hyphen
// ("Anne-Marie"), after an apostrophe ("O'Brien", "D'Angelo"), and after Mc
// ("McDonald"). After the first word, the elided French and Italian particles d' and l'
// stay lower case ("Giscard d'Estaing"). Mac is left alone: Macdonald and Mackay are spelt
// both ways, and Macey or Machado would come out wrong.
func capitalizeWord(w string, notFirst, turkish bool) string {
	rs := []rune(w)
	start := true
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if r == '-' || r == '\'' || r == '’' {
			start = true
			continue
		}
		if !unicode.IsLetter(r) {
			continue
		}
		if start {
			start = false
			elided := i+1 < len(rs) && (rs[i+1] == '\'' || rs[i+1] == '’') && (r == 'd' || r == 'l')
			if elided && notFirst && i == 0 {
				continue
			}
			rs[i] = titleRune(r, turkish)
			// Mc followed by at least two letters: McDonald, McLeod; not "Mc" alone.
			if r == 'm' && i+3 < len(rs) && rs[i+1] == 'c' && unicode.IsLetter(rs[i+2]) && unicode.IsLetter(rs[i+3]) &&
				(i == 0 || !unicode.IsLetter(rs[i-1])) {
				rs[i+2] = titleRune(rs[i+2], turkish)
				i += 2
			}
		}
	}
	return string(rs)
}

func titleRune(r rune, turkish bool) rune {
	if turkish {
		return unicode.TurkishCase.ToTitle(r)
	}
	return unicode.ToTitle(r)
}

// onlyInitials reports a name whose every word is a single letter, with or without a dot.
func onlyInitials(s string) bool {
	for w := range strings.FieldsSeq(s) {
		w = strings.TrimSuffix(w, ".")
		if utf8.RuneCountInString(w) != 1 {
			return false
		}
	}
	return true
}
