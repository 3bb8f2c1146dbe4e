package customer

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
)

// Normalizer turns raw input into the canonical value stored for a field. It needs the default
// phone region because national phone numbers mean nothing without one.
type Normalizer struct {
	Catalog       *catalog.Catalog
	DefaultRegion string
}

// Value normalises one input value for field name. Errors are Invalid and name the field
// but never repeat the value, which is personal data.
func (n *Normalizer) Value(name string, raw any) (any, catalog.Field, error) {
	f, ok := n.Catalog.Field(name)
	if !ok {
		return nil, f, problem.InvalidField(name, "is not declared in the data catalog")
	}
	if s, isString := raw.(string); isString && looksLikeCardNumber(s, f.Type) || isCardNumber(raw) {
		return nil, f, problem.InvalidField(name, "looks like a payment card number; store a processor token instead")
	}
	v, err := n.value(f, raw)
	if err != nil {
		return nil, f, problem.InvalidField(name, "%s", err.Error())
	}
	return v, f, nil
}

func (n *Normalizer) value(f catalog.Field, raw any) (any, error) {
	if num, ok := goNumber(raw); ok {
		raw = num
	}
	switch f.Type {
	case "integer":
		num, ok := raw.(json.Number)
		if !ok {
			return nil, fmt.Errorf("must be an integer")
		}
		i, err := num.Int64()
		if err != nil {
			return nil, fmt.Errorf("must be an integer")
		}
		return i, nil
	case "number":
		num, ok := raw.(json.Number)
		if !ok {
			return nil, fmt.Errorf("must be a number")
		}
		x, err := num.Float64()
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("must be a finite number")
		}
		return x, nil
	case "boolean":
		b, ok := raw.(bool)
		if !ok {
			return nil, fmt.Errorf("must be true or false")
		}
		return b, nil
	}
	s, ok := raw.(string)
	if !ok {
		return nil, fmt.Errorf("must be a string")
	}
	s, err := cleanText(s, f.MaxLength)
	if err != nil {
		return nil, err
	}
	switch f.Type {
	case "email":
		return quality.NormalizeEmail(s)
	case "phone":
		return quality.NormalizePhone(s, n.DefaultRegion)
	case "date":
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			return nil, fmt.Errorf("must be a date as YYYY-MM-DD")
		}
		if d.Year() < 1900 || d.After(time.Now().AddDate(1, 0, 0)) {
			return nil, fmt.Errorf("date is out of range")
		}
		return s, nil
	case "datetime":
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("must be an RFC 3339 date and time")
		}
		return t.UTC().Format(time.RFC3339Nano), nil
	case "enum":
		for _, v := range f.Values {
			if strings.EqualFold(v, s) {
				return v, nil
			}
		}
		return nil, fmt.Errorf("must be one of %s", strings.Join(f.Values, ", "))
	case "country":
		c, ok := quality.LookupCountry(s)
		if !ok {
			return nil, fmt.Errorf("must be an ISO 3166-1 country code or an English country name")
		}
		return c.Alpha2, nil
	case "postal_code":
		// The country is another field: here the code is only folded and checked for the
		// shape of any postal code; Address checks it against the country of the same write.
		return postalCode("", s)
	case "language":
		tag, err := language.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("must be a BCP 47 language tag")
		}
		return tag.String(), nil
	case "ip":
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("must be an IPv4 or IPv6 address")
		}
		return a.Unmap().String(), nil
	}
	return s, nil
}

// cleanText applies the normalisation every text value gets (quality.CleanText: Unicode NFC,
// surrounding and repeated inner white space folded, no control characters) and a length
// limit.
func cleanText(s string, max int) (string, error) {
	s, err := quality.CleanText(s)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("must not be empty (use null to remove a value)")
	}
	if max <= 0 {
		max = 256
	}
	if utf8.RuneCountInString(s) > max {
		return "", fmt.Errorf("is longer than %d characters", max)
	}
	return s, nil
}

// looksLikeCardNumber reports a Luhn-valid run of 13 to 19 digits (spaces and dashes allowed),
// which is how a PAN arrives when someone puts one where it must not go. An international phone
// number written with its leading plus is exempt: it is a phone number by construction.
func looksLikeCardNumber(s, typ string) bool {
	t := strings.TrimSpace(s)
	if typ == "phone" && strings.HasPrefix(t, "+") {
		return false
	}
	digits := make([]byte, 0, 19)
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			if len(digits) == 19 {
				return false
			}
			digits = append(digits, c-'0')
		case c == ' ' || c == '-':
		default:
			return false
		}
	}
	if len(digits) < 13 {
		return false
	}
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i])
		if (len(digits)-1-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// goNumber lets callers inside the process (demo data, imports) pass Go numbers where the
// API passes JSON numbers.
func goNumber(raw any) (json.Number, bool) {
	switch n := raw.(type) {
	case int:
		return json.Number(strconv.Itoa(n)), true
	case int64:
		return json.Number(strconv.FormatInt(n, 10)), true
	case float64:
		return json.Number(strconv.FormatFloat(n, 'f', -1, 64)), true
	}
	return "", false
}

// isCardNumber catches a card number sent as a JSON number.
func isCardNumber(raw any) bool {
	n, ok := raw.(json.Number)
	if !ok {
		n, ok = goNumber(raw)
	}
	if !ok {
		return false
	}
	// 4111111111111111.0 and 4.111111111111111e15 are the same number: check its integer
	// digits, exactly (big.Float, not float64, which would round them).
	f, _, err := big.ParseFloat(n.String(), 10, 128, big.ToNearestEven)
	if err != nil || !f.IsInt() {
		return false
	}
	return looksLikeCardNumber(f.Text('f', 0), "number")
}
