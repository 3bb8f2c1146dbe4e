package catalog

import "slices"

// This file holds the closed vocabularies of the catalog: the words a catalog file may use
// for legal bases, sensitivities, field types, indexes, masks, generalisers and permissions.
// They are closed on purpose: every other package switches on them, so a word the code does not
// know must be rejected when the file is loaded rather than silently ignored at run time.

// LegalBasis is the GDPR Article 6 ground on which a purpose rests. It decides whether the
// purpose needs the customer's consent and whether Global Privacy Control can opt out of it.
type LegalBasis string

// The legal bases a purpose may declare.
const (
	Consent            LegalBasis = "consent"
	Contract           LegalBasis = "contract"
	LegitimateInterest LegalBasis = "legitimate_interest"
	LegalObligation    LegalBasis = "legal_obligation"
)

var legalBases = []string{string(Consent), string(Contract), string(LegitimateInterest), string(LegalObligation)}

// The channels a purpose may reach the customer by (Purpose.Channel). An opt-out that arrives
// through a channel — an unsubscribe link in an e-mail, a STOP reply to a text message, a
// spam complaint, a hard bounce — applies to the purposes of that channel.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
	ChannelPhone = "phone"
	ChannelPost  = "post"
	ChannelPush  = "push"
)

var channels = []string{ChannelEmail, ChannelSMS, ChannelPhone, ChannelPost, ChannelPush}

// Sensitivity says how much harm a field can do if it leaks, and so how it is protected.
// Every sensitivity except NonPersonal is personal data and is stored encrypted.
type Sensitivity string

// The sensitivities a field may declare, from most to least identifying.
const (
	// Identifier data names a person on its own: name, email, phone, street address.
	Identifier Sensitivity = "identifier"
	// Sensitive data does serious harm if it leaks (national or tax ID); it may never be
	// shown unmasked without customers.reveal.
	Sensitive Sensitivity = "sensitive"
	// QuasiIdentifier data identifies a person in combination with other fields: birth
	// date, postal code, gender, city.
	QuasiIdentifier Sensitivity = "quasi_identifier"
	// Pseudonymous data identifies no one without other data kept apart: device and cookie
	// IDs, payment tokens, and behavioural attributes such as order counts. It is still
	// personal data.
	Pseudonymous Sensitivity = "pseudonymous"
	// NonPersonal data is not about an identifiable person; it is the only kind stored in
	// clear.
	NonPersonal Sensitivity = "non_personal"
)

var sensitivities = []string{string(Identifier), string(Sensitive), string(QuasiIdentifier), string(Pseudonymous), string(NonPersonal)}

// Field types. Each names both how a value is validated on write and which masks, generalisers
// and indexes make sense for it.
const (
	TypeString   = "string"
	TypeEmail    = "email"
	TypePhone    = "phone"    // E.164
	TypeDate     = "date"     // YYYY-MM-DD
	TypeDatetime = "datetime" // RFC 3339
	TypeInteger  = "integer"
	TypeNumber   = "number"
	TypeBoolean  = "boolean"
	TypeEnum     = "enum"     // one of the field's Values
	TypeCountry  = "country"  // ISO 3166-1 alpha-2
	TypeLanguage = "language" // BCP 47 tag
	TypeIP       = "ip"       // IPv4 or IPv6 address
	TypeToken    = "token"    // an opaque reference issued by another system, e.g. a payment token
	// TypePostalCode is a postal code, checked against the format of the country given in
	// the same write and spelt the way that country's post office writes it.
	TypePostalCode = "postal_code"
)

var types = []string{TypeString, TypeEmail, TypePhone, TypeDate, TypeDatetime, TypeInteger, TypeNumber,
	TypeBoolean, TypeEnum, TypeCountry, TypeLanguage, TypeIP, TypeToken, TypePostalCode}

// textTypes are the types whose values are free-length text, so the only ones that take a
// max_length.
var textTypes = []string{TypeString, TypeEmail, TypePhone, TypeToken, TypePostalCode}

// DefaultMaxLength bounds text fields that do not declare max_length, so that no field can be
// used to store unbounded blobs.
const DefaultMaxLength = 256

// maxMaxLength is the largest max_length a field may declare.
const maxMaxLength = 65536

// Index kinds. An exact index is a keyed blind index (an HMAC of the normalised value) that lets
// the vault find a customer by value without decrypting every record.
const (
	IndexExact = "exact"
	IndexNone  = "none"
)

var indexes = []string{IndexExact, IndexNone}

// indexableTypes are the types whose normalised value is stable enough for an exact blind
// index to be useful.
var indexableTypes = []string{TypeEmail, TypePhone, TypeString, TypeToken, TypePostalCode}

// Masks say how a value is shown to a caller who may use the field for a purpose but has not
// been granted (or has not asked for) the cleartext. They are a contract with the vault, which
// implements them.
const (
	MaskEmail   = "email"   // first character of the local part and the whole domain: j***@example.com
	MaskPhone   = "phone"   // the country code and the last three digits: +44 **** ***958
	MaskDate    = "date"    // the year only
	MaskPartial = "partial" // the first character only
	MaskLast4   = "last4"   // the last four characters only
	MaskFull    = "full"    // a fixed placeholder that reveals nothing, not even the length
	MaskNone    = "none"    // shown as it is; never allowed on sensitive fields
)

var masks = []string{MaskEmail, MaskPhone, MaskDate, MaskPartial, MaskLast4, MaskFull, MaskNone}

// maskTypes lists the types each mask applies to; a mask missing here applies to every type.
var maskTypes = map[string][]string{
	MaskEmail:   {TypeEmail},
	MaskPhone:   {TypePhone},
	MaskDate:    {TypeDate, TypeDatetime},
	MaskPartial: {TypeString, TypeEmail, TypePhone, TypeToken, TypeIP, TypePostalCode},
	MaskLast4:   {TypeString, TypePhone, TypeToken},
}

// Generalisers say how a field is coarsened for purposes that may see only generalised data
// (those marked generalized_only, such as analytics). Like masks they are a contract with
// the code that builds generalised views.
const (
	// GeneralizeNone shows the value as it is: it is already coarse enough.
	GeneralizeNone = "none"
	// GeneralizeAgeBand turns a birth date into an age band: under_18, 18_24, 25_34,
	// 35_44, 45_54, 55_64, 65_plus.
	GeneralizeAgeBand = "age_band"
	// GeneralizeCityRegionCountry marks a street-level part of a postal address (street
	// lines, postal code): generalised, the address is known only by its city, region and
	// country fields, so this field's value is withheld.
	GeneralizeCityRegionCountry = "city_region_country"
	// GeneralizeIPPrefix keeps the network of an address: /24 for IPv4, /48 for IPv6.
	GeneralizeIPPrefix = "ip_prefix"
	// GeneralizeHash replaces the value with a keyed hash, so generalised views can count
	// and join on an identifier without ever seeing it.
	GeneralizeHash = "hash"
)

var generalizers = []string{GeneralizeNone, GeneralizeAgeBand, GeneralizeCityRegionCountry, GeneralizeIPPrefix, GeneralizeHash}

// generalizerTypes lists the types each generaliser applies to; a generaliser missing here
// applies to every type.
var generalizerTypes = map[string][]string{
	GeneralizeAgeBand:           {TypeDate},
	GeneralizeCityRegionCountry: {TypeString, TypePostalCode},
	GeneralizeIPPrefix:          {TypeIP},
	GeneralizeHash:              {TypeString, TypeEmail, TypePhone, TypeToken, TypeIP, TypePostalCode},
}

// Permissions are the capabilities a role may hold. They are separate from purposes: a
// permission says what kind of operation a caller may perform, a purpose says why. Seeing a
// cleartext value needs both PermCustomersReveal and a purpose the field allows.
const (
	PermCustomersRead   = "customers.read"
	PermCustomersWrite  = "customers.write"
	PermCustomersReveal = "customers.reveal"
	PermAuditRead       = "audit.read"
	PermAPIKeysManage   = "apikeys.manage"
	PermCatalogRead     = "catalog.read"
	PermCatalogWrite    = "catalog.write"
	PermPoliciesWrite   = "policies.write"
	PermConsentsWrite   = "consents.write"
	PermEventsWrite     = "events.write"
	PermRequestsManage  = "requests.manage"
	PermKeysRotate      = "keys.rotate"
)

var permissions = []string{PermCustomersRead, PermCustomersWrite, PermCustomersReveal, PermAuditRead,
	PermAPIKeysManage, PermCatalogRead, PermCatalogWrite, PermPoliciesWrite, PermConsentsWrite,
	PermEventsWrite, PermRequestsManage, PermKeysRotate}

// Permissions returns every permission a role may hold, in a fixed order. It returns a copy so
// that no caller can widen the set for everyone else.
func Permissions() []string {
	return append([]string(nil), permissions...)
}

// IsPermission reports whether p is one of the fixed permissions, for callers that accept a
// permission from outside (an API key request, a CLI flag) and must reject unknown ones.
func IsPermission(p string) bool {
	return slices.Contains(permissions, p)
}

// OwnerRole is the one role every catalog must define with every permission, so that no
// catalog edit can lock the owner out of their own vault.
const OwnerRole = "owner"

// forbiddenFields are field names that Steward refuses to store whatever the catalog says:
// card numbers and security codes are PCI DSS cardholder data that a CDP must never hold, and
// passwords belong in an identity provider, hashed.
var forbiddenFields = []string{"pan", "card_number", "cvv", "cvc", "cvv2", "cvc2", "card_security_code", "password"}
