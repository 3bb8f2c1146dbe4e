package ingest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/catalog"
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
	SignalRecords(ctx context.Context, signals []consent.Signal) ([]consent.Append, error)
}

// ConsentMerger computes the ledger records a merge adds to the winner.
type ConsentMerger interface {
	MergeRecords(ctx context.Context, winner, loser string, onlyRefusals bool) ([]consent.Record, []consent.Carried, error)
	RecordEntry(ctx context.Context, r *consent.Record) audit.Entry
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
	Store     Store
	Customers *customer.Service
	Keys      Keys
	Catalog   *catalog.Catalog
	Schema    *Schema
	Config    Config
	// Consent records GPC and consent-manager choices in the ledger; nil keeps them as
	// evidence on the events only.
	Consent ConsentRecorder
	// Now is the clock of derived facts (cart abandonment); nil means time.Now. Tests set it.
	Now func() time.Time
	// Merger, when set, carries the refusals of a customer merged by stitching to the
	// customer it is merged into, in the same transaction, so that an opt-out made under one
	// identity holds for the person (see consent.Service.MergeRecords).
	Merger ConsentMerger
	// Observe, if set, is told the outcome of every batch (for metrics): per write key, how
	// many messages were stored, how many were duplicates, and what was dropped by reason.
	Observe func(keyID string, stored, duplicates int, dropped map[string]int64)

	once       sync.Once
	blockedSet map[string]struct{}
	// indexed are the contact kinds (e-mail, phone) whose catalog field is blind-indexed:
	// a customer's current value of one is found through the profile's index entry, so it
	// needs no identity row of its own (see txState.flush).
	indexed []string
}

func (s *Service) init() {
	s.once.Do(func() {
		s.blockedSet = map[string]struct{}{}
		for _, b := range append(append([]string{}, DefaultBlocked...), s.Config.Blocked...) {
			s.blockedSet[strings.ToLower(strings.TrimSpace(b))] = struct{}{}
		}
		if s.Config.DedupWindow <= 0 {
			s.Config.DedupWindow = 24 * time.Hour
		}
		if s.Config.PIIMode == "" {
			s.Config.PIIMode = PIIDrop
		}
		if s.Config.IPMode == "" {
			s.Config.IPMode = "sealed"
		}
		if s.Config.Limits == nil {
			s.Config.Limits = DefaultLimits
		}
		for _, k := range []string{KindEmail, KindPhone} {
			if f, ok := s.Catalog.Field(k); ok && f.Indexed() {
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
}

// Result says what happened to a batch.
type Result struct {
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
}

// prepared is a message made ready outside the transaction: everything that does not depend
// on which customer it belongs to.
type prepared struct {
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
	// pre is an imported row's profile sealed ahead, used if the row makes a new customer.
	pre *preProfile
}

// Ingest stores a batch: every new message, its identities, the profile changes it causes and
// its audit entries, in one transaction. It returns only once that is committed, so an
// acknowledged message is never lost. Messages already seen from the same write key within the
// deduplication window are skipped, so a client that retries stores each message once.
func (s *Service) Ingest(ctx context.Context, b Batch) (Result, error) {
	s.init()
	if _, err := audit.Require(ctx, s.Catalog, "events.write"); err != nil {
		return Result{}, err
	}
	if len(b.Messages) == 0 {
		return Result{}, problem.InvalidField("batch", "is empty")
	}
	d := drops{}
	ps := make([]prepared, len(b.Messages))
	for i := range b.Messages {
		if err := s.prepare(&ps[i], &b.Messages[i], b, d); err != nil {
			return Result{}, err
		}
	}
	var res Result
	err := s.Store.IngestTx(ctx, func(ctx context.Context, tx Tx) error {
		st := &txState{s: s, tx: tx, b: &b, holders: map[string]*Holder{}, counts: map[string]map[string]int{},
			keys: map[string]*vault.DataKey{}, profiles: map[string]*profile{}, roots: map[string]string{}}
		var err error
		res, err = st.run(ctx, ps, d)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	if s.Observe != nil {
		s.Observe(b.KeyID, res.Stored, res.Duplicates, d)
	}
	return res, nil
}

// prepare minimises a message and computes its identifiers and payload.
func (s *Service) prepare(p *prepared, m *Message, b Batch, d drops) error {
	p.msg = m
	id := m.MessageID
	if id == "" {
		// No messageId, no deduplication: a random one keeps the message.
		var r [16]byte
		_, _ = rand.Read(r[:])
		id = "steward-" + hex.EncodeToString(r[:])
	}
	h := sha256.Sum256([]byte(id))
	p.hash = h[:16]
	if m.Type == TypeIdentify {
		p.traits = s.traitFields(m.Traits, d)
	}
	idTraits := p.traits
	if idTraits == nil && len(m.Context.Traits) > 0 {
		// context.traits identify the sender on any message; they are not stored from here.
		idTraits = map[string]any{}
		for _, f := range []string{"email", "phone"} {
			if v, ok := m.Context.Traits[f]; ok {
				if n, _, err := s.Customers.Norm.Value(f, v); err == nil {
					idTraits[f] = n
				}
			}
		}
	}
	p.ids = s.identifiers(m, idTraits)
	if len(p.ids) == 0 && m.CustomerID == "" {
		return problem.InvalidField("userId", "userId or anonymousId is required and must not be a placeholder such as %q", "null")
	}
	p.kind = s.Schema.Kind(m.Type, m.Name)
	p.name = m.Name
	if p.name != "" && findPII(p.name) != "" {
		d.add(DropPII, "event_name")
		p.name = "[redacted]"
	}
	props := m.Properties
	if m.Type == TypePage || m.Type == TypeScreen {
		props = pageProperties(m)
	}
	plain, sealed := s.properties(props, d)
	plainDoc := map[string]any{}
	if len(plain) > 0 {
		plainDoc["properties"] = plain
	}
	if m.Category != "" && findPII(m.Category) == "" {
		plainDoc["category"] = m.Category
	}
	if m.Context.Library != "" {
		plainDoc["library"] = clip(m.Context.Library) + " " + clip(m.Context.LibraryVer)
	}
	if m.Type == TypeIdentify && len(p.traits) > 0 {
		plainDoc["traits"] = sortedNames(p.traits) // names only: values live in the profile
	}
	if m.Type == TypeGroup {
		plainDoc["group"] = true
	}
	sealedDoc := map[string]any{}
	if len(sealed) > 0 {
		sealedDoc["properties"] = sealed
	}
	if m.Context.IP != "" {
		switch ip := s.ipValue(m.Context.IP); {
		case ip == "":
		case s.Config.IPMode == "prefix":
			plainDoc["ip_prefix"] = ip
		default:
			sealedDoc["ip"] = ip
		}
	}
	if m.Context.UserAgent != "" {
		if _, ok := s.Catalog.Field("user_agent"); ok {
			sealedDoc["user_agent"] = m.Context.UserAgent
		}
	}
	if m.Context.Locale != "" {
		plainDoc["locale"] = clip(m.Context.Locale)
	}
	if len(m.Context.Campaign) > 0 {
		camp := map[string]any{}
		for _, k := range []string{"name", "source", "medium", "term", "content"} {
			if v, ok := m.Context.Campaign[k].(string); ok && findPII(v) == "" {
				camp[k] = v
			}
		}
		if len(camp) > 0 {
			sealedDoc["campaign"] = camp
		}
	}
	if m.GroupID != "" {
		sealedDoc["group_id"] = m.GroupID
	}
	if len(m.Context.Consent) > 0 || b.GPC {
		// Evidence of what the visitor chose, kept with the event that carried it.
		ev := map[string]any{}
		if len(m.Context.Consent) > 0 {
			ev["category_preferences"] = m.Context.Consent
		}
		if b.GPC {
			ev["gpc"] = true
		}
		sealedDoc["consent"] = ev
		p.consent = true
	}
	var err error
	if p.plain, err = json.Marshal(plainDoc); err != nil {
		return problem.Wrap(problem.Internal, err, "encoding failed")
	}
	if len(sealedDoc) > 0 {
		if p.payload, err = json.Marshal(sealedDoc); err != nil {
			return problem.Wrap(problem.Internal, err, "encoding failed")
		}
	}
	p.orders = commerceChanges(m)
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
	if s.Config.IPMode == "drop" {
		return ""
	}
	f, ok := s.Catalog.Field("ip_address")
	if !ok {
		return ""
	}
	v, _, err := s.Customers.Norm.Value(f.Name, raw)
	if err != nil {
		return ""
	}
	ip := v.(string)
	if s.Config.IPMode == "prefix" {
		return ipPrefix(ip)
	}
	return ip
}

// txState is the state of one run of the ingest transaction function.
type txState struct {
	s   *Service
	tx  Tx
	b   *Batch
	now time.Time
	// holders caches identifier token → holder for this transaction, including identifiers
	// linked by earlier messages of the batch.
	holders map[string]*Holder
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
}

func tokenKey(kind string, token []byte) string { return kind + "\x00" + string(token) }

func (st *txState) run(ctx context.Context, ps []prepared, d drops) (Result, error) {
	var res Result
	st.now = time.Now().UTC().Truncate(time.Microsecond)
	hashes := make([][]byte, len(ps))
	for i := range ps {
		hashes[i] = ps[i].hash
	}
	fresh, err := st.tx.ClaimMessages(ctx, st.b.KeyID, hashes, st.b.ReceivedAt, st.b.ReceivedAt.Add(-st.s.Config.DedupWindow))
	if err != nil {
		return res, err
	}
	if err := st.prefetch(ctx, ps, fresh); err != nil {
		return res, err
	}
	events := make([]EventRow, 0, len(ps))
	var orders []OrderChange
	for i := range ps {
		p := &ps[i]
		if !fresh[i] {
			res.Duplicates++
			continue
		}
		owner, root, err := st.resolve(ctx, p, d)
		if err != nil {
			return res, err
		}
		if len(p.traits) > 0 {
			if _, err := st.applyTraits(ctx, root, p.traits); err != nil {
				return res, err
			}
		}
		ev := EventRow{CustomerID: owner, KeyID: st.b.KeyID, Type: p.msg.Type, Name: p.name, Category: p.kind.Category,
			At: p.msg.Timestamp, ReceivedAt: st.b.ReceivedAt, ExpiresAt: p.kind.Expires(p.msg.Timestamp), Plain: p.plain}
		if p.payload != nil {
			dk, err := st.key(ctx, owner)
			if err != nil {
				return res, err
			}
			if ev.Sealed, err = dk.Seal(EventsTable, payloadField, owner, p.payload); err != nil {
				return res, problem.Wrap(problem.Internal, err, "sealing failed")
			}
		}
		events = append(events, ev)
		for _, o := range p.orders {
			o.CustomerID = root
			orders = append(orders, o)
		}
		if p.consent && st.s.Consent != nil {
			st.signals = append(st.signals, consent.Signal{CustomerID: root, Categories: p.msg.Context.Consent, GPC: st.b.GPC,
				Evidence: consent.EvidenceInput{UserAgent: p.msg.Context.UserAgent, IP: p.msg.Context.IP}})
		}
		res.Stored++
	}
	if err := st.flush(ctx, events, orders, d); err != nil {
		return res, err
	}
	return res, nil
}

// resolve finds or creates the customer a message belongs to, linking its new identifiers
// and merging customers its identifiers show to be one, within the limits. It returns the
// owner (the customer whose identifier the event arrived under, whose key seals it) and the
// root (the customer the owner has been merged into).
func (st *txState) resolve(ctx context.Context, p *prepared, d drops) (owner, root string, err error) {
	type hit struct {
		id Identifier
		h  *Holder
	}
	hits := make([]hit, 0, len(p.ids))
	for _, id := range p.ids {
		h, err := st.lookup(ctx, id)
		if err != nil {
			return "", "", err
		}
		if h == nil && id.Either {
			alt := id
			alt.Kind = KindAnonymousID
			alt.Token = st.s.Keys.IdentityToken(alt.Kind, []byte(alt.Value))
			if h, err = st.lookup(ctx, alt); err != nil {
				return "", "", err
			}
			id = alt
		}
		hits = append(hits, hit{id, h})
	}
	sort.SliceStable(hits, func(i, j int) bool { return kindRank[hits[i].id.Class()] < kindRank[hits[j].id.Class()] })
	if p.msg.CustomerID != "" {
		// Recorded for a known customer (a till naming the customer): they are the root.
		if root, err = st.tx.Root(ctx, p.msg.CustomerID); err != nil {
			return "", "", err
		}
		root = st.rootOf(root)
		if _, err := st.countsOf(ctx, root); err != nil {
			return "", "", err
		}
	}
	for _, h := range hits {
		if root != "" {
			break
		}
		if h.h != nil {
			root = st.rootOf(h.h.Root)
			break
		}
	}
	if root != "" && len(hits) > 0 && hits[0].h == nil {
		// The strongest identifier is new. If the customer the weaker ones found may not take
		// it (a second user id on a shared device), it starts a customer of its own rather
		// than being folded into someone else.
		ok, err := st.mayLink(ctx, root, hits[0].id.Class())
		if err != nil {
			return "", "", err
		}
		if !ok {
			root = ""
		}
	}
	if root == "" {
		pr, err := st.newCustomer(ctx, p.pre)
		if err != nil {
			return "", "", err
		}
		root = pr.rec.ID
	}
	for i, h := range hits {
		if h.h != nil {
			continue
		}
		ok, err := st.mayLink(ctx, root, h.id.Class())
		if err != nil {
			return "", "", err
		}
		if !ok {
			d.add(DropLimit, h.id.Class())
			continue
		}
		st.link(root, h.id)
		hits[i].h = st.holders[tokenKey(h.id.Kind, h.id.Token)]
	}
	alias := p.msg.Type == TypeAlias
	for _, h := range hits {
		if h.h == nil {
			continue
		}
		other := st.rootOf(h.h.Root)
		if other == root {
			continue
		}
		ok, err := st.mayMerge(ctx, root, other, alias)
		if err != nil {
			return "", "", err
		}
		if !ok {
			d.add(DropLimit, "merge")
			continue
		}
		reason := fmt.Sprintf("%s message carried identifiers of both customers (%s)", p.msg.Type, h.id.Class())
		st.merge(ctx, root, other, reason)
	}
	for _, h := range hits {
		if h.h != nil && st.rootOf(h.h.Root) == root {
			return h.h.CustomerID, root, nil
		}
	}
	return root, root, nil
}

// prefetch looks up every identifier of the batch's new messages in a few queries rather
// than one per identifier.
func (st *txState) prefetch(ctx context.Context, ps []prepared, fresh []bool) error {
	byKind := map[string][][]byte{}
	contacts := map[string][]Identifier{}
	// want marks a token to look up, reporting whether it is new to the transaction.
	want := func(kind string, tok []byte) bool {
		key := tokenKey(kind, tok)
		if _, seen := st.holders[key]; seen {
			return false
		}
		st.holders[key] = nil // until found below
		byKind[kind] = append(byKind[kind], tok)
		return true
	}
	for i := range ps {
		if !fresh[i] {
			continue
		}
		for _, id := range ps[i].ids {
			if want(id.Kind, id.Token) && st.s.isIndexed(id.Kind) {
				contacts[id.Kind] = append(contacts[id.Kind], id)
			}
			if id.Either {
				want(KindAnonymousID, st.s.Keys.IdentityToken(KindAnonymousID, []byte(id.Value)))
			}
		}
	}
	for kind, toks := range byKind {
		found := map[string]Holder{}
		held, err := st.holdsKind(ctx, kind)
		if err != nil {
			return err
		}
		if held {
			if found, err = st.tx.Identities(ctx, kind, toks); err != nil {
				return err
			}
		}
		for _, t := range toks {
			if h, ok := found[string(t)]; ok {
				st.holders[tokenKey(kind, t)] = &h
			}
		}
	}
	for kind, ids := range contacts {
		var missing []Identifier
		for _, id := range ids {
			if st.holders[tokenKey(kind, id.Token)] == nil {
				missing = append(missing, id)
			}
		}
		if err := st.findIndexed(ctx, kind, missing); err != nil {
			return err
		}
	}
	return nil
}

// holdsKind says, once per transaction, whether any identity row of kind exists: a kind
// nobody holds a row of (e-mail and phone, where profiles answer for current values) needs
// no look-up per identifier.
func (st *txState) holdsKind(ctx context.Context, kind string) (bool, error) {
	if held, ok := st.heldKinds[kind]; ok {
		return held, nil
	}
	if st.heldKinds == nil {
		st.heldKinds = map[string]bool{}
	}
	held, err := st.tx.HoldsKind(ctx, kind)
	if err != nil {
		return false, err
	}
	st.heldKinds[kind] = held
	return held, nil
}

// findIndexed finds the customers whose profiles currently hold contact identifiers (one
// kind) that no identity row holds, through the blind index. Index tokens are truncated, so
// each candidate's value is opened and compared; when several customers hold the value (two
// records of one person, created before stitching could join them), the oldest holds it.
func (st *txState) findIndexed(ctx context.Context, kind string, ids []Identifier) error {
	if len(ids) == 0 {
		return nil
	}
	toks := make([]int64, 0, len(ids))
	byBlind := make(map[int64][]Identifier, len(ids))
	for _, id := range ids {
		if _, ok := byBlind[id.Blind]; !ok {
			toks = append(toks, id.Blind)
		}
		byBlind[id.Blind] = append(byBlind[id.Blind], id)
	}
	cands, err := st.tx.IndexCandidates(ctx, kind, toks)
	if err != nil {
		return err
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Holder.CustomerID < cands[j].Holder.CustomerID })
	for _, c := range cands {
		vals, err := st.s.Customers.OpenFields(ctx, c.Record, []string{kind})
		if err != nil {
			return err
		}
		for _, id := range byBlind[c.Token] {
			k := tokenKey(kind, id.Token)
			if st.holders[k] == nil && vals[kind] == id.Value {
				h := c.Holder
				st.holders[k] = &h
			}
		}
	}
	return nil
}

// lookup finds an identifier's holder, first among this transaction's links and look-ups.
func (st *txState) lookup(ctx context.Context, id Identifier) (*Holder, error) {
	k := tokenKey(id.Kind, id.Token)
	if h, ok := st.holders[k]; ok {
		return h, nil
	}
	h, found, err := st.tx.Identity(ctx, id.Kind, id.Token)
	if err != nil {
		return nil, err
	}
	if found {
		st.holders[k] = &h
		return &h, nil
	}
	st.holders[k] = nil
	if st.s.isIndexed(id.Kind) {
		if err := st.findIndexed(ctx, id.Kind, []Identifier{id}); err != nil {
			return nil, err
		}
	}
	return st.holders[k], nil
}

// rootOf follows this transaction's merges.
func (st *txState) rootOf(id string) string {
	for i := 0; i < 64; i++ {
		next, ok := st.roots[id]
		if !ok {
			return id
		}
		id = next
	}
	return id
}

// newCustomer starts a customer, from pre when the row was sealed ahead (a copy of it: on
// SQLite the transaction may run twice, and the first run must not change what the second
// starts from).
func (st *txState) newCustomer(ctx context.Context, pre *preProfile) (*profile, error) {
	var pr *profile
	var entry audit.Entry
	if pre != nil {
		rec := *pre.rec
		rec.Index = append([]customer.IndexEntry(nil), pre.rec.Index...)
		dirty := make([]string, 0, len(pre.values))
		for k := range pre.values {
			dirty = append(dirty, k)
		}
		// The values are shared with pre until a change copies them (see applyTraits).
		pr = &profile{rec: &rec, values: pre.values, shared: true, dk: pre.dk, isNew: true, dirty: dirty, sealed: true}
		entry = pre.entry
	} else {
		r, dk, e, err := st.s.Customers.NewProfile(ctx, nil)
		if err != nil {
			return nil, err
		}
		pr = &profile{rec: r, values: map[string]any{}, dk: dk, isNew: true}
		entry = e
	}
	r := pr.rec
	dk := pr.dk
	st.profiles[r.ID] = pr
	st.keys[r.ID] = dk
	st.counts[r.ID] = map[string]int{}
	st.created = append(st.created, r)
	st.entries = append(st.entries, entry)
	return pr, nil
}

// countsOf loads how many identifiers of each class a root's tree holds.
func (st *txState) countsOf(ctx context.Context, root string) (map[string]int, error) {
	if c, ok := st.counts[root]; ok {
		return c, nil
	}
	tree, err := st.tx.Tree(ctx, root)
	if err != nil {
		return nil, err
	}
	kinds, err := st.tx.IdentityKinds(ctx, tree, st.s.indexed)
	if err != nil {
		return nil, err
	}
	c := map[string]int{}
	for _, k := range kinds {
		c[Identifier{Kind: k}.Class()]++
	}
	st.counts[root] = c
	return c, nil
}

func (st *txState) mayLink(ctx context.Context, root, class string) (bool, error) {
	c, err := st.countsOf(ctx, root)
	if err != nil {
		return false, err
	}
	return c[class]+1 <= st.s.Config.Limits[class], nil
}

// mayMerge checks the limits on the merged customer. An alias is the client saying outright
// that two ids are one person, so it may join two user ids.
func (st *txState) mayMerge(ctx context.Context, winner, loser string, alias bool) (bool, error) {
	a, err := st.countsOf(ctx, winner)
	if err != nil {
		return false, err
	}
	b, err := st.countsOf(ctx, loser)
	if err != nil {
		return false, err
	}
	for class, n := range b {
		if alias && class == KindUserID {
			continue
		}
		if a[class]+n > st.s.Config.Limits[class] {
			return false, nil
		}
	}
	return true, nil
}

func (st *txState) merge(ctx context.Context, winner, loser, reason string) {
	id, _ := uuid.NewV7()
	st.merges = append(st.merges, Merge{ID: id.String(), Winner: winner, Loser: loser, Reason: reason, CreatedAt: st.now})
	st.roots[loser] = winner
	a, b := st.counts[winner], st.counts[loser]
	for k, n := range b {
		a[k] += n
	}
	delete(st.counts, loser)
	e := audit.New(ctx, ActionMerge, winner, nil, "")
	e.Target = "customer:" + loser + " merge:" + id.String()
	st.entries = append(st.entries, e)
}

// link gives root a new identifier. Its row is sealed under root's key only when the
// transaction writes it (see identityRows).
func (st *txState) link(root string, id Identifier) {
	st.idRows = append(st.idRows, IdentityRow{Kind: id.Kind, Token: id.Token, CustomerID: root, CreatedAt: st.now, value: id.Value})
	h := &Holder{CustomerID: root, Root: root}
	if pr, ok := st.profiles[root]; ok {
		h.MasterVersion, h.Key = pr.rec.MasterVersion, pr.rec.Key
	}
	st.holders[tokenKey(id.Kind, id.Token)] = h
	st.counts[root][id.Class()]++
}

// key opens a customer's data key once per transaction.
func (st *txState) key(ctx context.Context, id string) (*vault.DataKey, error) {
	if dk, ok := st.keys[id]; ok {
		return dk, nil
	}
	var w vault.WrappedKey
	found := false
	for _, h := range st.holders {
		if h != nil && h.CustomerID == id && h.Key != nil {
			w, found = vault.WrappedKey{MasterVersion: h.MasterVersion, Blob: h.Key}, true
			break
		}
	}
	if !found {
		pr, err := st.profile(ctx, id)
		if err != nil {
			return nil, err
		}
		return pr.dk, nil
	}
	dk, err := st.s.Keys.OpenDataKey(ctx, id, w)
	if err != nil {
		return nil, problem.Wrap(problem.Internal, err, "customer key unavailable")
	}
	st.keys[id] = dk
	return dk, nil
}

// profile loads a customer's profile for change.
func (st *txState) profile(ctx context.Context, id string) (*profile, error) {
	if pr, ok := st.profiles[id]; ok {
		return pr, nil
	}
	r, err := st.tx.Customer(ctx, id)
	if err != nil {
		return nil, err
	}
	values, dk, err := st.s.Customers.OpenProfile(ctx, r)
	if err != nil {
		return nil, err
	}
	pr := &profile{rec: r, prev: r.Version, values: values, dk: dk, was: map[string]any{}}
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

func nowMicros() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// carryRefusals gives the winner of each merge of the batch the loser's opt-outs. Decisions
// are read as committed before this batch, so a customer created in it has none to carry
// and none to lose.
func (st *txState) carryRefusals(ctx context.Context) error {
	if st.s.Merger == nil {
		return nil
	}
	for _, m := range st.merges {
		recs, _, err := st.s.Merger.MergeRecords(ctx, m.Winner, m.Loser, true)
		if err != nil || len(recs) == 0 {
			if err != nil {
				return err
			}
			continue
		}
		if err := st.tx.AddConsentRecords(ctx, recs); err != nil {
			return err
		}
		for i := range recs {
			st.entries = append(st.entries, st.s.Merger.RecordEntry(ctx, &recs[i]))
		}
	}
	return nil
}

// recordSignals appends to the consent ledger what the batch's consent signals call for, in
// the batch's transaction: a message and the choice it carried are stored together or not at
// all. A signal is attributed to the customer its message's customer was merged into by the
// end of the batch, whose ledger decides.
func (st *txState) recordSignals(ctx context.Context) error {
	if len(st.signals) == 0 {
		return nil
	}
	for i := range st.signals {
		st.signals[i].CustomerID = st.rootOf(st.signals[i].CustomerID)
	}
	as, err := st.s.Consent.SignalRecords(ctx, st.signals)
	if err != nil || len(as) == 0 {
		return err
	}
	return st.tx.AppendConsents(ctx, as)
}

// identityRows are the identity rows the transaction stores. A contact identifier that is
// its customer's current profile value is left out: the profile's blind-index entry finds
// it (see findIndexed), and a second random insert per identifier was a third of an
// import's writing. A contact value the transaction replaces in a stored profile gets a row
// instead, so an address a customer used before keeps linking to them.
func (st *txState) identityRows(ctx context.Context) ([]IdentityRow, error) {
	rows := make([]IdentityRow, 0, len(st.idRows))
	linked := map[string]bool{}
	for _, r := range st.idRows {
		if pr, ok := st.profiles[r.CustomerID]; ok && st.s.isIndexed(r.Kind) && pr.values[r.Kind] == any(r.value) {
			continue
		}
		dk, err := st.key(ctx, r.CustomerID)
		if err != nil {
			return nil, err
		}
		if r.Sealed, err = dk.Seal(IdentitiesTable, r.Kind, r.CustomerID, []byte(r.value)); err != nil {
			return nil, problem.Wrap(problem.Internal, err, "sealing failed")
		}
		rows = append(rows, r)
		linked[tokenKey(r.Kind, r.Token)] = true
	}
	ids := make([]string, 0, len(st.profiles))
	for id, pr := range st.profiles {
		if !pr.isNew && len(pr.dirty) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		pr := st.profiles[id]
		for _, kind := range st.s.indexed {
			old, _ := pr.was[kind].(string)
			if old == "" || pr.values[kind] == any(old) {
				continue
			}
			row, err := st.keepReplaced(ctx, id, pr, kind, old)
			if err != nil {
				return nil, err
			}
			if row != nil && !linked[tokenKey(kind, row.Token)] {
				rows = append(rows, *row)
			}
		}
	}
	return rows, nil
}

// keepReplaced returns the identity row that keeps a replaced contact value linked to the
// customer, or nil when a row (theirs or someone else's) already holds it.
func (st *txState) keepReplaced(ctx context.Context, id string, pr *profile, kind, old string) (*IdentityRow, error) {
	tok := st.s.Keys.IdentityToken(kind, []byte(old))
	if h := st.holders[tokenKey(kind, tok)]; h != nil && h.CustomerID != id {
		return nil, nil
	}
	if _, found, err := st.tx.Identity(ctx, kind, tok); err != nil || found {
		return nil, err
	}
	ct, err := pr.dk.Seal(IdentitiesTable, kind, id, []byte(old))
	if err != nil {
		return nil, problem.Wrap(problem.Internal, err, "sealing failed")
	}
	return &IdentityRow{Kind: kind, Token: tok, CustomerID: id, Sealed: ct, CreatedAt: st.now}, nil
}

// flush writes everything the batch produced, in foreign-key order.
func (st *txState) flush(ctx context.Context, events []EventRow, orders []OrderChange, d drops) error {
	var updates []audit.Entry
	// The create entry of each new customer, found by id: a scan of the entries per customer
	// made a batch of thousands quadratic.
	createEntry := make(map[string]int, len(st.created))
	for i := range st.entries {
		if st.entries[i].Action == audit.ActionCustomerCreate {
			createEntry[st.entries[i].CustomerID] = i
		}
	}
	for _, r := range st.created {
		pr := st.profiles[r.ID]
		if len(pr.dirty) > 0 {
			if !pr.sealed {
				if err := st.s.Customers.Reseal(pr.rec, pr.dk, pr.values); err != nil {
					return err
				}
			}
			pr.rec.Version = 1
			sort.Strings(pr.dirty)
			if i, ok := createEntry[r.ID]; ok {
				st.entries[i].Fields = pr.dirty
			}
		}
	}
	if len(st.created) > 0 {
		if err := st.tx.CreateCustomers(ctx, st.created); err != nil {
			return err
		}
	}
	ids := make([]string, 0, len(st.profiles))
	for id := range st.profiles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		pr := st.profiles[id]
		if pr.isNew || len(pr.dirty) == 0 {
			continue
		}
		if err := st.s.Customers.Reseal(pr.rec, pr.dk, pr.values); err != nil {
			return err
		}
		if err := st.tx.UpdateCustomer(ctx, pr.rec, pr.prev); err != nil {
			return err
		}
		sort.Strings(pr.dirty)
		updates = append(updates, audit.New(ctx, audit.ActionCustomerUpdate, id, pr.dirty, ""))
	}
	rows, err := st.identityRows(ctx)
	if err != nil {
		return err
	}
	if len(rows) > 0 {
		if err := st.tx.AddIdentities(ctx, rows); err != nil {
			return err
		}
	}
	if len(st.merges) > 0 {
		if err := st.tx.AddMerges(ctx, st.merges); err != nil {
			return err
		}
		if err := st.carryRefusals(ctx); err != nil {
			return err
		}
	}
	if err := st.recordSignals(ctx); err != nil {
		return err
	}
	if len(events) > 0 {
		if err := st.tx.InsertEvents(ctx, events); err != nil {
			return err
		}
	}
	if len(orders) > 0 {
		if err := st.tx.AddOrders(ctx, orders); err != nil {
			return err
		}
	}
	if len(d) > 0 {
		if err := st.tx.AddDrops(ctx, st.b.KeyID, d); err != nil {
			return err
		}
	}
	batch := audit.New(ctx, ActionIngestBatch, "", nil, "")
	batch.Target = fmt.Sprintf("events:%d customers_created:%d", len(events), len(st.created))
	if st.importing {
		batch.Action = ActionImport
		batch.Target = fmt.Sprintf("customers_created:%d customers_updated:%d", len(st.created), len(updates))
	}
	if st.abandoned > 0 {
		batch.Action = ActionCartsAbandoned
		batch.Target = fmt.Sprintf("carts:%d customers_updated:%d", st.abandoned, len(updates))
	}
	entries := append(append(st.entries, updates...), batch)
	return st.tx.AppendAudit(ctx, entries)
}
