package quality

import (
	"errors"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// phoneCases are ValidatePhone's expected answers; TestPhoneFastPathMatchesLibrary
// replays their inputs too.
var phoneCases = []struct {
	raw, region string
	e164        string // "" when invalid
	typ         string
	regionOut   string
}{
	// Great Britain
	{"+44 20 7946 0958", "GB", "+442079460958", PhoneFixedLine, "GB"},
	{"020 7946 0958", "gb", "+442079460958", PhoneFixedLine, "GB"},
	{"07400 123456", "GB", "+447400123456", PhoneMobile, "GB"},
	{"0044 7400 123456", "GB", "+447400123456", PhoneMobile, "GB"},
	{"0800 123 4567", "GB", "+448001234567", PhoneTollFree, "GB"},
	{"0870 123 4567", "GB", "+448701234567", PhonePremiumRate, "GB"},
	{"056 1234 5678", "GB", "+445612345678", PhoneVoIP, "GB"},
	{"+44 7400 123456 ext. 12", "GB", "+447400123456", PhoneMobile, "GB"},
	{"07700 900123", "GB", "", PhoneUnknown, "GB"}, // Ofcom drama range: not in use
	{"+44 1234", "GB", "", PhoneUnknown, "GB"},
	// United States
	{"(202) 555-0143", "US", "+12025550143", PhoneFixedLineOrMobile, "US"},
	{"650 253 0000", "us", "+16502530000", PhoneFixedLineOrMobile, "US"},
	{"+1 650-253-0000", "", "+16502530000", PhoneFixedLineOrMobile, "US"},
	{"800-555-0199", "US", "+18005550199", PhoneTollFree, "US"},
	{"+1 202 555 01", "US", "", PhoneUnknown, "US"},
	{"+1 202 555 014399", "US", "", PhoneUnknown, "US"},
	// Germany
	{"030 123456", "DE", "+4930123456", PhoneFixedLine, "DE"},
	{"01512 3456789", "DE", "+4915123456789", PhoneMobile, "DE"},
	{"+49 1512 3456789", "", "+4915123456789", PhoneMobile, "DE"},
	{"0900 1234567", "DE", "+499001234567", PhonePremiumRate, "DE"},
	{"+49 32 12345678", "", "", PhoneUnknown, "DE"},
	// France
	{"01 23 45 67 89", "FR", "+33123456789", PhoneFixedLine, "FR"},
	{"06 12 34 56 78", "FR", "+33612345678", PhoneMobile, "FR"},
	{"09 87 65 43 21", "FR", "+33987654321", PhoneVoIP, "FR"},
	{"+33 6 12 34 56 7", "FR", "", PhoneUnknown, "FR"},
	// Australia
	{"0412 345 678", "AU", "+61412345678", PhoneMobile, "AU"},
	{"02 9876 5432", "AU", "+61298765432", PhoneFixedLine, "AU"},
	{"1300 123 456", "AU", "+611300123456", PhoneSharedCost, "AU"},
	{"1900 123 456", "AU", "+611900123456", PhonePremiumRate, "AU"},
	{"+61 4 1234 567", "AU", "", PhoneUnknown, "AU"},
	// Non-geographic and malformed
	{"+800 1234 5678", "", "+80012345678", PhoneTollFree, "001"},
	{"hello", "US", "", PhoneUnknown, ""},
	{"", "US", "", PhoneUnknown, ""},
	{"07400 123456", "", "", PhoneUnknown, ""},
	{"07400 123456", "XX", "", PhoneUnknown, ""},
	{"+999 123456", "", "", PhoneUnknown, ""},
	{strings.Repeat("1", 300), "US", "", PhoneUnknown, ""},
}

func TestValidatePhone(t *testing.T) {
	for _, c := range phoneCases {
		r := ValidatePhone(c.raw, c.region)
		valid := c.e164 != ""
		if r.Valid != valid || r.E164 != c.e164 || r.Type != c.typ || r.Region != c.regionOut {
			t.Errorf("ValidatePhone(%q, %q) = %+v; want e164=%q type=%s region=%q",
				c.raw, c.region, r, c.e164, c.typ, c.regionOut)
		}
		if valid != (r.Reason == "") {
			t.Errorf("ValidatePhone(%q, %q): reason %q inconsistent with validity", c.raw, c.region, r.Reason)
		}
		got, err := NormalizePhone(c.raw, c.region)
		if valid && (err != nil || got != c.e164) {
			t.Errorf("NormalizePhone(%q, %q) = %q, %v", c.raw, c.region, got, err)
		}
		if !valid {
			if !errors.Is(err, ErrPhoneNotValid) {
				t.Errorf("NormalizePhone(%q, %q): error %v does not match ErrPhoneNotValid", c.raw, c.region, err)
			}
			if c.raw != "" && strings.Contains(err.Error(), strings.TrimSpace(c.raw)) {
				t.Errorf("NormalizePhone(%q): error %q quotes the input", c.raw, err)
			}
		}
	}
}

var phoneReasonCases = []struct{ raw, region, reason string }{
	{"", "GB", "number is empty"},
	{"hello", "GB", "input is not a phone number"},
	{"07400 123456", "", "number has no international prefix and no default region was given"},
	{"07400 123456", "XX", "default region is not a known region"},
	{"+999 123456", "", "country calling code is not valid"},
	{"+1 202 555 01", "US", "number is too short for its region"},
	{"+1 202 555 014399", "US", "number is too long for its region"},
	{"07700 900123", "GB", "number is not in any range in use in its region"},
}

func TestPhoneReasons(t *testing.T) {
	for _, c := range phoneReasonCases {
		if r := ValidatePhone(c.raw, c.region); r.Reason != c.reason {
			t.Errorf("ValidatePhone(%q, %q).Reason = %q, want %q", c.raw, c.region, r.Reason, c.reason)
		}
	}
}

// classifyPhone re-implements the library's region and type rules for speed; it must
// give the library's answers. Every region's example number of every type is checked,
// plus variations of them that land in neighbouring ranges or become invalid.
func TestPhoneClassifierMatchesLibrary(t *testing.T) {
	types := []phonenumbers.PhoneNumberType{
		phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP,
		phonenumbers.PERSONAL_NUMBER, phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL,
	}
	var nums []*phonenumbers.PhoneNumber
	for region := range phonenumbers.GetSupportedRegions() {
		for _, typ := range types {
			if n := phonenumbers.GetExampleNumberForType(region, typ); n != nil {
				nums = append(nums, n)
			}
		}
	}
	for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		if n := phonenumbers.GetExampleNumberForNonGeoEntity(cc); n != nil {
			nums = append(nums, n)
		}
	}
	checked := 0
	for _, n := range nums {
		e164 := phonenumbers.Format(n, phonenumbers.E164)
		// The example itself, each digit changed, one digit dropped and one added.
		variants := []string{e164, e164[:len(e164)-1], e164 + "7"}
		for i := len(e164) - 1; i > len(e164)-8 && i > 2; i-- {
			for _, d := range "0359" {
				variants = append(variants, e164[:i]+string(d)+e164[i+1:])
			}
		}
		for _, v := range variants {
			num, err := phonenumbers.Parse(v, "ZZ")
			if err != nil {
				continue
			}
			checked++
			region, typ := classifyPhone(num)
			wantRegion, wantType := phonenumbers.GetRegionCodeForNumber(num), phonenumbers.GetNumberType(num)
			if region != wantRegion || typ != wantType {
				t.Errorf("%s: classifier says %s/%v, library %s/%v", v, region, typ, wantRegion, wantType)
			}
			if (typ != phonenumbers.UNKNOWN) != phonenumbers.IsValidNumber(num) {
				t.Errorf("%s: classifier validity disagrees with IsValidNumber", v)
			}
		}
	}
	if checked < 5000 {
		t.Fatalf("only %d numbers checked", checked)
	}
	t.Logf("classifier agreed with the library on %d numbers", checked)
}
