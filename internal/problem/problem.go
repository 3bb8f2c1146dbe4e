package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// Kind classifies an error by what the caller should do about it, not by where it came from.
type Kind int

// The kinds map one to one onto HTTP statuses in the HTTP adapter and onto exit codes in the CLI.
const (
	Internal Kind = iota
	Invalid
	NotFound
	Conflict
	Forbidden
	Unauthenticated
	Gone
	TooLarge
	RateLimited
	Unavailable
	MethodNotAllowed
)

var kindNames = [...]string{
	Internal:         "internal",
	Invalid:          "invalid",
	NotFound:         "not_found",
	Conflict:         "conflict",
	Forbidden:        "forbidden",
	Unauthenticated:  "unauthenticated",
	Gone:             "gone",
	TooLarge:         "too_large",
	RateLimited:      "rate_limited",
	Unavailable:      "unavailable",
	MethodNotAllowed: "method_not_allowed",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error with a kind and a detail that is safe to show to the caller. Field, when
// set, names the input field at fault so clients can attach the message to a form control.
type Error struct {
	Kind   Kind
	Detail string
	Field  string
	// ExistingID, on a Conflict, names the resource that already holds what the request
	// tried to create (the customer who has this e-mail address), so that the caller can
	// use or update it instead of guessing. It is an id, never a value.
	ExistingID string
	// Lasting, on Unavailable, says that the condition lasts until an operator changes the
	// configuration (a feature that needs a mailer, with none configured): asking again
	// soon would not help, so the HTTP adapter sends no Retry-After.
	Lasting bool
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Kind.String() + ": " + e.Detail + ": " + e.Cause.Error()
	}
	return e.Kind.String() + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Cause }

// New makes an error of kind k whose public detail is the formatted text. Callers must not
// format personal data into it.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Detail: fmt.Sprintf(format, args...)}
}

// Off reports a feature this installation's configuration leaves off (Unavailable, Lasting).
func Off(format string, args ...any) *Error {
	return &Error{Kind: Unavailable, Detail: fmt.Sprintf(format, args...), Lasting: true}
}

// IsLasting reports whether err is an Unavailable that lasts until the configuration changes.
func IsLasting(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Lasting
}

// Wrap keeps cause for the logs while showing only detail to the caller.
func Wrap(k Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: k, Detail: fmt.Sprintf(format, args...), Cause: cause}
}

// InvalidField reports bad input in one named field; the field name is public, its value is not.
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Detail: field + ": " + fmt.Sprintf(format, args...)}
}

// WrongJSONType reports a JSON value of the wrong type at field, naming the type wanted the
// way a JSON author would (an object, an array, a string…) rather than Go's name for it.
func WrongJSONType(field string, te *json.UnmarshalTypeError) *Error {
	want := "a " + te.Type.Kind().String()
	switch te.Type.Kind() {
	case reflect.Map, reflect.Struct:
		want = "an object"
	case reflect.Slice, reflect.Array:
		want = "an array"
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	}
	return InvalidField(field, "must be %s", want)
}

// Exists reports a Conflict with the resource existingID, which already holds the value of
// field that the request tried to give a new one.
func Exists(existingID, field, format string, args ...any) *Error {
	return &Error{Kind: Conflict, Field: field, ExistingID: existingID, Detail: fmt.Sprintf(format, args...)}
}

// ExistingIDOf returns the id of the resource a Conflict names, if any (see Error.ExistingID).
func ExistingIDOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.ExistingID
	}
	return ""
}

// Convenience constructors for the common kinds.
func Invalidf(format string, args ...any) *Error   { return New(Invalid, format, args...) }
func NotFoundf(format string, args ...any) *Error  { return New(NotFound, format, args...) }
func Conflictf(format string, args ...any) *Error  { return New(Conflict, format, args...) }
func Forbiddenf(format string, args ...any) *Error { return New(Forbidden, format, args...) }
func Gonef(format string, args ...any) *Error      { return New(Gone, format, args...) }

// KindOf returns the kind of the first *Error in err's chain, or Internal when there is none:
// an error nobody classified is a bug, and bugs are never explained to the caller.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Detail returns the public detail of err, or "internal error" for anything unclassified.
func Detail(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal {
		return e.Detail
	}
	return "internal error"
}

// FieldOf returns the input field named by err, if any.
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// Is reports whether err carries kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }
