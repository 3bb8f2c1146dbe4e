// Package consent owns the consent ledger and the one permission decision every use of customer
// data goes through: privacy-policy versions, append-only consent records with their evidence
// and signed receipts, objections and restrictions, the suppression list, Global Privacy
// Control, and May, which answers "may this customer's data be used for this purpose?" with a
// reason.
//
// Invariants:
//   - The ledger is append-only. State is derived from it, never stored beside it: the newest
//     record of a kind and purpose wins, so a withdrawal takes effect on the very next
//     decision.
//   - A published policy version is immutable, and versions take effect in publication order:
//     a new version never takes effect before an older one. A grant counts only while no
//     version in force after it marks its purpose as a material change ("needs re-consent").
//   - Consent is recorded only for consent purposes, under a known policy version that is in
//     force and covers the purpose; bad input is refused before anything is written.
//   - Evidence never holds a raw IP address: only a keyed hash of it. The suppression list
//     holds only keyed hashes of normalised email addresses and phone numbers.
//   - Every record yields a receipt signed with the installation's receipt key (JWS, EdDSA),
//     verifiable with the published public key.
//   - Every change (record, policy, suppression) and every bulk check is audited in the same
//     transaction as the change; entries name purposes, never values.
//   - A single check may be answered from Cache, which holds the decision's inputs, never its
//     outcome, and never an input older than the store's: the engine drops entries when a
//     change commits in this process and keeps a change counter per customer that other
//     processes compare against. Restrictions, objections and opt-outs made by completing
//     data-subject requests are ledger records like any other (source "request"), and so are
//     unsubscribes and spam complaints reported by tracking events (source "event"); a hard
//     bounce puts the address on the undeliverable list, which denies email purposes for
//     whoever holds it.
//
// The package imports no storage or HTTP code: engines implement Store, and the customer
// service supplies contact values through Contacts.
package consent
