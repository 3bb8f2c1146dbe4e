// Package audit owns the audit trail: who did what to which customer, for which purpose, and
// the hash chain that makes the trail tamper-evident.
//
// Invariants: an Entry never holds field values, only field names; entries are linked per
// chain by SHA-256 over the previous hash and the entry's canonical encoding; a signed
// Checkpoint pins a chain's head every few entries so that removing the newest entries is
// detectable too. Storage engines persist entries and heads but the hashing and verification
// rules live here, so every engine links entries identically and Verify works offline on what
// any engine returns.
package audit
