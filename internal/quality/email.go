package quality

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// EmailCategory is an is_email grade. The grades are ordered by severity, from an address
// that is fine for SMTP to one that is invalid for any purpose; they are kept as
// is_email's names so that results can be compared with its published test suites.
type EmailCategory string

// The is_email grades, least to most severe.
const (
	CategoryValid      EmailCategory = "valid"
	CategoryDNSWarning EmailCategory = "dns_warning"
	CategoryRFC5321    EmailCategory = "rfc5321"
	CategoryCFWS       EmailCategory = "cfws"
	CategoryDeprecated EmailCategory = "deprecated"
	CategoryRFC5322    EmailCategory = "rfc5322"
	CategoryError      EmailCategory = "error"
)

// EmailResult is everything ValidateEmail learnt about one address. The strict grade
// (Category, Diagnosis) and the practical verdict (Acceptable, Normalized, Reason) are
// separate on purpose: the RFCs allow many shapes no mail provider delivers to, and a
// value pasted with stray blanks around it is still a good contact.
type EmailResult struct {
	// Normalized is the form used for look-up and de-duplication: surrounding blanks
	// removed, local part lower-cased, domain in ASCII (IDNA A-labels, lower-case).
	// It is empty when the address is not Acceptable.
	Normalized string
	// Acceptable applies the practical rule: what real mail systems accept as a contact
	// address. Offline that means the address (after trimming surrounding blanks) grades
	// VALID: every RFC 5321 diagnosis is a shape the rule rejects (quoted local part, IP
	// literal, dotless domain, numeric top-level domain), and so is everything graver.
	// On top of the grade it requires an internationalised domain to pass IDNA and the
	// local part to be free of invisible or spacing characters.
	Acceptable bool
	// Category is the strict RFC grade of the input exactly as given, so a pasted
	// " user@example.com" grades cfws (it has white space) yet is Acceptable.
	Category EmailCategory
	// Diagnosis names the worst finding of the strict grade, in is_email's vocabulary
	// without its ISEMAIL_ prefix, e.g. "VALID", "ERR_NODOMAIN", "RFC5321_TLDNUMERIC".
	Diagnosis string
	// Reason says in words why the address is not Acceptable; it never quotes the
	// address, because the address is personal data and reasons end up in logs.
	Reason string
	// Role reports a role mailbox (info@, sales@, noreply@ …): it reaches a team or
	// nobody, which matters for consent and for deliverability scoring.
	Role bool
	// Disposable reports a domain of a well-known throw-away mailbox service.
	Disposable bool
	// Suggestion is the whole address with the domain corrected, when the domain looks
	// like a typo of a big mail provider (gmial.com → gmail.com); empty otherwise.
	Suggestion string
}

// ErrEmailNotAcceptable is matched by every error NormalizeEmail returns, so callers can
// test for "bad address" with errors.Is without caring about the particular fault.
var ErrEmailNotAcceptable = errors.New("email address not acceptable")

// EmailError explains why an address was refused. It carries the diagnosis code and a
// reason in words, never the address itself.
type EmailError struct {
	Diagnosis string
	Reason    string
}

func (e *EmailError) Error() string {
	return "email address not acceptable: " + e.Reason
}

// Is makes errors.Is(err, ErrEmailNotAcceptable) hold for every EmailError.
func (e *EmailError) Is(target error) bool { return target == ErrEmailNotAcceptable }

// NormalizeEmail returns the look-up form of an acceptable address, or an *EmailError
// saying why the address is not acceptable.
func NormalizeEmail(raw string) (string, error) {
	r := gradeAndNormalize(raw, false)
	if !r.Acceptable {
		return "", &EmailError{Diagnosis: r.Diagnosis, Reason: r.Reason}
	}
	return r.Normalized, nil
}

// ValidateEmail grades an address and, when it is acceptable, normalises and flags it.
// It never fails: everything it has to say is in the result.
func ValidateEmail(raw string) EmailResult { return gradeAndNormalize(raw, true) }

// gradeAndNormalize is ValidateEmail; without flags it leaves out the role, disposable and
// typo checks, which normalising for a look-up or a blind index does not need (the typo
// suggestion alone was a tenth of an HTTP look-up's time).
func gradeAndNormalize(raw string, flags bool) EmailResult {
	g := gradeEmail(raw)
	res := EmailResult{Category: g.max.category(), Diagnosis: g.max.String()}

	t := trimBlank(raw)
	if len(t) != len(raw) {
		g = gradeEmail(t)
	}
	if g.max != diagValid {
		res.Reason = reasonFor(g.max, t)
		return res
	}

	local := foldLocal(t[:g.at])
	domain := g.domain
	switch {
	case !cleanLocal(local):
		res.Reason = reasonInvisible
		return res
	case len(local) > maxLocalOctets || len(local)+1+len(domain) > maxAddrOctets:
		// Lower-casing can change the length of some non-ASCII letters.
		res.Reason = reasonFoldedTooLong
		return res
	case !isHostname(domain):
		// Reachable only through IDNA mappings that change the label structure, such
		// as an ideographic full stop acting as a dot.
		res.Reason = reasonNotHostname
		return res
	}

	if len(local) == g.at && len(domain) == len(t)-g.at-1 && local == t[:g.at] && domain == t[g.at+1:] {
		res.Normalized = t // already canonical: no allocation
	} else {
		res.Normalized = local + "@" + domain
	}
	res.Acceptable = true
	if !flags {
		return res
	}
	res.Role = isRoleLocal(local)
	res.Disposable = isDisposableDomain(domain)
	if fix := suggestDomain(domain); fix != "" {
		res.Suggestion = local + "@" + fix
	}
	return res
}

// trimBlank removes the blanks that copy and paste leaves around a value: spaces, tabs,
// no-break and other Unicode spaces, zero-width spaces and byte-order marks. CR and LF
// are deliberately kept: the RFCs make a bare line break an error, and a value with one
// embedded came from somewhere we should not trust blindly.
func trimBlank(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		switch r {
		case ' ', '\t', 0x200b, 0xfeff:
			return true
		}
		return r >= utf8.RuneSelf && unicode.Is(unicode.Zs, r)
	})
}

// foldLocal lower-cases a local part. RFC 5321 lets the receiving host treat the local
// part as case-sensitive, but no real provider does, and look-up must treat Alice@ and
// alice@ as one person.
func foldLocal(s string) string {
	if isASCII(s) {
		return lowerASCII(s)
	}
	return strings.ToLower(s)
}

// cleanLocal rejects local parts carrying characters that are legal UTF-8 atext but
// invisible or spacing (no-break spaces, bidirectional overrides, private-use code
// points): in a contact address they are paste artefacts or spoofing, never intent.
// Zero-width joiners stay allowed because emoji sequences and some scripts need them.
func cleanLocal(s string) bool {
	if isASCII(s) {
		return true
	}
	for _, r := range s {
		if r < utf8.RuneSelf || r == 0x200c || r == 0x200d {
			continue
		}
		if unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cf) {
			return false
		}
	}
	return true
}

// isHostname checks an ASCII domain against the host-name rules that mail routing relies
// on: at least two labels of letters, digits and inner hyphens, each 1 to 63 octets,
// 253 in all, and a top-level label that does not start with a digit.
func isHostname(d string) bool {
	if len(d) == 0 || len(d) > 253 {
		return false
	}
	labels, start := 0, 0
	for i := 0; i <= len(d); i++ {
		if i < len(d) && d[i] != '.' {
			c := d[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		l := d[start:i]
		if len(l) == 0 || len(l) > maxLabelOctets || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		labels++
		if i == len(d) && l[0] >= '0' && l[0] <= '9' {
			return false
		}
		start = i + 1
	}
	return labels >= 2
}

// reasonFor explains a failed grade in words. It must never include the address.
func reasonFor(d diag, s string) string {
	switch {
	case s == "":
		return reasonEmpty
	case d == diagErrNoDomain && !strings.Contains(s, "@"):
		return reasonNoAt
	case d == diagRFC5322Domain && isIDNDomain(s):
		return reasonBadIDN
	}
	if r, ok := diagReasons[d]; ok {
		return r
	}
	return reasonInvalid
}

// Reasons that are not tied to one diagnosis. Every Reason is a constant so that no code
// path can ever splice the address into it.
const (
	reasonEmpty         = "address is empty"
	reasonNoAt          = "address has no @ sign"
	reasonBadIDN        = "domain is not a valid internationalised domain name"
	reasonInvalid       = "address is not valid"
	reasonInvisible     = "local part contains invisible or spacing characters"
	reasonFoldedTooLong = "address is too long once case-folded"
	reasonNotHostname   = "domain is not a valid host name once converted to ASCII"
)

var diagReasons = map[diag]string{
	diagTLD:              "domain has no dot",
	diagTLDNumeric:       "top-level domain is numeric",
	diagQuotedString:     "local part is a quoted string",
	diagAddressLiteral:   "domain is an IP address literal",
	diagCFWSComment:      "address contains a comment",
	diagCFWSFWS:          "address contains white space",
	diagDeprecLocalPart:  "local part mixes quoted and unquoted words",
	diagDeprecFWS:        "address contains obsolete folding white space",
	diagDeprecQText:      "quoted string contains a control character",
	diagDeprecQP:         "quoted pair escapes a control character",
	diagDeprecComment:    "address contains a comment inside a dotted part",
	diagDeprecCText:      "comment contains a control character",
	diagDeprecIPv6:       "domain is an IP address literal",
	diagDeprecCFWSNearAt: "address has a comment or white space next to the @ sign",
	diagRFC5322Domain:    "domain contains characters not allowed in host names",
	diagTooLong:          "address is longer than 254 octets",
	diagLocalTooLong:     "local part is longer than 64 octets",
	diagDomainTooLong:    "domain is longer than 255 octets",
	diagLabelTooLong:     "a domain label is longer than 63 octets",
	diagDomainLiteral:    "domain literal is not a valid address literal",
	diagDomLitObsDText:   "domain literal contains obsolete characters",
	diagIPv6GrpCount:     "IPv6 literal has the wrong number of groups",
	diagIPv62x2xColon:    "IPv6 literal has more than one double colon",
	diagIPv6BadChar:      "IPv6 literal contains a character that is not hexadecimal",
	diagIPv6MaxGrps:      "IPv6 literal has too many groups",
	diagIPv6ColonStrt:    "IPv6 literal starts with a single colon",
	diagIPv6ColonEnd:     "IPv6 literal ends with a single colon",
	diagErrExpectDText:   "domain literal contains a character that is not allowed",
	diagErrNoLocalPart:   "address has no local part",
	diagErrNoDomain:      "address has no domain",
	diagErrConsecDots:    "address contains consecutive dots",
	diagErrATextAfterCWS: "text follows a comment or white space",
	diagErrATextAfterQS:  "text follows a quoted string",
	diagErrATextAfterLit: "text follows a domain literal",
	diagErrExpectQPair:   "backslash escapes a character that cannot be escaped",
	diagErrExpectAText:   "address contains a character that is not allowed",
	diagErrExpectQText:   "quoted string contains a character that is not allowed",
	diagErrExpectCText:   "comment contains a character that is not allowed",
	diagErrBackslashEnd:  "address ends with a backslash",
	diagErrDotStart:      "local part or domain starts with a dot",
	diagErrDotEnd:        "local part or domain ends with a dot",
	diagErrHyphenStart:   "a domain label starts with a hyphen",
	diagErrHyphenEnd:     "a domain label ends with a hyphen",
	diagErrUnclosedQS:    "quoted string is not closed",
	diagErrUnclosedCmt:   "comment is not closed",
	diagErrUnclosedLit:   "domain literal is not closed",
	diagErrCRLFx2:        "folding white space has two line breaks in a row",
	diagErrCRLFEnd:       "folding white space ends with a line break",
	diagErrCRNoLF:        "carriage return is not followed by a line feed",
	diagErrDotAfterLit:   "a dot follows a domain literal",
	diagErrMalformedUTF8: "address contains malformed UTF-8",
}

// isIDNDomain reports whether the text after the last "@" is internationalised, either
// directly or through an A-label, so a domain fault can be explained as an IDNA one.
func isIDNDomain(s string) bool {
	d := strings.ToLower(s[strings.LastIndexByte(s, '@')+1:])
	return !isASCII(d) || strings.HasPrefix(d, "xn--") || strings.Contains(d, ".xn--")
}
