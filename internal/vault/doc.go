// Package vault owns Steward's key hierarchy and every cryptographic operation on customer data:
// sealing and opening field values, wrapping per-customer data keys, computing blind indexes and
// holding the audit signing key.
//
// The hierarchy has three levels so that each can be replaced without touching the data below it:
//
//   - A Root (a local 32-byte key file, or HashiCorp Vault Transit) wraps the Keyset. Only the
//     sealed keyset blob is ever stored; rotating or moving the root means re-sealing one blob.
//   - The Keyset holds versioned AES-256 master keys, the blind-index key, the Ed25519 audit
//     signing seed and the Ed25519 consent-receipt signing seed. Master keys wrap one random
//     256-bit data key (DEK) per customer, so rotating a master key means rewrapping small
//     DEKs, never re-encrypting customer data.
//   - A DataKey seals field values with AES-256-GCM. Deleting a customer's wrapped DEK makes all
//     of that customer's ciphertexts unreadable (crypto-shredding), including in backups.
//
// Invariants:
//
//   - Every ciphertext's associated data binds the format version, the key version, the table,
//     the field and the customer id, each length-prefixed so that no two distinct tuples encode
//     the same bytes. A ciphertext copied to another row, column or customer fails to open.
//   - A wrapped DEK's associated data binds the customer id and the master version, so a DEK
//     cannot be attached to another customer and a version label cannot be altered.
//   - Every failure to authenticate wraps ErrDecrypt, and no error text ever contains key
//     material or plaintext; errors may name tables, fields and versions, which are not secret.
//   - The blind-index key is separate from every encryption key, and each field gets its own
//     HKDF-derived HMAC key, so index values of one field say nothing about another field and an
//     index key compromise does not expose ciphertexts.
//   - Keyed hashes (KeyedHash) use keys derived from the index key, one per label, and are
//     never truncated: they let Steward recognise an IP address or a suppressed email address
//     exactly without storing it.
//   - Older master versions stay in the keyset, and keep opening the DEKs they wrapped, until
//     the caller has rewrapped every DEK and explicitly retires them.
//
// A Vault is immutable after New apart from internal caches and is safe for concurrent use. It
// takes a snapshot of the Keyset, so a rotation only takes effect in a Vault built after the
// rotated keyset has been sealed and stored; this ordering guarantees that no DEK is ever wrapped
// with a master key that could be lost in a crash.
//
// The package is a leaf: it imports only the standard library, so every other package can
// depend on it without cycles and its security-relevant surface stays small enough to review.
package vault
