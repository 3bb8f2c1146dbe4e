package match

import (
	"fmt"
	"sort"
	"strings"
)

// Field names one attribute of a person that the matcher knows how to compare. The names
// are those of the data catalog, so that customer fields map onto them one to one.
type Field uint8

// The fields the matcher compares. The order is the order of Record.Fields.
const (
	FirstName Field = iota
	LastName
	BirthDate
	Email
	Phone
	AddressLine1
	AddressLine2
	PostalCode
	City
	Region
	Country
	NationalID
	numFields
)

var fieldNames = [numFields]string{
	FirstName:    "first_name",
	LastName:     "last_name",
	BirthDate:    "birth_date",
	Email:        "email",
	Phone:        "phone",
	AddressLine1: "address_line1",
	AddressLine2: "address_line2",
	PostalCode:   "postal_code",
	City:         "city",
	Region:       "region",
	Country:      "country",
	NationalID:   "national_id",
}

// fieldAliases lets people name fields the way their own exports do. Every alias is an
// unambiguous synonym; nothing is guessed from spelling.
var fieldAliases = map[string]Field{
	"given_name":    FirstName,
	"forename":      FirstName,
	"family_name":   LastName,
	"surname":       LastName,
	"date_of_birth": BirthDate,
	"dob":           BirthDate,
	"phone_number":  Phone,
	"street":        AddressLine1,
	"address":       AddressLine1,
	"postcode":      PostalCode,
	"zip":           PostalCode,
	"locality":      City,
	"suburb":        City,
	"state":         Region,
	"province":      Region,
}

// String returns the catalog name of the field.
func (f Field) String() string {
	if f < numFields {
		return fieldNames[f]
	}
	return fmt.Sprintf("field(%d)", f)
}

// ParseField looks a field up by its catalog name or one of its common synonyms
// (given_name, surname, postcode, state…), ignoring case and surrounding blanks.
func ParseField(name string) (Field, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for f, fn := range fieldNames {
		if n == fn {
			return Field(f), nil
		}
	}
	if f, ok := fieldAliases[n]; ok {
		return f, nil
	}
	return 0, fmt.Errorf("unknown field %q (known: %s)", name, strings.Join(FieldNames(), ", "))
}

// FieldNames lists the catalog names of the fields, sorted.
func FieldNames() []string {
	names := append([]string(nil), fieldNames[:]...)
	sort.Strings(names)
	return names
}

// Record is one person as the matcher sees it: an identifier of the caller's choosing and
// the raw values of the fields it knows. Empty values are missing and count neither for
// nor against a match.
type Record struct {
	ID     string
	Fields [numFields]string
}

// Set stores a raw value; it exists so that callers outside the package need not index
// the array by hand.
func (r *Record) Set(f Field, value string) { r.Fields[f] = value }
