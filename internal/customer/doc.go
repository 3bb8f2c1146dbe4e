// Package customer owns customer profiles: validating values against the data catalog,
// sealing them with the customer's own data key, blind-indexing the look-up fields, masking by
// default and revealing only for an allowed purpose.
//
// Two types split the package's power. Service is the audited side, all an adapter may hold:
// every method checks the caller's role (authz) and writes its audit entry before returning.
// Vault is the privileged side — sealing, opening, normalising and purging with neither — for
// the domains that write their own audit entries in the transactions that use it (ingest, the
// importer, rights, duplicates, consent, retention). The composition root builds the Vault
// first and hands it to those domains only.
//
// Invariants: a Record handed to a Store carries ciphertext for every personal field and index
// tokens, never plaintext personal values; every write is stored together with its audit
// entries (and, when the request relayed a GPC signal, its opt-out), and every read is audited
// before its result is returned; a value a caller may not see leaves this package masked or not
// at all.
package customer
