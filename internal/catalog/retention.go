package catalog

import (
	"fmt"
	"strconv"
	"time"
)

// RetentionUnit is the unit a retention period is written in. It is kept (rather than
// converting everything to days at parse time) so that the catalog serialises back to the
// words its owner wrote.
type RetentionUnit string

// The units of a retention period. Months count as 30 days and years as 365 days: retention
// is a legal ceiling, and a fixed length makes a deadline computable without a calendar and
// identical on every run.
const (
	Days   RetentionUnit = "d"
	Months RetentionUnit = "m"
	Years  RetentionUnit = "y"
)

// UntilErasure is the retention word for data kept for as long as the customer exists, that
// is until the customer is erased (by request or when the account is closed).
const UntilErasure = "until_erasure"

// maxRetentionDays caps a retention period at a century. Nothing lawful needs longer, and the
// cap keeps Duration far from overflowing.
const maxRetentionDays = 36500

// Retention is how long a field's value may be kept, counted from the customer's last
// activity. The zero value means "not declared"; a parsed retention is either a positive
// period or UntilErasure.
type Retention struct {
	Amount       int
	Unit         RetentionUnit
	UntilErasure bool
}

// ParseRetention parses a retention word: a positive whole number followed by d, m or y
// ("90d", "18m", "3y"), or "until_erasure". It is strict (no spaces, no upper case, no sign)
// because a catalog that says "3 Years" is more likely a mistake than a wish.
func ParseRetention(s string) (Retention, error) {
	if s == UntilErasure {
		return Retention{UntilErasure: true}, nil
	}
	const want = "want a number followed by d, m or y (e.g. 90d, 18m, 3y), or until_erasure"
	bad := func(why string) (Retention, error) {
		return Retention{}, fmt.Errorf("bad retention %q: %s", s, why)
	}
	if len(s) < 2 {
		return bad(want)
	}
	unit, digits := RetentionUnit(s[len(s)-1:]), s[:len(s)-1]
	if unit != Days && unit != Months && unit != Years {
		return bad(want)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return bad(want)
		}
	}
	if len(digits) > 1 && digits[0] == '0' {
		return bad("leading zeros are not allowed")
	}
	if len(digits) > len(strconv.Itoa(maxRetentionDays)) {
		return bad("must be at most 100 years")
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return bad(want)
	}
	if n == 0 {
		return bad("must be longer than zero")
	}
	r := Retention{Amount: n, Unit: unit}
	if r.Days() > maxRetentionDays {
		return bad("must be at most 100 years")
	}
	return r, nil
}

// Days returns the period in days (months as 30, years as 365), or 0 when the data is kept
// until erasure.
func (r Retention) Days() int {
	switch r.Unit {
	case Days:
		return r.Amount
	case Months:
		return r.Amount * 30
	case Years:
		return r.Amount * 365
	}
	return 0
}

// Duration returns the period as a time.Duration, or 0 when the data is kept until erasure;
// callers that compute deadlines must check UntilErasure first, because 0 does not mean
// "delete now".
func (r Retention) Duration() time.Duration {
	return time.Duration(r.Days()) * 24 * time.Hour
}

// IsZero reports whether no retention was declared.
func (r Retention) IsZero() bool {
	return r == Retention{}
}

// String returns the retention as it is written in a catalog file.
func (r Retention) String() string {
	if r.UntilErasure {
		return UntilErasure
	}
	if r.IsZero() {
		return ""
	}
	return strconv.Itoa(r.Amount) + string(r.Unit)
}

// MarshalText writes the catalog word, so that the JSON form of the catalog reads the same as
// the YAML file ("3y", not a struct).
func (r Retention) MarshalText() ([]byte, error) {
	return []byte(r.String()), nil
}

// UnmarshalText parses the catalog word, so that a catalog read back from JSON is checked as
// strictly as one read from YAML.
func (r *Retention) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*r = Retention{}
		return nil
	}
	v, err := ParseRetention(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
