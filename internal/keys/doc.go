// Package keys runs the key hierarchy for the rest of Steward: it loads the master keyset
// through the root key, keeps it current when another node rotates it, hands out per-customer
// data keys, and rotates the master with a resumable rewrap of every customer's data key.
//
// Invariants: the keyset is stored only wrapped by the root; a rotation never makes an old
// data key unreadable, because data keys wrapped by any still-listed master version open until
// they are rewrapped; index keys never rotate with the master, so look-ups keep working
// throughout.
package keys
