package quality

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// phoneFields renders every field of a parsed number, set or not, so that two parses can
// be compared field by field.
func phoneFields(n *phonenumbers.PhoneNumber) string {
	opt := func(set bool, v any) string {
		if !set {
			return "-"
		}
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("cc=%s nn=%s lead=%s zeros=%s ext=%s raw=%s source=%s carrier=%s",
		opt(n.CountryCode != nil, n.GetCountryCode()),
		opt(n.NationalNumber != nil, n.GetNationalNumber()),
		opt(n.ItalianLeadingZero != nil, n.GetItalianLeadingZero()),
		opt(n.NumberOfLeadingZeros != nil, n.GetNumberOfLeadingZeros()),
		opt(n.Extension != nil, n.GetExtension()),
		opt(n.RawInput != nil, n.GetRawInput()),
		opt(n.CountryCodeSource != nil, n.GetCountryCodeSource()),
		opt(n.PreferredDomesticCarrierCode != nil, n.GetPreferredDomesticCarrierCode()))
}

// comparePhonePaths validates one input with and without the fast path. It returns a
// description of the first difference, if any: in the results, or, when the fast path
// reads the input, between the number it builds and the library's. fast reports
// whether the fast path read the input.
func comparePhonePaths(raw, region string) (fast bool, problem string) {
	if got, want := ValidatePhone(raw, region), validatePhoneSlow(raw, region); got != want {
		problem = fmt.Sprintf("ValidatePhone(%q, %q) = %+v, library alone %+v", raw, region, got, want)
	}
	// The same preparation ValidatePhone applies before parsing.
	s, reg := strings.TrimSpace(raw), strings.ToUpper(strings.TrimSpace(region))
	if reg == "" {
		reg = "ZZ"
	}
	if s == "" || len(s) > maxPhoneInput {
		return false, problem
	}
	var sc phoneScratch
	if !parsePhoneFast(s, reg, &sc) {
		return false, problem
	}
	lib, err := phonenumbers.Parse(s, reg)
	switch {
	case problem != "":
	case err != nil:
		problem = fmt.Sprintf("fast path read %q (%q), the library refuses it: %v", raw, region, err)
	case phoneFields(&sc.num) != phoneFields(lib):
		problem = fmt.Sprintf("fast path read %q (%q) as %s, the library as %s",
			raw, region, phoneFields(&sc.num), phoneFields(lib))
	}
	return true, problem
}

// The notations a contact import is made of must take the fast path, or it is dead code.
func TestPhoneFastPathTaken(t *testing.T) {
	for _, c := range [][2]string{
		{"+44 7911 100000", "GB"}, {"+447911100000", "GB"}, {"+447911100000", ""},
		{"07911 123456", "GB"}, {"07911 123456", "gb"}, {"020 7946 0958", " GB "},
		{"+44 (0)20 7946 0958", "US"}, {"(415) 555-2671", "US"}, {"415-555-2671", "US"},
		{"415.555.2671", "US"}, {"+1 415 555 2671", "US"}, {"1 415 555 2671", "US"},
		{"+1 (415) 555-2671", ""}, {"(416) 555-0123", "CA"}, {"+49 30 1234567", "DE"},
		{"030 1234567", "DE"}, {"030/1234567", "DE"}, {"06 12 34 56 78", "FR"},
		{"+33 6 12 34 56 78", "FR"}, {"0412 345 678", "AU"}, {"+39 06 1234 5678", "IT"},
		{"+800 1234 5678", ""}, {"12345", "GB"}, {"+44 1234", "GB"},
	} {
		fast, problem := comparePhonePaths(c[0], c[1])
		if problem != "" {
			t.Error(problem)
		}
		if !fast {
			t.Errorf("%q (%q) was left to the library", c[0], c[1])
		}
	}
	// Notations whose reading depends on parser rules the fast path does not follow.
	for _, c := range [][2]string{
		{"+44 7911 100000 ext. 12", "GB"}, {"+44 7911 100000 x12", "GB"}, {"0044 7911 100000", "GB"},
		{"011 44 7911 100000", "US"}, {"tel:+1-650-253-0000", "US"}, {"+1 800 FLOWERS", "US"},
		{"０７９１１ １２３４５６", "GB"}, {"+44 7911 100000;ext=1", "GB"}, {"07911*123456", "GB"},
		{"++44 7911 100000", "GB"}, {"07911\t123456", "GB"}, {"＋44 7911 100000", "GB"},
		{"12", "GB"}, {"07911 123456", ""}, {"07911 123456", "XX"}, {"+0 1234 5678", "GB"},
		{"+999 123456", ""}, {"((415)) 555 2671", "US"}, {"555-0143 #12", "US"},
	} {
		fast, problem := comparePhonePaths(c[0], c[1])
		if problem != "" {
			t.Error(problem)
		}
		if fast {
			t.Errorf("%q (%q) took the fast path", c[0], c[1])
		}
	}
}

// TestPhoneFastPathMatchesLibrary compares ValidatePhone with the library-only path on
// the existing cases, every region's example numbers in every format and with digits
// changed, and a large set of generated digit strings with and without '+', national
// and international prefixes, separators anywhere and stray characters, read with every
// region (and no, unknown or badly cased ones) as the default.
func TestPhoneFastPathMatchesLibrary(t *testing.T) {
	inputs := phoneDifferentialInputs(testing.Short())
	fast, failures := 0, 0
	for _, in := range inputs {
		f, problem := comparePhonePaths(in[0], in[1])
		if f {
			fast++
		}
		if problem != "" {
			t.Error(problem)
			// One mistake usually repeats thousands of times.
			if failures++; failures == 20 {
				t.Fatal("too many differences")
			}
		}
	}
	t.Logf("%d inputs, %d read by the fast path", len(inputs), fast)
	if fast < len(inputs)/5 {
		t.Errorf("only %d of %d inputs took the fast path", fast, len(inputs))
	}
}

// The external data holds no phone numbers, but its Australian records carry digit
// columns (social security ids, dates of birth, postcodes) of the kind that end up in a
// phone column; they are read as they are and shaped like Australian numbers.
func TestPhoneFastPathMatchesLibraryOnSharedData(t *testing.T) {
	root := sharedDataRoot()
	if root == "" {
		t.Skip("shared test data not found (../shared/data or $STEWARD_SHARED_DATA); skipping")
	}
	n, fast := 0, 0
	for _, name := range []string{"dataset1.csv", "dataset2.csv"} {
		f, err := os.Open(filepath.Join(root, "febrl", name))
		if err != nil {
			t.Skipf("febrl data not readable: %v", err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			col := strings.Split(sc.Text(), ", ")
			if len(col) != 11 {
				continue
			}
			street, postcode, dob, ssid := col[3], col[7], col[9], col[10]
			var inputs []string
			inputs = append(inputs, street, postcode, dob, ssid, "+61 "+ssid+postcode[min(1, len(postcode)):])
			if len(postcode) == 4 && len(ssid) == 7 && len(dob) == 8 {
				inputs = append(inputs, "(0"+postcode[:1]+") "+ssid[:4]+" "+ssid[4:]+dob[7:],
					"04"+dob[6:]+" "+ssid[:3]+" "+ssid[3:6], "61 "+postcode[:1]+" "+ssid+dob[7:])
			}
			for _, in := range inputs {
				f, problem := comparePhonePaths(in, "AU")
				if problem != "" {
					t.Fatal(problem)
				}
				n++
				if f {
					fast++
				}
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d inputs from the shared data, %d read by the fast path", n, fast)
}

// phoneDifferentialInputs generates (input, default region) pairs, deterministically.
func phoneDifferentialInputs(short bool) [][2]string {
	rng := rand.New(rand.NewPCG(1, 2))
	var regions []string
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	defaults := append(slices.Clone(regions), "", "ZZ", "XX", "001", "gb", "us", " de ", "Fr", "uk", "u")

	var out [][2]string
	add := func(raw, region string) { out = append(out, [2]string{raw, region}) }
	for _, c := range phoneCases {
		add(c.raw, c.region)
	}
	for _, c := range phoneReasonCases {
		add(c.raw, c.region)
	}

	// Separators where people put them, and where they do not.
	const seps = " -./()"
	sprinkle := func(digits string, p float64) string {
		var b strings.Builder
		for i := 0; i < len(digits); i++ {
			if i > 0 && rng.Float64() < p {
				b.WriteByte(seps[rng.IntN(len(seps))])
			}
			b.WriteByte(digits[i])
		}
		return b.String()
	}
	randDigits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	// Characters that send the input to the library, or change how it reads it.
	const odd = "x#*;,+~[]aAeExXtT\t\u00a0\uff10\uff0b\u0660\u2013"
	oddRunes := []rune(odd)
	stray := func(s string) string {
		i := rng.IntN(len(s) + 1)
		return s[:i] + string(oddRunes[rng.IntN(len(oddRunes))]) + s[i:]
	}
	nationalPrefix := func(region string) string {
		if md := phoneMetadata().byRegion[region]; md != nil {
			return md.src.GetNationalPrefix()
		}
		return ""
	}

	// Every region's example numbers in every format, and with digits changed.
	types := []phonenumbers.PhoneNumberType{
		phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP,
		phonenumbers.PERSONAL_NUMBER, phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL,
	}
	var examples []*phonenumbers.PhoneNumber
	var exampleRegions []string
	for _, region := range regions {
		for _, typ := range types {
			if n := phonenumbers.GetExampleNumberForType(region, typ); n != nil {
				examples = append(examples, n)
				exampleRegions = append(exampleRegions, region)
			}
		}
	}
	for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		if n := phonenumbers.GetExampleNumberForNonGeoEntity(cc); n != nil {
			examples = append(examples, n)
			exampleRegions = append(exampleRegions, "001")
		}
	}
	for i, n := range examples {
		region := exampleRegions[i]
		other := defaults[rng.IntN(len(defaults))]
		cc := fmt.Sprint(n.GetCountryCode())
		nsn := phonenumbers.GetNationalSignificantNumber(n)
		national := phonenumbers.Format(n, phonenumbers.NATIONAL)
		nationalDigits := phonenumbers.NormalizeDigitsOnly(national)
		for _, f := range []string{
			phonenumbers.Format(n, phonenumbers.E164),
			phonenumbers.Format(n, phonenumbers.INTERNATIONAL),
			phonenumbers.Format(n, phonenumbers.RFC3966),
		} {
			add(f, region)
			add(f, other)
		}
		for _, r := range []string{region, strings.ToLower(region), other, "US", ""} {
			add(national, r)
			add(nationalDigits, r)
			add(cc+" "+national, r)      // the calling code without its '+'
			add(cc+nsn, r)               // the same, run together
			add("00"+cc+nsn, r)          // dialled from abroad
			add("+"+cc+" 0"+national, r) // a national prefix after the calling code
			add("+"+cc+" (0) "+nsn, r)
			add(nationalPrefix(r)+nsn, r)
		}
		// Digits dropped, added and changed, national and international.
		for range 6 {
			d := []byte(nsn)
			switch k := rng.IntN(3); {
			case k == 0 && len(d) > 1:
				at := rng.IntN(len(d))
				d = slices.Delete(d, at, at+1)
			case k == 1:
				d = slices.Insert(d, rng.IntN(len(d)+1), byte('0'+rng.IntN(10)))
			default:
				d[rng.IntN(len(d))] = byte('0' + rng.IntN(10))
			}
			add("+"+cc+sprinkle(string(d), 0.3), region)
			add(nationalPrefix(region)+sprinkle(string(d), 0.3), region)
			add(sprinkle(string(d), 0.2), other)
		}
	}

	// Random digit strings in random notations.
	count := 150000
	if short {
		count = 15000
	}
	for range count {
		region := defaults[rng.IntN(len(defaults))]
		base := strings.ToUpper(strings.TrimSpace(region))
		var s string
		switch rng.IntN(8) {
		case 0: // bare digits, any length
			s = randDigits(1 + rng.IntN(20))
		case 1: // leading zeros
			s = strings.Repeat("0", 1+rng.IntN(3)) + randDigits(rng.IntN(15))
		case 2: // international, any calling code or none
			s = "+" + randDigits(1+rng.IntN(18))
		case 3: // international, a real calling code and a plausible length
			r := regions[rng.IntN(len(regions))]
			s = "+" + fmt.Sprint(phonenumbers.GetCountryCodeForRegion(r)) + randDigits(4+rng.IntN(10))
		case 4: // national, with the region's national prefix, once or twice
			s = strings.Repeat(nationalPrefix(base), 1+rng.IntN(2)) + randDigits(3+rng.IntN(11))
		case 5: // the region's calling code without '+', and national prefixes after it
			s = fmt.Sprint(phonenumbers.GetCountryCodeForRegion(base)) +
				strings.Repeat(nationalPrefix(base), rng.IntN(3)) + randDigits(3+rng.IntN(11))
		case 6: // the calling code, then a national prefix
			r := regions[rng.IntN(len(regions))]
			s = "+" + fmt.Sprint(phonenumbers.GetCountryCodeForRegion(r)) + nationalPrefix(r) + randDigits(3+rng.IntN(10))
		default: // dialled with an international prefix
			s = []string{"00", "011", "810", "0011", "001"}[rng.IntN(5)] + randDigits(5+rng.IntN(12))
		}
		plus := strings.HasPrefix(s, "+")
		s = strings.TrimPrefix(s, "+")
		if s == "" {
			s = randDigits(1)
		}
		s = sprinkle(s, []float64{0, 0.15, 0.4}[rng.IntN(3)])
		if plus {
			s = "+" + []string{"", "", " ", "("}[rng.IntN(4)] + s
		}
		switch rng.IntN(10) {
		case 0:
			s = stray(s)
		case 1:
			s = " " + s + " "
		case 2:
			s = s + []string{" ext. 12", " x5", "#", ";ext=3", " ", "-", ")"}[rng.IntN(7)]
		}
		add(s, region)
	}
	return out
}
