// Package quality owns the data-quality rules for customers' contact data: e-mail
// addresses, phone numbers, names, countries and postal codes. It decides whether a value
// is usable, turns it into the canonical form used for storage, look-up and
// de-duplication, and flags what a business wants to know about it (role account,
// disposable domain, likely typo, phone number type, placeholder name). The customer
// service uses it on every write; Validator applies the same rules to a whole form before
// it is submitted, so a form and a write can never disagree.
//
// E-mail is graded twice on purpose. Category and Diagnosis are the strict RFC 5321/5322
// grade of the input exactly as given, following the semantics of Dominic Sayers'
// is_email test suites, so that the grade can be compared with those suites and explained
// to an operator. Acceptable, Normalized and Reason apply a practical rule on top: what
// real mail systems take as a contact address. The two must be kept apart because the
// RFCs allow many shapes (comments, quoted local parts, IP literals, dotless domains) that
// no mail provider will deliver to, while surrounding blanks from a pasted value are harmless.
// The grammar is our own small parser: net/mail is too permissive to grade with.
//
// Phone numbers are parsed and classified with libphonenumber's metadata (the Go port),
// because numbering plans change every month and are not ours to maintain.
//
// Names are the person's to spell: NormalizeName keeps what they typed (cleaned of stray
// white space, in Unicode NFC) as the stored form, and offers a recased display form and a
// folded comparison key beside it, never instead of it.
//
// Countries come from an embedded ISO 3166-1 table (countries.txt) that is checked against
// CLDR's copy of the registry in the tests; postal code formats are per country and read
// the code's compact form, so every spelling of one code normalises to one value.
//
// Invariants: no function here performs I/O unless the caller hands it a resolver
// (MXChecker, which is off unless constructed); no error or Reason ever contains the
// input value, because contact data is personal data and errors end up in logs; a
// normalised value always normalises again to itself. The package is a domain leaf: it
// imports only the standard library, golang.org/x/net/idna, golang.org/x/text and
// github.com/nyaruka/phonenumbers.
package quality
