// Package offer is the offer catalogue and the decision which offers a customer may be shown
// now: eligibility (tier, minimum spend, membership of a segment of the offer's own
// purpose), validity, a frequency cap, the permission decision for the purpose an offer
// serves (personalised offers need consent, and a Global Privacy Control signal opts out), a random hold-out group per offer to measure its uplift, and
// item-to-item recommendations from what customers who allow personalisation bought
// together — the members of the offer's segment, when enough of them have ordered.
//
// Invariants: an offer is shown only after the permission decision allowed its purpose for
// the customer at that moment; a customer in an offer's hold-out group is never shown it and
// always stays in it (the group is a keyed hash of the offer and the customer, not a draw per
// request); a redemption names the order it was made against. The package imports no
// storage and no HTTP.
package offer
