package ingest

import (
	"strings"
)

// Identifier kinds, in the order that decides which customer an event belongs to when its
// identifiers point at several: a business's own user id is the strongest claim, a cookie the
// weakest.
const (
	KindUserID      = "user_id"
	KindExternal    = "external" // context.externalIds, stored as external:<type>
	KindEmail       = "email"
	KindPhone       = "phone"
	KindDeviceID    = "device_id"
	KindAnonymousID = "anonymous_id"
)

var kindRank = map[string]int{KindUserID: 0, KindExternal: 1, KindEmail: 2, KindPhone: 3, KindDeviceID: 4, KindAnonymousID: 5}

// DefaultLimits bound how many identifiers of each kind one customer may hold. A link or
// merge that would exceed one is refused and counted, so that a shared device or a family
// e-mail address cannot fold a household into one customer. One user id per customer means
// two signed-in users are never merged except by an explicit alias.
var DefaultLimits = map[string]int{KindUserID: 1, KindExternal: 10, KindEmail: 5, KindPhone: 5, KindDeviceID: 10, KindAnonymousID: 100}

// DefaultBlocked are identifier values that SDKs and careless code send in place of a real
// one. They never link customers: every visitor whose code sends "null" is not one person.
var DefaultBlocked = []string{"", "null", "nil", "none", "undefined", "anonymous", "unknown", "guest", "0", "-1",
	"n/a", "na", "[object object]", "00000000-0000-0000-0000-000000000000", "test", "user", "email", "noemail@example.com"}

// Identifier is one normalised identifier of a message.
type Identifier struct {
	Kind  string // user_id, anonymous_id, email, phone, device_id or external:<type>
	Value string // normalised; sealed before it reaches the store
	Token []byte // keyed hash, what the store matches on
	// Blind is the value's blind-index token, for the contact kinds a profile's index
	// answers for (see Service.indexed).
	Blind int64
	// Either marks alias's previousId, which may be a user id or an anonymous id: it is
	// looked up under both and linked as an anonymous id when neither is known.
	Either bool
}

// Class is the identifier's kind with external ids folded together, for limits and ranking.
func (i Identifier) Class() string {
	if strings.HasPrefix(i.Kind, KindExternal+":") {
		return KindExternal
	}
	return i.Kind
}

func (s *Service) blocked(v string) bool {
	_, ok := s.blockedSet[strings.ToLower(strings.TrimSpace(v))]
	return ok
}

// identifiers lists a message's identifiers, strongest first, without blocked values.
func (s *Service) identifiers(m *Message, traits map[string]any) []Identifier {
	var out []Identifier
	add := func(kind, v string, either bool) {
		v = strings.TrimSpace(v)
		if s.blocked(v) {
			return
		}
		for _, have := range out {
			if have.Kind == kind && have.Value == v {
				return
			}
		}
		id := Identifier{Kind: kind, Value: v, Token: s.keys.IdentityToken(kind, []byte(v)), Either: either}
		if s.isIndexed(kind) {
			id.Blind = s.keys.BlindIndex(kind, []byte(v))
		}
		out = append(out, id)
	}
	add(KindUserID, m.UserID, false)
	for _, e := range m.Context.ExternalIDs {
		if t := externalType(e.Type); t != "" {
			add(KindExternal+":"+t, e.ID, false)
		}
	}
	// Contact identifiers count only once validated and normalised as the profile stores
	// them, so that "Ada@Example.com " and "ada@example.com" are one person.
	if v, ok := traits["email"].(string); ok {
		add(KindEmail, v, false)
	}
	if v, ok := traits["phone"].(string); ok {
		add(KindPhone, v, false)
	}
	add(KindDeviceID, m.Context.DeviceID, false)
	add(KindAnonymousID, m.AnonymousID, false)
	if m.Type == TypeAlias {
		add(KindUserID, m.PreviousID, true)
	}
	return out
}

// externalType folds an external id type to a short lower-case word, or "" when it is not one.
func externalType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if t == "" || len(t) > 40 {
		return ""
	}
	for _, r := range t {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '-' {
			return ""
		}
	}
	return t
}
