package quality

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Form is what a sign-up, checkout or profile form sends to be checked before it is
// submitted. A nil field was not on the form and is not reported; an empty one was left
// blank and is reported as such.
type Form struct {
	Email *string
	Phone *string
	// PhoneRegion is the region national phone numbers are read in (ISO 3166-1 alpha-2 or
	// a country name). Empty means the address's country if it has a valid one, else the
	// Validator's DefaultRegion.
	PhoneRegion string
	FirstName   *string
	LastName    *string
	FullName    *string
	Address     *AddressForm
}

// AddressForm is a postal address as forms collect it.
type AddressForm struct {
	Line1, Line2, City, Region, PostalCode, Country *string
}

// Report is the verdict on a whole form: one entry per field that was sent, keyed by the
// field's name ("email", "address.postal_code").
type Report struct {
	// Valid reports that every field sent is valid; flags do not make a form invalid.
	Valid  bool             `json:"valid"`
	Fields map[string]Field `json:"fields"`
}

// Field is the verdict on one form field. Only the members that apply to the field's kind
// are set.
type Field struct {
	Valid bool `json:"valid"`
	// Normalized is the value Steward would store: the look-up form of an e-mail address,
	// E.164 for a phone, the alpha-2 code of a country, the post office's spelling of a
	// postal code, cleaned text for names and address lines. Empty when not Valid.
	Normalized string `json:"normalized,omitempty"`
	// Display is a form for showing the value to a person: a phone number grouped the
	// international way, a country's English name, a name with its casing fixed when it
	// was typed all in one case.
	Display string `json:"display,omitempty"`
	// Flags are warnings about a valid value: disposable, role, typo, no_mx, mx_unchecked,
	// placeholder, digits, initials, unchecked, premium_rate, and risky whenever one of the
	// warnings means the value may not reach or name the person.
	Flags []string `json:"flags"`
	// Suggestion is what the person probably meant, written the way they wrote it
	// (john@gmail.com for john@gmial.com, United Kingdom for Untied Kingdom).
	Suggestion string `json:"suggestion,omitempty"`
	// Reasons explain, in words and without quoting the value, why it is not valid and
	// what each flag means.
	Reasons []string `json:"reasons"`
	// Category and Diagnosis are the strict RFC 5321/5322 grade of an e-mail address as
	// typed, in is_email's vocabulary.
	Category  string `json:"category,omitempty"`
	Diagnosis string `json:"diagnosis,omitempty"`
	// Type is a phone number's line type (mobile, fixed_line, voip …) and Region the region
	// it belongs to.
	Type   string `json:"type,omitempty"`
	Region string `json:"region,omitempty"`
	// Format names the postal code format the code was checked against.
	Format string `json:"format,omitempty"`
}

// Flags a Field may carry.
const (
	FlagRisky       = "risky"
	FlagDisposable  = "disposable"
	FlagRole        = "role"
	FlagTypo        = "typo"
	FlagNoMX        = "no_mx"
	FlagMXUnchecked = "mx_unchecked"
	FlagPlaceholder = "placeholder"
	FlagDigits      = "digits"
	FlagInitials    = "initials"
	FlagUnchecked   = "unchecked"
	FlagPremiumRate = "premium_rate"
)

// Errors from Validate: they are about the request, not about what the person typed.
var (
	ErrEmptyForm     = errors.New("no field to validate")
	ErrUnknownRegion = errors.New("is not a known region")
)

// Length limits, the same as the default catalog's for the fields of the same names.
const (
	maxNameRunes     = 128
	maxFullNameRunes = 256
	maxLineRunes     = 256
	maxPlaceRunes    = 128
)

// Validator checks forms. It stores nothing and logs nothing: it is a pure function of
// the form, apart from the optional MX look-up.
type Validator struct {
	// DefaultRegion reads national phone numbers when the form names no region.
	DefaultRegion string
	// MX, when enabled, looks up the mail servers of every acceptable address's domain.
	MX *MXChecker
}

// Validate checks every field of f. It returns ErrEmptyForm for a form without fields
// and an error wrapping ErrUnknownRegion when PhoneRegion names no region; what is wrong
// with the values themselves is in the Report, never an error.
func (v *Validator) Validate(ctx context.Context, f Form) (Report, error) {
	rep := Report{Valid: true, Fields: map[string]Field{}}
	var country Country
	countryOK := false
	if a := f.Address; a != nil && a.Country != nil {
		country, countryOK = LookupCountry(*a.Country)
	}
	region := v.DefaultRegion
	switch {
	case strings.TrimSpace(f.PhoneRegion) != "":
		c, ok := LookupCountry(f.PhoneRegion)
		if !ok {
			return Report{}, ErrUnknownRegion
		}
		region = c.Alpha2
	case countryOK:
		region = country.Alpha2
	}

	add := func(name string, fl Field) {
		if fl.Flags == nil {
			fl.Flags = []string{}
		}
		if fl.Reasons == nil {
			fl.Reasons = []string{}
		}
		rep.Fields[name] = fl
		rep.Valid = rep.Valid && fl.Valid
	}
	if f.Email != nil {
		add("email", v.email(ctx, *f.Email))
	}
	if f.Phone != nil {
		add("phone", phoneField(*f.Phone, region))
	}
	for _, n := range []struct {
		name string
		val  *string
		max  int
	}{{"first_name", f.FirstName, maxNameRunes}, {"last_name", f.LastName, maxNameRunes}, {"full_name", f.FullName, maxFullNameRunes}} {
		if n.val != nil {
			add(n.name, nameField(*n.val, n.max))
		}
	}
	if a := f.Address; a != nil {
		if a.Country != nil {
			add("address.country", countryField(*a.Country, country, countryOK))
		}
		if a.PostalCode != nil {
			code := ""
			if countryOK {
				code = country.Alpha2
			}
			add("address.postal_code", postalField(*a.PostalCode, code))
		}
		for _, l := range []struct {
			name string
			val  *string
			max  int
		}{{"address.line1", a.Line1, maxLineRunes}, {"address.line2", a.Line2, maxLineRunes},
			{"address.city", a.City, maxPlaceRunes}, {"address.region", a.Region, maxPlaceRunes}} {
			if l.val != nil {
				add(l.name, textField(*l.val, l.max))
			}
		}
	}
	if len(rep.Fields) == 0 {
		return Report{}, ErrEmptyForm
	}
	return rep, nil
}

func (v *Validator) email(ctx context.Context, raw string) Field {
	r := ValidateEmail(raw)
	fl := Field{Category: string(r.Category), Diagnosis: r.Diagnosis}
	if !r.Acceptable {
		fl.Reasons = []string{r.Reason}
		return fl
	}
	fl.Valid, fl.Normalized = true, r.Normalized
	risky := false
	if r.Disposable {
		fl.Flags = append(fl.Flags, FlagDisposable)
		fl.Reasons = append(fl.Reasons, "domain belongs to a disposable mailbox service")
		risky = true
	}
	if r.Role {
		fl.Flags = append(fl.Flags, FlagRole)
		fl.Reasons = append(fl.Reasons, "address reaches a role mailbox rather than a person")
	}
	if r.Suggestion != "" {
		fl.Flags = append(fl.Flags, FlagTypo)
		fl.Reasons = append(fl.Reasons, "domain looks like a typo; see the suggestion")
		fl.Suggestion = r.Suggestion
		risky = true
	}
	if v.MX.Enabled() {
		checked, err := v.MX.ApplyMX(ctx, r)
		switch {
		case err != nil:
			fl.Flags = append(fl.Flags, FlagMXUnchecked)
			fl.Reasons = append(fl.Reasons, "mail servers of the domain could not be looked up")
		case checked.Category == CategoryDNSWarning:
			fl.Category, fl.Diagnosis = string(checked.Category), checked.Diagnosis
			fl.Flags = append(fl.Flags, FlagNoMX)
			fl.Reasons = append(fl.Reasons, "domain publishes no mail servers")
			risky = true
		}
	}
	if risky {
		fl.Flags = append(fl.Flags, FlagRisky)
	}
	return fl
}

func phoneField(raw, region string) Field {
	r := ValidatePhone(raw, region)
	fl := Field{Region: r.Region}
	if !r.Valid {
		fl.Reasons = []string{r.Reason}
		return fl
	}
	fl.Valid, fl.Normalized, fl.Type = true, r.E164, r.Type
	if num, err := phonenumbers.Parse(r.E164, ""); err == nil {
		fl.Display = phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
	}
	if r.Type == PhonePremiumRate {
		fl.Flags = []string{FlagPremiumRate, FlagRisky}
		fl.Reasons = []string{"number is a premium-rate line, rarely a person's own"}
	}
	return fl
}

func nameField(raw string, max int) Field {
	r := NormalizeName(raw, max)
	if !r.Valid {
		return Field{Reasons: []string{r.Reason}}
	}
	fl := Field{Valid: true, Normalized: r.Normalized, Display: r.Display}
	if r.Placeholder {
		fl.Flags = append(fl.Flags, FlagPlaceholder)
		fl.Reasons = append(fl.Reasons, "name looks like a placeholder rather than a person's name")
	}
	if r.Digits {
		fl.Flags = append(fl.Flags, FlagDigits)
		fl.Reasons = append(fl.Reasons, "name contains digits")
	}
	if r.Initials {
		fl.Flags = append(fl.Flags, FlagInitials)
		fl.Reasons = append(fl.Reasons, "name is only initials")
	}
	if r.Placeholder || r.Digits {
		fl.Flags = append(fl.Flags, FlagRisky)
	}
	return fl
}

func countryField(raw string, c Country, ok bool) Field {
	if ok {
		return Field{Valid: true, Normalized: c.Alpha2, Display: c.Name}
	}
	fl := Field{Reasons: []string{"country is not an ISO 3166-1 code or a country name"}}
	if strings.TrimSpace(raw) == "" {
		fl.Reasons = []string{"country is empty"}
	}
	if s, ok := SuggestCountry(raw); ok {
		fl.Suggestion = s.Name
	}
	return fl
}

func postalField(raw, country string) Field {
	r := NormalizePostalCode(raw, country)
	if !r.Valid {
		return Field{Format: r.Format, Reasons: []string{r.Reason}}
	}
	fl := Field{Valid: true, Normalized: r.Normalized, Format: r.Format}
	if !r.Checked {
		fl.Flags = []string{FlagUnchecked}
		if country == "" {
			fl.Reasons = []string{"postal code not checked against a format: no valid country given"}
		} else {
			fl.Reasons = []string{"postal code not checked against a format: the country's format is not known"}
		}
	}
	return fl
}

func textField(raw string, max int) Field {
	s, err := CleanText(raw)
	switch {
	case errors.Is(err, ErrTextNotUTF8):
		return Field{Reasons: []string{"value is not valid UTF-8"}}
	case errors.Is(err, ErrTextControl):
		return Field{Reasons: []string{"value contains control characters"}}
	case err != nil || utf8.RuneCountInString(s) > max:
		return Field{Reasons: []string{"value is too long"}}
	case s == "":
		return Field{Reasons: []string{"value is empty"}}
	}
	return Field{Valid: true, Normalized: s}
}
