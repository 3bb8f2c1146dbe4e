package consent

import (
	"fmt"
	"slices"
	"strings"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/catalog"
)

// Opt-outs carried by tracking events. The people who send a business's e-mail and text
// messages (an e-mail service provider, an SMS gateway) report what the recipients did with
// them as events: an unsubscribe, a spam complaint, a bounce. Each is the customer's (or their
// mailbox's) word and must stop the messages it concerns from the very next decision, so the
// ingest transaction that stores the event also stores what the event calls for (see
// SignalRecords):
//   - an unsubscribe withdraws the purpose it names, or else the purposes of its channel
//     (email when it names none): a consent purpose is withdrawn, a legitimate-interest one
//     objected to; source event, evidence naming the event and message;
//   - a spam complaint withdraws every purpose of the email channel the same way;
//   - a hard bounce puts the customer's current e-mail address on the undeliverable list: a
//     suppression list of its own (keyed hashes, no customer id), which denies every email
//     purpose with reason undeliverable for whoever holds that address. A new address is not
//     on it, so changing the address lifts it.
//
// The withdrawals also put the customer's contacts on the suppression list of each purpose, so
// they hold after an erasure and against a later import that says "yes".

// Kinds of event opt-out.
const (
	EventUnsubscribe = "unsubscribe"
	EventComplaint   = "complaint"
	EventBounce      = "bounce"
	// EventResubscribe is the customer taking back their own unsubscribe on the channel it
	// came by (an SMS START after a STOP): see signalBatch.resubscribe.
	EventResubscribe = "resubscribe"
)

// SourceEvent marks records an event recorded: an unsubscribe or a spam complaint reported by
// tracking. Callers of the consents API cannot send it: Input refuses it.
const SourceEvent = "event"

// SuppressBounce is why an address is on the undeliverable list: mail to it hard-bounced.
const SuppressBounce = "bounce"

// UndeliverableList is the key the undeliverable list is stored under in place of a purpose:
// entries there deny every email purpose (see catalog.Purpose.Channel), not one purpose. The
// name cannot be a purpose's, which never holds a colon.
const UndeliverableList = "undeliverable:email"

// EventOptOut is the opt-out one tracking event carried.
type EventOptOut struct {
	Kind string // EventUnsubscribe, EventComplaint or EventBounce
	// Name is the event's name and Ref a reference to the message that carried it (a hash
	// of its message id, never the id a client chose): together the record's evidence.
	Name string
	Ref  string
	// Purpose is the purpose an unsubscribe names; empty for "its channel's purposes".
	Purpose string
	// Channel is the channel an unsubscribe came through; email when empty.
	Channel string
	// Platform names the service that reported the opt-out (an e-mail or SMS platform
	// connected as a source), kept in the evidence so that the ledger shows where the
	// customer said no; empty for events a client sent itself.
	Platform string
}

// evidenceRef is what a record made for the event keeps as evidence (in Evidence.FormID):
// "event:" and the event's name, the platform that reported it if any, then the message
// reference. A decision tells an unsubscribe
// from a complaint by it.
func (e *EventOptOut) evidenceRef() string {
	ref := "event:" + e.Name
	if e.Platform != "" {
		ref += ":" + e.Platform
	}
	if e.Ref != "" {
		ref += ":" + e.Ref
	}
	if len(ref) > maxFormID {
		ref = ref[:maxFormID]
	}
	return ref
}

// purposes are the purposes an unsubscribe or complaint withdraws, and the channel it came by.
func (e *EventOptOut) purposes(cat *catalog.Catalog) ([]catalog.Purpose, string) {
	channel := strings.ToLower(strings.TrimSpace(e.Channel))
	if channel == "" || e.Kind == EventComplaint {
		channel = catalog.ChannelEmail
	}
	if e.Kind == EventUnsubscribe && e.Purpose != "" {
		// A purpose the customer may refuse; anything else falls back to the channel, the
		// reading that never keeps sending what the customer meant to stop.
		if p, ok := cat.Purpose(e.Purpose); ok && (p.LegalBasis == catalog.Consent || p.LegalBasis == catalog.LegitimateInterest) {
			if p.Channel != "" {
				channel = p.Channel
			}
			return []catalog.Purpose{p}, channel
		}
	}
	return cat.ChannelPurposes(channel), channel
}

// eventRefusal reports whether r is a refusal an event recorded, or one a merge carried over
// from such a refusal (it keeps the event's name as evidence).
func eventRefusal(r *Record) bool {
	return !r.Granted && (r.Source == SourceEvent || r.Source == SourceMerge && strings.HasPrefix(r.Evidence.FormID, "event:"))
}

// eventReason is the reason a refusal recorded by an event gives: what the customer did.
func eventReason(r *Record) string {
	if strings.HasPrefix(r.Evidence.FormID, "event:"+eventComplaintName+":") || r.Evidence.FormID == "event:"+eventComplaintName {
		return ReasonComplained
	}
	return ReasonUnsubscribed
}

// The names of the events, as Segment's e-mail specification sends them (the quality and
// ingest packages read the same names).
const (
	eventComplaintName    = "Email Marked as Spam"
	eventUnsubscribedName = "Unsubscribed"
)

// event records what an event opt-out calls for, into the batch's appends: the withdrawals
// (or objections) of an unsubscribe or complaint, or the undeliverable entry of a bounce.
// contacts are the customer's normalised email and phone as the transaction that stores the
// event holds them, so a customer created by the same batch is covered too.
func (b *signalBatch) event(base Record, e *EventOptOut, contacts map[string]string) error {
	if e.Kind == EventBounce {
		return b.bounce(base, contacts)
	}
	ps, channel := e.purposes(b.s.catalog)
	base.Evidence.FormID = e.evidenceRef()
	if e.Kind == EventResubscribe {
		return b.resubscribe(base, ps, channel)
	}
	for _, p := range ps {
		r := base
		r.Purpose, r.Granted, r.Source, r.Channel, r.PolicyVersion = p.Name, false, SourceEvent, channel, b.inForce.Version
		switch p.LegalBasis {
		case catalog.Consent:
			r.Kind = KindConsent
		case catalog.LegitimateInterest:
			r.Kind = KindObjection
		default:
			continue
		}
		prev := b.latest[latestKey(r.CustomerID, r.Kind, r.Purpose)]
		if prev != nil && !prev.Granted && prev.Source == SourceEvent {
			continue // the ledger already holds an opt-out by event: a repeated report adds nothing
		}
		if err := b.s.seal(&r, b.ps); err != nil {
			return err
		}
		ap := b.appendFor(r.CustomerID)
		if p.Marketing {
			for _, field := range contactFields {
				if v := contacts[field]; v != "" {
					ap.Suppressions = append(ap.Suppressions, b.s.suppression(field, v, p.Name, SuppressWithdrawal, r.ActorID, r.At))
				}
			}
		}
		ap.Records = append(ap.Records, r)
		ap.Entries = append(ap.Entries, b.s.recordEntry(b.ctx, &r))
		b.latest[latestKey(r.CustomerID, r.Kind, r.Purpose)] = &r
	}
	return nil
}

// resubscribe gives back the consent purposes of a channel that the customer's own opt-out on
// that channel withdrew: a START answering their STOP. It gives nothing else — not a purpose
// they never consented to, withdrew another way, or that the policy in force does not cover —
// because the keyword carries no notice of its own; the customer texting it is the fresh,
// affirmative act, so it lifts the suppression their STOP caused, as any fresh opt-in does.
func (b *signalBatch) resubscribe(base Record, ps []catalog.Purpose, channel string) error {
	for _, p := range ps {
		prev := b.latest[latestKey(base.CustomerID, KindConsent, p.Name)]
		// ps are the channel's own purposes, so an opt-out by event of one of them came by that
		// channel (or named the purpose): the one a keyword on the channel may take back.
		if p.LegalBasis != catalog.Consent || prev == nil || prev.Granted || prev.Source != SourceEvent ||
			!slices.Contains(b.inForce.Purposes, p.Name) {
			continue
		}
		r := base
		r.Kind, r.Purpose, r.Granted, r.Source, r.Channel, r.PolicyVersion = KindConsent, p.Name, true, SourceEvent, channel, b.inForce.Version
		if err := b.add(r, p); err != nil {
			return err
		}
	}
	return nil
}

// bounce puts the customer's current e-mail address on the undeliverable list, with an audit
// entry naming the field, never the value. A customer without an address has nothing to list.
func (b *signalBatch) bounce(base Record, contacts map[string]string) error {
	v := contacts[ContactEmail]
	if v == "" {
		return nil
	}
	ap := b.appendFor(base.CustomerID)
	ap.Suppressions = append(ap.Suppressions, b.s.suppression(ContactEmail, v, UndeliverableList, SuppressBounce, base.ActorID, base.At))
	e := audit.New(b.ctx, ActionSuppress, base.CustomerID, nil, "")
	e.Target = fmt.Sprintf("suppression:[%s] for %s after a hard bounce", ContactEmail, UndeliverableList)
	ap.Entries = append(ap.Entries, e)
	return nil
}

// appendFor returns the batch's append for a customer, creating it.
func (b *signalBatch) appendFor(customerID string) *Append {
	ap := b.appends[customerID]
	if ap == nil {
		ap = &Append{CustomerID: customerID}
		b.appends[customerID] = ap
	}
	return ap
}

// emailPurpose reports whether a purpose reaches the customer by e-mail, and so cannot go
// ahead while their address is undeliverable.
func emailPurpose(p catalog.Purpose) bool {
	return p.Channel == catalog.ChannelEmail && slices.Contains([]catalog.LegalBasis{catalog.Consent, catalog.LegitimateInterest}, p.LegalBasis)
}
