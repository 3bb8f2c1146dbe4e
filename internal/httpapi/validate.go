package httpapi

import (
	"errors"
	"maps"
	"net/http"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
)

// validateInput is the body of POST /v1/validate. Pointers tell a field left out of the
// form (nil, not reported) from one left blank (reported as empty).
type validateInput struct {
	Email       *string       `json:"email"`
	Phone       *string       `json:"phone"`
	PhoneRegion *string       `json:"phone_region"`
	FirstName   *string       `json:"first_name"`
	LastName    *string       `json:"last_name"`
	FullName    *string       `json:"full_name"`
	Address     *addressInput `json:"address"`
}

type addressInput struct {
	Line1      *string `json:"line1"`
	Line2      *string `json:"line2"`
	City       *string `json:"city"`
	Region     *string `json:"region"`
	PostalCode *string `json:"postal_code"`
	Country    *string `json:"country"`
}

// validate checks a form's contact fields for a sign-up or checkout page. It stores
// nothing, writes no audit entry (no customer data is read or changed) and logs nothing
// but the route and status, like every request. It asks for customers.write because its
// callers are the ones about to write customers: form back ends holding an ingest key,
// and staff editing a profile.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) error {
	if _, err := audit.Require(r.Context(), s.Catalog, "customers.write"); err != nil {
		return err
	}
	var in validateInput
	if err := decode(r, &in); err != nil {
		return err
	}
	f := quality.Form{Email: in.Email, Phone: in.Phone, FirstName: in.FirstName, LastName: in.LastName, FullName: in.FullName}
	if in.PhoneRegion != nil {
		f.PhoneRegion = *in.PhoneRegion
	}
	if a := in.Address; a != nil {
		f.Address = &quality.AddressForm{Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region, PostalCode: a.PostalCode, Country: a.Country}
	}
	v := s.Quality
	if v == nil {
		v = &quality.Validator{} // no default region, no MX look-ups
	}
	rep, err := v.Validate(r.Context(), f)
	switch {
	case errors.Is(err, quality.ErrEmptyForm):
		return problem.InvalidField("body", "give at least one of email, phone, first_name, last_name, full_name or an address field")
	case errors.Is(err, quality.ErrUnknownRegion):
		return problem.InvalidField("phone_region", "is not an ISO 3166-1 country code or name")
	case err != nil:
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// The schemas of the validation route live beside its handler, so the resource stays in
// one file.
func init() {
	described := func(desc string) map[string]any {
		return map[string]any{"type": "string", "description": desc}
	}
	maps.Copy(schemas, map[string]any{
		"ValidateInput": map[string]any{"type": "object", "additionalProperties": false,
			"description": "Any of the fields of a form; at least one. A field left out is not reported; an empty one is reported as empty.",
			"properties": map[string]any{
				"email":        described("An e-mail address."),
				"phone":        described("A phone number in any common notation."),
				"phone_region": described("Region national phone numbers are read in (ISO 3166-1 code or English name); default: the address's country, else the server's --default-region."),
				"first_name":   described("Given name."),
				"last_name":    described("Family name."),
				"full_name":    described("Whole name."),
				"address": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
					"line1": str(), "line2": str(), "city": str(), "region": str(),
					"postal_code": described("Checked against the country's format when the country is valid and its format known."),
					"country":     described("ISO 3166-1 alpha-2 or alpha-3 code, or an English name."),
				}},
			}},
		"ValidationReport": obj(map[string]any{
			"valid": map[string]any{"type": "boolean", "description": "Every field sent is valid; flags do not make a form invalid."},
			"fields": map[string]any{"type": "object", "description": "One entry per field sent, keyed email, phone, first_name, last_name, full_name, address.line1, address.line2, address.city, address.region, address.postal_code, address.country.",
				"additionalProperties": ref("FieldReport")},
		}),
		"FieldReport": obj(map[string]any{
			"valid":      map[string]any{"type": "boolean"},
			"normalized": described("The value as Steward would store it (e-mail look-up form, E.164, alpha-2 country, the post office's spelling of a postal code, cleaned text)."),
			"display":    described("A form for showing to a person: phone grouped internationally, country name, name with its casing fixed when typed all in one case."),
			"flags": map[string]any{"type": "array", "items": map[string]any{"enum": []string{
				quality.FlagRisky, quality.FlagDisposable, quality.FlagRole, quality.FlagTypo, quality.FlagNoMX, quality.FlagMXUnchecked,
				quality.FlagPlaceholder, quality.FlagDigits, quality.FlagInitials, quality.FlagUnchecked, quality.FlagPremiumRate}}},
			"suggestion": described("What the person probably meant (john@gmail.com for john@gmial.com)."),
			"reasons":    arr(str()),
			"category":   described("E-mail only: strict RFC 5321/5322 category (is_email): valid, dns_warning, rfc5321, cfws, deprecated, rfc5322, error."),
			"diagnosis":  described("E-mail only: strict diagnosis, e.g. VALID, RFC5321_TLD, ERR_NODOMAIN."),
			"type":       described("Phone only: mobile, fixed_line, fixed_line_or_mobile, toll_free, premium_rate, voip, personal_number, pager, uan, voicemail, shared_cost."),
			"region":     described("Phone only: the number's region (ISO 3166-1 alpha-2, 001 for non-geographic)."),
			"format":     described("Postal code only: the format it was checked against, e.g. UK postcode."),
		}),
	})
}
