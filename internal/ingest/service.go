package ingest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
)

// Audit actions written by ingest.
const (
	ActionIngestBatch = "events.ingest"
	ActionMerge       = "customer.merge"
	ActionUnmerge     = "customer.unmerge"
	ActionEventsRead  = "events.read"
)

// EventsTable and IdentitiesTable are bound into the associated data of what ingest seals,
// so a sealed payload or identifier cannot be replayed into a profile field or elsewhere.
const (
	EventsTable     = "events"
	IdentitiesTable = "identities"
	payloadField    = "payload"
)

// Keys is the part of the key hierarchy ingest uses.
type Keys interface {
	OpenDataKey(ctx context.Context, customerID string, w vault.WrappedKey) (*vault.DataKey, error)
	IdentityToken(kind string, normalized []byte) []byte
	BlindIndex(field string, normalized []byte) int64
}

// ConsentRecorder builds the consent-ledger records that the consent signals of tracking
// messages call for (see consent.Service.SignalRecords). Ingest stores them in the
// transaction that stores the messages, so a signal is recorded exactly once: a retried
// message is a duplicate and carries no signal, and a failure stores neither. The signals are
// also kept, sealed, on the events themselves as evidence.
type ConsentRecorder interface {
	SignalRecords(ctx context.Context, signals []consent.Signal, pending ...consent.Record) ([]consent.Append, error)
	// DecisionVersions returns the customers' decision change counters as committed.
	DecisionVersions(ctx context.Context, ids []string) (map[string]int64, error)
	// RecordOptOut records the Global Privacy Control signal a read relays (see
	// consent.WithGPC) for the customer it reads, once the read is allowed.
	RecordOptOut(ctx context.Context, customerID string) error
}

// ConsentMerger computes the ledger records a merge adds to the winner.
type ConsentMerger interface {
	MergeRecords(ctx context.Context, winner, loser string, onlyRefusals bool) (consent.Carry, error)
	RecordEntry(ctx context.Context, r *consent.Record) audit.Entry
	// UnmergeRefusals computes the refusals an undone merge leaves with the loser too.
	UnmergeRefusals(ctx context.Context, winner, loser string, since time.Time) (consent.Carry, error)
}

// Config tunes collection.
type Config struct {
	// DedupWindow is how long a messageId is remembered per write key (default 24 h).
	DedupWindow time.Duration
	// PIIMode is PIIDrop or PIIEncrypt.
	PIIMode string
	// IPMode says how context.ip is kept: "sealed" (encrypted with the event, the default,
	// if the catalog declares ip_address), "prefix" (only its /24 or /48 network, in clear)
	// or "drop".
	IPMode string
	// Limits bound identifiers per customer by kind; nil means DefaultLimits.
	Limits map[string]int
	// Blocked are extra identifier values that never link customers.
	Blocked []string
	// TraitMap maps extra trait names to catalog fields.
	TraitMap map[string]string
	// CartAbandonAfter is how long after a checkout starts without an order it counts as
	// abandoned (default one hour).
	CartAbandonAfter time.Duration
}

// Service collects tracking messages.
type Service struct {
	store   Store
	vault   *customer.Vault
	norm    *customer.Normalizer
	keys    Keys
	catalog *catalog.Catalog
	schema  *Schema
	config  Config
	// customers is the audited customer service, asked before events are revealed.
	customers *customer.Service
	audit     audit.Store
	ledger    ConsentRecorder
	merger    ConsentMerger
	clock     clock.Clock
	stats     Stats

	once       sync.Once
	blockedSet map[string]struct{}
	// indexed are the contact kinds (e-mail, phone) whose catalog field is blind-indexed:
	// a customer's current value of one is found through the profile's index entry, so it
	// needs no identity row of its own (see txState.flush).
	indexed []string
	// held holds the identity kinds some identity row was seen of (see txState.holdsKind).
	held sync.Map
}

// Deps is what the ingest service is built from; every field but Clock is required.
type Deps struct {
	Store Store
	// Vault seals, opens and normalises profiles inside ingest's own transactions, which
	// write their own audit entries.
	Vault *customer.Vault
	// Customers is the audited customer service: the permission decision before events or
	// identifiers are revealed.
	Customers *customer.Service
	Audit     audit.Store
	Keys      Keys
	Catalog   *catalog.Catalog
	Schema    *Schema
	// Ledger records GPC and consent-manager choices in the consent ledger, in the
	// transaction that stores the messages carrying them.
	Ledger ConsentRecorder
	// Merger carries the refusals of a customer merged by stitching to the customer it is
	// merged into, in the same transaction, so that an opt-out made under one identity holds
	// for the person (see consent.Service.MergeRecords).
	Merger ConsentMerger
	// Clock is the time of stored events and derived facts; nil is the system clock.
	Clock clock.Clock
}

// New builds the ingest service with its settings.
func New(d Deps, cfg Config) (*Service, error) {
	switch {
	case d.Store == nil, d.Vault == nil, d.Customers == nil, d.Audit == nil:
		return nil, errors.New("ingest service: store, customer vault, customer service and audit store are required")
	case d.Keys == nil, d.Catalog == nil, d.Schema == nil:
		return nil, errors.New("ingest service: keys, catalog and event schema are required")
	case d.Ledger == nil, d.Merger == nil:
		return nil, errors.New("ingest service: the consent ledger is required")
	}
	s := &Service{store: d.Store, vault: d.Vault, norm: d.Vault.Normalizer(), customers: d.Customers, audit: d.Audit,
		keys: d.Keys, catalog: d.Catalog, schema: d.Schema, config: cfg, ledger: d.Ledger, merger: d.Merger, clock: clock.Or(d.Clock)}
	s.init()
	return s, nil
}

// Stats is what the service has counted since it started, for the metrics endpoint.
func (s *Service) Stats() *Stats { return &s.stats }

func (s *Service) init() {
	s.once.Do(func() {
		s.blockedSet = map[string]struct{}{}
		for _, b := range append(append([]string{}, DefaultBlocked...), s.config.Blocked...) {
			s.blockedSet[strings.ToLower(strings.TrimSpace(b))] = struct{}{}
		}
		if s.config.DedupWindow <= 0 {
			s.config.DedupWindow = 24 * time.Hour
		}
		if s.config.PIIMode == "" {
			s.config.PIIMode = PIIDrop
		}
		if s.config.IPMode == "" {
			s.config.IPMode = "sealed"
		}
		if s.config.Limits == nil {
			s.config.Limits = DefaultLimits
		}
		for _, k := range []string{KindEmail, KindPhone} {
			if f, ok := s.catalog.Field(k); ok && f.Indexed() {
				s.indexed = append(s.indexed, k)
			}
		}
	})
}

// isIndexed says whether kind is one of the contact kinds the blind index answers for.
func (s *Service) isIndexed(kind string) bool { return slices.Contains(s.indexed, kind) }

// Batch is one tracking request's messages, as received.
type Batch struct {
	KeyID      string // the write key's id
	Messages   []Message
	ReceivedAt time.Time
	// GPC is true when the request carried Sec-GPC: 1.
	GPC bool
	// Lasting keeps the batch's message ids for good instead of for the deduplication
	// window: a connected platform re-delivers an event days later, and a replay of its
	// export re-feeds months of them, and each must still be stored once.
	Lasting bool
	// trusted says the batch's key may change what is known about customers (its role holds
	// customers.write); set by Ingest from the actor, never by the caller. A browser-safe
	// key's batch is not: see fillOnly, mergeJoined and prepare.
	trusted bool
}

// Result says what happened to a batch.
type Result struct {
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
	// Fresh says, message by message, which were stored (false: a duplicate), so that a
	// caller who merged several requests into one batch can answer each of them.
	Fresh []bool `json:"-"`
}

// prepared is a message made ready outside the transaction: everything that does not depend
// on which customer it belongs to.
type prepared struct {
	// part is the caller's batch the message came in (see IngestAll).
	part    *batchPart
	msg     *Message
	hash    []byte
	ids     []Identifier
	traits  map[string]any // normalised profile values from identify traits
	kind    EventKind
	name    string
	plain   []byte
	payload []byte // the JSON to seal under the owner's key
	orders  []OrderChange
	consent bool
	// optOut is the opt-out the message stands for (an unsubscribe, a complaint, a hard
	// bounce), recorded in the ledger with it.
	optOut *consent.EventOptOut
	// pre is an imported row's profile sealed ahead, used if the row makes a new customer.
	pre *preProfile
	// contact holds the normalised contact details of a message that fills the profile with
	// them (Message.FillContact).
	contact map[string]any
}

// Ingest stores a batch: every new message, its identities, the profile changes it causes and
// its audit entries, in one transaction. It returns only once that is committed, so an
// acknowledged message is never lost. Messages already seen from the same write key within the
// deduplication window are skipped, so a client that retries stores each message once.
func (s *Service) Ingest(ctx context.Context, b Batch) (Result, error) {
	rs, err := s.IngestAll(ctx, []Part{{Ctx: ctx, Batch: b}})
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// Part is one caller's batch among those IngestAll stores together. Its context names the
// actor (and request) its messages are attributed to: each part is checked, deduplicated,
// counted and audited as its own, as if Ingest had stored it.
type Part struct {
	Ctx   context.Context
	Batch Batch
}

// IngestAll stores several callers' batches in one transaction, with one result per part.
// Concurrent deliveries from different platforms each act as their own source; storing
// them apart paid the transaction's fixed work (claiming ids, looking identifiers up,
// reading profiles and orders, auditing) once per platform instead of once. Parts must
// share ReceivedAt and Lasting. Their messages are applied in order as one batch as long as
// no customer or order is touched by two parts and no part merges customers, proposes a
// pair or records consent: every audit entry and consent record must name the one part
// that caused it. Otherwise the transaction is rolled back (it has written nothing but the
// ids it claimed) and each part is stored in a transaction of its own, one after the other,
// so that each reads what the one before committed, the consent ledger included. If one of
// those fails, the results of the parts stored before it are returned with its error.
func (s *Service) IngestAll(ctx context.Context, parts []Part) ([]Result, error) {
	s.init()
	if len(parts) == 0 {
		return nil, problem.InvalidField("batch", "is empty")
	}
	bs := make([]*batchPart, len(parts))
	var n int
	for i := range parts {
		b := &parts[i].Batch
		actor, err := authz.Require(parts[i].Ctx, s.catalog, "events.write")
		if err != nil {
			return nil, err
		}
		b.trusted = s.catalog.RoleHas(actor.Role, "customers.write")
		if len(b.Messages) == 0 {
			return nil, problem.InvalidField("batch", "is empty")
		}
		if !b.ReceivedAt.Equal(parts[0].Batch.ReceivedAt) || b.Lasting != parts[0].Batch.Lasting {
			return nil, problem.New(problem.Internal, "batches stored together must share their receipt time and lasting")
		}
		bs[i] = &batchPart{ctx: parts[i].Ctx, b: b, pre: drops{}, from: n}
		n += len(b.Messages)
	}
	ps := make([]prepared, 0, n)
	for _, bp := range bs {
		for j := range bp.b.Messages {
			ps = append(ps, prepared{part: bp})
			if err := s.prepare(&ps[len(ps)-1], &bp.b.Messages[j], *bp.b, bp.pre); err != nil {
				return nil, err
			}
		}
	}
	err := s.store.IngestTx(ctx, func(ctx context.Context, tx Tx) error {
		return s.storeParts(ctx, tx, bs, ps)
	})
	if len(bs) > 1 && (err == nil || errors.Is(err, errShared)) {
		s.stats.shared(err == nil)
	}
	stored := len(bs)
	if errors.Is(err, errShared) {
		err = nil
		for i, bp := range bs {
			if err = s.store.IngestTx(bp.ctx, func(ctx context.Context, tx Tx) error {
				return s.storeParts(ctx, tx, bs[i:i+1], ps[bp.from:bp.from+len(bp.b.Messages)])
			}); err != nil {
				stored = i
				break
			}
		}
	} else if err != nil {
		stored = 0
	}
	out := make([]Result, stored)
	for i, bp := range bs[:stored] {
		out[i] = bp.res
		s.stats.batch(bp.b.KeyID, bp.res.Stored, bp.res.Duplicates, bp.d)
	}
	return out, err
}

// batchPart is one part's state in the ingest transaction.
type batchPart struct {
	// ctx is the caller's context; tctx the transaction's with the caller's actor and
	// request, which what the part causes is recorded with (see within).
	ctx, tctx context.Context
	b         *Batch
	from      int // where its messages start among the transaction's
	// pre holds what preparing its messages dropped; d that and what the run dropped.
	pre, d drops
	res    Result
	// events counts the events it stored, for its batch entry.
	events int
}

// reset readies the part for a run: a run that fails, or a transaction run again, leaves
// nothing counted.
func (bp *batchPart) reset() {
	bp.d, bp.res, bp.events = maps.Clone(bp.pre), Result{}, 0
}

// errShared says a transaction storing several parts as one batch met what two of them
// touch, or something whose record must name one part: they are stored apart.
var errShared = errors.New("ingest: parts share a customer")

// storeParts claims every part's message ids in one statement, then stores the parts as one
// batch; with several parts, errShared says they must be stored apart (see IngestAll). It
// keeps no state outside the transaction between runs: on SQLite it may run twice.
func (s *Service) storeParts(ctx context.Context, tx Tx, bs []*batchPart, ps []prepared) error {
	hashes := make([][]byte, len(ps))
	keys := make([]string, len(ps))
	for i := range ps {
		hashes[i], keys[i] = ps[i].hash, ps[i].part.b.KeyID
	}
	b := bs[0].b
	at, cutoff := b.ReceivedAt, b.ReceivedAt.Add(-s.config.DedupWindow)
	if b.Lasting {
		// Claimed as received at the end of time, the id is never older than any cutoff:
		// neither a later claim nor the purge of old ids ever releases it.
		at, cutoff = LastingClaim, time.Time{}
	}
	fresh, err := tx.ClaimMessages(ctx, keys, hashes, at, cutoff)
	if err != nil {
		return err
	}
	for _, bp := range bs {
		bp.tctx = within(ctx, bp.ctx)
		bp.reset()
	}
	if len(bs) == 1 {
		ctx = bs[0].tctx
	}
	return s.newTxState(tx, bs).run(ctx, ps, fresh)
}

// within is the transaction's context tx (which the engine's writes need) with the actor,
// request and reason of a part's caller, which what the part causes is recorded with.
func within(tx, part context.Context) context.Context {
	a, _ := authz.ActorFrom(part)
	return audit.WithReason(audit.WithRequestID(authz.WithActor(tx, a), audit.RequestID(part)), audit.Reason(part))
}

// newTxState starts the state of a run storing parts.
func (s *Service) newTxState(tx Tx, parts []*batchPart) *txState {
	return &txState{s: s, tx: tx, b: parts[0].b, parts: parts, holders: map[string]*Holder{}, counts: map[string]map[string]int{},
		keys: map[string]*vault.DataKey{}, profiles: map[string]*profile{}, roots: map[string]string{}}
}

// prepare minimises a message and computes its identifiers and payload: everything about it
// that does not depend on which customer it belongs to, done before the transaction so that
// the transaction holds the writer only for what must be serialised.
func (s *Service) prepare(p *prepared, m *Message, b Batch, d drops) error {
	p.msg = m
	p.hash = dedupHash(m)
	if m.Type == TypeIdentify {
		p.traits = s.traitFields(m.Traits, d)
	}
	idTraits := s.identifyingTraits(m, p.traits)
	p.ids = s.identifiers(m, idTraits)
	if m.FillContact {
		p.contact = idTraits
	}
	if len(p.ids) == 0 && m.CustomerID == "" {
		return problem.InvalidField("userId", "userId or anonymousId is required and must not be a placeholder such as %q", "null")
	}
	p.kind = s.schema.Kind(m.Type, m.Name)
	p.name = eventName(m.Name, d)
	props := m.Properties
	if m.Type == TypePage || m.Type == TypeScreen {
		props = pageProperties(m)
	}
	plain, sealed := s.properties(props, d)
	plainDoc := plainDocument(m, p.traits, plain)
	sealedDoc := map[string]any{}
	if len(sealed) > 0 {
		sealedDoc["properties"] = sealed
	}
	if m.GroupID != "" {
		sealedDoc["group_id"] = m.GroupID
	}
	s.placeContext(m, plainDoc, sealedDoc)
	if ev := consentEvidence(m, b.GPC); ev != nil {
		sealedDoc["consent"] = ev
		p.consent = true
	}
	if err := p.encode(plainDoc, sealedDoc); err != nil {
		return err
	}
	p.orders = commerceChanges(m)
	if !b.trusted {
		p.orders = untrustedChanges(p.orders, d)
	}
	p.optOut = eventOptOut(m, p.hash)
	if p.optOut != nil && p.optOut.Kind == consent.EventResubscribe && !b.trusted {
		// Taking back an opt-out gives consent: a browser-safe key, which anyone can use in
		// someone's name, may not.
		p.optOut = nil
	}
	return nil
}

// LastingClaim is the receipt time a lasting message id is claimed with (see Batch.Lasting):
// the last microsecond-representable day of year 9999, which both engines store as an integer.
// Stores leave ids claimed at it out of the index their purge of old ids walks.
var LastingClaim = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// dedupHash is the key a retried message is recognised by: its messageId, hashed so that
// the id a client chose is not stored. A message without one gets a random id, which keeps
// it (it cannot be deduplicated) rather than colliding with every other such message.
func dedupHash(m *Message) []byte {
	id := m.MessageID
	if id == "" {
		var r [16]byte
		_, _ = rand.Read(r[:])
		id = "steward-" + hex.EncodeToString(r[:])
	}
	h := sha256.Sum256([]byte(id))
	return h[:16]
}

// identifyingTraits are the traits a message's identifiers come from: an identify call's
// own normalised traits, or else the e-mail and phone in context.traits, which identify the
// sender on any message but are not stored from there.
func (s *Service) identifyingTraits(m *Message, traits map[string]any) map[string]any {
	if traits != nil || len(m.Context.Traits) == 0 {
		return traits
	}
	idTraits := map[string]any{}
	for _, f := range []string{"email", "phone"} {
		if v, ok := m.Context.Traits[f]; ok {
			if n, _, err := s.norm.Value(f, v); err == nil {
				idTraits[f] = n
			}
		}
	}
	return idTraits
}

// eventName is the name stored in clear with the event; one that holds personal data (an
// e-mail address sent as the event name, say) is redacted and counted as a drop.
func eventName(name string, d drops) string {
	if name != "" && findPII(name) != "" {
		d.add(DropPII, "event_name")
		return "[redacted]"
	}
	return name
}

// plainDocument is what an event keeps in clear: properties the catalog declares
// non-personal, category, library, the names (never the values) of identify traits and
// whether it was a group call. Everything else is sealed.
func plainDocument(m *Message, traits, plain map[string]any) map[string]any {
	doc := map[string]any{}
	if len(plain) > 0 {
		doc["properties"] = plain
	}
	if m.Category != "" && findPII(m.Category) == "" {
		doc["category"] = m.Category
	}
	if m.Context.Library != "" {
		doc["library"] = clip(m.Context.Library) + " " + clip(m.Context.LibraryVer)
	}
	if m.Type == TypeIdentify && len(traits) > 0 {
		doc["traits"] = sortedNames(traits) // names only: values live in the profile
	}
	if m.Type == TypeGroup {
		doc["group"] = true
	}
	return doc
}

// placeContext puts the message's context in the document the catalog and configuration
// allow: the IP address sealed, or as a prefix in clear (--ip-mode), the user agent sealed
// if the catalog declares it, the locale in clear, and the campaign sealed without values
// that hold personal data.
func (s *Service) placeContext(m *Message, plainDoc, sealedDoc map[string]any) {
	if m.Context.IP != "" {
		switch ip := s.ipValue(m.Context.IP); {
		case ip == "":
		case s.config.IPMode == "prefix":
			plainDoc["ip_prefix"] = ip
		default:
			sealedDoc["ip"] = ip
		}
	}
	if m.Context.UserAgent != "" {
		if _, ok := s.catalog.Field("user_agent"); ok {
			sealedDoc["user_agent"] = m.Context.UserAgent
		}
	}
	if m.Context.Locale != "" {
		plainDoc["locale"] = clip(m.Context.Locale)
	}
	if camp := campaign(m); len(camp) > 0 {
		sealedDoc["campaign"] = camp
	}
}

// campaign keeps the UTM fields of context.campaign whose values hold no personal data
// (nil when there are none).
func campaign(m *Message) map[string]any {
	if len(m.Context.Campaign) == 0 {
		return nil
	}
	camp := map[string]any{}
	for _, k := range []string{"name", "source", "medium", "term", "content"} {
		if v, ok := m.Context.Campaign[k].(string); ok && findPII(v) == "" {
			camp[k] = v
		}
	}
	return camp
}

// consentEvidence is what the visitor chose — consent-manager categories, a GPC signal — kept
// sealed with the event that carried it, as the evidence behind the consent records the
// transaction derives from it; nil when the message carried no choice.
func consentEvidence(m *Message, gpc bool) map[string]any {
	if len(m.Context.Consent) == 0 && !gpc {
		return nil
	}
	ev := map[string]any{}
	if len(m.Context.Consent) > 0 {
		ev["category_preferences"] = m.Context.Consent
	}
	if gpc {
		ev["gpc"] = true
	}
	return ev
}

// encode serialises the event's clear and sealed documents; the sealed one is sealed under
// its owner's key in the transaction, once the owner is known.
func (p *prepared) encode(plainDoc, sealedDoc map[string]any) error {
	var err error
	if p.plain, err = json.Marshal(plainDoc); err != nil {
		return problem.Wrap(problem.Internal, err, "encoding failed")
	}
	if len(sealedDoc) > 0 {
		if p.payload, err = json.Marshal(sealedDoc); err != nil {
			return problem.Wrap(problem.Internal, err, "encoding failed")
		}
	}
	return nil
}

// pageProperties gathers a page or screen view's properties, filling them from context.page
// as analytics.js sends them.
func pageProperties(m *Message) map[string]any {
	props := map[string]any{}
	for k, v := range m.Context.Page {
		props[k] = v
	}
	for k, v := range m.Properties {
		props[k] = v
	}
	if m.Name != "" {
		delete(props, "name")
	}
	return props
}

// ipValue applies the catalog and IP mode to context.ip: "" when it is not kept.
func (s *Service) ipValue(raw string) string {
	if s.config.IPMode == "drop" {
		return ""
	}
	f, ok := s.catalog.Field("ip_address")
	if !ok {
		return ""
	}
	v, _, err := s.norm.Value(f.Name, raw)
	if err != nil {
		return ""
	}
	ip := v.(string)
	if s.config.IPMode == "prefix" {
		return ipPrefix(ip)
	}
	return ip
}

// txState is the state of one run of the ingest transaction function.
type txState struct {
	s  *Service
	tx Tx
	// b is the batch whose message the run is at: parts[0]'s outside the messages.
	b   *Batch
	now time.Time
	// parts are the callers' batches the run stores (see IngestAll); cur is the one whose
	// message it is at (nil outside the messages), and shared says there are several, so
	// that each customer must be touched by one of them only (see profile).
	parts  []*batchPart
	cur    *batchPart
	shared bool
	// orderParts is the part that changed each order, in a shared batch.
	orderParts map[string]*batchPart
	// holders caches identifier token → holder for this transaction, including identifiers
	// linked by earlier messages of the batch.
	holders map[string]*Holder
	// wrapped holds, by customer, the first holder seen with that customer's wrapped key.
	wrapped map[string]*Holder
	// roots maps a customer to the customer it is merged into, for merges of this batch.
	roots    map[string]string
	counts   map[string]map[string]int // root → identifier class → count
	keys     map[string]*vault.DataKey
	profiles map[string]*profile
	created  []*customer.Record
	idRows   []IdentityRow
	merges   []Merge
	entries  []audit.Entry
	// importing marks an import: no messages, no events, an import audit entry.
	importing bool
	// heldKinds caches HoldsKind for the transaction.
	heldKinds map[string]bool
	// abandoned counts the carts a MarkAbandonedCarts transaction marked.
	abandoned int
	// signals are the consent signals of the batch's new messages, recorded by flush.
	signals []consent.Signal
	// carried are the refusals the batch's merges carry, written before the signals' records.
	carried []consent.Record
	// figureRoots are the customers whose derived figures the batch changes (see
	// deriveFigures).
	figureRoots []figureRoot
	// proposals are the pairs an untrusted batch joined but may not merge (see mayJoin).
	proposals []Proposal
}

type profile struct {
	rec    *customer.Record
	prev   int64
	values map[string]any
	dk     *vault.DataKey
	dirty  []string
	isNew  bool
	// sealed says rec already holds values sealed (a new customer prepared ahead).
	sealed bool
	// shared says values belong to a prepared row and must be copied before a change.
	shared bool
	// was holds a stored customer's indexed contact values as loaded, so that a value the
	// transaction replaces keeps linking to them (see txState.keepReplaced).
	was map[string]any
	// part is the part whose message first touched the customer (see txState.profile).
	part *batchPart
}

func tokenKey(kind string, token []byte) string { return kind + "\x00" + string(token) }

// run stores the parts' messages, given which are fresh (claimed by this transaction). With
// several parts, it returns errShared as soon as the batch needs what only a single part may
// do, before it writes anything.
func (st *txState) run(ctx context.Context, ps []prepared, fresh []bool) error {
	st.now = st.s.now()
	st.shared = len(st.parts) > 1
	if st.shared {
		st.orderParts = map[string]*batchPart{}
	}
	for _, bp := range st.parts {
		bp.res.Fresh = fresh[bp.from-st.parts[0].from:][:len(bp.b.Messages)]
	}
	if err := st.prefetch(ctx, ps, fresh); err != nil {
		return err
	}
	events := make([]EventRow, 0, len(ps))
	var orders []OrderChange
	for i := range ps {
		p := &ps[i]
		bp := p.part
		if !fresh[i] {
			bp.res.Duplicates++
			continue
		}
		// The message's own context: what it causes is attributed to its part's actor.
		ctx := bp.tctx
		st.cur, st.b = bp, bp.b
		owner, root, err := st.resolve(ctx, p, bp.d)
		if err != nil {
			return err
		}
		if len(p.traits) > 0 {
			traits := p.traits
			if !st.b.trusted {
				if traits, err = st.fillOnly(ctx, root, traits, bp.d); err != nil {
					return err
				}
			}
			if _, err := st.applyTraits(ctx, root, traits); err != nil {
				return err
			}
		}
		if len(p.contact) > 0 {
			if err := st.fillContact(ctx, root, p); err != nil {
				return err
			}
		}
		ev := EventRow{CustomerID: owner, KeyID: st.b.KeyID, Type: p.msg.Type, Name: p.name, Category: p.kind.Category,
			At: p.msg.Timestamp, ReceivedAt: st.b.ReceivedAt, ExpiresAt: p.kind.Expires(p.msg.Timestamp), Plain: p.plain}
		if p.payload != nil {
			dk, err := st.key(ctx, owner)
			if err != nil {
				return err
			}
			if ev.Sealed, err = dk.Seal(EventsTable, payloadField, owner, p.payload); err != nil {
				return problem.Wrap(problem.Internal, err, "sealing failed")
			}
		}
		events = append(events, ev)
		bp.events++
		for _, o := range p.orders {
			if st.shared {
				// An order is one customer's: changed by two parts, its figures would be
				// recomputed in the name of one of them.
				if by, ok := st.orderParts[o.OrderID]; ok && by != bp {
					return errShared
				}
				st.orderParts[o.OrderID] = bp
			}
			o.CustomerID = root
			orders = append(orders, o)
		}
		if p.consent {
			st.signals = append(st.signals, consent.Signal{CustomerID: root, Categories: p.msg.Context.Consent, GPC: st.b.GPC, Untrusted: !st.b.trusted,
				Evidence: consent.EvidenceInput{UserAgent: p.msg.Context.UserAgent, IP: p.msg.Context.IP}})
		}
		if p.optOut != nil {
			st.signals = append(st.signals, consent.Signal{CustomerID: root, Event: p.optOut,
				Evidence: consent.EvidenceInput{UserAgent: p.msg.Context.UserAgent, IP: p.msg.Context.IP}})
		}
		if parts := figureParts(p.msg); parts != 0 {
			// Loading the profile now locks the customer (where the engine locks rows)
			// before the event and its order are written, so that two transactions counting
			// for one customer run one after the other and the second counts the first's.
			if _, err := st.profile(ctx, root); err != nil {
				return err
			}
			st.figureRoots = append(st.figureRoots, figureRoot{root, parts})
		}
		// Merges, proposed pairs and consent records are recorded in the name of the one
		// part that caused them, with its own reads: a shared batch leaves them to the
		// parts stored one by one.
		if st.shared && (len(st.merges) > 0 || len(st.proposals) > 0 || len(st.signals) > 0) {
			return errShared
		}
		bp.res.Stored++
	}
	st.cur, st.b = nil, st.parts[0].b
	return st.flush(ctx, events, orders, nil)
}

// key opens a customer's data key once per transaction.
func (st *txState) key(ctx context.Context, id string) (*vault.DataKey, error) {
	if dk, ok := st.keys[id]; ok {
		return dk, nil
	}
	h := st.wrapped[id]
	if h == nil {
		pr, err := st.profile(ctx, id)
		if err != nil {
			return nil, err
		}
		return pr.dk, nil
	}
	dk, err := st.s.keys.OpenDataKey(ctx, id, vault.WrappedKey{MasterVersion: h.MasterVersion, Blob: h.Key})
	if err != nil {
		return nil, problem.Wrap(problem.Internal, err, "customer key unavailable")
	}
	st.keys[id] = dk
	return dk, nil
}

// hold records an identifier's holder, and the holder's wrapped key for key: looking it up by
// customer rather than walking every holder made a batch of many customers quadratic.
func (st *txState) hold(token string, h *Holder) {
	st.holders[token] = h
	if h != nil && h.Key != nil {
		if st.wrapped == nil {
			st.wrapped = map[string]*Holder{}
		}
		if _, ok := st.wrapped[h.CustomerID]; !ok {
			st.wrapped[h.CustomerID] = h
		}
	}
}

// profile loads a customer's profile for change.
func (st *txState) profile(ctx context.Context, id string) (*profile, error) {
	if pr, ok := st.profiles[id]; ok {
		if st.shared && st.cur != nil && pr.part != st.cur {
			return nil, errShared
		}
		return pr, nil
	}
	r, err := st.tx.Customer(ctx, id)
	if err != nil {
		return nil, err
	}
	values, dk, err := st.s.vault.OpenProfile(ctx, r)
	if err != nil {
		return nil, err
	}
	pr := &profile{rec: r, prev: r.Version, values: values, dk: dk, was: map[string]any{}, part: st.cur}
	for _, k := range st.s.indexed {
		pr.was[k] = values[k]
	}
	st.profiles[id] = pr
	st.keys[id] = dk
	return pr, nil
}

// applyTraits sets profile values from identify traits; only changed values count. It
// reports whether anything changed.
func (st *txState) applyTraits(ctx context.Context, root string, traits map[string]any) (bool, error) {
	pr, err := st.profile(ctx, root)
	if err != nil {
		return false, err
	}
	changed := false
	for f, v := range traits {
		old, had := pr.values[f]
		if had {
			// Most values are strings: compared as such, without encoding both.
			if a, ok := old.(string); ok {
				if b, ok := v.(string); ok && a == b {
					continue
				}
			}
			a, _ := json.Marshal(old)
			b, _ := json.Marshal(v)
			if string(a) == string(b) {
				continue
			}
		}
		if pr.shared {
			values := make(map[string]any, len(pr.values)+1)
			for k, v := range pr.values {
				values[k] = v
			}
			pr.values, pr.shared = values, false
		}
		pr.values[f] = v
		pr.sealed = false
		changed = true
		if !contains(pr.dirty, f) {
			pr.dirty = append(pr.dirty, f)
		}
	}
	return changed, nil
}
