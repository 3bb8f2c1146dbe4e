package httpapi

import (
	"errors"
	"net/http"

	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
)

// validateInput is the body of POST /v1/validate. Pointers tell a field left out of the
// form (nil, not reported) from one left blank (reported as empty).
type validateInput struct {
	Email       *string       `json:"email" doc:"An e-mail address."`
	Phone       *string       `json:"phone" doc:"A phone number in any common notation."`
	PhoneRegion *string       `json:"phone_region" doc:"Region national phone numbers are read in (ISO 3166-1 code or English name); default: the address's country, else the server's --default-region."`
	FirstName   *string       `json:"first_name" doc:"Given name."`
	LastName    *string       `json:"last_name" doc:"Family name."`
	FullName    *string       `json:"full_name" doc:"Whole name."`
	Address     *addressInput `json:"address"`
}

type addressInput struct {
	Line1      *string `json:"line1"`
	Line2      *string `json:"line2"`
	City       *string `json:"city"`
	Region     *string `json:"region"`
	PostalCode *string `json:"postal_code" doc:"Checked against the country's format when the country is valid and its format known."`
	Country    *string `json:"country" doc:"ISO 3166-1 alpha-2 or alpha-3 code, or an English name."`
}

// validate checks a form's contact fields for a sign-up or checkout page. It stores
// nothing, writes no audit entry (no customer data is read or changed) and logs nothing
// but the route and status, like every request. It asks for customers.write because its
// callers are the ones about to write customers: form back ends holding an ingest key,
// and staff editing a profile.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) error {
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
	rep, err := s.Customers.ValidateForm(r.Context(), f)
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
