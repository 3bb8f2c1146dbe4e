// Package segment owns the use of customer data for groups of customers: segments (a name, a
// purpose from the catalog and a rule), their membership and its history, trends over the
// customer base, exports of a segment and the destinations its members are sent to.
//
// Everything here is bound to a purpose and to the customer's choices at the moment of use:
//   - A rule may only name what the catalog lets its purpose use. A profile field must be
//     declared for the purpose, and a generalized_only purpose (analytics) sees it only in its
//     generalised form (an age band, never a birth date). A derived figure needs the fields it
//     is derived from; behaviour needs the purpose to cover the events' category. A rule that
//     breaks this is refused with a message naming the field and the purpose.
//   - A customer is a member only while the permission decision allows the segment's purpose
//     for them; every export and every delivery decides again when it happens, and a
//     customer no longer allowed is left out (an export) or sent a removal (a destination).
//   - Counts for generalized_only purposes, and every trend cell, are withheld below a
//     minimum cohort, so that a narrow rule cannot single out a person.
//   - Nothing personal is stored in clear: memberships, history, export lists and deliveries
//     hold customer ids only; export files and delivery payloads are made from the vault when
//     they are downloaded or sent, never kept.
//
// The package imports no storage or HTTP code: engines implement Store, the composition root
// supplies the customer facts (Facts), the permission decision and the transport.
package segment
