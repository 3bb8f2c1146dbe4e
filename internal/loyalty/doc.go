// Package loyalty is the loyalty programme: its rules (how points are earned, what tiers a
// member reaches, when points expire, what a point is worth), the points ledger and the
// member's account.
//
// Invariants the package keeps, whatever its store: the ledger is append-only; a member's
// balance is the sum of their ledger entries and never negative; every entry names its
// cause (an order, a refund, an event, a rule such as expiry or a birthday, a person); the
// points reversed for an order never exceed the points it earned; and points are spent and
// expire oldest first. When two customers are merged, the merged-away account's lots and
// qualifying points move to the survivor's in the merge's transaction (Transfer, Plan), once,
// and back when the merge is undone. The programme is read from YAML and checked against the data
// catalog: a rule that would use a field the catalog does not allow for the programme's
// purpose (the birthday bonus and birth dates) is refused when Steward starts.
//
// The package imports no storage and no HTTP: the Store interface is what it needs, and
// the engines in internal/store implement it.
package loyalty
