package ingest

import (
	"context"
	"encoding/hex"
	"strings"

	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/quality"
)

// Opt-outs reported as events. An e-mail service provider or SMS gateway reports an
// unsubscribe, a spam complaint or a bounce as a tracking event (Segment's e-mail
// specification names them); each one is also the customer's opt-out, recorded in the consent
// ledger by the transaction that stores the event (see consent.EventOptOut).

// EventResubscribed is the customer taking back their unsubscribe on a channel (an SMS START
// after a STOP); it gives back only what their own opt-out on that channel withdrew (see
// consent.EventResubscribe).
const EventResubscribed = "Resubscribed"

// hardBounceTypes are the values of bounce_type (or type, or severity) that say an address
// does not exist or refuses mail for good: hard bounces, as the providers name them. Any
// other bounce is temporary and only shows in the contact status.
var hardBounceTypes = map[string]bool{"hard": true, "permanent": true, "hard_bounce": true, "hardbounce": true, "hard bounce": true}

// eventOptOut returns the opt-out a message stands for, or nil. ref is the message's
// deduplication hash, of which a prefix names the message in the record's evidence: never the
// id the client chose, which could hold anything.
func eventOptOut(m *Message, hash []byte) *consent.EventOptOut {
	if m.Type != TypeTrack {
		return nil
	}
	e := &consent.EventOptOut{Name: m.Name, Ref: hex.EncodeToString(hash[:min(8, len(hash))]), Platform: m.Platform}
	p := m.Properties
	switch m.Name {
	case quality.EventUnsubscribed:
		e.Kind, e.Purpose, e.Channel = consent.EventUnsubscribe, text(p["purpose"]), text(p["channel"])
	case quality.EventEmailSpam:
		e.Kind = consent.EventComplaint
	case EventResubscribed:
		e.Kind, e.Channel = consent.EventResubscribe, text(p["channel"])
	case quality.EventEmailBounced:
		hard := false
		for _, k := range []string{"bounce_type", "type", "severity"} {
			if hardBounceTypes[strings.ToLower(text(p[k]))] {
				hard = true
			}
		}
		if !hard {
			return nil
		}
		e.Kind = consent.EventBounce
	default:
		return nil
	}
	return e
}

// eventContacts gives each of the batch's event opt-outs the current e-mail and phone of the
// customer it is attributed to, as this transaction leaves them: what goes on the suppression
// or undeliverable list, even for a customer the batch itself created.
func (st *txState) eventContacts(ctx context.Context) error {
	for i := range st.signals {
		sig := &st.signals[i]
		if sig.Event == nil {
			continue
		}
		pr, err := st.profile(ctx, sig.CustomerID)
		if err != nil {
			return err
		}
		sig.Contacts = map[string]string{}
		for _, f := range []string{consent.ContactEmail, consent.ContactPhone} {
			if v, ok := pr.values[f].(string); ok {
				sig.Contacts[f] = v
			}
		}
	}
	return nil
}
