// Package source owns connected platforms: the shop, card processor, e-mail and SMS services,
// lead forms, review sites and helpdesks whose webhooks Steward receives itself. A source is
// configured once (its kind, its signing secret, the write role it acts with); each delivery
// to its endpoint is verified by the vendor's own signature scheme and translated into the
// tracking messages the ingest service already understands, so a platform's order, refund,
// bounce or STOP reply becomes the same order, refund, contact status or consent record as
// any other channel's.
//
// Invariants: a delivery whose signature does not verify stores nothing, and is counted and
// audited; a body that cannot be read stores nothing and gets a 4xx naming the problem; the
// vendor's event id is the message id and is remembered for good (ingest.Batch.Lasting), so
// a retried, re-ordered or replayed event is stored once; a source's secret is stored only
// sealed under a data key of its own and is shown once, when the source is created; card
// details reach the profile only as the processor's token, brand, last four digits and
// expiry, never a number; opt-outs name the platform in their consent evidence.
package source
