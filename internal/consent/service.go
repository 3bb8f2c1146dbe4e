package consent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
)

// Audit actions written by the ledger. They are stable strings because auditors filter on them.
const (
	ActionRecord        = "consent.record"
	ActionRead          = "consent.read"
	ActionPolicyPublish = "policy.publish"
	ActionCheck         = "permission.check"
	ActionSuppress      = "suppression.add"
)

// MaxCheck bounds one bulk permission check: large enough for a campaign audience, small
// enough that the answer stays a few megabytes.
const MaxCheck = 100_000

// Keys is the part of the key hierarchy the ledger uses.
type Keys interface {
	// KeyedHash hashes evidence and suppressed addresses (see vault.KeyedHash).
	KeyedHash(label string, data []byte) []byte
	// BlindIndex is the customer vault's look-up token for a normalised value.
	BlindIndex(field string, normalized []byte) int64
	// ReceiptSigningKey signs receipts.
	ReceiptSigningKey() ed25519.PrivateKey
	// ReceiptPublicKey verifies them.
	ReceiptPublicKey() ed25519.PublicKey
}

// Contacts reads customers' contact values so they can be matched against the suppression
// list. The values are only hashed, never returned or stored.
type Contacts interface {
	// ContactValues returns, for each of ids that exists, the normalised values of the named
	// fields it holds; unknown ids and absent fields are left out.
	ContactValues(ctx context.Context, ids []string, fields ...string) (map[string]map[string]string, error)
}

// Normalizer normalises an input value exactly as the customer service stores it, so that an
// address added to the suppression list matches the stored one.
type Normalizer interface {
	Value(name string, raw any) (any, catalog.Field, error)
}

// Service is the consent ledger and the permission decision.
type Service struct {
	store    Store
	audit    audit.Store
	catalog  *catalog.Catalog
	keys     Keys
	contacts Contacts
	dataKeys DataKeys
	norm     Normalizer
	clock    clock.Clock
	cache    *Cache
}

// Deps is what the consent service is built from.
type Deps struct {
	Store   Store
	Audit   audit.Store
	Catalog *catalog.Catalog
	Keys    Keys
	// Contacts opens customers' contact values to match them against the suppression list;
	// the customer vault implements it.
	Contacts Contacts
	// DataKeys opens customers' data keys, under which evidence is sealed; the customer vault
	// implements it.
	DataKeys DataKeys
	Norm     Normalizer
	// Clock is the time source; nil is the system clock. Tests set one to cross policy
	// effective dates.
	Clock clock.Clock
	// Cache, when set, keeps single checks (May, Permit) from reading the store each time;
	// bulk checks and histories always read it.
	Cache *Cache
}

// New builds the consent service; every dependency but Clock and Cache is required.
func New(c Deps) (*Service, error) {
	switch {
	case c.Store == nil, c.Audit == nil, c.Catalog == nil:
		return nil, errors.New("consent service: store, audit store and catalog are required")
	case c.Keys == nil:
		return nil, errors.New("consent service: no keys")
	case c.Contacts == nil:
		return nil, errors.New("consent service: no contact values (customer vault)")
	case c.DataKeys == nil:
		return nil, errors.New("consent service: no data keys (customer vault)")
	case c.Norm == nil:
		return nil, errors.New("consent service: no normaliser")
	}
	return &Service{store: c.Store, audit: c.Audit, catalog: c.Catalog, keys: c.Keys, contacts: c.Contacts, dataKeys: c.DataKeys, norm: c.Norm,
		clock: clock.Or(c.Clock), cache: c.Cache}, nil
}

func (s *Service) now() time.Time { return s.clock() }

// Cache is the single-check cache, nil when there is none.
func (s *Service) Cache() *Cache { return s.cache }

// Uncached returns the service without its cache: every decision reads the store, as the
// baseline the cache is measured against.
func (s *Service) Uncached() *Service {
	u := *s
	u.cache = nil
	return &u
}

type gpcKey struct{}

// WithGPC marks ctx as serving a request that relays the customer's Global Privacy Control
// signal, with the evidence of the request that carried it (its user agent and address). Every
// decision made for it treats the GPC-sensitive purposes as opted out, whatever the ledger
// says, and the services that create, change or read a customer for it record the opt-out in
// the ledger (see OptOut and RecordOptOut).
func WithGPC(ctx context.Context, ev EvidenceInput) context.Context {
	return context.WithValue(ctx, gpcKey{}, ev)
}

// RelayGPC marks ctx as relaying the customer's Global Privacy Control signal (WithGPC) when
// the actor may relay it: roles that may write consents or customers — the shop's own back
// end, tills, staff recording a customer's choices. A read-only role (an analyst, an auditor, a
// marketer) adding the header to its reads would otherwise write opt-outs in customers' names
// that the customers never sent; for them the header changes nothing. Tracking, which relays the
// browser itself, records the signal through the ingest transaction instead.
func (s *Service) RelayGPC(ctx context.Context, ev EvidenceInput) context.Context {
	a, ok := authz.ActorFrom(ctx)
	if !ok || !(s.catalog.RoleHas(a.Role, "consents.write") || s.catalog.RoleHas(a.Role, "customers.write")) {
		return ctx
	}
	return WithGPC(ctx, ev)
}

// GPCFrom returns the evidence of the Global Privacy Control signal ctx relays; ok is false
// when it relays none.
func GPCFrom(ctx context.Context) (ev EvidenceInput, ok bool) {
	ev, ok = ctx.Value(gpcKey{}).(EvidenceInput)
	return ev, ok
}

func gpcFrom(ctx context.Context) bool { _, ok := GPCFrom(ctx); return ok }

// PublishPolicy publishes a privacy-policy version. Needs policies.write. Returns Conflict if
// the version exists.
func (s *Service) PublishPolicy(ctx context.Context, in PolicyInput) (Policy, error) {
	a, err := authz.Require(ctx, s.catalog, "policies.write")
	if err != nil {
		return Policy{}, err
	}
	published, err := s.store.Policies(ctx)
	if err != nil {
		return Policy{}, err
	}
	p, err := newPolicy(s.catalog, in, published, s.now())
	if err != nil {
		return Policy{}, err
	}
	p.PublishedBy = a.ID
	e := audit.New(ctx, ActionPolicyPublish, "", nil, "")
	e.Target = "policy:" + p.Version
	if err := s.store.PublishPolicy(ctx, p, []audit.Entry{e}); err != nil {
		if problem.Is(err, problem.Conflict) {
			return Policy{}, problem.Conflictf("version %q, or another version at the same time, was published first; list the policies and try again", p.Version)
		}
		return Policy{}, err
	}
	return p, nil
}

// Catalog returns the data catalog in force, to roles with catalog.read.
func (s *Service) Catalog(ctx context.Context) (*catalog.Catalog, error) {
	if _, err := authz.Require(ctx, s.catalog, "catalog.read"); err != nil {
		return nil, err
	}
	return s.catalog, nil
}

// PolicyList is the published versions and the one in force now.
type PolicyList struct {
	Data    []Policy `json:"data"`
	InForce string   `json:"in_force,omitempty"`
}

// Policies lists the published versions, oldest first, without texts. Needs catalog.read.
func (s *Service) Policies(ctx context.Context) (PolicyList, error) {
	if _, err := authz.Require(ctx, s.catalog, "catalog.read"); err != nil {
		return PolicyList{}, err
	}
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return PolicyList{}, err
	}
	out := PolicyList{Data: ps}
	if out.Data == nil {
		out.Data = []Policy{}
	}
	if p, ok := Policies(ps).InForce(s.now()); ok {
		out.InForce = p.Version
	}
	return out, nil
}

// Published returns every published version, oldest first, without texts and without who
// published them: the public privacy notice lists them, and a policy is a public document.
func (s *Service) Published(ctx context.Context) ([]Policy, error) {
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		ps[i].Text, ps[i].PublishedBy = "", ""
	}
	return ps, nil
}

// Policy returns one version with its text. Needs catalog.read; NotFound for an unknown version.
func (s *Service) Policy(ctx context.Context, version string) (Policy, error) {
	if _, err := authz.Require(ctx, s.catalog, "catalog.read"); err != nil {
		return Policy{}, err
	}
	if !versionPattern.MatchString(version) {
		return Policy{}, problem.NotFoundf("no policy version %q", version)
	}
	return s.store.Policy(ctx, version)
}

// Record appends a choice to a customer's ledger and returns it with its signed receipt. Needs
// consents.write. Bad input is Invalid and writes nothing; an unknown customer is NotFound. A
// customer merged into another has the choice recorded by the customer answering for it (the
// record names that customer).
func (s *Service) Record(ctx context.Context, customerID string, in Input) (Record, error) {
	a, err := authz.Require(ctx, s.catalog, "consents.write")
	if err != nil {
		return Record{}, err
	}
	if !ident.Valid(customerID) {
		return Record{}, problem.InvalidField("id", "is not a valid customer id")
	}
	p, err := in.check(s.catalog)
	if err != nil {
		return Record{}, err
	}
	return followMerges(ctx, customerID, func(ctx context.Context, id string) (Record, error) {
		return s.record(ctx, a, id, in, p)
	})
}

// record is Record for one customer, once the input is checked.
func (s *Service) record(ctx context.Context, a authz.Actor, customerID string, in Input, p catalog.Purpose) (Record, error) {
	ev, err := evidence(in.Evidence, s.keys.KeyedHash)
	if err != nil {
		return Record{}, err
	}
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return Record{}, err
	}
	now := s.now()
	version, err := policyFor(Policies(ps), in, p, now)
	if err != nil {
		return Record{}, err
	}
	r := Record{CustomerID: customerID, Kind: in.Kind, Purpose: in.Purpose, Granted: *in.Granted, PolicyVersion: version,
		Source: in.Source, Channel: in.Channel, At: now, Evidence: ev, ActorID: a.ID, RequestID: audit.RequestID(ctx)}
	sup, err := s.choiceSuppressions(ctx, &r, p)
	if err != nil {
		return Record{}, err
	}
	if err := s.seal(&r, ps); err != nil {
		return Record{}, err
	}
	for attempt := 0; ; attempt++ {
		ap := Append{CustomerID: customerID, Records: []Record{r}, Suppressions: sup, Entries: []audit.Entry{s.recordEntry(ctx, &r)}}
		// A relayed GPC signal is recorded after the choice, in the same transaction, so that
		// it stays the customer's last word on the purposes it covers.
		if ev, ok := GPCFrom(ctx); ok {
			gpc, err := s.gpcAppend(ctx, customerID, false, ev, r)
			if err != nil {
				return Record{}, err
			}
			if gpc != nil {
				ap.Records = append(ap.Records, gpc.Records...)
				ap.Suppressions = append(ap.Suppressions, gpc.Suppressions...)
				ap.Entries = append(ap.Entries, gpc.Entries...)
				ap.Expect = gpc.Expect
			}
		}
		if err := s.sealAppend(ctx, &ap); err != nil {
			return Record{}, err
		}
		ap.Via = viaOf(ctx)
		err = s.store.AppendConsent(ctx, ap)
		if problem.Is(err, problem.Conflict) && !merged(err) && ap.Expect != nil && attempt < 3 {
			continue // the ledger changed while the opt-out was decided: decide again
		}
		if err != nil {
			return Record{}, err
		}
		return r, nil
	}
}

// policyFor checks the policy version a choice names and returns the one to record. A grant
// must name a version that is published, in force, covers the purpose and has not been
// superseded by a material change to it; anything else may name none, and then records the
// version in force.
func policyFor(ps Policies, in Input, p catalog.Purpose, now time.Time) (string, error) {
	inForce, anyInForce := ps.InForce(now)
	if in.PolicyVersion == "" {
		if in.Kind == KindConsent && *in.Granted {
			return "", problem.InvalidField("policy_version", "is required to give consent: name the version the customer was shown")
		}
		return inForce.Version, nil
	}
	pol, i, ok := ps.Find(in.PolicyVersion)
	if !ok {
		return "", problem.InvalidField("policy_version", "unknown policy version %q", in.PolicyVersion)
	}
	if pol.EffectiveAt.After(now) {
		return "", problem.InvalidField("policy_version", "version %q takes effect at %s; choices cannot be made under it before then",
			pol.Version, pol.EffectiveAt.Format(time.RFC3339))
	}
	if in.Kind != KindConsent || !*in.Granted {
		return pol.Version, nil
	}
	if !slices.Contains(pol.Purposes, p.Name) {
		return "", problem.InvalidField("policy_version", "version %q does not cover purpose %q", pol.Version, p.Name)
	}
	if w, changed := ps.Supersedes(i, p.Name, now); changed {
		return "", problem.InvalidField("policy_version", "version %q is superseded by %q, which changed purpose %q materially; ask for consent under %q",
			pol.Version, w.Version, p.Name, w.Version)
	}
	if anyInForce && !slices.Contains(inForce.Purposes, p.Name) {
		return "", problem.InvalidField("policy_version", "the version in force, %q, does not cover purpose %q", inForce.Version, p.Name)
	}
	return pol.Version, nil
}

// seal assigns r its id and signs its receipt.
func (s *Service) seal(r *Record, ps []Policy) error {
	r.ID = ident.New()
	rc := Receipt{Version: ReceiptVersion, ReceiptID: r.ID, IssuedAt: r.At.Unix(), ConsentTimestamp: r.At, PIIPrincipalID: r.CustomerID,
		Event: event(r), CollectionMethod: r.Source, Channel: r.Channel,
		Evidence: s.receiptEvidence(r)}
	if pol, _, ok := Policies(ps).Find(r.PolicyVersion); ok {
		rc.Controller = pol.Controller
		rc.Notice = &Notice{Version: pol.Version, URL: pol.URL, ContentHash: pol.ContentHash, EffectiveAt: pol.EffectiveAt, Language: pol.Language}
	}
	kind := "explicit"
	switch r.Source {
	case SourceGPC:
		kind = "signal"
	case SourceImport:
		kind = "imported"
	}
	for _, p := range s.catalog.Purposes {
		if p.Name == r.Purpose || r.Kind == KindRestriction && p.LegalBasis != catalog.LegalObligation {
			rc.Purposes = append(rc.Purposes, ReceiptPurpose{Purpose: p.Name, Description: p.Description, LegalBasis: string(p.LegalBasis), ConsentType: kind})
		}
	}
	tok, err := Sign(rc, s.keys.ReceiptSigningKey())
	if err != nil {
		return problem.Wrap(problem.Internal, err, "receipt signing failed")
	}
	r.Receipt = tok
	return nil
}

// receiptEvidence is the evidence a receipt repeats. A receipt travels to the customer and is
// stored with the record, where nothing sealed can reach it; so it names a caller's form only
// by a keyed hash (which confirms a claimed form id), and says of the user agent, TCF and GPP
// strings only whether they were given. A reference Steward wrote itself stays as it is.
func (s *Service) receiptEvidence(r *Record) ReceiptEvidence {
	ev := r.Evidence
	re := ReceiptEvidence{IPHash: ev.IPHash, HasUserAgent: ev.UserAgent != "", HasTCF: ev.TCF != "", HasGPP: ev.GPP != ""}
	if systemSource(r.Source) {
		re.FormID = ev.FormID
	} else if ev.FormID != "" {
		re.FormIDHash = hexString(s.keys.KeyedHash(formHashLabel, []byte(ev.FormID)))
	}
	return re
}

func (s *Service) recordEntry(ctx context.Context, r *Record) audit.Entry {
	e := audit.New(ctx, ActionRecord, r.CustomerID, nil, r.Purpose)
	e.Target = "consent:" + r.ID + " " + event(r) + " via " + r.Source
	return e
}

// History is a customer's current state for every purpose and the full ledger behind it.
type History struct {
	CustomerID string     `json:"customer_id"`
	State      []Decision `json:"state"`
	History    []Record   `json:"history"`
}

// History returns the decision for every purpose in the catalog and every record, oldest
// first, with receipts. Needs customers.read; the read is audited. NotFound for an unknown
// customer. Evidence that can identify a person is shown in clear only to a role that may
// reveal it (see mayRevealEvidence), masked to others.
func (s *Service) History(ctx context.Context, customerID string) (History, error) {
	actor, err := authz.Require(ctx, s.catalog, "customers.read")
	if err != nil {
		return History{}, err
	}
	if !ident.Valid(customerID) {
		return History{}, problem.InvalidField("id", "is not a valid customer id")
	}
	ds, err := s.decisions(ctx, []string{customerID}, s.catalog.Purposes, gpcFrom(ctx))
	if err != nil {
		return History{}, err
	}
	if ds[0][0].Reason == ReasonUnknownCustomer {
		return History{}, problem.NotFoundf("customer not found")
	}
	h := History{CustomerID: customerID, State: make([]Decision, len(ds))}
	for i := range ds {
		h.State[i] = ds[i][0]
	}
	if err := s.RecordOptOut(ctx, customerID); err != nil {
		return History{}, err
	}
	if h.History, err = s.store.CustomerRecords(ctx, customerID); err != nil {
		return History{}, err
	}
	if err := s.openRecords(ctx, customerID, actor.Role, h.History, false); err != nil {
		return History{}, err
	}
	if h.History == nil {
		h.History = []Record{}
	}
	if err := s.audit.AppendAudit(ctx, audit.New(ctx, ActionRead, customerID, nil, "")); err != nil {
		return History{}, err
	}
	return h, nil
}

// May decides whether the customer's data may be used for purpose. Needs customers.read.
// Unknown purposes and malformed ids are Invalid; an unknown customer is a denial, not an
// error, so a caller checking a list learns the same thing either way.
func (s *Service) May(ctx context.Context, customerID, purpose string) (Decision, error) {
	if _, err := authz.Require(ctx, s.catalog, "customers.read"); err != nil {
		return Decision{}, err
	}
	d, err := s.may(ctx, customerID, purpose)
	if err != nil {
		return Decision{}, err
	}
	// The decision already counts a relayed signal; the ledger records it for later ones.
	return d, s.RecordOptOut(ctx, customerID)
}

// Permission is May as the single permission check (GET /v1/customers/{id}/permissions/{p})
// answers it to a caller, with an audit entry naming the customer and the purpose: a yes or
// no about one person's choices is a read of them. May itself stays unaudited, because the
// services that call it (reveals, bulk checks) write their own entries; on SQLite the entry
// goes to the access journal (one file append), so the check stays in microseconds.
func (s *Service) Permission(ctx context.Context, customerID, purpose string) (Decision, error) {
	d, err := s.May(ctx, customerID, purpose)
	if err != nil {
		return Decision{}, err
	}
	return d, s.audit.AppendAudit(ctx, audit.New(ctx, ActionPermissionRead, customerID, nil, purpose))
}

// ActionPermissionRead is the audit action of the single permission check.
const ActionPermissionRead = "permission.read"

func (s *Service) may(ctx context.Context, customerID, purpose string) (Decision, error) {
	p, ok := s.catalog.Purpose(purpose)
	if !ok {
		return Decision{}, problem.InvalidField("purpose", "unknown purpose %q", purpose)
	}
	if !ident.Valid(customerID) {
		return Decision{}, problem.InvalidField("id", "is not a valid customer id")
	}
	if s.cache != nil {
		return s.cachedDecision(ctx, customerID, p)
	}
	ds, err := s.decisions(ctx, []string{customerID}, []catalog.Purpose{p}, gpcFrom(ctx))
	if err != nil {
		return Decision{}, err
	}
	return ds[0][0], nil
}

// cachedDecision is the single decision made from cached inputs: the same rule, the same
// facts, and the suppression list (and, for an email purpose, the undeliverable list)
// consulted only when the purpose would otherwise be allowed, as in decisions.
func (s *Service) cachedDecision(ctx context.Context, customerID string, p catalog.Purpose) (Decision, error) {
	in, ps, err := s.cachedInputs(ctx, customerID)
	// A merged customer is answered for by the customer at the top of its tree.
	for depth := 0; err == nil && in.into != ""; depth++ {
		if depth == maxMergeDepth {
			return Decision{}, problem.New(problem.Internal, "merge links form a cycle")
		}
		in, ps, err = s.cachedInputs(ctx, in.into)
	}
	if err != nil {
		return Decision{}, err
	}
	now := s.now()
	f := facts{exists: in.exists, gpc: gpcFrom(ctx)}
	// Only the purpose's records and the restriction bear on it: at most three, as the
	// cache keeps the newest of each kind and purpose. They are unpacked into a pooled
	// buffer: decide's escape analysis would otherwise move a local one to the heap.
	buf := recordBufs.Get().(*[3]Record)
	defer recordBufs.Put(buf)
	n := 0
	for i := range in.recs {
		if r := &in.recs[i]; (r.purpose == p.Name || r.kind == KindRestriction) && n < len(buf) {
			buf[n] = r.record()
			f.fold(&buf[n], p.Name)
			n++
		}
	}
	d := decide(p, ps, f, customerID, now)
	if d.Allowed && p.Marketing {
		if f.suppressedAt, err = s.cachedSuppressedAt(ctx, in, p.Name); err != nil {
			return d, err
		}
		if !f.suppressedAt.IsZero() {
			d = decide(p, ps, f, customerID, now)
		}
	}
	if d.Allowed && emailPurpose(p) {
		at, err := s.cachedSuppressedAt(ctx, in, UndeliverableList)
		if err != nil || at.IsZero() {
			return d, err
		}
		return undeliverable(d, at), nil
	}
	return d, nil
}

// Permit is May for services that have already checked the caller's permissions, such as the
// customer service before it reveals a field: nil when the purpose may go ahead, Forbidden
// naming the reason otherwise.
func (s *Service) Permit(ctx context.Context, customerID, purpose string) error {
	d, err := s.may(ctx, customerID, purpose)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return problem.Forbiddenf("this customer's data may not be used for purpose %q: %s", purpose, d.Reason)
	}
	return nil
}

// Decide is the permission decision for many customers and purposes at once: out[i][j] is
// purposes[i] for ids[j]. It writes no audit entry and checks no role: it is for services
// that audit their own use of its answer (segment memberships, exports, deliveries).
func (s *Service) Decide(ctx context.Context, ids []string, purposes []string) ([][]bool, error) {
	ps := make([]catalog.Purpose, 0, len(purposes))
	for _, name := range purposes {
		p, ok := s.catalog.Purpose(name)
		if !ok {
			return nil, problem.InvalidField("purpose", "unknown purpose %q", name)
		}
		ps = append(ps, p)
	}
	out := make([][]bool, len(ps))
	for i := range out {
		out[i] = make([]bool, len(ids))
	}
	if len(ids) == 0 || len(ps) == 0 {
		return out, nil
	}
	for start := 0; start < len(ids); start += MaxCheck {
		chunk := ids[start:min(start+MaxCheck, len(ids))]
		ds, err := s.decisions(ctx, chunk, ps, false)
		if err != nil {
			return nil, err
		}
		for i := range ps {
			for j, d := range ds[i] {
				out[i][start+j] = d.Allowed
			}
		}
	}
	return out, nil
}

// Bulk is the answer to a bulk check.
type Bulk struct {
	Purpose string   `json:"purpose"`
	Allowed []string `json:"allowed"`
	Denied  []Denial `json:"denied"`
}

// Denial is one customer a bulk check refused, and why.
type Denial struct {
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
}

// Check decides purpose for up to MaxCheck customers at once ("may I email these
// customers?"), in a few batched queries, and audits the check. Needs customers.read.
// Repeated ids are answered once.
func (s *Service) Check(ctx context.Context, purpose string, ids []string) (Bulk, error) {
	if _, err := authz.Require(ctx, s.catalog, "customers.read"); err != nil {
		return Bulk{}, err
	}
	p, ok := s.catalog.Purpose(purpose)
	if !ok {
		return Bulk{}, problem.InvalidField("purpose", "unknown purpose %q", purpose)
	}
	if len(ids) == 0 {
		return Bulk{}, problem.InvalidField("customer_ids", "must name at least one customer")
	}
	if len(ids) > MaxCheck {
		return Bulk{}, problem.New(problem.TooLarge, "customer_ids: at most %d customers per check, got %d; split the list", MaxCheck, len(ids))
	}
	seen := make(map[string]struct{}, len(ids))
	uniq := make([]string, 0, len(ids))
	for i, id := range ids {
		if !ident.Valid(id) {
			return Bulk{}, problem.InvalidField("customer_ids", "customer_ids[%d]: is not a valid customer id", i)
		}
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			uniq = append(uniq, id)
		}
	}
	ds, err := s.decisions(ctx, uniq, []catalog.Purpose{p}, false)
	if err != nil {
		return Bulk{}, err
	}
	out := Bulk{Purpose: purpose, Allowed: []string{}, Denied: []Denial{}}
	for _, d := range ds[0] {
		if d.Allowed {
			out.Allowed = append(out.Allowed, d.CustomerID)
		} else {
			out.Denied = append(out.Denied, Denial{CustomerID: d.CustomerID, Reason: d.Reason})
		}
	}
	e := audit.New(ctx, ActionCheck, "", nil, purpose)
	e.Target = fmt.Sprintf("customers:%d allowed:%d", len(uniq), len(out.Allowed))
	if err := s.audit.AppendAudit(ctx, e); err != nil {
		return Bulk{}, err
	}
	return out, nil
}

// decisions decides every purpose for every id: out[i][j] is purposes[i] for ids[j]. Its
// queries do not grow with the number of ids beyond batching: the policies, which ids exist
// (and which are merged into another customer, who answers for them), the records bearing on
// the purposes, and — only for marketing (or email) purposes that would otherwise be allowed
// while the suppression (or undeliverable) list is not empty — which customers share a
// blind-index token with an entry, whose contacts are then matched in full.
func (s *Service) decisions(ctx context.Context, ids []string, purposes []catalog.Purpose, gpc bool) ([][]Decision, error) {
	filter := ""
	if len(purposes) == 1 {
		filter = purposes[0].Name
	}
	l, err := s.readLedger(ctx, ids, filter)
	if err != nil {
		return nil, err
	}
	return s.decideAll(ctx, ids, l, purposes, gpc)
}

// decideAll is decisions from the ledger read for ids.
func (s *Service) decideAll(ctx context.Context, ids []string, l *ledger, purposes []catalog.Purpose, gpc bool) ([][]Decision, error) {
	now := s.now()
	stored, err := s.store.Policies(ctx)
	if err != nil {
		return nil, err
	}
	ps := Policies(stored)
	out := make([][]Decision, len(purposes))
	for pi, p := range purposes {
		out[pi] = make([]Decision, len(ids))
		var suspects []int
		for j, id := range ids {
			f := facts{exists: l.exist[j], gpc: gpc}
			for _, r := range l.records[j] {
				f.fold(r, p.Name)
			}
			d := decide(p, ps, f, id, now)
			out[pi][j] = d
			if d.Allowed && p.Marketing {
				suspects = append(suspects, j)
			}
		}
		if len(suspects) > 0 {
			if err := s.applySuppressions(ctx, p, ps, ids, l, suspects, out[pi], gpc, now); err != nil {
				return nil, err
			}
		}
		if emailPurpose(p) {
			if err := s.applyUndeliverable(ctx, l.answer, out[pi]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// applyUndeliverable denies, with reason undeliverable, the decisions of ds (for an email
// purpose, one per id) that are allowed so far for customers whose current e-mail address is
// on the undeliverable list.
func (s *Service) applyUndeliverable(ctx context.Context, ids []string, ds []Decision) error {
	var want []string
	for j := range ds {
		if ds[j].Allowed {
			want = append(want, ids[j])
		}
	}
	if len(want) == 0 {
		return nil
	}
	at, err := s.suppressedAt(ctx, UndeliverableList, want)
	if err != nil || len(at) == 0 {
		return err
	}
	for j := range ds {
		if t := at[ids[j]]; ds[j].Allowed && !t.IsZero() {
			ds[j] = undeliverable(ds[j], t)
		}
	}
	return nil
}

// applySuppressions re-decides the suspects (positions in ids allowed so far for a marketing
// purpose) with what the suppression list says about the current email and phone of the
// customers answering for them.
func (s *Service) applySuppressions(ctx context.Context, p catalog.Purpose, ps Policies, ids []string, l *ledger, suspects []int,
	ds []Decision, gpc bool, now time.Time) error {
	want := make([]string, len(suspects))
	for k, j := range suspects {
		want[k] = l.answer[j]
	}
	at, err := s.suppressedAt(ctx, p.Name, want)
	if err != nil {
		return err
	}
	for _, j := range suspects {
		latest := at[l.answer[j]]
		if latest.IsZero() {
			continue
		}
		f := facts{exists: true, gpc: gpc, suppressedAt: latest}
		for _, r := range l.records[j] {
			f.fold(r, p.Name)
		}
		ds[j] = decide(p, ps, f, ids[j], now)
	}
	return nil
}

// suppressedAt returns, for those of ids whose current email or phone is on the suppression
// list for purpose, when it was last put there. Only customers whose email or phone shares a
// blind-index token with an entry can match; they are few, and only they are opened and
// hashed in full.
func (s *Service) suppressedAt(ctx context.Context, purpose string, ids []string) (map[string]time.Time, error) {
	listed, err := s.store.HasSuppressions(ctx, purpose)
	if err != nil || !listed {
		return nil, err
	}
	near, err := s.store.SuppressionSuspects(ctx, purpose, ids)
	if err != nil || len(near) == 0 {
		return nil, err
	}
	want := make([]string, 0, len(near))
	for id := range near {
		want = append(want, id)
	}
	vals, err := s.contacts.ContactValues(ctx, want, contactFields...)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, id := range want {
		// A suspect ContactValues left out has a profile that does not decrypt (or was erased
		// a moment ago): it cannot be cleared of the entry its token matched, so it counts as
		// suppressed from now, and a damaged row never becomes a permission to market.
		if _, ok := vals[id]; !ok {
			out[id] = s.now()
		}
	}
	hashes := make(map[string][][]byte, len(vals))
	var all [][]byte
	for id, fields := range vals {
		for _, field := range contactFields {
			if v := fields[field]; v != "" {
				h := s.suppressionHash(field, v)
				hashes[id] = append(hashes[id], h)
				all = append(all, h)
			}
		}
	}
	if len(all) == 0 {
		return out, nil
	}
	listedAt, err := s.store.SuppressedAt(ctx, purpose, all)
	if err != nil {
		return nil, err
	}
	for id, hs := range hashes {
		for _, h := range hs {
			if t := listedAt[string(h)]; t.After(out[id]) {
				out[id] = t
			}
		}
	}
	return out, nil
}

// ApplyGPC records a Global Privacy Control opt-out of every GPC-sensitive purpose for the
// customer a request identifies. It is idempotent: it appends only for purposes whose newest
// record is not already an opt-out, so a browser that sends the signal with every request
// does not grow the ledger. It needs no permission beyond being authenticated: the signal is
// the customer's, whoever relays it. Unknown customers are ignored; a merged one's opt-out is
// recorded by the customer answering for it. It returns how many records it appended.
func (s *Service) ApplyGPC(ctx context.Context, customerID string, ev EvidenceInput) (int, error) {
	return followMerges(ctx, customerID, func(ctx context.Context, id string) (int, error) {
		return s.applyGPC(ctx, id, ev)
	})
}

// applyGPC is ApplyGPC for one customer.
func (s *Service) applyGPC(ctx context.Context, customerID string, ev EvidenceInput) (int, error) {
	for attempt := 0; ; attempt++ {
		ap, err := s.gpcAppend(ctx, customerID, false, ev)
		if err != nil || ap == nil {
			return 0, err
		}
		ap.Via = viaOf(ctx)
		err = s.store.AppendConsent(ctx, *ap)
		if problem.Is(err, problem.Conflict) && !merged(err) && attempt < 3 {
			continue // another request changed the ledger first: decide again on the new state
		}
		if problem.Is(err, problem.NotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		return len(ap.Records), nil
	}
}

// OptOut returns the ledger append that records the Global Privacy Control signal ctx relays
// (see WithGPC) for customerID, for the caller to store in the transaction of the change that
// carried it; nil when ctx relays none or the ledger already holds the opt-out. isNew says the
// customer is being created by that change and has no records yet. The append carries Expect,
// so storing it fails with Conflict, writing nothing, if the ledger changed meanwhile; the
// caller decides again.
func (s *Service) OptOut(ctx context.Context, customerID string, isNew bool) (*Append, error) {
	ev, ok := GPCFrom(ctx)
	if !ok {
		return nil, nil
	}
	return s.gpcAppend(ctx, customerID, isNew, ev)
}

// RecordOptOut records the Global Privacy Control signal ctx relays, if any, for an existing
// customer, in a transaction of its own: for reads, which have no change to join.
func (s *Service) RecordOptOut(ctx context.Context, customerID string) error {
	ev, ok := GPCFrom(ctx)
	if !ok {
		return nil
	}
	_, err := s.ApplyGPC(ctx, customerID, ev)
	return err
}

// gpcAppend builds the records of a GPC opt-out for customerID against the ledger as it is now:
// one withdrawal per GPC-sensitive purpose whose newest record is not already a withdrawal.
// It returns nil when there is nothing to add, or when an existing customer is unknown. A
// pending record, when given, is a choice about to be stored before the opt-out and counts as
// the newest record of its purpose.
func (s *Service) gpcAppend(ctx context.Context, customerID string, isNew bool, ev EvidenceInput, pending ...Record) (*Append, error) {
	a, ok := authz.ActorFrom(ctx)
	if !ok {
		return nil, problem.New(problem.Unauthenticated, "authentication required")
	}
	gpcPurposes := s.catalog.GPCPurposes()
	if len(gpcPurposes) == 0 || !ident.Valid(customerID) {
		return nil, nil
	}
	evi, err := evidence(ev, s.keys.KeyedHash)
	if err != nil {
		evi = Evidence{} // evidence of a signal is a courtesy; the opt-out is what counts
	}
	latest := map[string]*Record{}
	if !isNew {
		l, err := s.readLedger(ctx, []string{customerID}, "")
		if err != nil || !l.exist[0] {
			return nil, err
		}
		if top := l.answer[0]; top != customerID {
			// Weighed against the ledger that decides: the merged customer's own may hold an
			// opt-out the customer at the top does not.
			return nil, &Merged{ID: customerID, Into: top}
		}
		for _, r := range l.records[0] {
			if r.Kind == KindConsent && (latest[r.Purpose] == nil || r.Seq > latest[r.Purpose].Seq) {
				latest[r.Purpose] = r
			}
		}
	}
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	inForce, _ := Policies(ps).InForce(now)
	ap := &Append{CustomerID: customerID, Expect: map[string]int64{}}
	for _, name := range gpcPurposes {
		stored, prev := latest[name], latest[name]
		for i := range pending {
			if pending[i].Kind == KindConsent && pending[i].Purpose == name {
				prev = &pending[i]
			}
		}
		if prev != nil && !prev.Granted {
			continue
		}
		if stored != nil {
			ap.Expect[name] = stored.Seq
		} else {
			ap.Expect[name] = 0
		}
		r := Record{CustomerID: customerID, Kind: KindConsent, Purpose: name, Granted: false, PolicyVersion: inForce.Version,
			Source: SourceGPC, At: now, Evidence: evi, ActorID: a.ID, RequestID: audit.RequestID(ctx)}
		p, _ := s.catalog.Purpose(name)
		if err := s.seal(&r, ps); err != nil {
			return nil, err
		}
		if err := s.appendRecord(ctx, ap, r, p.Marketing); err != nil {
			return nil, err
		}
	}
	if len(ap.Records) == 0 {
		return nil, nil
	}
	if isNew {
		// The customer is not stored yet, so neither is their key: the signal's evidence
		// beyond the IP hash is dropped rather than kept in clear.
		for i := range ap.Records {
			if err := SealEvidence(nil, &ap.Records[i]); err != nil {
				return nil, err
			}
		}
		return ap, nil
	}
	if err := s.sealAppend(ctx, ap); err != nil {
		return nil, err
	}
	return ap, nil
}

// sealAppend seals the evidence of ap's records that can identify a person under the
// customer's own data key (see SealEvidence), opening the key only when some record has such
// evidence. Every writer of the ledger calls it before storing; engines refuse records it
// has not been through.
func (s *Service) sealAppend(ctx context.Context, ap *Append) error {
	var dk *vault.DataKey
	for i := range ap.Records {
		r := &ap.Records[i]
		if !ClearEvidence(r) && dk == nil {
			k, err := s.dataKeys.CustomerDataKey(ctx, ap.CustomerID)
			if err != nil {
				return err
			}
			dk = k
		}
		if err := SealEvidence(dk, r); err != nil {
			return err
		}
	}
	return nil
}

// SealStoredEvidence seals the evidence of records written before evidence was sealed, in
// batches, under each customer's key, and blanks the clear columns; the server runs it at
// start. The evidence of a customer who is gone (erased before erasure blanked evidence) is
// blanked instead. A record whose customer's key does not open is left as it is, masked when
// served, and counted in skipped; the next start tries again. It needs no actor: it changes
// no choice and reveals nothing.
func (s *Service) SealStoredEvidence(ctx context.Context) (sealed, skipped int, err error) {
	const batch = 500
	var after int64
	for {
		recs, err := s.store.UnsealedEvidence(ctx, after, batch)
		if err != nil || len(recs) == 0 {
			return sealed, skipped, err
		}
		after = recs[len(recs)-1].Seq
		keys := map[string]*vault.DataKey{}
		failed := map[string]bool{}
		done := recs[:0]
		for _, r := range recs {
			dk, ok := keys[r.CustomerID]
			if !ok && !failed[r.CustomerID] {
				k, err := s.dataKeys.CustomerDataKey(ctx, r.CustomerID)
				switch {
				case err == nil, problem.Is(err, problem.NotFound), problem.Is(err, problem.Gone):
					keys[r.CustomerID], dk = k, k
				default:
					failed[r.CustomerID] = true
				}
			}
			if failed[r.CustomerID] {
				skipped++
				continue
			}
			if err := SealEvidence(dk, &r); err != nil {
				return sealed, skipped, err
			}
			done = append(done, r)
		}
		if err := s.store.SealStoredEvidence(ctx, done); err != nil {
			return sealed, skipped, err
		}
		sealed += len(done)
		if len(recs) < batch {
			return sealed, skipped, nil
		}
	}
}

// ExportEvidence returns the evidence of the customer's records, in ledger order, opened in
// clear for their own access export: one entry per record, nil where a record has none. The
// rights service calls it after it has authorised the request; it checks no permission.
func (s *Service) ExportEvidence(ctx context.Context, customerID string) ([]map[string]string, error) {
	recs, err := s.store.CustomerRecords(ctx, customerID)
	if err != nil {
		return nil, err
	}
	if err := s.openRecords(ctx, customerID, "", recs, true); err != nil {
		return nil, err
	}
	out := make([]map[string]string, len(recs))
	for i, r := range recs {
		ev := map[string]string{}
		for k, v := range map[string]string{"form_id": r.Evidence.FormID, "user_agent": r.Evidence.UserAgent, "ip_hash": r.Evidence.IPHash,
			"tcf": r.Evidence.TCF, "gpp": r.Evidence.GPP} {
			if v != "" {
				ev[k] = v
			}
		}
		if len(ev) > 0 {
			out[i] = ev
		}
	}
	return out, nil
}

// mayRevealEvidence reports whether role may see the sealed evidence of r in clear: it must
// hold customers.reveal and either act for the record's purpose or for a purpose resting on a
// legal obligation (proving consent is one: GDPR Article 7(1)), as the DPO does. Others see
// it masked.
func (s *Service) mayRevealEvidence(role string, r *Record) bool {
	if !s.catalog.RoleHas(role, catalog.PermCustomersReveal) {
		return false
	}
	if r.Purpose != "" && s.catalog.RoleMayActFor(role, r.Purpose) {
		return true
	}
	rl, _ := s.catalog.Role(role)
	for _, name := range rl.Purposes {
		if p, ok := s.catalog.Purpose(name); ok && p.LegalBasis == catalog.LegalObligation {
			return true
		}
	}
	return false
}

// openRecords opens the sealed evidence of recs, the ledger of customerID, for role: in clear
// where it may reveal it (or reveal is set), masked elsewhere, and marked unreadable where the
// key is gone.
func (s *Service) openRecords(ctx context.Context, customerID, role string, recs []Record, reveal bool) error {
	var dk *vault.DataKey
	opened := false
	for i := range recs {
		r := &recs[i]
		if len(r.SealedEvidence) == 0 {
			if !ClearEvidence(r) && !reveal && !s.mayRevealEvidence(role, r) {
				maskClear(r) // written in clear before evidence was sealed
			}
			continue
		}
		if !opened {
			opened = true
			// A key that does not open (the customer erased meanwhile, or a damaged key)
			// leaves the evidence marked unreadable; the rest of the ledger is still served.
			dk, _ = s.dataKeys.CustomerDataKey(ctx, customerID)
		}
		r.EvidenceUnreadable = !openEvidence(dk, r, !reveal && !s.mayRevealEvidence(role, r))
		r.SealedEvidence = nil
	}
	return nil
}

// GPCSupport is the content of /.well-known/gpc.json: whether this installation honours the
// signal (it does when the catalog marks any purpose as GPC-sensitive), and the date of the
// policy in force, which says how.
func (s *Service) GPCSupport(ctx context.Context) (bool, string, error) {
	honours := len(s.catalog.GPCPurposes()) > 0
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return honours, "", err
	}
	if p, ok := Policies(ps).InForce(s.now()); ok {
		return honours, p.EffectiveAt.Format(time.DateOnly), nil
	}
	return honours, "", nil
}

// KeySet is the published key set receipts verify against.
func (s *Service) KeySet() KeySet { return PublicKeySet(s.keys.ReceiptPublicKey()) }

// VerifyReceipt checks a receipt against this installation's receipt key. A receipt that does
// not verify is Invalid, with the reason.
func (s *Service) VerifyReceipt(token string) (Receipt, error) {
	if len(token) > 64<<10 {
		return Receipt{}, problem.InvalidField("receipt", "is too long to be a receipt")
	}
	rc, err := Verify(token, s.keys.ReceiptPublicKey())
	if err != nil {
		return Receipt{}, problem.InvalidField("receipt", "%s", err.Error())
	}
	return rc, nil
}

// Restricted reports whether processing of the customer's data is restricted (GDPR Article 18):
// their newest restriction record in the ledger is in force. Work that rewrites a profile from
// another's data, such as merging duplicates, waits until the restriction is lifted.
func (s *Service) Restricted(ctx context.Context, customerID string) (bool, error) {
	recs, err := s.store.CustomerRecords(ctx, customerID)
	if err != nil {
		return false, err
	}
	var f facts
	for i := range recs {
		f.fold(&recs[i], "")
	}
	return f.restriction != nil && !f.restriction.Granted, nil
}
