package loyalty

import (
	"crypto/rand"
	"math/big"
	"strings"
)

// NewMemberNumber draws a member number: the prefix, random digits and a Luhn check digit, so
// a till that mistypes one digit or swaps two neighbours finds nobody rather than someone
// else.
func (p *Programme) NewMemberNumber() (string, error) {
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p.MemberNumbers.Digits)), nil)
	n, err := rand.Int(rand.Reader, max)
	if err != nil {
		return "", err
	}
	digits := n.String()
	digits = strings.Repeat("0", p.MemberNumbers.Digits-len(digits)) + digits
	return p.MemberNumbers.Prefix + digits + string(rune('0'+luhn(digits))), nil
}

// ValidMemberNumber reports whether s has the programme's shape and a correct check digit.
func (p *Programme) ValidMemberNumber(s string) bool {
	rest, ok := strings.CutPrefix(s, p.MemberNumbers.Prefix)
	if !ok || len(rest) != p.MemberNumbers.Digits+1 {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return int(rest[len(rest)-1]-'0') == luhn(rest[:len(rest)-1])
}

// luhn is the check digit the Luhn algorithm appends to digits.
func luhn(digits string) int {
	sum := 0
	double := true
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return (10 - sum%10) % 10
}
