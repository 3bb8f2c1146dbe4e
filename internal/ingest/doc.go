// Package ingest owns collection: the Segment-compatible tracking messages (identify, track,
// page, screen, group, alias and batches of them), minimisation at the door, identity
// stitching, the events store and commerce records derived from events.
//
// Invariants: a message is acknowledged only after it, its identities, the profile changes it
// causes and their audit entries are committed in one transaction; a messageId is stored at
// most once per write key within the deduplication window; identifiers reach the store only as
// keyed tokens and sealed values, event payloads only sealed under the owning customer's data
// key; a property or trait the catalog or the event schema does not declare is dropped and
// counted, never stored; the consent choices a message carries (GPC, a consent manager's
// categories) and the opt-out it stands for (an unsubscribe, a spam complaint, a hard bounce)
// reach the consent ledger in the transaction that stores the message, built by the consent
// domain; the derived figures on a profile (order count, lifetime value, …) are recomputed
// from what is stored in the transaction that changes what they count; blocked identifier
// values never link customers, and a merge is recorded with its reason and can be undone
// without losing either side's events.
package ingest
