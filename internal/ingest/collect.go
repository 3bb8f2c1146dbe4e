package ingest

import (
	"context"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/ident"
)

// A browser-safe (collect) key sits in web pages, where anyone can copy it and send any
// message with it. Its messages are still worth keeping — they are the visitor's events and
// choices — but what they claim about who someone is cannot be trusted. So a batch from such
// a key (Batch.trusted false) may add what is missing and never change what is known:
//   - its traits fill only fields the profile does not have (fillOnly);
//   - it never merges two customers who each hold a known identifier — a user id, an
//     external id, an e-mail address or a phone number — but proposes the pair for review
//     (mergeJoined, Proposal); an anonymous visitor still joins the customer who signs in;
//   - its commerce events record carts, checkouts and reviews but no orders, refunds or
//     cancellations, which carry money and must come from the shop's server
//     (untrustedChanges);
//   - its consent choices are recorded, except grants of marketing by e-mail or text
//     message, which a page cannot prove the holder of the address made (consent.Signal).

// Drop reasons of untrusted batches.
const (
	// DropKnown counts traits of a collect key left out because the profile already holds
	// a value for the field.
	DropKnown = "known"
	// DropUntrusted counts what a collect key may not do at all: record an order, merge two
	// known customers.
	DropUntrusted = "untrusted"
)

// PairSharedIdentifier is the decision of a duplicate-queue pair proposed because one
// message from a browser-safe key carried identifiers of two known customers.
const PairSharedIdentifier = "shared_identifier"

// ActionPropose is the audit action of such a proposal.
const ActionPropose = "duplicate.propose"

// Proposal is a pair of customers for the duplicate review queue: a message joined them, but
// its key may not merge them. Class is the kind of identifier that pointed at B.
type Proposal struct {
	ID    string
	A, B  string // A sorts before B
	Class string
	At    time.Time
}

// knownClasses are the identifier classes that make a customer known: ones a person signs in
// or is reached with, as opposed to a cookie or a device.
var knownClasses = []string{KindUserID, KindExternal, KindEmail, KindPhone}

// known says whether root's tree holds a known identifier.
func (st *txState) known(ctx context.Context, root string) (bool, error) {
	c, err := st.countsOf(ctx, root)
	if err != nil {
		return false, err
	}
	for _, k := range knownClasses {
		if c[k] > 0 {
			return true, nil
		}
	}
	return false, nil
}

// fillOnly returns the traits for fields root's profile does not hold yet; the rest are
// counted as kept.
func (st *txState) fillOnly(ctx context.Context, root string, traits map[string]any, d drops) (map[string]any, error) {
	pr, err := st.profile(ctx, root)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(traits))
	for f, v := range traits {
		if old, had := pr.values[f]; had && old != nil && old != "" {
			if a, ok := old.(string); !ok || a != v {
				d.add(DropKnown, f)
			}
			continue
		}
		out[f] = v
	}
	return out, nil
}

// mayJoin says whether an untrusted message may merge other into root: not when both are
// known customers, in which case the pair is proposed for review instead and counted.
func (st *txState) mayJoin(ctx context.Context, root, other, class string, d drops) (bool, error) {
	if st.b.trusted {
		return true, nil
	}
	a, err := st.known(ctx, root)
	if err != nil || !a {
		return err == nil, err
	}
	b, err := st.known(ctx, other)
	if err != nil || !b {
		return err == nil, err
	}
	d.add(DropUntrusted, "merge")
	p := Proposal{ID: ident.New(), A: root, B: other, Class: class, At: st.now}
	if p.B < p.A {
		p.A, p.B = p.B, p.A
	}
	for _, q := range st.proposals {
		if q.A == p.A && q.B == p.B {
			return false, nil
		}
	}
	st.proposals = append(st.proposals, p)
	e := audit.New(ctx, ActionPropose, p.A, nil, "")
	e.Target = "customer:" + p.B + " pair:" + p.ID
	st.entries = append(st.entries, e)
	return false, nil
}

// untrustedChanges keeps the commerce facts a page may report (carts, checkouts, reviews)
// and counts the rest.
func untrustedChanges(cs []OrderChange, d drops) []OrderChange {
	out := cs[:0]
	for _, c := range cs {
		switch c.Kind {
		case CheckoutStarted, CartAdded, ProductReviewed:
			out = append(out, c)
		default:
			d.add(DropUntrusted, "order_"+c.Kind)
		}
	}
	return out
}
