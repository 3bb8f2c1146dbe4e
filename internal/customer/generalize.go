package customer

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
)

// generalize coarsens v the way the field declares, for purposes that may only see
// generalised data (analytics). ok is false when the generalised form of this field is to
// withhold it (street lines and postal codes: the address is known by city, region and country).
func (s *Service) generalize(f catalog.Field, v any, now time.Time) (any, bool) {
	str, isString := v.(string)
	switch f.Generalize {
	case catalog.GeneralizeNone, "":
		return v, true
	case catalog.GeneralizeAgeBand:
		d, err := time.Parse("2006-01-02", str)
		if !isString || err != nil {
			return nil, false
		}
		return AgeBand(d, now), true
	case catalog.GeneralizeIPPrefix:
		a, err := netip.ParseAddr(str)
		if !isString || err != nil {
			return nil, false
		}
		bits := 24
		if a.Is6() {
			bits = 48
		}
		p, _ := a.Prefix(bits)
		return p.String(), true
	case catalog.GeneralizeHash:
		// A keyed token, not the value: generalised views can count and join on it. It uses
		// an index key of its own, so it matches no blind-index token.
		return fmt.Sprintf("h%08x", s.keys.BlindIndex("generalized:"+f.Name, indexBytes(v))), true
	}
	return nil, false
}

// AgeBand buckets an age the way marketing and analytics reports usually do: the generalised
// form of a birth date (catalog age_band).
func AgeBand(birth, now time.Time) string {
	age := now.Year() - birth.Year()
	if now.YearDay() < birth.YearDay() {
		age--
	}
	switch {
	case age < 18:
		return "under_18"
	case age < 25:
		return "18_24"
	case age < 35:
		return "25_34"
	case age < 45:
		return "35_44"
	case age < 55:
		return "45_54"
	case age < 65:
		return "55_64"
	}
	return "65_plus"
}

// Generalize is the generalised form of a value of f, as a generalized_only purpose sees it;
// ok is false when that form withholds the value. Segments compare it and trends group by it.
func (s *Service) Generalize(f catalog.Field, v any, now time.Time) (any, bool) {
	return s.generalize(f, v, now)
}
