package customer

import (
	"encoding/json"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

func TestMask(t *testing.T) {
	tests := []struct {
		kind string
		in   any
		want any
	}{
		{"email", "jane.doe@example.com", "j***@example.com"},
		{"email", "ünïcode@example.com", "ü***@example.com"},
		{"phone", "+447911123456", "+44 **** ***456"},
		{"phone", "+12025550143", "+1 **** ***143"},
		{"phone", "garbage", "********"},
		{"date", "1990-12-10", "1990-**-**"},
		{"last4", "1234567890", "**** 7890"},
		{"partial", "Ada", "A***"},
		{"full", "QQ123456C", "********"},
		{"none", "gold", "gold"},
		{"none", int64(42), int64(42)},
		{"email", int64(7), "********"},
	}
	for _, tt := range tests {
		if got := Mask(tt.kind, tt.in); got != tt.want {
			t.Errorf("Mask(%s, %v) = %v, want %v", tt.kind, tt.in, got, tt.want)
		}
	}
}

func TestLooksLikeCardNumber(t *testing.T) {
	tests := []struct {
		in, typ string
		want    bool
	}{
		{"4111111111111111", "string", true},
		{"4111 1111 1111 1111", "string", true},
		{"5500-0000-0000-0004", "string", true},
		{"4111111111111112", "string", false}, // fails Luhn
		{"411111111111", "string", false},     // 12 digits
		{"41111111111111111111", "string", false},
		{"+4111111111111111", "phone", false}, // an international phone number by construction
		{"4111111111111111", "phone", true},
		{"Flat 4111111111111111", "string", false},
	}
	for _, tt := range tests {
		if got := looksLikeCardNumber(tt.in, tt.typ); got != tt.want {
			t.Errorf("looksLikeCardNumber(%q, %s) = %v, want %v", tt.in, tt.typ, got, tt.want)
		}
	}
}

func TestNormalizerValue(t *testing.T) {
	n := &Normalizer{Catalog: catalog.Default(), DefaultRegion: "GB"}
	tests := []struct {
		field string
		in    any
		want  any
		err   string
	}{
		{"email", "  Jane.Doe@EXAMPLE.com ", "jane.doe@example.com", ""},
		{"email", "user@bücher.example", "user@xn--bcher-kva.example", ""},
		{"email", "not an email", nil, "email:"},
		{"phone", "020 7946 0958", "+442079460958", ""},
		{"phone", "+1 (202) 555-0143", "+12025550143", ""},
		{"phone", "12", nil, "phone:"},
		{"first_name", "  Ada   Augusta ", "Ada Augusta", ""},
		{"first_name", "Ada\x00", nil, "control characters"},
		{"first_name", "", nil, "must not be empty"},
		{"first_name", json.Number("3"), nil, "must be a string"},
		{"birth_date", "1990-02-30", nil, "YYYY-MM-DD"},
		{"birth_date", "1850-01-01", nil, "out of range"},
		{"country", "gb", "GB", ""},
		{"country", "XX", nil, "ISO 3166"},
		{"language", "en-gb", "en-GB", ""},
		{"ip_address", "::ffff:192.0.2.1", "192.0.2.1", ""},
		{"loyalty_points", json.Number("120"), int64(120), ""},
		{"loyalty_points", json.Number("1.5"), nil, "integer"},
		{"loyalty_tier", "GOLD", "gold", ""},
		{"loyalty_tier", "diamond", nil, "must be one of"},
		{"shoe_size", "44", nil, "not declared"},
		{"lifetime_value", json.Number("4111111111111111.0"), nil, "payment card"},
		{"lifetime_value", json.Number("4.111111111111111e15"), nil, "payment card"},
		{"lifetime_value", json.Number("1234.5"), 1234.5, ""},
		{"first_name", strings.Repeat("a", 257), nil, "longer than"},
	}
	for _, tt := range tests {
		got, _, err := n.Value(tt.field, tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(problem.Detail(err), tt.err) {
				t.Errorf("%s %q: got %v, %v; want error with %q", tt.field, tt.in, got, err, tt.err)
			}
			if err != nil && problem.FieldOf(err) != tt.field {
				t.Errorf("%s: error names field %q", tt.field, problem.FieldOf(err))
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s %q: got %v (%v), want %v", tt.field, tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizerCountryAndPostalCode(t *testing.T) {
	n := &Normalizer{Catalog: catalog.Default(), DefaultRegion: "GB"}
	for in, want := range map[string]string{"gb": "GB", "GBR": "GB", "United Kingdom": "GB", "the Netherlands": "NL", "Deutschland": "DE"} {
		if got, _, err := n.Value("country", in); err != nil || got != want {
			t.Errorf("country %q: got %v, %v; want %s", in, got, err, want)
		}
	}
	// On its own a postal code is folded and checked for the shape of any postal code.
	if got, _, err := n.Value("postal_code", " sw1a  1aa "); err != nil || got != "SW1A 1AA" {
		t.Errorf("postal_code alone: got %v, %v", got, err)
	}
	if _, _, err := n.Value("postal_code", "SW1A_1AA"); err == nil || problem.FieldOf(err) != "postal_code" {
		t.Errorf("postal_code with a stray character: got %v", err)
	}

	tests := []struct {
		in     map[string]any
		want   any
		detail string
	}{
		{map[string]any{"postal_code": "sw1a1aa", "country": "GB"}, "SW1A 1AA", ""},
		{map[string]any{"postal_code": "1012ab", "country": "NL"}, "1012 AB", ""},
		{map[string]any{"postal_code": "205000003", "country": "US"}, "20500-0003", ""},
		{map[string]any{"postal_code": "D-10115", "country": "DE"}, "10115", ""},
		{map[string]any{"postal_code": "SW1A1AA"}, "SW1A1AA", ""},                    // no country in this write
		{map[string]any{"postal_code": "SW1A1AA", "country": "ZW"}, "SW1A1AA", ""},   // format not known
		{map[string]any{"postal_code": "2134", "country": "US"}, nil, "US ZIP code"}, // 02134 after a spreadsheet dropped the zero
		{map[string]any{"postal_code": "SW1A 1AA", "country": "NL"}, nil, "Dutch postcode"},
		{map[string]any{"postal_code": nil, "country": "GB"}, nil, ""}, // a removal in a patch
	}
	for _, tt := range tests {
		values := maps.Clone(tt.in)
		err := n.Address(values)
		if tt.detail != "" {
			if err == nil || problem.FieldOf(err) != "postal_code" || !strings.Contains(problem.Detail(err), tt.detail) {
				t.Errorf("%v: got %v, want an error naming postal_code and %q", tt.in, err, tt.detail)
			}
			if err != nil && strings.Contains(problem.Detail(err), tt.in["postal_code"].(string)) {
				t.Errorf("%v: error %q repeats the value", tt.in, problem.Detail(err))
			}
			continue
		}
		if err != nil || values["postal_code"] != tt.want {
			t.Errorf("%v: got %v, %v; want %v", tt.in, values["postal_code"], err, tt.want)
		}
	}
}

// TestSplitE164MatchesLibphonenumber: masking splits stored numbers by the calling-code prefix
// table instead of parsing them; the split must agree with a full parse.
func TestSplitE164MatchesLibphonenumber(t *testing.T) {
	for _, n := range []string{"+447911123456", "+12025550143", "+16845551234", "+79161234567", "+353861234567",
		"+390612345678", "+8613812345678", "+4915112345678", "+61412345678", "+27821234567", "+2348031234567",
		"+380501234567", "+97150123456", "+5511912345678", "+881612345678", "+35318012345"} {
		num, err := phonenumbers.Parse(n, "")
		if err != nil {
			t.Fatal(err)
		}
		code, national, ok := splitE164(n)
		wantCode := strconv.Itoa(int(num.GetCountryCode()))
		if !ok || code != wantCode || national != phonenumbers.GetNationalSignificantNumber(num) {
			t.Errorf("%s: got %q %q %v, want %q %q", n, code, national, ok, wantCode, phonenumbers.GetNationalSignificantNumber(num))
		}
	}
	for _, bad := range []string{"", "+", "447911123456", "+44a7911", "+999"} {
		if _, _, ok := splitE164(bad); ok {
			t.Errorf("%q: split, want refused", bad)
		}
	}
}

// FuzzDecodeValue: the fast paths for plain strings and integers decode exactly as the
// general JSON path does, and accept nothing it refuses.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{`"ann"`, `"a\"b"`, `"é"`, `"\u00e9"`, `12`, `-7`, `007`, `1.5`, `true`, `null`, `"x`, `"` + "\x01" + `"`, `"\xff"`, `99999999999999999999`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gerr := decodeValue(b)
		want, werr := decodeJSONValue(b)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: error %v, general path %v", b, gerr, werr)
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, general path %#v", b, got, want)
		}
	})
}
