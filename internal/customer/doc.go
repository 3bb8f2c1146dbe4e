// Package customer owns customer profiles: validating values against the data catalog,
// sealing them with the customer's own data key, blind-indexing the look-up fields, masking by
// default and revealing only for an allowed purpose.
//
// Invariants: a Record handed to a Store carries ciphertext for every personal field and index
// tokens, never plaintext personal values; every write is stored together with its audit
// entries, and every read is audited before its result is returned; a value a caller may not
// see leaves this package masked or not at all.
package customer
