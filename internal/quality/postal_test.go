package quality

import (
	"strings"
	"testing"
)

func TestNormalizePostalCode(t *testing.T) {
	cases := []struct {
		raw, country, want string // want "" means invalid
	}{
		// United States: ZIP and ZIP+4.
		{"20500", "US", "20500"},
		{"20500-0003", "US", "20500-0003"},
		{"205000003", "us", "20500-0003"},
		{"20500 0003", "US", "20500-0003"},
		{"2050", "US", ""}, // a ZIP that lost its leading zero in a spreadsheet
		{"205001", "US", ""},
		{"SW1A 1AA", "US", ""},
		// United Kingdom.
		{"SW1A 1AA", "GB", "SW1A 1AA"},
		{"sw1a1aa", "GB", "SW1A 1AA"},
		{" sw1a  1aa ", "gb", "SW1A 1AA"},
		{"EC1A 1BB", "GB", "EC1A 1BB"},
		{"W1A 0AX", "GB", "W1A 0AX"},
		{"M1 1AE", "GB", "M1 1AE"},
		{"B33 8TH", "GB", "B33 8TH"},
		{"CR2 6XH", "GB", "CR2 6XH"},
		{"DN55 1PT", "GB", "DN55 1PT"},
		{"LS1 4AP", "GB", "LS1 4AP"},
		{"GIR 0AA", "GB", "GIR 0AA"},
		{"BFPO 801", "GB", "BFPO 801"},
		{"Q1 1AA", "GB", ""},   // Q never starts a postcode
		{"SW1A 1CA", "GB", ""}, // C is never a unit letter
		{"SW1A", "GB", ""},
		{"12345", "GB", ""},
		// Canada.
		{"K1A 0B1", "CA", "K1A 0B1"},
		{"k1a0b1", "CA", "K1A 0B1"},
		{"D1A 0B1", "CA", ""}, // D is never used
		// Ireland.
		{"D02 X285", "IE", "D02 X285"},
		{"d02x285", "IE", "D02 X285"},
		{"D6W 1234", "IE", "D6W 1234"},
		{"A65 F4E2", "IE", "A65 F4E2"},
		{"B65 F4E2", "IE", ""},
		// Netherlands.
		{"1012 AB", "NL", "1012 AB"},
		{"1012ab", "NL", "1012 AB"},
		{"1012-ab", "NL", "1012 AB"},
		{"0123 AB", "NL", ""},
		{"1012 SA", "NL", ""},
		// Germany, France, Spain, Italy.
		{"10115", "DE", "10115"},
		{"D-10115", "DE", "10115"},
		{"00115", "DE", ""},
		{"1011", "DE", ""},
		{"75008", "FR", "75008"},
		{"F-75008", "FR", "75008"},
		{"99000", "FR", ""},
		{"28013", "ES", "28013"},
		{"53001", "ES", ""},
		{"00184", "IT", "00184"},
		{"I-00184", "IT", "00184"},
		// Nordics.
		{"114 55", "SE", "114 55"},
		{"11455", "SE", "114 55"},
		{"SE-114 55", "SE", "114 55"},
		{"1050", "DK", "1050"},
		{"DK-1050", "DK", "1050"},
		{"0150", "NO", "0150"},
		{"00100", "FI", "00100"},
		// Central Europe and the Baltics.
		{"00-950", "PL", "00-950"},
		{"00950", "PL", "00-950"},
		{"1100-148", "PT", "1100-148"},
		{"110 00", "CZ", "110 00"},
		{"L-1648", "LU", "L-1648"},
		{"1648", "LU", "L-1648"},
		{"LV-1050", "LV", "LV-1050"},
		{"1050", "LV", "LV-1050"},
		{"9490", "LI", "9490"},
		{"8000", "LI", ""},
		// Asia-Pacific.
		{"2600", "AU", "2600"},
		{"260", "AU", ""},
		{"100-8994", "JP", "100-8994"},
		{"1008994", "JP", "100-8994"},
		{"〒100-8994", "JP", "100-8994"},
		{"１００－８９９４", "JP", "100-8994"}, // full-width digits and dash
		{"110001", "IN", "110001"},
		{"110 001", "IN", "110001"},
		{"010001", "IN", ""},
		{"6011", "NZ", "6011"},
		// Americas.
		{"01310-200", "BR", "01310-200"},
		{"01310200", "BR", "01310-200"},
		{"0131020", "BR", ""},
		{"C1002AAR", "AR", "C1002AAR"},
		{"06600", "MX", "06600"},
		// Unknown formats: generic shape only.
		{"AB-123", "ZW", "AB-123"},
		{"  ab  12 ", "", "AB 12"},
		{"x", "", ""},
		{"12345678901", "", ""},
		// Junk.
		{"", "GB", ""},
		{"SW1A 1AA; DROP", "GB", ""},
		{"SW1A_1AA", "GB", ""},
		{strings.Repeat("1", 40), "", ""},
		{"\xff\xfe", "GB", ""},
	}
	for _, c := range cases {
		r := NormalizePostalCode(c.raw, c.country)
		if r.Valid != (c.want != "") || r.Normalized != c.want {
			t.Errorf("NormalizePostalCode(%q, %q) = %+v; want %q", c.raw, c.country, r, c.want)
		}
		if !r.Valid && !knownPostalReason(r.Reason, c.country) {
			t.Errorf("NormalizePostalCode(%q, %q): reason %q is not built from constants", c.raw, c.country, r.Reason)
		}
		if r.Valid {
			again := NormalizePostalCode(r.Normalized, c.country)
			if !again.Valid || again.Normalized != r.Normalized {
				t.Errorf("normalised %q (%s) does not normalise to itself: %+v", r.Normalized, c.country, again)
			}
		}
	}
}

// knownPostalReason reports whether a reason is one the code can produce for country
// without looking at the input, which proves it never quotes the postal code.
func knownPostalReason(reason, country string) bool {
	switch reason {
	case "postal code is not valid UTF-8", "postal code is empty", "postal code is too long",
		"postal code may hold only letters, digits, spaces and hyphens",
		"postal code must have 2 to 10 letters and digits":
		return true
	}
	rule, ok := postalRules[strings.ToUpper(country)]
	return ok && reason == "postal code is not a valid "+rule.format+" (for example "+rule.example+")"
}

// Every format's own example must pass its own check, or the error messages would teach
// customers a wrong shape.
func TestPostalExamplesAreValid(t *testing.T) {
	for country, rule := range postalRules {
		if _, ok := CountryByCode(country); !ok {
			t.Errorf("%s is not a country", country)
		}
		for _, ex := range strings.Split(rule.example, " or ") {
			r := NormalizePostalCode(ex, country)
			if !r.Valid || r.Normalized != ex || !r.Checked {
				t.Errorf("%s example %q: %+v", country, ex, r)
			}
		}
	}
}

func FuzzNormalizePostalCode(f *testing.F) {
	for _, s := range [][2]string{{"SW1A 1AA", "GB"}, {"20500-0003", "US"}, {"１００－８９９４", "JP"}, {"D-10115", "DE"}, {"x", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, country string) {
		r := NormalizePostalCode(raw, country)
		if !r.Valid {
			if r.Normalized != "" || r.Reason == "" {
				t.Fatalf("invalid result malformed: %+v", r)
			}
			return
		}
		again := NormalizePostalCode(r.Normalized, country)
		if !again.Valid || again.Normalized != r.Normalized {
			t.Fatalf("%q normalised to %q, which normalises to %+v", raw, r.Normalized, again)
		}
	})
}
