package consent

import (
	"slices"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

// Record is one entry of the ledger. Records are never changed or deleted; the newest record of
// a kind and purpose states the customer's current choice.
type Record struct {
	ID         string `json:"id"`
	Seq        int64  `json:"-"` // ledger order, assigned by the engine
	CustomerID string `json:"customer_id"`
	Kind       string `json:"kind"`
	// Purpose is empty for a restriction, which covers every purpose.
	Purpose string `json:"purpose,omitempty"`
	// Granted is true when the customer lets the purpose go ahead: a consent given, an
	// objection or restriction lifted. False is a withdrawal, an objection or a restriction.
	Granted bool `json:"granted"`
	// PolicyVersion is the version the choice was made under (for a withdrawal, the version in
	// force when it was made, if any).
	PolicyVersion string    `json:"policy_version,omitempty"`
	Source        string    `json:"source"`
	Channel       string    `json:"channel,omitempty"`
	At            time.Time `json:"at"`
	Evidence      Evidence  `json:"evidence"`
	ActorID       string    `json:"actor_id"`
	RequestID     string    `json:"request_id,omitempty"`
	// Receipt is the signed consent receipt (JWS compact serialisation).
	Receipt string `json:"receipt,omitempty"`
	// SealedEvidence is the evidence that can identify a person (see SealEvidence), sealed
	// under the customer's data key. Only it is stored; it is never served as it is.
	SealedEvidence []byte `json:"-"`
	// EvidenceUnreadable is set on a record read back whose sealed evidence no longer opens: the
	// customer was erased and their key destroyed with them.
	EvidenceUnreadable bool `json:"evidence_unreadable,omitempty"`
}

// Kinds of record.
const (
	// KindConsent gives or withdraws consent for a consent purpose.
	KindConsent = "consent"
	// KindObjection records an objection (GDPR Article 21) to a legitimate-interest or
	// direct-marketing purpose, or lifts one.
	KindObjection = "objection"
	// KindRestriction restricts processing (GDPR Article 18) for every purpose except legal
	// obligations, or lifts the restriction.
	KindRestriction = "restriction"
)

var kinds = []string{KindConsent, KindObjection, KindRestriction}

// Sources say how a choice reached Steward.
const (
	SourceSignupForm = "signup_form"
	SourceBanner     = "banner"
	SourceAPI        = "api"
	SourceImport     = "import"
	SourcePOS        = "pos"
	SourcePortal     = "portal"
	// SourceGPC is a Global Privacy Control signal; it only ever opts out.
	SourceGPC = "gpc"
	// SourceRequest is a data-subject request (restriction, objection, opt-out) that Steward
	// carried out; only completing the request records it (see Fulfil).
	SourceRequest = "request"
)

var sources = []string{SourceSignupForm, SourceBanner, SourceAPI, SourceImport, SourcePOS, SourcePortal, SourceGPC, SourceRequest, SourceEvent}

// Sources returns the sources a record may name.
func Sources() []string { return slices.Clone(sources) }

// Input is a request to add a record to a customer's ledger.
type Input struct {
	// Kind is consent when empty.
	Kind          string        `json:"kind"`
	Purpose       string        `json:"purpose"`
	Granted       *bool         `json:"granted"`
	PolicyVersion string        `json:"policy_version"`
	Source        string        `json:"source"`
	Channel       string        `json:"channel"`
	Evidence      EvidenceInput `json:"evidence"`
}

// check validates the parts of in that need no policy, returning the kind and purpose.
func (in *Input) check(cat *catalog.Catalog) (catalog.Purpose, error) {
	if in.Kind == "" {
		in.Kind = KindConsent
	}
	if !slices.Contains(kinds, in.Kind) {
		return catalog.Purpose{}, problem.InvalidField("kind", "must be consent, objection or restriction")
	}
	if in.Granted == nil {
		return catalog.Purpose{}, problem.InvalidField("granted", "is required: true to give (or lift), false to withdraw (or object, or restrict)")
	}
	if in.Source == "" {
		return catalog.Purpose{}, problem.InvalidField("source", "is required (one of signup_form, banner, api, import, pos, portal, gpc)")
	}
	if !slices.Contains(sources, in.Source) {
		return catalog.Purpose{}, problem.InvalidField("source", "unknown source %q (want one of signup_form, banner, api, import, pos, portal, gpc)", in.Source)
	}
	if in.Source == SourceRequest {
		return catalog.Purpose{}, problem.InvalidField("source", "request is recorded only by completing a data-subject request (POST /v1/requests/{id}/complete)")
	}
	if in.Source == SourceEvent {
		return catalog.Purpose{}, problem.InvalidField("source", "event is recorded only by the tracking events that carry an opt-out (Unsubscribed, Email Marked as Spam)")
	}
	if in.Source == SourceGPC && *in.Granted {
		return catalog.Purpose{}, problem.InvalidField("source", "a Global Privacy Control signal only ever opts out; granted must be false")
	}
	if err := checkChannel(in.Channel); err != nil {
		return catalog.Purpose{}, err
	}
	if in.Kind == KindRestriction {
		if in.Purpose != "" {
			return catalog.Purpose{}, problem.InvalidField("purpose", "a restriction covers every purpose; leave purpose out")
		}
		return catalog.Purpose{}, nil
	}
	if in.Purpose == "" {
		return catalog.Purpose{}, problem.InvalidField("purpose", "is required")
	}
	p, ok := cat.Purpose(in.Purpose)
	if !ok {
		return p, problem.InvalidField("purpose", "unknown purpose %q", in.Purpose)
	}
	switch in.Kind {
	case KindConsent:
		if p.LegalBasis != catalog.Consent {
			return p, problem.InvalidField("purpose", "%q rests on %s, not consent, so consent is neither needed nor recorded for it", p.Name, p.LegalBasis)
		}
	case KindObjection:
		if p.LegalBasis != catalog.LegitimateInterest && !p.Marketing {
			if p.LegalBasis == catalog.Consent {
				return p, problem.InvalidField("purpose", "%q rests on consent: record a withdrawal instead of an objection", p.Name)
			}
			return p, problem.InvalidField("purpose", "%q rests on %s, which the customer cannot object to", p.Name, p.LegalBasis)
		}
	}
	return p, nil
}
