package customer

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Mask renders v the way the catalog's mask kind says, keeping just enough for staff to tell
// customers apart ("j***@example.com") without exposing the value.
func Mask(kind string, v any) any {
	s, ok := v.(string)
	switch kind {
	case "none":
		return v
	case "full":
		return "********"
	}
	if !ok {
		return "********"
	}
	switch kind {
	case "email":
		at := strings.LastIndexByte(s, '@')
		if at <= 0 {
			return "********"
		}
		r, _ := utf8.DecodeRuneInString(s)
		return string(r) + "***" + s[at:]
	case "phone":
		return maskPhone(s)
	case "date":
		if len(s) >= 4 {
			return s[:4] + "-**-**"
		}
		return "****-**-**"
	case "last4":
		if len(s) <= 4 {
			return strings.Repeat("*", len(s))
		}
		return "**** " + s[len(s)-4:]
	case "partial":
		r, _ := utf8.DecodeRuneInString(s)
		return string(r) + "***"
	}
	return "********"
}

// maskPhone keeps the country code and the last three digits: "+44 **** ***958".
func maskPhone(e164 string) string {
	code, national, ok := splitE164(e164)
	if !ok {
		return "********"
	}
	cc := "+" + code + " "
	n := len(national)
	if n <= 3 {
		return cc + strings.Repeat("*", n)
	}
	tail := national[n-3:]
	hidden := n - 3
	if hidden <= 4 {
		return cc + strings.Repeat("*", hidden) + tail
	}
	return cc + strings.Repeat("*", 4) + " " + strings.Repeat("*", hidden-4) + tail
}

// callingCodes are the country calling codes, which form a prefix code: no code begins
// another, so the first one to match a number's leading digits is its code.
var callingCodes = phonenumbers.GetSupportedCallingCodes()

// splitE164 splits a stored E.164 number into its calling code and national significant
// number without parsing it again: masking runs on every read, and a full parse costs more
// than the rest of the read's decoding.
func splitE164(e164 string) (code, national string, ok bool) {
	if len(e164) < 3 || e164[0] != '+' {
		return "", "", false
	}
	digits := e164[1:]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", "", false
		}
	}
	for n := 1; n <= 3 && n < len(digits); n++ {
		if v, err := strconv.Atoi(digits[:n]); err == nil && callingCodes[v] {
			return digits[:n], digits[n:], true
		}
	}
	return "", "", false
}
