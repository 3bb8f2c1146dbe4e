package demo

import (
	"math/rand/v2"
	"testing"

	"github.com/brianvoe/gofakeit/v7"

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
