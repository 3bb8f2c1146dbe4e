package quality

import (
	"strings"
	"testing"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

func TestLookupCountry(t *testing.T) {
	cases := map[string]string{
		"GB": "GB", "gb": "GB", " de ": "DE", "GBR": "GB", "usa": "US", "DEU": "DE",
		"ＧＢ":                                "GB", // full-width letters
		"United Kingdom":                    "GB",
		"united kingdom":                    "GB",
		"UK":                                "GB",
		"U.K.":                              "GB",
		"Great Britain":                     "GB",
		"England":                           "GB",
		"United States":                     "US",
		"United States of America":          "US",
		"U.S.A.":                            "US",
		"The Netherlands":                   "NL",
		"Holland":                           "NL",
		"Deutschland":                       "DE",
		"Czech Republic":                    "CZ",
		"Czechia":                           "CZ",
		"Korea, Republic of":                "KR",
		"Republic of Korea":                 "KR",
		"South Korea":                       "KR",
		"North Korea":                       "KP",
		"Côte d'Ivoire":                     "CI",
		"Cote d’Ivoire":                     "CI",
		"Ivory Coast":                       "CI",
		"St. Kitts & Nevis":                 "KN",
		"Saint Vincent and the Grenadines":  "VC",
		"Bosnia & Herzegovina":              "BA",
		"São Tomé and Príncipe":             "ST",
		"Sao Tome and Principe":             "ST",
		"Türkiye":                           "TR",
		"Turkey":                            "TR",
		"Russian Federation":                "RU",
		"Viet Nam":                          "VN",
		"Vietnam":                           "VN",
		"Congo, Democratic Republic of the": "CD",
		"Democratic Republic of the Congo":  "CD",
		"Congo":                             "CG",
		"Guinea-Bissau":                     "GW",
		"guinea bissau":                     "GW",
		"Åland Islands":                     "AX",
		"Kosovo":                            "XK",
		"Georgia":                           "GE",
	}
	for in, want := range cases {
		c, ok := LookupCountry(in)
		if !ok || c.Alpha2 != want {
			t.Errorf("LookupCountry(%q) = %+v, %v; want %s", in, c, ok, want)
		}
	}
	for _, in := range []string{"", "XX", "ZZZ", "Atlantis", "U", "Englandshire", "GB GB", strings.Repeat("a", 500), "EU", "UN"} {
		if c, ok := LookupCountry(in); ok {
			t.Errorf("LookupCountry(%q) = %+v, want no country", in, c)
		}
	}
}

func TestSuggestCountry(t *testing.T) {
	cases := map[string]string{
		"Untied Kingdom": "GB",
		"Germnay":        "DE",
		"Swtizerland":    "CH",
		"Netherland":     "NL",
		"Australa":       "AU",
		"Austrlia":       "", // Australia and Austria are both one edit away
		"Atlantis":       "",
		"Nigera":         "", // Nigeria and Niger are both one edit away
		"Mali":           "", // too short to guess
	}
	for in, want := range cases {
		c, ok := SuggestCountry(in)
		if got := c.Alpha2; got != want || ok != (want != "") {
			t.Errorf("SuggestCountry(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// The table is ours; x/text carries CLDR's copy of the ISO registry. Every code must agree
// with it, and every English name CLDR gives a country must resolve to that country, so a
// customer who picks a name from any CLDR-based list is understood.
func TestCountryTableAgreesWithCLDR(t *testing.T) {
	idx := countries()
	if n := len(idx.byAlpha2); n != 250 {
		t.Errorf("table holds %d countries, want the 249 ISO 3166-1 ones and XK", n)
	}
	names := display.English.Regions()
	for a2, c := range idx.byAlpha2 {
		r, err := language.ParseRegion(a2)
		if err != nil {
			t.Errorf("%s: x/text does not know it: %v", a2, err)
			continue
		}
		if a2 != "XK" && !r.IsCountry() {
			t.Errorf("%s: x/text says it is not a country", a2)
		}
		if got := r.ISO3(); got != c.Alpha3 && a2 != "XK" {
			t.Errorf("%s: alpha-3 %s, x/text says %s", a2, c.Alpha3, got)
		}
		cldr := names.Name(r)
		if got, ok := LookupCountry(cldr); !ok || got.Alpha2 != a2 {
			t.Errorf("%s: CLDR name %q resolves to %+v, %v", a2, cldr, got, ok)
		}
		if got, ok := LookupCountry(c.Name); !ok || got.Alpha2 != a2 {
			t.Errorf("%s: own name %q resolves to %+v, %v", a2, c.Name, got, ok)
		}
	}
	// No folded name may belong to two countries.
	seen := map[string]string{}
	for line := range strings.Lines(countriesTable) {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.SplitN(strings.TrimSpace(line), " ", 3)
		for _, n := range strings.Split(f[2], "|") {
			k := countryKey(n)
			if other, dup := seen[k]; dup && other != f[0] {
				t.Errorf("name %q belongs to both %s and %s", n, other, f[0])
			}
			seen[k] = f[0]
		}
	}
}

func FuzzLookupCountry(f *testing.F) {
	for _, s := range []string{"GB", "United Kingdom", "Korea, Republic of", "ＧＢ", "St. Lucia", "\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, ok := LookupCountry(raw)
		if !ok {
			return
		}
		again, ok := LookupCountry(c.Alpha2)
		if !ok || again != c {
			t.Fatalf("%q resolved to %+v, whose code does not resolve to itself", raw, c)
		}
	})
}
