package quality

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func ptr(s string) *string { return &s }

func TestValidateForm(t *testing.T) {
	v := &Validator{DefaultRegion: "GB"}
	rep, err := v.Validate(context.Background(), Form{
		Email:     ptr(" John.Smith@Gmial.com "),
		Phone:     ptr("07400 123456"),
		FirstName: ptr("JOHN"),
		LastName:  ptr("o'brien"),
		FullName:  ptr("Test"),
		Address: &AddressForm{
			Line1: ptr("  10  Downing Street "), City: ptr("London"),
			PostalCode: ptr("sw1a2aa"), Country: ptr("United Kingdom"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Field{
		"email": {Valid: true, Normalized: "john.smith@gmial.com", Suggestion: "john.smith@gmail.com",
			Flags: []string{FlagTypo, FlagRisky}, Category: "cfws", Diagnosis: "CFWS_FWS"},
		"phone":               {Valid: true, Normalized: "+447400123456", Display: "+44 7400 123456", Type: PhoneMobile, Region: "GB", Flags: []string{}},
		"first_name":          {Valid: true, Normalized: "JOHN", Display: "John", Flags: []string{}},
		"last_name":           {Valid: true, Normalized: "o'brien", Display: "O'Brien", Flags: []string{}},
		"full_name":           {Valid: true, Normalized: "Test", Display: "Test", Flags: []string{FlagPlaceholder, FlagRisky}},
		"address.line1":       {Valid: true, Normalized: "10 Downing Street", Flags: []string{}},
		"address.city":        {Valid: true, Normalized: "London", Flags: []string{}},
		"address.postal_code": {Valid: true, Normalized: "SW1A 2AA", Format: "UK postcode", Flags: []string{}},
		"address.country":     {Valid: true, Normalized: "GB", Display: "United Kingdom", Flags: []string{}},
	}
	if !rep.Valid || len(rep.Fields) != len(want) {
		t.Fatalf("report = %+v", rep)
	}
	for name, w := range want {
		got := rep.Fields[name]
		if got.Valid != w.Valid || got.Normalized != w.Normalized || got.Display != w.Display || got.Suggestion != w.Suggestion ||
			!slices.Equal(got.Flags, w.Flags) || got.Type != w.Type || got.Region != w.Region || got.Format != w.Format ||
			got.Category != w.Category || got.Diagnosis != w.Diagnosis {
			t.Errorf("%s = %+v\nwant %+v", name, got, w)
		}
		if len(got.Flags) > 0 && len(got.Reasons) == 0 {
			t.Errorf("%s: flags %v without reasons", name, got.Flags)
		}
	}
}

func TestValidateFormInvalid(t *testing.T) {
	v := &Validator{DefaultRegion: "GB"}
	rep, err := v.Validate(context.Background(), Form{
		Email:     ptr("secret@localhost"),
		Phone:     ptr("12"),
		FirstName: ptr("12345"),
		Address:   &AddressForm{PostalCode: ptr("12345"), Country: ptr("Untied Kingdom"), City: ptr("")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Valid {
		t.Fatal("form with invalid fields reported valid")
	}
	for name, wantReason := range map[string]string{
		"email":               "domain has no dot",
		"phone":               "number is too short",
		"first_name":          "name contains no letters",
		"address.country":     "country is not an ISO 3166-1 code or a country name",
		"address.city":        "value is empty",
		"address.postal_code": "", // valid, but unchecked: the country is not valid
	} {
		f := rep.Fields[name]
		if wantReason == "" {
			if !f.Valid || !slices.Contains(f.Flags, FlagUnchecked) {
				t.Errorf("%s = %+v, want valid and unchecked", name, f)
			}
			continue
		}
		if f.Valid || f.Normalized != "" || len(f.Reasons) != 1 || !strings.HasPrefix(f.Reasons[0], wantReason) {
			t.Errorf("%s = %+v, want invalid: %q", name, f, wantReason)
		}
		for _, r := range f.Reasons {
			if strings.Contains(r, "secret") {
				t.Errorf("%s: reason %q quotes the input", name, r)
			}
		}
	}
	if s := rep.Fields["address.country"].Suggestion; s != "United Kingdom" {
		t.Errorf("country suggestion = %q", s)
	}
}

// The phone region comes from the form, else the address's country, else the default.
func TestValidateFormPhoneRegion(t *testing.T) {
	v := &Validator{DefaultRegion: "GB"}
	ctx := context.Background()
	cases := []struct {
		form Form
		want string
	}{
		{Form{Phone: ptr("030 123456")}, ""}, // a German number read as British
		{Form{Phone: ptr("030 123456"), PhoneRegion: "de"}, "+4930123456"},
		{Form{Phone: ptr("030 123456"), PhoneRegion: "Germany"}, "+4930123456"},
		{Form{Phone: ptr("030 123456"), Address: &AddressForm{Country: ptr("DEU")}}, "+4930123456"},
		{Form{Phone: ptr("020 7946 0958"), Address: &AddressForm{Country: ptr("Atlantis")}}, "+442079460958"},
	}
	for _, c := range cases {
		rep, err := v.Validate(ctx, c.form)
		if err != nil {
			t.Fatal(err)
		}
		if got := rep.Fields["phone"].Normalized; got != c.want {
			t.Errorf("%+v: phone = %q, want %q", c.form, got, c.want)
		}
	}
	if _, err := v.Validate(ctx, Form{Phone: ptr("1"), PhoneRegion: "Narnia"}); !errors.Is(err, ErrUnknownRegion) {
		t.Errorf("unknown region: got %v", err)
	}
	if _, err := v.Validate(ctx, Form{}); !errors.Is(err, ErrEmptyForm) {
		t.Errorf("empty form: got %v", err)
	}
	if _, err := v.Validate(ctx, Form{Address: &AddressForm{}}); !errors.Is(err, ErrEmptyForm) {
		t.Errorf("empty address: got %v", err)
	}
}

func TestValidateFormFlags(t *testing.T) {
	v := &Validator{DefaultRegion: "GB", MX: NewMXChecker(newFake(), time.Minute, time.Second)}
	ctx := context.Background()
	cases := []struct {
		form  Form
		field string
		flags []string
	}{
		{Form{Email: ptr("info@example.com")}, "email", []string{FlagRole}},
		{Form{Email: ptr("x@mailinator.com")}, "email", []string{FlagDisposable, FlagNoMX, FlagRisky}},
		{Form{Email: ptr("x@missing.example")}, "email", []string{FlagNoMX, FlagRisky}},
		{Form{Email: ptr("x@slow.example")}, "email", []string{FlagMXUnchecked}},
		{Form{Email: ptr("x@example.com")}, "email", []string{}},
		{Form{Phone: ptr("0870 123 4567")}, "phone", []string{FlagPremiumRate, FlagRisky}},
		{Form{FirstName: ptr("Anna2")}, "first_name", []string{FlagDigits, FlagRisky}},
		{Form{FirstName: ptr("J.")}, "first_name", []string{FlagInitials}},
		{Form{Address: &AddressForm{PostalCode: ptr("ab 12")}}, "address.postal_code", []string{FlagUnchecked}},
		{Form{Address: &AddressForm{PostalCode: ptr("00100"), Country: ptr("Zimbabwe")}}, "address.postal_code", []string{FlagUnchecked}},
	}
	for _, c := range cases {
		rep, err := v.Validate(ctx, c.form)
		if err != nil {
			t.Fatal(err)
		}
		f := rep.Fields[c.field]
		if !f.Valid || !slices.Equal(f.Flags, c.flags) || len(f.Reasons) < len(c.flags)-1 {
			t.Errorf("%s: %+v, want valid with flags %v", c.field, f, c.flags)
		}
	}
	// A lookup that timed out says nothing about the domain: the grade stays valid and the
	// address is not called risky.
	rep, _ := v.Validate(ctx, Form{Email: ptr("x@slow.example")})
	if f := rep.Fields["email"]; f.Category != "valid" {
		t.Errorf("lookup failure changed the grade: %+v", f)
	}
}
