package customer

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
)

// Address checks the postal codes among values against the country given in the same
// write, and spells them the way that country's post office does ("sw1a1aa" with country
// GB is stored as "SW1A 1AA", "1012ab" with NL as "1012 AB"). It runs after Value has
// normalised each field on its own, because a postal code's format depends on another
// field. A postal code written without its country keeps the country-neutral form Value
// gave it; a nil value (a removal) is skipped. Errors are Invalid, name the postal code
// field and never repeat the value.
//
// A postal_code field pairs with the country field of the same prefix
// ("shipping_postal_code" with "shipping_country"), or else with "country".
func (n *Normalizer) Address(values map[string]any) error {
	for _, name := range slices.Sorted(maps.Keys(values)) {
		code, ok := values[name].(string)
		if !ok {
			continue
		}
		f, ok := n.Catalog.Field(name)
		if !ok || f.Type != catalog.TypePostalCode {
			continue
		}
		country, _ := values[n.countryFieldOf(name)].(string)
		if country == "" {
			continue
		}
		v, err := postalCode(country, code)
		if err != nil {
			return problem.InvalidField(name, "%s", err.Error())
		}
		values[name] = v
	}
	return nil
}

// countryFieldOf names the country field a postal code field is checked against.
func (n *Normalizer) countryFieldOf(postal string) string {
	if prefix, ok := strings.CutSuffix(postal, "postal_code"); ok && prefix != "" {
		if f, ok := n.Catalog.Field(prefix + "country"); ok && f.Type == catalog.TypeCountry {
			return prefix + "country"
		}
	}
	return "country"
}

// postalCode normalises a postal code for country (an alpha-2 code, or "" when unknown).
// The error completes a sentence that starts with the field name.
func postalCode(country, s string) (string, error) {
	r := quality.NormalizePostalCode(s, country)
	if !r.Valid {
		return "", fmt.Errorf("%s", strings.TrimPrefix(r.Reason, "postal code "))
	}
	return r.Normalized, nil
}
