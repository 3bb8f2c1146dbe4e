package quality

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// This file reads the notations people actually type into a form or a CRM column (ASCII
// digits grouped with spaces, hyphens, dots, slashes or parentheses, with or without a
// leading '+') without libphonenumber's parser. For every number the parser runs a dozen
// general regular expressions (extensions, RFC 3966, letters, Unicode digits) and fetches
// each region pattern from a mutex-guarded cache, which made parsing most of
// ValidatePhone's cost. parsePhoneFast takes the parser's steps for those notations with
// the same metadata and the same patterns, compiled once, and declines everything else:
// any other character, an international prefix dialled as digits (00 44 …), a '+'
// without a known calling code, and every input the parser would reject. Declining is
// always safe because ValidatePhone then asks the parser, so the parser is only followed
// where it is simple to follow. TestPhoneFastPathMatchesLibrary and FuzzValidatePhone
// check that both build the same number.

// phoneScratch is a parse target with room for the fields the fast path sets, so that
// building a number allocates nothing. When the parser is used instead it points the
// same fields at its own allocations.
type phoneScratch struct {
	num   phonenumbers.PhoneNumber
	cc    int32
	nn    uint64
	lead  bool
	zeros int32
}

// plainPhoneDigits returns the digits of s and whether s starts with '+', when s is
// written in a plain notation: ASCII digits, an optional '+' first, and the separators
// space - . / ( ). The parser ignores these separators wherever they stand, so the
// digits are all that matters; more than one pair of parentheses is still left to it,
// since nobody writes a number that way. At least three digits are required: the parser
// treats shorter inputs apart (two bare digits are a number, the same two with
// punctuation are not), and none of them is usable anyway.
func plainPhoneDigits(s string) (digits string, plus, ok bool) {
	if s, plus = strings.CutPrefix(s, "+"); len(s) > maxPhoneInput {
		return "", false, false
	}
	var buf [maxPhoneInput]byte
	n, open, closed := 0, 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			buf[n] = c
			n++
		case ' ', '-', '.', '/':
		case '(':
			open++
		case ')':
			closed++
		default:
			return "", false, false
		}
	}
	switch {
	case n < 3 || open > 1 || closed > 1:
		return "", false, false
	case n == len(s): // digits only: nothing to copy
		return s, plus, true
	}
	return string(buf[:n]), plus, true
}

// parsePhoneFast fills p.num as phonenumbers.ParseToNumber(s, region, &p.num) would and
// reports whether it did; when it returns false p is untouched and the caller must ask
// the parser. s is trimmed and region upper case, as ValidatePhone passes them.
func parsePhoneFast(s, region string, p *phoneScratch) bool {
	digits, plus, ok := plainPhoneDigits(s)
	if !ok {
		return false
	}
	idx := phoneMetadata()
	var (
		cc  int
		nsn string
		md  *phoneMeta // the metadata whose national prefix the parser strips
	)
	if plus {
		// Calling codes have one to three digits and never start with 0; the parser takes
		// the shortest known one. Without one it rereads the number as a national number,
		// which is left to it.
		for i, c := 0, 0; i < 3 && digits[0] != '0'; i++ {
			if c = c*10 + int(digits[i]-'0'); phonenumbers.GetSupportedCallingCodes()[c] {
				cc, nsn = c, digits[i+1:]
				break
			}
		}
		if cc == 0 {
			return false
		}
		md = idx.forCallingCode(cc)
	} else {
		def := idx.forRegion(region)
		if def == nil || def.idd.MatchString(digits) {
			return false // no default region, or dialled with its international prefix
		}
		cc, nsn, md = int(def.src.GetCountryCode()), digits, def
		if rest, found := strings.CutPrefix(digits, def.callingCode); found {
			// The parser's guess that the region's own calling code was written without
			// its '+' (1 415 555 2671 in the US): taken when dropping the code turns
			// digits that fit no number of the region into a number that does, or when
			// the digits are too long with it.
			rest = def.stripNationalPrefix(rest)
			if (!def.general.fullMatch(digits) && def.general.fullMatch(rest)) ||
				def.lengthFit(len(digits)) == phonenumbers.TOO_LONG {
				nsn, md = rest, idx.forCallingCode(cc)
			}
		}
	}
	if md == nil || len(nsn) < phonenumbers.MIN_LENGTH_FOR_NSN {
		return false
	}
	// The national prefix goes only if what is left has a possible length: otherwise the
	// digits could be a short number that merely starts like a prefix.
	switch stripped := md.stripNationalPrefix(nsn); md.lengthFit(len(stripped)) {
	case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY, phonenumbers.INVALID_LENGTH:
	default:
		nsn = stripped
	}
	if len(nsn) < phonenumbers.MIN_LENGTH_FOR_NSN || len(nsn) > phonenumbers.MAX_LENGTH_FOR_NSN {
		return false
	}
	return p.set(cc, nsn)
}

// set stores a parsed number the way the parser does. A national number starting with 0
// (Italy, Côte d'Ivoire …) cannot keep its zeros in an integer, so they are recorded in
// ItalianLeadingZero and NumberOfLeadingZeros; the last digit is never counted as a
// leading zero, and a count of one is the field's default and left unset.
func (p *phoneScratch) set(cc int, nsn string) bool {
	var nn uint64
	for i := 0; i < len(nsn); i++ {
		if nsn[i] < '0' || nsn[i] > '9' {
			return false // a transform rule wrote something else: not ours to interpret
		}
		nn = nn*10 + uint64(nsn[i]-'0')
	}
	p.cc, p.nn = int32(cc), nn
	p.num.CountryCode, p.num.NationalNumber = &p.cc, &p.nn
	if nsn[0] == '0' {
		p.lead = true
		p.num.ItalianLeadingZero = &p.lead
		zeros := 1
		for zeros < len(nsn)-1 && nsn[zeros] == '0' {
			zeros++
		}
		if zeros != 1 {
			p.zeros = int32(zeros)
			p.num.NumberOfLeadingZeros = &p.zeros
		}
	}
	return true
}

// forRegion returns the metadata the parser reads a national number with, or nil when
// the region is not one the parser accepts or the fast path cannot use its metadata.
func (idx *phoneIndex) forRegion(region string) *phoneMeta {
	if !phonenumbers.GetSupportedRegions()[region] {
		return nil
	}
	if m := idx.meta(0, region); m != nil && m.parsable {
		return m
	}
	return nil
}

// forCallingCode returns the metadata the parser uses once it knows the calling code:
// that of the code's main region (US for +1, GB for +44), or of the non-geographic entity.
func (idx *phoneIndex) forCallingCode(cc int) *phoneMeta {
	regions := phonenumbers.GetRegionCodesForCountryCode(cc)
	if len(regions) == 0 {
		return nil
	}
	if m := idx.meta(cc, regions[0]); m != nil && m.parsable {
		return m
	}
	return nil
}

// stripNationalPrefix removes the national prefix (and any carrier code) from the start
// of a national number, or rewrites the number with the region's transform rule, as the
// parser's maybeStripNationalPrefixAndCarrierCode does. Nothing changes if that would
// turn digits that fit the region's general pattern into digits that do not.
func (m *phoneMeta) stripNationalPrefix(n string) string {
	if n == "" || m.nationalPrefix == nil {
		return n
	}
	g := m.nationalPrefix.FindStringSubmatchIndex(n)
	if g == nil {
		return n
	}
	out := n[g[1]:]
	// The transform rule applies only when the last group of the prefix pattern took
	// part in the match.
	if last := len(g)/2 - 1; m.prefixTransform != "" && g[2*last] >= 0 {
		out = m.nationalPrefix.ReplaceAllString(n, m.prefixTransform)
	}
	if m.general.fullMatch(n) && !m.general.fullMatch(out) {
		return n
	}
	return out
}

// lengthFit judges a national number's length against the region's possible lengths,
// as the parser's testNumberLength does for an unknown type. parsable guarantees the
// lengths are present.
func (m *phoneMeta) lengthFit(n int) phonenumbers.ValidationResult {
	gd := m.src.GetGeneralDesc()
	lengths := gd.GetPossibleLength()
	if lengths[0] == -1 {
		return phonenumbers.INVALID_LENGTH
	}
	for _, l := range gd.GetPossibleLengthLocalOnly() {
		if int(l) == n {
			return phonenumbers.IS_POSSIBLE_LOCAL_ONLY
		}
	}
	switch {
	case int(lengths[0]) == n:
		return phonenumbers.IS_POSSIBLE
	case int(lengths[0]) > n:
		return phonenumbers.TOO_SHORT
	case int(lengths[len(lengths)-1]) < n:
		return phonenumbers.TOO_LONG
	}
	for _, l := range lengths[1:] {
		if int(l) == n {
			return phonenumbers.IS_POSSIBLE
		}
	}
	return phonenumbers.INVALID_LENGTH
}

// fullMatch reports whether s matches the pattern alone, without the length check, as
// the parser tests it. An empty pattern matches only the empty string there.
func (d *phoneDesc) fullMatch(s string) bool {
	if d.re == nil {
		return s == ""
	}
	return d.re.MatchString(s)
}
