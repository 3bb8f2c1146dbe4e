package demo

import (
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/brianvoe/gofakeit/v7"
	"github.com/nyaruka/phonenumbers"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
)

// TestPeopleAreValidAndSeeded: every demo value passes the catalog's validation,
// and the same seed gives the same people.
func TestPeopleAreValidAndSeeded(t *testing.T) {
	n := &customer.Normalizer{Catalog: catalog.Default(), DefaultRegion: "GB"}
	f := gofakeit.New(7)
	r := rand.New(rand.NewPCG(7, 7))
	bad := 0
	for i := 0; i < 500; i++ {
		values := map[string]any{}
		for name, v := range Person(f, r, i) {
			nv, _, err := n.Value(name, v)
			if err != nil {
				bad++
				t.Logf("person %d: %v", i, err)
			}
			values[name] = nv
		}
		// Postal codes must also fit their country's format.
		if err := n.Address(values); err != nil {
			bad++
			t.Logf("person %d: %v", i, err)
		}
	}
	if bad > 0 {
		t.Fatalf("%d invalid values in 500 demo people, want none", bad)
	}
	a := Person(gofakeit.New(1), rand.New(rand.NewPCG(1, 1)), 0)
	b := Person(gofakeit.New(1), rand.New(rand.NewPCG(1, 1)), 0)
	if a["email"] != b["email"] || a["phone"] != b["phone"] {
		t.Fatalf("same seed, different people: %v vs %v", a["email"], b["email"])
	}
}

// gazetteer is where the demo's cities are, written down apart from the demo's own table:
// country, then city, then the region (state, county or nation) it is in.
var gazetteer = map[string]map[string]string{
	"GB": {"London": "England", "Manchester": "England", "Birmingham": "England", "Leeds": "England", "Bristol": "England",
		"Edinburgh": "Scotland", "Glasgow": "Scotland", "Cardiff": "Wales", "Belfast": "Northern Ireland"},
	"US": {"New York": "NY", "Los Angeles": "CA", "Chicago": "IL", "Houston": "TX", "Phoenix": "AZ", "Seattle": "WA",
		"Boston": "MA", "San Francisco": "CA", "Washington": "DC"},
	"DE": {"Berlin": "Berlin", "Hamburg": "Hamburg", "München": "Bayern", "Köln": "Nordrhein-Westfalen",
		"Frankfurt am Main": "Hessen", "Stuttgart": "Baden-Württemberg", "Leipzig": "Sachsen"},
	"FR": {"Paris": "Île-de-France", "Lyon": "Auvergne-Rhône-Alpes", "Marseille": "Provence-Alpes-Côte d'Azur",
		"Toulouse": "Occitanie", "Bordeaux": "Nouvelle-Aquitaine", "Nantes": "Pays de la Loire", "Lille": "Hauts-de-France",
		"Strasbourg": "Grand Est"},
	"AU": {"Sydney": "NSW", "Melbourne": "VIC", "Brisbane": "QLD", "Perth": "WA", "Adelaide": "SA", "Canberra": "ACT", "Hobart": "TAS"},
}

// TestPeopleLiveInTheirCountry: every demo customer's city is in their country and in the
// region given, their phone number has their country's calling code, their language is their
// country's, and their postal code has their country's format. Demo data is how people first
// judge the product; Phoenix, AU was not believable.
func TestPeopleLiveInTheirCountry(t *testing.T) {
	n := &customer.Normalizer{Catalog: catalog.Default(), DefaultRegion: "GB"}
	f := gofakeit.New(42)
	r := rand.New(rand.NewPCG(42, 42^0x5deece66d))
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		p := Person(f, r, i)
		country, _ := p["country"].(string)
		city, _ := p["city"].(string)
		region, _ := p["region"].(string)
		seen[country] = true
		cities, ok := gazetteer[country]
		if !ok {
			t.Fatalf("person %d: country %q is not in the test's gazetteer", i, country)
		}
		if want, ok := cities[city]; !ok || want != region {
			t.Errorf("person %d: %s, %s is not a city of %s (want region %q)", i, city, region, country, want)
		}
		phone, _ := p["phone"].(string)
		num, err := phonenumbers.Parse(phone, "")
		if err != nil || int(num.GetCountryCode()) != phonenumbers.GetCountryCodeForRegion(country) {
			t.Errorf("person %d in %s: phone %s has another country's code (%v)", i, country, p["phone"], err)
		}
		if lang, ok := p["language"].(string); ok && !strings.HasSuffix(lang, "-"+country) {
			t.Errorf("person %d in %s speaks %s", i, country, lang)
		}
		if err := n.Address(map[string]any{"postal_code": p["postal_code"], "country": country}); err != nil {
			t.Errorf("person %d in %s: %v", i, country, err)
		}
	}
	if len(seen) != len(gazetteer) {
		t.Errorf("the demo's people live in %d countries, want %d", len(seen), len(gazetteer))
	}
	// The same seed gives the same people, every field of them.
	a := Person(gofakeit.New(1), rand.New(rand.NewPCG(1, 1)), 0)
	b := Person(gofakeit.New(1), rand.New(rand.NewPCG(1, 1)), 0)
	if !maps.Equal(a, b) {
		t.Errorf("same seed, different people:\n%v\n%v", a, b)
	}
}
