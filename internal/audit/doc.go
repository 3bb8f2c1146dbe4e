// Package audit owns the audit trail: who did what to which customer, for which purpose, and
// the hash chain that makes the trail tamper-evident.
//
// Invariants: an Entry never holds field values, only field names; entries are linked per
// chain by SHA-256 over the previous hash and the entry's canonical encoding; a signed
// Checkpoint pins a chain's head every few entries so that removing the newest entries is
// detectable too; every stored head carries a keyed MAC (SealedHead) so that the entries after
// the last checkpoint are vouched for as well, and no entry passes that neither vouches for.
// A checkpoint or head may anchor another chain's head (the main trail anchors the access
// trail, kept in a file of its own), so losing that chain's newest entries is detected. Storage
// engines persist entries and heads but the hashing, sealing and verification rules live here,
// so every engine links entries identically and Verify works offline, with the keyset, on what
// any engine returns.
package audit
