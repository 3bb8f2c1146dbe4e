package quality

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"user@example.com", "user@example.com"},
		{"User@Example.COM", "user@example.com"},
		{"  John.Doe+news@Example.org\t", "john.doe+news@example.org"},
		{"\u00a0jane@example.org\ufeff", "jane@example.org"}, // paste artefacts
		{"user@bücher.example", "user@xn--bcher-kva.example"},
		{"user@BÜCHER.example", "user@xn--bcher-kva.example"},
		{"Ünïcödé@Bücher.example", "ünïcödé@xn--bcher-kva.example"},
		{"伊昭傑@郵件.商務", "伊昭傑@xn--5nqv22n.xn--lhr59c"},
		{"x@ＥＸＡＭＰＬＥ.com", "x@example.com"}, // full-width letters map to ASCII
		{"test@xn--hxajbheg2az3al.xn--jxalpdlp", "test@xn--hxajbheg2az3al.xn--jxalpdlp"},
		{"test@c--n.com", "test@c--n.com"},
		{"!#$%&`*+/=?^`{|}~@iana.org", "!#$%&`*+/=?^`{|}~@iana.org"},
		{"a@b.co", "a@b.co"},
	}
	for _, c := range cases {
		got, err := NormalizeEmail(c.in)
		if err != nil || got != c.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestValidateEmailRejects(t *testing.T) {
	cases := []struct {
		in        string
		category  EmailCategory
		diagnosis string
		reason    string
	}{
		{"", CategoryError, "ERR_NODOMAIN", "address is empty"},
		{"plainaddress", CategoryError, "ERR_NODOMAIN", "address has no @ sign"},
		{"user@localhost", CategoryRFC5321, "RFC5321_TLD", "domain has no dot"},
		{"user@iana.123", CategoryRFC5321, "RFC5321_TLDNUMERIC", "top-level domain is numeric"},
		{`"john"@example.com`, CategoryRFC5321, "RFC5321_QUOTEDSTRING", "local part is a quoted string"},
		{"user@[192.0.2.1]", CategoryRFC5321, "RFC5321_ADDRESSLITERAL", "domain is an IP address literal"},
		{"user@[IPv6:2001:db8::1]", CategoryRFC5321, "RFC5321_ADDRESSLITERAL", "domain is an IP address literal"},
		{"(work)user@example.com", CategoryCFWS, "CFWS_COMMENT", "address contains a comment"},
		{"user @example.com", CategoryDeprecated, "DEPREC_CFWS_NEAR_AT", "address has a comment or white space next to the @ sign"},
		{"user@exa_mple.com", CategoryRFC5322, "RFC5322_DOMAIN", "domain contains characters not allowed in host names"},
		{"user@xn--test.com", CategoryRFC5322, "RFC5322_DOMAIN", "domain is not a valid internationalised domain name"},
		{"user@example.com\n", CategoryError, "ERR_EXPECTING_ATEXT", "address contains a character that is not allowed"},
		{"user..name@example.com", CategoryError, "ERR_CONSECUTIVEDOTS", "address contains consecutive dots"},
		{"user@-example.com", CategoryError, "ERR_DOMAINHYPHENSTART", "a domain label starts with a hyphen"},
		{"user@example.com.", CategoryError, "ERR_DOT_END", "local part or domain ends with a dot"},
		{"us\xffer@example.com", CategoryError, "ERR_MALFORMED_UNICODE", "address contains malformed UTF-8"},
		{"us\u00a0er@example.com", CategoryValid, "VALID", "local part contains invisible or spacing characters"},
		{"us\u202eer@example.com", CategoryValid, "VALID", "local part contains invisible or spacing characters"},
		{strings.Repeat("a", 65) + "@example.com", CategoryRFC5322, "RFC5322_LOCAL_TOOLONG", "local part is longer than 64 octets"},
	}
	for _, c := range cases {
		r := ValidateEmail(c.in)
		if r.Acceptable || r.Normalized != "" {
			t.Errorf("%q: acceptable (%q), want rejected", c.in, r.Normalized)
		}
		if r.Category != c.category || r.Diagnosis != c.diagnosis || r.Reason != c.reason {
			t.Errorf("%q: got %s/%s %q; want %s/%s %q", c.in, r.Category, r.Diagnosis, r.Reason,
				c.category, c.diagnosis, c.reason)
		}
	}
}

// The strict grade describes the input as given, while the practical verdict forgives
// the blanks a paste leaves around a value.
func TestGradeIsOfOriginalInput(t *testing.T) {
	r := ValidateEmail(" user@example.com ")
	if r.Category != CategoryCFWS || r.Diagnosis != "CFWS_FWS" {
		t.Errorf("grade = %s/%s, want cfws/CFWS_FWS", r.Category, r.Diagnosis)
	}
	if !r.Acceptable || r.Normalized != "user@example.com" {
		t.Errorf("practical = %v %q, want acceptable user@example.com", r.Acceptable, r.Normalized)
	}
}

func TestNormalizeEmailError(t *testing.T) {
	const secret = "zq7wv.kx9@qqq-private"
	_, err := NormalizeEmail(secret)
	if err == nil {
		t.Fatal("dotless domain accepted")
	}
	if !errors.Is(err, ErrEmailNotAcceptable) {
		t.Errorf("error %v does not match ErrEmailNotAcceptable", err)
	}
	var ee *EmailError
	if !errors.As(err, &ee) || ee.Diagnosis != "RFC5321_TLD" {
		t.Errorf("error %#v: want *EmailError with RFC5321_TLD", err)
	}
	if msg := err.Error(); msg != strings.ToLower(msg[:1])+msg[1:] {
		t.Errorf("error message %q is not lower-case", msg)
	}
}

// No Reason or error may quote the input: every Reason must be one of our constants.
func TestReasonsNeverQuoteInput(t *testing.T) {
	known := map[string]bool{
		reasonEmpty: true, reasonNoAt: true, reasonBadIDN: true, reasonInvalid: true,
		reasonInvisible: true, reasonFoldedTooLong: true, reasonNotHostname: true,
	}
	for _, r := range diagReasons {
		known[r] = true
	}
	inputs := []string{
		"secretuser", "secret@", "@secret.com", "secret@secret", "secret..x@y.com",
		`"secret"@x.com`, "secret@[1.2.3]", "secret@bad_domain.com", "(secret)x@y.com",
		"secret@xn--zz.com", strings.Repeat("secret", 20) + "@x.com",
	}
	for _, in := range inputs {
		r := ValidateEmail(in)
		if r.Acceptable {
			t.Errorf("%q unexpectedly acceptable", in)
			continue
		}
		if !known[r.Reason] {
			t.Errorf("%q: reason %q is not a known constant", in, r.Reason)
		}
		if strings.Contains(r.Reason, "secret") {
			t.Errorf("%q: reason %q quotes the input", in, r.Reason)
		}
		if _, err := NormalizeEmail(in); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error %v quotes the input or is missing", in, err)
		}
	}
}

func TestRoleAccounts(t *testing.T) {
	cases := map[string]bool{
		"info@acme.com":          true,
		"Sales@acme.com":         true,
		"support+eu@acme.com":    true,
		"noreply@acme.com":       true,
		"no-reply@acme.com":      true,
		"no_reply@acme.com":      true,
		"do-not-reply@acme.com":  true,
		"postmaster@acme.com":    true,
		"webmaster@acme.com":     true,
		"abuse@acme.com":         true,
		"enquiries@acme.co.uk":   true,
		"hello@acme.com":         true,
		"mailer-daemon@acme.com": true,
		"Bounces@acme.com":       true,
		"jane.doe@acme.com":      false,
		"information@acme.com":   false,
		"salesforce.bot@x.com":   false,
		"infoseeker@example.org": false,
	}
	for in, want := range cases {
		if got := ValidateEmail(in).Role; got != want {
			t.Errorf("Role(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestDisposableDomains(t *testing.T) {
	cases := map[string]bool{
		"x@mailinator.com":      true,
		"x@MAILINATOR.com":      true,
		"x@guerrillamail.com":   true,
		"x@10minutemail.com":    true,
		"x@yopmail.com":         true,
		"x@trashmail.com":       true,
		"x@tempmail.com":        true,
		"x@temp-mail.org":       true,
		"x@eu.mailinator.com":   true,
		"x@sharklasers.com":     true,
		"x@getnada.com":         true,
		"x@armyspy.com":         true,
		"x@spam4.me":            true,
		"x@icloud.com":          false,
		"x@duck.com":            false, // a privacy relay to a real mailbox
		"x@example.com":         false,
		"x@gmail.com":           false,
		"x@notmailinator.com":   false,
		"x@mailinator.com.evil": false,
	}
	for in, want := range cases {
		r := ValidateEmail(in)
		if !r.Acceptable {
			t.Errorf("%q not acceptable: %s", in, r.Reason)
		}
		if r.Disposable != want {
			t.Errorf("Disposable(%q) = %v, want %v", in, r.Disposable, want)
		}
	}
}

func TestSuggestions(t *testing.T) {
	cases := map[string]string{
		"John.Doe@gmial.com": "john.doe@gmail.com",
		"a@gmai.com":         "a@gmail.com",
		"a@gamil.com":        "a@gmail.com",
		"a@gmail.co":         "a@gmail.com",
		"a@gmial.co":         "a@gmail.com", // two edits
		"a@hotmial.com":      "a@hotmail.com",
		"a@hotmail.co":       "a@hotmail.com",
		"a@yaho.com":         "a@yahoo.com",
		"a@yahooo.com":       "a@yahoo.com",
		"a@yahoo.co":         "a@yahoo.com",
		"a@outlok.com":       "a@outlook.com",
		"a@icoud.com":        "a@icloud.com",
		"a@iclod.com":        "a@icloud.com",
		"a@icloud.co":        "a@icloud.com",
		"a@aol.co":           "a@aol.com",
		"a@comcats.net":      "a@comcast.net",
		"a@gmail.con":        "a@gmail.com",
		"a@shop.example.con": "a@shop.example.com", // top-level label fixed on any domain
		"a@example.cmo":      "a@example.com",
		"a@example.nett":     "a@example.net",
		"a@example.ogr":      "a@example.org",
		"a@example.co":       "", // .co is a real country code
		"a@example.cm":       "",
		"a@example.bet":      "", // a real top-level domain
		"a@gmail.com":        "", // on the list
		"a@mail.com":         "", // a real provider one edit from gmail.com
		"a@ymail.com":        "",
		"a@yahoo.es":         "", // regional variant, not a typo
		"a@outlook.de":       "",
		"a@hotmail.it":       "",
		"a@live.co.uk":       "",
		"a@love.com":         "",
		"a@acme.com":         "",
		"a@me.com":           "",
		"a@example.org":      "",
	}
	for in, want := range cases {
		r := ValidateEmail(in)
		if r.Suggestion != want {
			t.Errorf("Suggestion(%q) = %q, want %q", in, r.Suggestion, want)
		}
	}
}

func TestOSAWithin(t *testing.T) {
	cases := []struct {
		a, b string
		k    int
		want int
	}{
		{"gmail.com", "gmail.com", 2, 0},
		{"gmial.com", "gmail.com", 2, 1},
		{"gmai.com", "gmail.com", 2, 1},
		{"gmial.co", "gmail.com", 2, 2},
		{"gmial.co", "gmail.com", 1, -1},
		{"abc", "abcdef", 2, -1},
		{"", "ab", 2, 2},
	}
	for _, c := range cases {
		if got := osaWithin(c.a, c.b, c.k); got != c.want {
			t.Errorf("osaWithin(%q, %q, %d) = %d, want %d", c.a, c.b, c.k, got, c.want)
		}
	}
}

func TestAddressLiteralGrades(t *testing.T) {
	cases := map[string]diag{
		"1.2.3.4":                  diagAddressLiteral,
		"1.2.3":                    diagDomainLiteral,
		"1.2.3.256":                diagDomainLiteral,
		"IPv6:::1":                 diagAddressLiteral,
		"ipv6:2001:db8::1":         diagAddressLiteral,
		"IPv6:1::2:3:4:5:6:7":      diagDeprecIPv6,
		"IPv6:1:2:3:4:5:6:7":       diagIPv6GrpCount,
		"IPv6:1::2::3":             diagIPv62x2xColon,
		"IPv6:::ffff:192.0.2.1":    diagAddressLiteral,
		"IPv6:1:2:3:4:5:6:1.2.3.4": diagAddressLiteral,
		"IPv6:12345::1":            diagIPv6BadChar,
		"IPv6:":                    diagIPv6GrpCount,
		"IPv6::1:2:3:4:5:6:7":      diagIPv6ColonStrt,
		"general:tag":              diagDomainLiteral,
	}
	for lit, want := range cases {
		if got := gradeAddressLiteral(lit); got != want {
			t.Errorf("gradeAddressLiteral(%q) = %s, want %s", lit, got, want)
		}
	}
}

// A hostile input must cost time linear in its length; these would take far longer
// than the test timeout if any step were quadratic.
func TestLargeInputsStayCheap(t *testing.T) {
	big := strings.Repeat("a", 1<<20)
	for _, in := range []string{
		big,
		big + "@example.com",
		"x@" + big,
		"x@[" + strings.Repeat("1.", 1<<19) + "]",
		"x@" + strings.Repeat("ü", 1<<19) + ".com",
		strings.Repeat("(", 1<<18) + "x@y.com",
		"x@" + strings.Repeat("a.", 1<<19) + "com",
	} {
		if r := ValidateEmail(in); r.Acceptable {
			t.Errorf("input of %d bytes accepted", len(in))
		}
	}
}

// The disposable list must hold host names only, each once, in lower case, and none of the
// big providers: flagging gmail.com would mark most customers as risky.
func TestDisposableListIsWellFormed(t *testing.T) {
	if n := len(disposableDomains); n < 250 {
		t.Errorf("disposable list holds %d domains, want a few hundred", n)
	}
	for d := range disposableDomains {
		if !isHostname(d) {
			t.Errorf("disposable entry %q is not a lower-case host name", d)
		}
		if providerSet[d] {
			t.Errorf("disposable entry %q is a big provider", d)
		}
	}
	for tld, fix := range tldFixes {
		if tld == fix || len(tld) < 2 {
			t.Errorf("tld fix %q → %q is meaningless", tld, fix)
		}
		if typoEndings[tld] {
			t.Errorf("tld fix %q would correct a real country code everywhere", tld)
		}
	}
}
