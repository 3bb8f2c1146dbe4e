package match

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name  string
		field Field
		raw   string
		want  string
	}{
		{"case and blanks", FirstName, "  Mary   ANNE ", "mary anne"},
		{"diacritics", LastName, "Müller-Lüdenscheidt", "muller ludenscheidt"},
		{"apostrophe dropped", LastName, "O'Brien", "obrien"},
		{"typographic apostrophe", LastName, "D’Arcy", "darcy"},
		{"sharp s", LastName, "Strauß", "strauss"},
		{"stroke letters", City, "Łódź", "lodz"},
		{"ligature", City, "Bærum", "baerum"},
		{"NFKC width", FirstName, "ＡＤＡ", "ada"},
		{"combining accent", FirstName, "Jose\u0301", "jose"},
		{"punctuation", AddressLine1, "12, Rue du Bac.", "12 rue du bac"},
		{"postal code", PostalCode, " sw1a 1aa ", "sw1a1aa"},
		{"postal digits", PostalCode, "4011-", "4011"},
		{"national id", NationalID, "123-45-6789", "123456789"},
		{"date iso", BirthDate, "1985-12-10", "1985-12-10"},
		{"date compact", BirthDate, "19851210", "1985-12-10"},
		{"date day first", BirthDate, "10/12/1985", "1985-12-10"},
		{"date month first when day first is impossible", BirthDate, "12/25/1985", "1985-12-25"},
		{"date timestamp", BirthDate, "1985-12-10T08:00:00Z", "1985-12-10"},
		{"corrupted date kept as digits", BirthDate, "19851310", "19851310"},
		{"impossible day kept as digits", BirthDate, "1985-02-30", "19850230"},
		{"absurd year kept as digits", BirthDate, "0001-01-01", "00010101"},
		{"email", Email, " Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"},
		{"bad email still folded", Email, "Ada Lovelace@", "adalovelace@"},
		{"phone", Phone, "+44 20 7946 0958", "+442079460958"},
		{"national phone without region", Phone, "020 7946 0958", "02079460958"},
		{"bad phone keeps its plus", Phone, "+44 12 !!", "+4412"},
		{"latin-1 bytes", LastName, "M\xfcller", "muller"},
		{"empty", FirstName, "   ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			r.Set(tt.field, tt.raw)
			n := Normalize(r, "")
			if got := n.Fields[tt.field]; got != tt.want {
				t.Errorf("Normalize(%s %q) = %q, want %q", tt.field, tt.raw, got, tt.want)
			}
		})
	}
}

func TestNormalizeDateValidity(t *testing.T) {
	for raw, valid := range map[string]bool{"19620316": true, "19621316": false, "1962-03-16": true, "": false, "abc": false} {
		var r Record
		r.Set(BirthDate, raw)
		if got := Normalize(r, "").DateValid; got != valid {
			t.Errorf("DateValid(%q) = %v, want %v", raw, got, valid)
		}
	}
}

func TestNormalizePhoneWithRegion(t *testing.T) {
	var r Record
	r.Set(Phone, "020 7946 0958")
	if got := Normalize(r, "GB").Fields[Phone]; got != "+442079460958" {
		t.Errorf("got %q, want the E.164 form", got)
	}
}

func TestNormalizeBoundsHugeValues(t *testing.T) {
	var r Record
	r.Set(LastName, strings.Repeat("é", 10_000))
	got := Normalize(r, "").Fields[LastName]
	if len(got) > maxValueBytes || got != strings.Repeat("e", len(got)) {
		t.Errorf("got %d bytes, want at most %d of folded letters", len(got), maxValueBytes)
	}
}

func TestParseField(t *testing.T) {
	for in, want := range map[string]Field{"first_name": FirstName, " Surname ": LastName, "postcode": PostalCode, "STATE": Region, "suburb": City, "date_of_birth": BirthDate} {
		got, err := ParseField(in)
		if err != nil || got != want {
			t.Errorf("ParseField(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseField("shoe_size"); err == nil || !strings.Contains(err.Error(), "shoe_size") || !strings.Contains(err.Error(), "first_name") {
		t.Errorf("ParseField(shoe_size) error %v, want one naming the field and the known ones", err)
	}
}
