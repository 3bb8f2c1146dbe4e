// Package rights owns data-subject rights: requests with deadlines (access, portability,
// erasure, rectification, restriction, objection, opt-out), their verification and workflow,
// access exports, and erasure.
//
// Invariants: erasure first records the customer in the erasure ledger (in the database and in
// an authenticated file outside it) and destroys the customer's data key in the same
// transaction as their profile, so from the moment an erasure is acknowledged the person's
// data can no longer be decrypted and their id answers Gone; the rest of their rows are then
// removed table by table through the registered Parts, each step idempotent, so an erasure
// interrupted by a crash resumes to completion. Every table that holds a customer_id is
// covered by exactly one Part (a test compares the registry with the schema). The ledger and
// the suppression list hold customer ids and keyed hashes only, never personal values. Every
// step of a request is audited, and audit entries never hold values. A request keeps only a
// keyed hash of the e-mail address or phone number it came with, and the links Steward sends
// (confirmation, download) go to that contact and to no other.
//
// Restriction, objection and opt-out change what may be done with the data, not the data: this
// package keeps no state of its own for them but records them in the consent ledger (Choices),
// so the one permission decision enforces them wherever data is used. The marketing
// suppression entries an erasure makes travel in its ledger entry, so a restore replays them
// with it.
package rights
