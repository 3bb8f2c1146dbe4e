package quality

import (
	"errors"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// PhoneResult is what ValidatePhone learnt about one number.
type PhoneResult struct {
	// E164 is the number in E.164 form (+447911123456), the one canonical spelling used
	// for look-up and de-duplication; empty unless Valid. Extensions are dropped: they
	// select a desk, not a subscriber.
	E164 string
	// Valid reports that the number matches a numbering plan in libphonenumber's
	// metadata, not merely that it has a plausible length.
	Valid bool
	// Type is the kind of line: mobile, fixed_line, fixed_line_or_mobile, toll_free,
	// premium_rate, voip, personal_number, pager, uan, voicemail, shared_cost or unknown.
	Type string
	// Region is the ISO 3166-1 alpha-2 region the number belongs to, or the main region of
	// its country code when the number itself is not valid; "001" marks non-geographic
	// numbers.
	Region string
	// Reason says in words why the number is not Valid; it never quotes the number.
	Reason string
}

// Phone number types, as reported in PhoneResult.Type.
const (
	PhoneMobile            = "mobile"
	PhoneFixedLine         = "fixed_line"
	PhoneFixedLineOrMobile = "fixed_line_or_mobile"
	PhoneTollFree          = "toll_free"
	PhonePremiumRate       = "premium_rate"
	PhoneVoIP              = "voip"
	PhonePersonalNumber    = "personal_number"
	PhonePager             = "pager"
	PhoneUAN               = "uan"
	PhoneVoicemail         = "voicemail"
	PhoneSharedCost        = "shared_cost"
	PhoneUnknown           = "unknown"
)

var phoneTypeNames = map[phonenumbers.PhoneNumberType]string{
	phonenumbers.MOBILE:               PhoneMobile,
	phonenumbers.FIXED_LINE:           PhoneFixedLine,
	phonenumbers.FIXED_LINE_OR_MOBILE: PhoneFixedLineOrMobile,
	phonenumbers.TOLL_FREE:            PhoneTollFree,
	phonenumbers.PREMIUM_RATE:         PhonePremiumRate,
	phonenumbers.VOIP:                 PhoneVoIP,
	phonenumbers.PERSONAL_NUMBER:      PhonePersonalNumber,
	phonenumbers.PAGER:                PhonePager,
	phonenumbers.UAN:                  PhoneUAN,
	phonenumbers.VOICEMAIL:            PhoneVoicemail,
	phonenumbers.SHARED_COST:          PhoneSharedCost,
}

// phoneNumberPool recycles parse targets: a bulk import validates millions of numbers
// and each needs a protobuf message to fill.
var phoneNumberPool = sync.Pool{New: func() any { return new(phoneScratch) }}

// ErrPhoneNotValid is matched by every error NormalizePhone returns.
var ErrPhoneNotValid = errors.New("phone number not valid")

// PhoneError explains why a number was refused, without quoting it.
type PhoneError struct {
	Reason string
}

func (e *PhoneError) Error() string { return "phone number not valid: " + e.Reason }

// Is makes errors.Is(err, ErrPhoneNotValid) hold for every PhoneError.
func (e *PhoneError) Is(target error) bool { return target == ErrPhoneNotValid }

// maxPhoneInput is libphonenumber's own cap on input; checking it first keeps absurd
// inputs away from the parser's regular expressions.
const maxPhoneInput = phonenumbers.MAX_INPUT_STRING_LENGTH

// NormalizePhone returns the E.164 form of a valid number, or a *PhoneError.
func NormalizePhone(raw, defaultRegion string) (string, error) {
	r := ValidatePhone(raw, defaultRegion)
	if !r.Valid {
		return "", &PhoneError{Reason: r.Reason}
	}
	return r.E164, nil
}

// ValidatePhone parses a number written in any common notation. A number without an
// international prefix is read as a national number of defaultRegion (an ISO 3166-1
// alpha-2 code, any case), because that is how people write their own numbers on forms.
// It never fails and never panics: everything it has to say is in the result.
func ValidatePhone(raw, defaultRegion string) PhoneResult {
	return validatePhone(raw, defaultRegion, true)
}

// validatePhoneSlow is ValidatePhone with every number parsed by libphonenumber's own
// parser, the reference the fast path is tested against.
func validatePhoneSlow(raw, defaultRegion string) PhoneResult {
	return validatePhone(raw, defaultRegion, false)
}

// validatePhone reads plain notations with parsePhoneFast when fast is set, and
// everything else with the library's parser.
func validatePhone(raw, defaultRegion string, fast bool) (res PhoneResult) {
	res.Type = PhoneUnknown
	defer func() {
		// The parser is third-party code fed with untrusted input; a bug in it must
		// cost one row, not the import job.
		if recover() != nil {
			res = PhoneResult{Type: PhoneUnknown, Reason: "number could not be parsed"}
		}
	}()

	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		res.Reason = "number is empty"
		return res
	case len(s) > maxPhoneInput:
		res.Reason = "input is too long to be a phone number"
		return res
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if region == "" {
		region = "ZZ" // libphonenumber's "unknown region": only +-prefixed numbers parse
	}

	scratch := phoneNumberPool.Get().(*phoneScratch)
	defer phoneNumberPool.Put(scratch)
	num := &scratch.num
	num.Reset() // the parsers only set the fields they find, so clear the last number's
	if !fast || !parsePhoneFast(s, region, scratch) {
		if err := phonenumbers.ParseToNumber(s, region, num); err != nil {
			res.Reason = phoneParseReason(err, region, strings.HasPrefix(s, "+") || strings.HasPrefix(s, "\uff0b"))
			return res
		}
	}
	// The type is UNKNOWN exactly when IsValidNumber is false (both match the number
	// against the metadata of the region its calling code and digits select), so one
	// classification answers validity, region and type together.
	region, t := classifyPhone(num)
	if t == phonenumbers.UNKNOWN {
		res.Region = phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
		if res.Region == "ZZ" {
			res.Region = ""
		}
		res.Reason = phoneInvalidReason(num)
		return res
	}
	res.Valid = true
	res.E164 = phonenumbers.Format(num, phonenumbers.E164)
	res.Region = region
	res.Type = phoneTypeNames[t]
	return res
}

// phoneParseReason turns the parser's errors into our own words. The library's messages
// do not quote the input today, but we must not depend on that.
func phoneParseReason(err error, region string, plus bool) string {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		if plus {
			return "country calling code is not valid"
		}
		if region == "ZZ" {
			return "number has no international prefix and no default region was given"
		}
		if !phonenumbers.GetSupportedRegions()[region] {
			return "default region is not a known region"
		}
		return "country calling code is not valid"
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return "input is not a phone number"
	case errors.Is(err, phonenumbers.ErrTooShortNSN):
		return "number is too short"
	case errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "number is too short after the international prefix"
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "input is too long to be a phone number"
	}
	return "number could not be parsed"
}

// phoneInvalidReason explains why a parsed number failed validation: a length that no
// number in its region has, or digits that fit no number range in use.
func phoneInvalidReason(num *phonenumbers.PhoneNumber) string {
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "country calling code is not valid"
	case phonenumbers.TOO_SHORT:
		return "number is too short for its region"
	case phonenumbers.TOO_LONG:
		return "number is too long for its region"
	case phonenumbers.INVALID_LENGTH:
		return "number length is not valid for its region"
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "number lacks an area code"
	}
	return "number is not in any range in use in its region"
}
