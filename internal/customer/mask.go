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
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return "********"
	}
	national := phonenumbers.GetNationalSignificantNumber(num)
	cc := "+" + strconv.Itoa(int(num.GetCountryCode())) + " "
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
