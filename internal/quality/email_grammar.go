package quality

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// diag is one is_email diagnosis. Its numeric value is the severity is_email gives it, so
// the worst finding about an address is simply the largest value seen and its category
// can be read off thresholds. Keeping the upstream numbering (rather than our own enum)
// is what lets the test suites' expectations be compared one to one.
type diag uint8

// The diagnoses, in is_email order. Two are ours: errDotAfterDomLit and
// errMalformedUnicode come from the JavaScript port, which found cases the PHP original
// graded too kindly (a domain literal followed by more labels, broken UTF-8).
const (
	diagValid            diag = 0
	diagDNSWarnNoMX      diag = 5
	diagDNSWarnNoRecord  diag = 6
	diagTLD              diag = 9
	diagTLDNumeric       diag = 10
	diagQuotedString     diag = 11
	diagAddressLiteral   diag = 12
	diagCFWSComment      diag = 17
	diagCFWSFWS          diag = 18
	diagDeprecLocalPart  diag = 33
	diagDeprecFWS        diag = 34
	diagDeprecQText      diag = 35
	diagDeprecQP         diag = 36
	diagDeprecComment    diag = 37
	diagDeprecCText      diag = 38
	diagDeprecIPv6       diag = 39 // is_email 3.05 moved the elided-group IPv6 form to "deprecated"
	diagDeprecCFWSNearAt diag = 49
	diagRFC5322Domain    diag = 65
	diagTooLong          diag = 66
	diagLocalTooLong     diag = 67
	diagDomainTooLong    diag = 68
	diagLabelTooLong     diag = 69
	diagDomainLiteral    diag = 70
	diagDomLitObsDText   diag = 71
	diagIPv6GrpCount     diag = 72
	diagIPv62x2xColon    diag = 73
	diagIPv6BadChar      diag = 74
	diagIPv6MaxGrps      diag = 75
	diagIPv6ColonStrt    diag = 76
	diagIPv6ColonEnd     diag = 77
	diagErrExpectDText   diag = 129
	diagErrNoLocalPart   diag = 130
	diagErrNoDomain      diag = 131
	diagErrConsecDots    diag = 132
	diagErrATextAfterCWS diag = 133
	diagErrATextAfterQS  diag = 134
	diagErrATextAfterLit diag = 135
	diagErrExpectQPair   diag = 136
	diagErrExpectAText   diag = 137
	diagErrExpectQText   diag = 138
	diagErrExpectCText   diag = 139
	diagErrBackslashEnd  diag = 140
	diagErrDotStart      diag = 141
	diagErrDotEnd        diag = 142
	diagErrHyphenStart   diag = 143
	diagErrHyphenEnd     diag = 144
	diagErrUnclosedQS    diag = 145
	diagErrUnclosedCmt   diag = 146
	diagErrUnclosedLit   diag = 147
	diagErrCRLFx2        diag = 148
	diagErrCRLFEnd       diag = 149
	diagErrCRNoLF        diag = 150
	diagErrDotAfterLit   diag = 162
	diagErrMalformedUTF8 diag = 163
)

// Category thresholds: a diagnosis belongs to the first category whose threshold is not
// below it. These are is_email's category values.
const (
	thresholdDNSWarn = 7
	thresholdRFC5321 = 15
	thresholdCFWS    = 31
	thresholdDeprec  = 63
	thresholdRFC5322 = 127
)

var diagNames = map[diag]string{
	diagValid:            "VALID",
	diagDNSWarnNoMX:      "DNSWARN_NO_MX_RECORD",
	diagDNSWarnNoRecord:  "DNSWARN_NO_RECORD",
	diagTLD:              "RFC5321_TLD",
	diagTLDNumeric:       "RFC5321_TLDNUMERIC",
	diagQuotedString:     "RFC5321_QUOTEDSTRING",
	diagAddressLiteral:   "RFC5321_ADDRESSLITERAL",
	diagCFWSComment:      "CFWS_COMMENT",
	diagCFWSFWS:          "CFWS_FWS",
	diagDeprecLocalPart:  "DEPREC_LOCALPART",
	diagDeprecFWS:        "DEPREC_FWS",
	diagDeprecQText:      "DEPREC_QTEXT",
	diagDeprecQP:         "DEPREC_QP",
	diagDeprecComment:    "DEPREC_COMMENT",
	diagDeprecCText:      "DEPREC_CTEXT",
	diagDeprecIPv6:       "RFC5321_IPV6DEPRECATED",
	diagDeprecCFWSNearAt: "DEPREC_CFWS_NEAR_AT",
	diagRFC5322Domain:    "RFC5322_DOMAIN",
	diagTooLong:          "RFC5322_TOOLONG",
	diagLocalTooLong:     "RFC5322_LOCAL_TOOLONG",
	diagDomainTooLong:    "RFC5322_DOMAIN_TOOLONG",
	diagLabelTooLong:     "RFC5322_LABEL_TOOLONG",
	diagDomainLiteral:    "RFC5322_DOMAINLITERAL",
	diagDomLitObsDText:   "RFC5322_DOMLIT_OBSDTEXT",
	diagIPv6GrpCount:     "RFC5322_IPV6_GRPCOUNT",
	diagIPv62x2xColon:    "RFC5322_IPV6_2X2XCOLON",
	diagIPv6BadChar:      "RFC5322_IPV6_BADCHAR",
	diagIPv6MaxGrps:      "RFC5322_IPV6_MAXGRPS",
	diagIPv6ColonStrt:    "RFC5322_IPV6_COLONSTRT",
	diagIPv6ColonEnd:     "RFC5322_IPV6_COLONEND",
	diagErrExpectDText:   "ERR_EXPECTING_DTEXT",
	diagErrNoLocalPart:   "ERR_NOLOCALPART",
	diagErrNoDomain:      "ERR_NODOMAIN",
	diagErrConsecDots:    "ERR_CONSECUTIVEDOTS",
	diagErrATextAfterCWS: "ERR_ATEXT_AFTER_CFWS",
	diagErrATextAfterQS:  "ERR_ATEXT_AFTER_QS",
	diagErrATextAfterLit: "ERR_ATEXT_AFTER_DOMLIT",
	diagErrExpectQPair:   "ERR_EXPECTING_QPAIR",
	diagErrExpectAText:   "ERR_EXPECTING_ATEXT",
	diagErrExpectQText:   "ERR_EXPECTING_QTEXT",
	diagErrExpectCText:   "ERR_EXPECTING_CTEXT",
	diagErrBackslashEnd:  "ERR_BACKSLASHEND",
	diagErrDotStart:      "ERR_DOT_START",
	diagErrDotEnd:        "ERR_DOT_END",
	diagErrHyphenStart:   "ERR_DOMAINHYPHENSTART",
	diagErrHyphenEnd:     "ERR_DOMAINHYPHENEND",
	diagErrUnclosedQS:    "ERR_UNCLOSEDQUOTEDSTR",
	diagErrUnclosedCmt:   "ERR_UNCLOSEDCOMMENT",
	diagErrUnclosedLit:   "ERR_UNCLOSEDDOMLIT",
	diagErrCRLFx2:        "ERR_FWS_CRLF_X2",
	diagErrCRLFEnd:       "ERR_FWS_CRLF_END",
	diagErrCRNoLF:        "ERR_CR_NO_LF",
	diagErrDotAfterLit:   "ERR_DOT_AFTER_DOMLIT",
	diagErrMalformedUTF8: "ERR_MALFORMED_UNICODE",
}

func (d diag) String() string {
	if n, ok := diagNames[d]; ok {
		return n
	}
	return "UNKNOWN"
}

// category maps a diagnosis to its is_email grade.
func (d diag) category() EmailCategory {
	switch {
	case d == diagValid:
		return CategoryValid
	case d <= thresholdDNSWarn:
		return CategoryDNSWarning
	case d <= thresholdRFC5321:
		return CategoryRFC5321
	case d <= thresholdCFWS:
		return CategoryCFWS
	case d <= thresholdDeprec:
		return CategoryDeprecated
	case d <= thresholdRFC5322:
		return CategoryRFC5322
	default:
		return CategoryError
	}
}

// pctx is where the parser is: one of the two components, or a nested construct inside
// them. Comments nest and FWS can occur inside comments and quoted strings, hence a stack.
type pctx uint8

const (
	ctxLocal pctx = iota
	ctxDomain
	ctxLiteral
	ctxComment
	ctxFWS
	ctxQuoted
	ctxQuotedPair
)

// specials are the printable US-ASCII characters that are not atext (RFC 5322 §3.2.3).
const specials = "()<>[]:;@\\,.\""

// Address limits from RFC 5321 §4.5.3.1 and RFC 1035 §2.3.4, with is_email's reading of
// them: 254 octets for the whole mailbox (the 256-octet path minus its angle brackets),
// 255 for the domain as text.
const (
	maxLocalOctets  = 64
	maxDomainOctets = 255
	maxLabelOctets  = 63
	maxAddrOctets   = 254
)

// maxIDNAInput bounds the domain text we hand to IDNA. A domain longer than this is
// already too long in any encoding, and Punycode's cost grows faster than linearly, so a
// hostile multi-megabyte input must not reach it.
const maxIDNAInput = 1024

// idnaProfile converts internationalised domains for look-up (RFC 5891 §5 via UTS #46).
// Hyphen position checks are off because ASCII labels such as "c--n" are legal host
// names; our grammar already rejects leading and trailing hyphens.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.CheckHyphens(false),
)

// emailGrade is what the grammar found out about one string.
type emailGrade struct {
	max diag
	// at is the byte offset of the separating "@", or -1 if none was reached.
	at int
	// domain is the domain in A-label form, lower-case, filled only when max is
	// diagValid: it is what normalisation needs and costs an allocation otherwise.
	domain string
}

// parser is a character-level state machine over an address. The shape follows
// is_email's published algorithm because its diagnoses are defined by that algorithm
// (which error wins when two apply, where FWS is "near the @"); the RFC 6531/6532
// extensions for UTF-8 are ours.
type parser struct {
	s     string
	max   diag
	ctx   pctx
	prior pctx
	stack []pctx
	// Small inline buffers: most addresses need no other memory while parsing.
	stackBuf [8]pctx

	elementCount int
	elementLen   int
	hyphen       bool
	endOrDie     bool // the current element is complete: only CFWS or a separator may follow
	prevCR       bool // inside FWS, the previous token was CRLF
	crlfCount    int
	lastCR       bool // the last token consumed was CRLF

	localLen int // octets of the local part as it would travel (quotes and escapes kept)
	at       int

	dom    []byte // the domain as parsed: labels and dots, or the bracketed literal
	domBuf [256]byte
	lit    []byte // the content of a domain literal, without escapes
	isLit  bool
	idn    bool   // some label is non-ASCII, so IDNA has a say
	ascii  string // the domain after IDNA, when IDNA ran and succeeded
}

func (p *parser) add(d diag) {
	if d > p.max {
		p.max = d
	}
}

func (p *parser) push(c pctx) {
	p.stack = append(p.stack, p.ctx)
	p.ctx = c
}

func (p *parser) pop() {
	n := len(p.stack) - 1
	p.ctx = p.stack[n]
	p.stack = p.stack[:n]
}

// isC1 reports a C1 control character, which has no business in any part of an address.
func isC1(r rune) bool { return r >= 0x80 && r <= 0x9f }

// gradeEmail runs the grammar over s and grades it.
func gradeEmail(s string) emailGrade {
	p := parser{s: s, at: -1}
	p.stack = p.stackBuf[:0]
	p.dom = p.domBuf[:0]
	p.run()
	p.finish()
	g := emailGrade{max: p.max, at: p.at}
	if p.max == diagValid {
		g.domain = p.asciiDomain()
	}
	return g
}

func (p *parser) run() {
	s := p.s
	for i := 0; i < len(s); {
		c := s[i]
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		// CR is only ever legal as the first half of CRLF. Every context treats CRLF as
		// one token, so resolve it here and let contexts see a two-byte token.
		if c == '\r' && p.ctx != ctxQuotedPair {
			if i+1 >= len(s) || s[i+1] != '\n' {
				p.add(diagErrCRNoLF)
				return
			}
			size = 2
		}
		reprocess := p.step(c, r, size, i)
		if p.max > thresholdRFC5322 {
			return
		}
		if !reprocess {
			p.lastCR = c == '\r' && size == 2
			i += size
		}
	}
}

// step consumes one token and reports whether it must be seen again by the context it
// handed control back to (the end of a run of FWS is only known at the next token).
func (p *parser) step(c byte, r rune, size, i int) bool {
	switch p.ctx {
	case ctxLocal:
		p.stepLocal(c, r, size, i)
	case ctxDomain:
		p.stepDomain(c, r, size)
	case ctxLiteral:
		p.stepLiteral(c, r)
	case ctxQuoted:
		p.stepQuoted(c, r, size)
	case ctxQuotedPair:
		p.stepQuotedPair(c, r)
	case ctxComment:
		p.stepComment(c, r)
	case ctxFWS:
		return p.stepFWS(c)
	}
	return false
}

func (p *parser) enterFWS(c byte) {
	p.push(ctxFWS)
	p.prevCR = c == '\r'
}

func (p *parser) stepLocal(c byte, r rune, size, i int) {
	switch c {
	case '(':
		if p.elementLen == 0 {
			// A comment at the start of an element is allowed, but only the first
			// element's is modern syntax.
			if p.elementCount == 0 {
				p.add(diagCFWSComment)
			} else {
				p.add(diagDeprecComment)
			}
		} else {
			p.add(diagCFWSComment)
			p.endOrDie = true
		}
		p.push(ctxComment)
	case '.':
		if p.elementLen == 0 {
			if p.elementCount == 0 {
				p.add(diagErrDotStart)
			} else {
				p.add(diagErrConsecDots)
			}
			return
		}
		// A quoted word followed by more words is obs-local-part.
		if p.endOrDie {
			p.add(diagDeprecLocalPart)
		}
		p.endOrDie = false
		p.elementLen = 0
		p.elementCount++
		p.localLen++
	case '"':
		if p.elementLen != 0 {
			p.add(diagErrExpectAText)
			return
		}
		if p.elementCount == 0 {
			p.add(diagQuotedString)
		} else {
			p.add(diagDeprecLocalPart)
		}
		p.localLen++
		p.elementLen++
		p.endOrDie = true
		p.push(ctxQuoted)
	case '\r', ' ', '\t':
		if p.elementLen == 0 {
			if p.elementCount == 0 {
				p.add(diagCFWSFWS)
			} else {
				p.add(diagDeprecFWS)
			}
		} else {
			p.endOrDie = true
		}
		p.enterFWS(c)
	case '@':
		switch {
		case p.localLen == 0:
			p.add(diagErrNoLocalPart)
		case p.elementLen == 0:
			p.add(diagErrDotEnd)
		case p.localLen > maxLocalOctets:
			p.add(diagLocalTooLong)
		case p.prior == ctxComment || p.prior == ctxFWS:
			p.add(diagDeprecCFWSNearAt)
		}
		p.at = i
		p.ctx = ctxDomain
		p.stack = p.stack[:0]
		p.elementCount = 0
		p.elementLen = 0
		p.endOrDie = false
	default:
		if p.endOrDie {
			if p.prior == ctxQuoted {
				p.add(diagErrATextAfterQS)
			} else {
				p.add(diagErrATextAfterCWS)
			}
			return
		}
		p.prior = ctxLocal
		switch {
		case c < utf8.RuneSelf:
			if c < 33 || c > 126 || strings.IndexByte(specials, c) >= 0 {
				p.add(diagErrExpectAText)
			}
		case r == utf8.RuneError:
			p.add(diagErrMalformedUTF8)
		case isC1(r):
			p.add(diagErrExpectAText)
		}
		// Otherwise a UTF-8 character: atext under RFC 6531.
		p.localLen += size
		p.elementLen++
	}
}

func (p *parser) stepDomain(c byte, r rune, size int) {
	switch c {
	case '(':
		if p.elementLen == 0 {
			// A comment right after the "@" is discouraged by RFC 5322 §3.4.1; one at
			// the start of a later label is obs-domain.
			if p.elementCount == 0 {
				p.add(diagDeprecCFWSNearAt)
			} else {
				p.add(diagDeprecComment)
			}
		} else {
			p.add(diagCFWSComment)
			p.endOrDie = true
		}
		p.push(ctxComment)
	case '.':
		switch {
		case p.elementLen == 0:
			if p.elementCount == 0 {
				p.add(diagErrDotStart)
			} else {
				p.add(diagErrConsecDots)
			}
			return
		case p.hyphen:
			p.add(diagErrHyphenEnd)
			return
		case p.isLit:
			p.add(diagErrDotAfterLit)
			return
		}
		p.endOrDie = false
		p.elementLen = 0
		p.elementCount++
		p.dom = append(p.dom, '.')
	case '[':
		if len(p.dom) != 0 {
			p.add(diagErrExpectAText)
			return
		}
		p.isLit = true
		p.endOrDie = true
		p.elementLen++
		p.dom = append(p.dom, '[')
		p.push(ctxLiteral)
	case '\r', ' ', '\t':
		if p.elementLen == 0 {
			if p.elementCount == 0 {
				p.add(diagDeprecCFWSNearAt)
			} else {
				p.add(diagDeprecFWS)
			}
		} else {
			p.add(diagCFWSFWS)
			p.endOrDie = true
		}
		p.enterFWS(c)
	default:
		if p.endOrDie {
			if p.prior == ctxLiteral {
				p.add(diagErrATextAfterLit)
			} else {
				p.add(diagErrATextAfterCWS)
			}
			return
		}
		p.hyphen = false
		switch {
		case c < utf8.RuneSelf:
			switch {
			case c < 33 || c > 126 || strings.IndexByte(specials, c) >= 0:
				p.add(diagErrExpectAText)
				return
			case c == '-':
				if p.elementLen == 0 {
					p.add(diagErrHyphenStart)
					return
				}
				p.hyphen = true
			case !isLetDig(c):
				// atext, so RFC 5322 allows it, but it is not a host name character.
				p.add(diagRFC5322Domain)
			}
		case r == utf8.RuneError:
			p.add(diagErrMalformedUTF8)
			return
		case isC1(r):
			p.add(diagErrExpectAText)
			return
		default:
			// A U-label character (RFC 6531); IDNA judges the label at the end.
			p.idn = true
		}
		p.dom = appendToken(p.dom, c, r, size)
		p.elementLen++
	}
}

// appendToken appends one token to b without converting it through a string.
func appendToken(b []byte, c byte, r rune, size int) []byte {
	if size == 1 {
		return append(b, c)
	}
	return utf8.AppendRune(b, r)
}

func isLetDig(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (p *parser) stepLiteral(c byte, r rune) {
	switch c {
	case ']':
		// Only a literal with nothing worse than CFWS so far can be an RFC 5321
		// address literal; anything already deprecated stays a plain RFC 5322 one.
		if p.max < thresholdDeprec {
			p.add(gradeAddressLiteral(string(p.lit)))
		} else {
			p.add(diagDomainLiteral)
		}
		p.dom = append(p.dom, ']')
		p.elementLen++
		p.prior = ctxLiteral
		p.pop()
	case '\\':
		p.add(diagDomLitObsDText)
		p.push(ctxQuotedPair)
	case '\r', ' ', '\t':
		p.add(diagCFWSFWS)
		p.enterFWS(c)
	default:
		switch {
		case c >= utf8.RuneSelf:
			// dtext is ASCII only; RFC 6531 does not extend address literals.
			if r == utf8.RuneError {
				p.add(diagErrMalformedUTF8)
			} else {
				p.add(diagErrExpectDText)
			}
			return
		case c == 0 || c == '[':
			p.add(diagErrExpectDText)
			return
		case c < 33 || c == 127:
			p.add(diagDomLitObsDText)
		}
		p.lit = append(p.lit, c)
		p.dom = append(p.dom, c)
		p.elementLen++
	}
}

func (p *parser) stepQuoted(c byte, r rune, size int) {
	switch c {
	case '\\':
		p.push(ctxQuotedPair)
	case '\r', '\t':
		// Inside quotes a space is ordinary text; only HTAB or CRLF make FWS, which
		// travels as a single space.
		p.localLen++
		p.elementLen++
		p.add(diagCFWSFWS)
		p.enterFWS(c)
	case '"':
		p.localLen++
		p.elementLen++
		p.prior = ctxQuoted
		p.pop()
	default:
		switch {
		case c < utf8.RuneSelf:
			if c == 0 || c == '\n' {
				p.add(diagErrExpectQText)
				return
			}
			if c < 32 || c == 127 {
				p.add(diagDeprecQText)
			}
		case r == utf8.RuneError:
			p.add(diagErrMalformedUTF8)
			return
		case isC1(r):
			p.add(diagErrExpectQText)
			return
		}
		p.localLen += size
		p.elementLen++
	}
}

func (p *parser) stepQuotedPair(c byte, r rune) {
	switch {
	case c >= utf8.RuneSelf:
		// RFC 6531 widens qtext but not quoted-pair: only ASCII may be escaped.
		if r == utf8.RuneError {
			p.add(diagErrMalformedUTF8)
		} else {
			p.add(diagErrExpectQPair)
		}
		return
	case (c < 32 && c != '\t') || c == 127:
		p.add(diagDeprecQP) // obs-qp
	}
	p.prior = ctxQuotedPair
	p.pop()
	switch p.ctx {
	case ctxQuoted:
		// Length limits count octets on the wire, backslash included.
		p.localLen += 2
		p.elementLen += 2
	case ctxLiteral:
		p.dom = append(p.dom, '\\', c)
		p.elementLen += 2
	}
}

func (p *parser) stepComment(c byte, r rune) {
	switch c {
	case '(':
		p.push(ctxComment)
	case ')':
		p.prior = ctxComment
		p.pop()
	case '\\':
		p.push(ctxQuotedPair)
	case '\r', ' ', '\t':
		p.add(diagCFWSFWS)
		p.enterFWS(c)
	default:
		switch {
		case c < utf8.RuneSelf:
			if c == 0 || c == '\n' {
				p.add(diagErrExpectCText)
			} else if c < 32 || c == 127 {
				p.add(diagDeprecCText)
			}
		case r == utf8.RuneError:
			p.add(diagErrMalformedUTF8)
		case isC1(r):
			p.add(diagErrExpectCText)
		}
		// Otherwise UTF-8 ctext (RFC 6532).
	}
}

func (p *parser) stepFWS(c byte) bool {
	if p.prevCR {
		if c == '\r' {
			p.add(diagErrCRLFx2)
			return false
		}
		p.crlfCount++
		if p.crlfCount > 1 {
			// More than one fold in a run is obs-FWS (RFC 5322 erratum 1908).
			p.add(diagDeprecFWS)
		}
	}
	switch c {
	case '\r':
		p.prevCR = true
	case ' ', '\t':
		p.prevCR = false
	default:
		if p.prevCR {
			// A fold must be followed by white space.
			p.add(diagErrCRLFEnd)
			return false
		}
		p.crlfCount = 0
		p.prior = ctxFWS
		p.pop()
		return true
	}
	return false
}

// enclosing is the innermost context that is not FWS: the construct an unfinished run
// of white space belongs to.
func (p *parser) enclosing() pctx {
	if p.ctx != ctxFWS {
		return p.ctx
	}
	for i := len(p.stack) - 1; i >= 0; i-- {
		if p.stack[i] != ctxFWS {
			return p.stack[i]
		}
	}
	return ctxLocal
}

// finish applies the checks that need the whole address: unclosed constructs, the
// empty-part errors and the length limits, then the top-level-domain warnings.
func (p *parser) finish() {
	if p.max >= thresholdRFC5322 {
		return
	}
	if p.ctx == ctxFWS && p.lastCR {
		// Input that stops right after a fold: the fold is the first thing wrong.
		p.add(diagErrCRLFEnd)
		return
	}
	switch p.enclosing() {
	case ctxQuoted:
		p.add(diagErrUnclosedQS)
		return
	case ctxQuotedPair:
		p.add(diagErrBackslashEnd)
		return
	case ctxComment:
		p.add(diagErrUnclosedCmt)
		return
	case ctxLiteral:
		p.add(diagErrUnclosedLit)
		return
	}
	switch {
	case len(p.dom) == 0:
		p.add(diagErrNoDomain)
		return
	case p.elementLen == 0:
		p.add(diagErrDotEnd)
		return
	case p.hyphen:
		p.add(diagErrHyphenEnd)
		return
	}

	domLen, lastLabel, longInner := p.domainLengths()
	if longInner {
		p.add(diagLabelTooLong)
	}
	switch {
	case domLen > maxDomainOctets:
		p.add(diagDomainTooLong)
	case p.localLen+1+domLen > maxAddrOctets:
		p.add(diagTooLong)
	case lastLabel > maxLabelOctets:
		p.add(diagLabelTooLong)
	}

	// Without DNS we cannot tell a live TLD-only mail domain from a typo, so is_email
	// warns about both shapes; a host name also never has an all-numeric top label.
	if p.max < thresholdDNSWarn && !p.isLit {
		if p.elementCount == 0 {
			p.add(diagTLD)
		}
		last := p.dom[bytes.LastIndexByte(p.dom, '.')+1:]
		if len(last) > 0 && last[0] >= '0' && last[0] <= '9' {
			p.add(diagTLDNumeric)
		}
	}
}

// domainLengths measures the domain as it would travel: internationalised labels count
// in their A-label (Punycode) form, as RFC 5890 §2.3.2.1 requires. It also runs IDNA on
// internationalised domains and grades a failure as an RFC 5322-only domain: such a
// name satisfies the broad grammar but cannot be looked up.
func (p *parser) domainLengths() (total, last int, longInner bool) {
	if p.isLit {
		return len(p.dom), len(p.dom), false
	}
	dom := p.dom
	if !p.idn && !hasALabel(dom) {
		return measureLabels(dom)
	}
	if len(dom) > maxIDNAInput {
		p.add(diagRFC5322Domain)
		return measureLabels(dom)
	}
	a, err := idnaProfile.ToASCII(string(dom))
	if err == nil {
		p.ascii = a
		return measureLabels([]byte(a))
	}
	p.add(diagRFC5322Domain)
	// Still measure what the labels would cost once encoded, so length diagnoses stay
	// meaningful for a name IDNA refused.
	for i, l := range strings.Split(string(dom), ".") {
		n := len(l)
		if !isASCII(l) && n <= 4*maxLabelOctets {
			if enc, err := idna.Punycode.ToASCII(l); err == nil {
				n = len(enc)
			}
		}
		if i > 0 {
			total++
		}
		total += n
		if last > maxLabelOctets {
			longInner = true
		}
		last = n
	}
	return total, last, longInner
}

// asciiDomain returns the domain of a valid address in the form used for look-up. A
// valid address has no comments or white space, so the domain is the input after the
// "@" and, in the common all-ASCII case, can be returned without copying.
func (p *parser) asciiDomain() string {
	if p.ascii != "" {
		return p.ascii
	}
	return lowerASCII(p.s[p.at+1:])
}

// measureLabels returns the length of a dotted domain, of its last label, and whether
// any earlier label is over the 63-octet limit.
func measureLabels(dom []byte) (total, last int, longInner bool) {
	start := 0
	for i := 0; i <= len(dom); i++ {
		if i == len(dom) || dom[i] == '.' {
			if i < len(dom) && i-start > maxLabelOctets {
				longInner = true
			}
			last = i - start
			start = i + 1
		}
	}
	return len(dom), last, longInner
}

// hasALabel reports whether some label starts with the ACE prefix "xn--": such a label
// claims to be Punycode and must decode to a valid U-label.
func hasALabel(dom []byte) bool {
	start := 0
	for {
		if len(dom)-start >= 4 && (dom[start]|0x20) == 'x' && (dom[start+1]|0x20) == 'n' &&
			dom[start+2] == '-' && dom[start+3] == '-' {
			return true
		}
		i := bytes.IndexByte(dom[start:], '.')
		if i < 0 {
			return false
		}
		start += i + 1
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases ASCII letters, returning s itself when nothing changes so the
// common already-lower-case address costs no allocation.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// gradeAddressLiteral grades the content of a domain literal against RFC 5321 §4.1.3:
// a dotted IPv4 address, or "IPv6:" followed by a full, compressed or IPv4-suffixed IPv6
// address. Anything else is only an RFC 5322 domain literal. The IPv6 checks report the
// specific fault in the way is_email does, so operators can see why a literal failed.
func gradeAddressLiteral(lit string) diag {
	addr := lit
	if p := ipv4SuffixStart(lit); p == 0 {
		return diagAddressLiteral
	} else if p > 0 {
		// Replace the IPv4 tail by two IPv6 groups so the group count works out.
		addr = lit[:p] + "0:0"
	}
	if len(addr) < 5 || !strings.EqualFold(addr[:5], "IPv6:") {
		return diagDomainLiteral
	}
	v6 := addr[5:]
	var worst diag
	note := func(d diag) {
		if d > worst {
			worst = d
		}
	}
	groups := strings.Count(v6, ":") + 1
	maxGroups := 8
	if dc := strings.Index(v6, "::"); dc < 0 {
		if groups != maxGroups {
			note(diagIPv6GrpCount)
		}
	} else if dc != strings.LastIndex(v6, "::") {
		note(diagIPv62x2xColon)
	} else {
		// RFC 4291 lets "::" stand at either end with seven groups beside it.
		if dc == 0 || dc == len(v6)-2 {
			maxGroups++
		}
		if groups > maxGroups {
			note(diagIPv6MaxGrps)
		} else if groups == maxGroups {
			// "::" standing for a single group: RFC 5952 says not to.
			note(diagDeprecIPv6)
		}
	}
	n := len(v6)
	switch {
	case n >= 1 && v6[0] == ':' && (n < 2 || v6[1] != ':'):
		note(diagIPv6ColonStrt)
	case n >= 1 && v6[n-1] == ':' && (n < 2 || v6[n-2] != ':'):
		note(diagIPv6ColonEnd)
	case !hexGroups(v6):
		note(diagIPv6BadChar)
	default:
		note(diagAddressLiteral)
	}
	return worst
}

// hexGroups reports whether every colon-separated group is at most four hex digits.
func hexGroups(v6 string) bool {
	n := 0
	for i := 0; i < len(v6); i++ {
		c := v6[i]
		switch {
		case c == ':':
			n = 0
			continue
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			n++
			if n > 4 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// ipv4SuffixStart finds where a dotted-quad IPv4 address that ends the literal begins,
// starting at a word boundary, or -1. A dotted quad is at most 15 characters long, so
// only the tail needs looking at; that keeps hostile literals linear.
func ipv4SuffixStart(lit string) int {
	from := len(lit) - 15
	if from < 0 {
		from = 0
	}
	for p := from; p < len(lit); p++ {
		if !isWordByte(lit[p]) || (p > 0 && isWordByte(lit[p-1])) {
			continue
		}
		if isDottedQuad(lit[p:]) {
			return p
		}
	}
	return -1
}

func isWordByte(c byte) bool { return isLetDig(c) || c == '_' }

func isDottedQuad(s string) bool {
	parts := 0
	for len(s) > 0 {
		n, v := 0, 0
		for n < len(s) && n < 4 && s[n] >= '0' && s[n] <= '9' {
			v = v*10 + int(s[n]-'0')
			n++
		}
		if n == 0 || n > 3 || v > 255 {
			return false
		}
		parts++
		s = s[n:]
		if len(s) == 0 {
			break
		}
		if s[0] != '.' || parts == 4 {
			return false
		}
		s = s[1:]
		if len(s) == 0 {
			return false
		}
	}
	return parts == 4
}
