// Package duplicate finds customers who are the same person inside the running server and
// merges them in a way a person can review and undo.
//
// A scan works in two phases. First it brings the stored blocking keys up to date: for every
// customer whose profile changed since the last scan it opens the values once, derives the
// matcher's blocking keys (package match) and stores them as keyed hashes, with the contact
// validation verdict. Then it asks the store which customers share a key with someone else —
// a question answered from the hashes alone — opens only those, and scores them with the
// same Fellegi–Sunter matcher `steward match` runs offline. Pairs from the review threshold
// up wait in a queue with their evidence (comparison levels and weights, never values);
// pairs from the merge threshold up are merged at once.
//
// Invariants: evidence, audit entries and errors never hold personal values; a merge is one
// transaction (profile, merge link, consent records, pair state, audit entries) and is
// recorded with its evidence; the winner's values before the merge are kept sealed under the
// winner's own key, so undoing restores them; a merged customer is never more permitted than
// either customer was; a dismissed or undone pair is never proposed again.
package duplicate
