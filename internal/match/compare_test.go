package match

import (
	"math/rand/v2"
	"testing"
)

// person builds a prepared record from field/value pairs.
func person(kv ...string) prepared {
	var r Record
	for i := 0; i+1 < len(kv); i += 2 {
		f, err := ParseField(kv[i])
		if err != nil {
			panic(err)
		}
		r.Set(f, kv[i+1])
	}
	return prepare(Normalize(r, "GB"))
}

func levelOf(t *testing.T, comparison string, a, b prepared) string {
	t.Helper()
	for _, c := range comparisons {
		if c.name == comparison {
			return c.levelName(c.compare(&a, &b))
		}
	}
	t.Fatalf("no comparison %q", comparison)
	return ""
}

func TestComparisonLevels(t *testing.T) {
	tests := []struct {
		comparison string
		a, b       prepared
		want       string
	}{
		{"first_name", person("first_name", "Kayla"), person("first_name", "kayla"), "exact"},
		{"first_name", person("first_name", "kayla"), person("first_name", "kyala"), "close"},
		{"first_name", person("first_name", "cambell"), person("first_name", "cambetll"), "close"},
		{"first_name", person("first_name", "jonathan"), person("first_name", "johnny"), "similar"},
		{"first_name", person("first_name", "j"), person("first_name", "james"), "initial"},
		{"first_name", person("first_name", "matthew"), person("first_name", "samuel"), "different"},
		{"first_name", person("first_name", "Bill"), person("first_name", "William"), "close"},      // nickname
		{"first_name", person("first_name", "peggy"), person("first_name", "Margaret"), "close"},    // nickname
		{"first_name", person("first_name", "Liz"), person("first_name", "elizabeth"), "close"},     // nickname
		{"last_name", person("last_name", "bill"), person("last_name", "william"), "different"},     // only given names have nicknames
		{"first_name", person("first_name", "bob"), person("first_name", "elizabeth"), "different"}, // nicknames of other names
		{"first_name", person("first_name", "kayla"), person("last_name", "kayla"), "missing"},
		{"first_name", person("first_name", "william", "last_name", "fornarino"), person("first_name", "fornarino", "last_name", "william"), "transposed"},
		{"last_name", person("first_name", "william", "last_name", "fornarino"), person("first_name", "fornarino", "last_name", "william"), "transposed"},
		{"birth_date", person("birth_date", "19620316"), person("birth_date", "1962-03-16"), "exact"},
		{"birth_date", person("birth_date", "19620316"), person("birth_date", "19620361"), "one_edit"},
		{"birth_date", person("birth_date", "19621316"), person("birth_date", "19620316"), "one_edit"}, // a corrupted date still compares
		{"birth_date", person("birth_date", "1962-03-11"), person("birth_date", "1962-11-03"), "day_month_swapped"},
		{"birth_date", person("birth_date", "19620316"), person("birth_date", "19630416"), "two_edits"},
		{"birth_date", person("birth_date", "19620316"), person("birth_date", "19871105"), "different"},
		{"address", person("address_line1", "4 meldrum street", "address_line2", "forster medical centre"), person("address_line1", "4 Meldrum St.", "address_line2", "forster medical centre"), "similar"},
		{"address", person("address_line1", "4 meldrum street", "address_line2", "forster medical centre"), person("address_line1", "forster medical centre", "address_line2", "4 meldrum street"), "same_words"},
		{"address", person("address_line1", "4 meldrum street"), person("address_line1", "4 meldrum street"), "exact"},
		{"address", person("address_line1", "12 mosman place"), person("address_line1", "21 mosman place"), "partial"},
		{"address", person("address_line1", "12 mosman place"), person("address_line1", "7 giblin court"), "different"},
		{"postal_code", person("postal_code", "4011"), person("postal_code", "4011"), "exact"},
		{"postal_code", person("postal_code", "4011"), person("postal_code", "4101"), "one_edit"},
		{"postal_code", person("postal_code", "4011"), person("postal_code", "2600"), "different"},
		{"city", person("city", "toowoomba"), person("city", "towoomba"), "close"},
		{"national_id", person("national_id", "7118146"), person("national_id", "7118164"), "one_edit"},
		{"email", person("email", "ada@example.com"), person("email", "ADA@example.com"), "exact"},
		{"email", person("email", "ada.l@example.com"), person("email", "ada.l@mail.example"), "same_local_part"},
		{"email", person("email", "ada.l@example.com"), person("email", "ada.k@example.com"), "similar"},
		{"phone", person("phone", "+44 20 7946 0958"), person("phone", "020 7946 0958"), "exact"},
		{"phone", person("phone", "+44 20 7946 0958"), person("phone", "+44 20 7946 0985"), "one_edit"},
		{"country", person("country", "GB"), person("country", "gb"), "exact"},
	}
	for _, tt := range tests {
		if got := levelOf(t, tt.comparison, tt.a, tt.b); got != tt.want {
			t.Errorf("%s(%v, %v) = %s, want %s", tt.comparison, tt.a.Fields, tt.b.Fields, got, tt.want)
		}
		if got := levelOf(t, tt.comparison, tt.b, tt.a); got != tt.want {
			t.Errorf("%s reversed = %s, want %s: comparisons must be symmetric", tt.comparison, got, tt.want)
		}
	}
}

// TestComparisonValues checks the contract that lets chance agreement be counted from
// value frequencies: a comparison is Missing exactly when either value is empty and exact
// exactly when the values are equal.
func TestComparisonValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	var recs []prepared
	for range 200 {
		recs = append(recs, person(
			"first_name", pick("", "ann", "anne", "bob"), "last_name", pick("", "lee", "leigh", "ann"),
			"birth_date", pick("", "19620316", "1962-03-16", "19621316"), "address_line1", pick("", "1 a st", "1 A St."),
			"address_line2", pick("", "flat 2"), "city", pick("", "york", "yorke"), "postal_code", pick("", "4011", "4012"),
			"region", pick("", "vic"), "country", pick("", "au"), "national_id", pick("", "123", "124"),
			"email", pick("", "a@b.example", "A@b.example"), "phone", pick("", "+44 20 7946 0958", "020 7946 0958"),
		))
	}
	for i := range recs {
		for j := range recs {
			for _, c := range comparisons {
				va, vb := c.value(&recs[i]), c.value(&recs[j])
				l := c.compare(&recs[i], &recs[j])
				if (l == Missing) != (va == "" || vb == "") || (l == 1) != (va != "" && va == vb) {
					t.Fatalf("%s: level %s for values %q and %q", c.name, c.levelName(l), va, vb)
				}
			}
		}
	}
}
