// Package quality owns the data-quality rules for the two contact points every customer
// record carries: e-mail addresses and phone numbers. It decides whether a value is usable
// as a contact, turns it into the canonical form used for look-up and de-duplication, and
// flags what a marketer wants to know about it (role account, disposable domain, likely
// typo, phone number type).
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
// Invariants: no function here performs I/O unless the caller hands it a resolver
// (MXChecker, which is off unless constructed); no error or Reason ever contains the
// input value, because addresses and numbers are personal data and errors end up in logs;
// a Normalized e-mail or E.164 number always validates again to itself. The package is a
// domain leaf: it imports only the standard library, golang.org/x/net/idna and
// github.com/nyaruka/phonenumbers.
package quality
