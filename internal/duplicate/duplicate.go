package duplicate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/match"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
)

// Audit actions written here; merges and undos use ingest's customer.merge and
// customer.unmerge, so one filter finds every merge whatever found it.
const (
	ActionScan    = "duplicates.scan"
	ActionDismiss = "duplicate.dismiss"
	ActionList    = "duplicates.list"
	ActionRead    = "duplicate.read"
)

// ScanJob is the job kind of a scan run by the job queue.
const ScanJob = "duplicates.scan"

// States of a pair.
const (
	Pending   = "pending"   // waiting for a person
	Merged    = "merged"    // merged, by a person or automatically
	Dismissed = "dismissed" // a person said they are different people
	Undone    = "undone"    // merged, then the merge was undone: different people after all
)

// Pair is two customers the matcher judged likely to be one person. CustomerA sorts before
// CustomerB. Nothing in it is personal data: ids, a score and comparison levels.
type Pair struct {
	ID        string  `json:"id"`
	CustomerA string  `json:"customer_a"`
	CustomerB string  `json:"customer_b"`
	Score     float64 `json:"score"`  // match probability
	Weight    float64 `json:"weight"` // log2 odds, the sum of the evidence and the prior
	// Decision is the matcher's (merge or review), or ingest.PairSharedIdentifier for a
	// pair a browser message joined without the right to merge it.
	Decision  string     `json:"decision"`
	Evidence  []Evidence `json:"evidence"`
	State     string     `json:"state"`
	MergeID   string     `json:"merge_id,omitempty"`
	WinnerID  string     `json:"winner_id,omitempty"`
	Auto      bool       `json:"auto,omitempty"` // merged by a scan, above the merge threshold
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	DecidedBy string     `json:"decided_by,omitempty"`

	// Undo holds what undoing the merge needs: the winner's values before and after it,
	// sealed under the winner's key, and the consent records the merge added.
	Undo *UndoState `json:"-"`
}

// Evidence is one comparison's part in a score: its agreement level and its weight in bits.
// TermFrequency is the part of the weight that comes from how common the agreed value is
// among all customers (negative for a common name, positive for a rare one): it says how
// rare a value is, never which. The household rule adds a line of its own (comparison
// "household", level "shares_nothing_personal") when it held the score down.
type Evidence struct {
	Comparison    string  `json:"comparison"`
	Level         string  `json:"level"`
	Weight        float64 `json:"weight"`
	TermFrequency float64 `json:"term_frequency,omitempty"`
}

// UndoState is stored with a merged pair.
type UndoState struct {
	// Sealed is the JSON of sealedState, sealed under the winner's data key with table
	// "duplicates" and field "undo".
	Sealed []byte
	// MergedVersion is the winner's profile version the merge wrote.
	MergedVersion int64
	Changed       []string
	Carried       []consent.Carried
}

// sealedState is what UndoState.Sealed holds, once opened.
type sealedState struct {
	Before map[string]any `json:"before"`
	After  map[string]any `json:"after"` // the changed fields only
}

// KeyRow is what a scan derives from one customer's values and stores.
type KeyRow struct {
	CustomerID string
	Version    int64 // profile version the row was derived from
	Tokens     []int64
	Terms      []TermToken // the values whose frequency the matcher weighs, as tokens
	Validation string
	Reasons    []string
	EmailToken int64 // blind-index token of the e-mail, to notice a changed address
	At         time.Time
}

// TermToken is one value of a customer whose frequency the matcher weighs (given name,
// family name, address, town), as the first 64 bits of its keyed hash; Kind names the
// comparison, so that frequencies are counted per kind.
type TermToken struct {
	Kind  string
	Token int64
}

// TermCount is how many customers hold one value.
type TermCount struct {
	Kind  string
	Token int64
	Count int
}

// MergeWrite is one merge, stored in one transaction.
type MergeWrite struct {
	PairID     string
	Merge      ingest.Merge
	Winner     *customer.Record // nil when no field changes
	WinnerPrev int64
	Undo       UndoState
	Consents   []consent.Record
	// Versions are the two customers' decision change counters read before the records
	// carried were decided (see consent.Carry).
	Versions map[string]int64
	Auto     bool
	By       string
	Entries  []audit.Entry
}

// UnmergeWrite is one undo, stored in one transaction.
type UnmergeWrite struct {
	PairID     string
	MergeID    string
	Winner     *customer.Record // nil when nothing is restored
	WinnerPrev int64
	Consents   []consent.Record
	// Versions are the decision change counters of the ledgers the kept refusals were read
	// from, read before them (see consent.Carry.Versions).
	Versions map[string]int64
	At       time.Time
	By       string
	Entries  func(ingest.Merge) []audit.Entry
}

// Store is what duplicate detection needs from an engine.
type Store interface {
	// StaleCustomers returns up to limit customers with id greater than after, by id, whose
	// keys were derived from another version than the stored one, or never.
	StaleCustomers(ctx context.Context, after string, limit int) ([]*customer.Record, error)
	// SaveKeys replaces the keys and contact verdicts of the customers in rows.
	SaveKeys(ctx context.Context, rows []KeyRow) error
	// CandidateIDs returns the customers, not merged into another, that share a key with
	// another such customer.
	CandidateIDs(ctx context.Context) ([]string, error)
	// TermCounts returns, for every term token held by a customer not merged into another,
	// how many such customers hold it.
	TermCounts(ctx context.Context) ([]TermCount, error)
	// PairStates returns the state of every stored pair, keyed by CustomerA+" "+CustomerB.
	PairStates(ctx context.Context) (map[string]string, error)
	// SavePending makes the pending pairs those of pairs: it inserts new ones, updates the
	// score and evidence of pending ones (by customer pair) and deletes pending pairs not in
	// pairs, with the audit entries, and returns them as stored (an existing pair keeps its
	// id); pairs in any other state are left alone and not returned.
	SavePending(ctx context.Context, pairs []Pair, entries []audit.Entry) ([]Pair, error)
	// ListPairs returns pairs in state by score, highest first, after the cursor pair.
	ListPairs(ctx context.Context, state string, after *Pair, limit int) ([]Pair, error)
	// GetPair returns NotFound for an unknown id.
	GetPair(ctx context.Context, id string) (Pair, error)
	// PairByMerge returns the pair a merge was made for; NotFound when it was not made for one.
	PairByMerge(ctx context.Context, mergeID string) (Pair, error)
	// DismissPair marks a pending pair dismissed; Conflict if it is not pending.
	DismissPair(ctx context.Context, id string, at time.Time, by string, entries []audit.Entry) (Pair, error)
	// MergePair stores a merge and deletes the other pending pairs of the loser: Conflict if
	// the pair is no longer pending, either customer has been merged into another meanwhile,
	// or the winner changed since it was read, and a Conflict wrapping
	// consent.ErrLedgerChanged if either customer's decision change counter is no longer the
	// one in w.Versions (both are locked before it is read).
	MergePair(ctx context.Context, w MergeWrite) error
	// UnmergePair undoes a pair's merge: NotFound for an unknown merge, Conflict if it was
	// undone already or the winner changed since it was read.
	UnmergePair(ctx context.Context, w UnmergeWrite) (ingest.Merge, error)
	// Origins returns the role of the actor that created each of ids (for source priority).
	Origins(ctx context.Context, ids []string) (map[string]string, error)
}

// Keys is the part of the key hierarchy a scan uses.
type Keys interface {
	IdentityToken(kind string, normalized []byte) []byte
	BlindIndex(field string, normalized []byte) int64
}

// Config tunes detection and merging.
type Config struct {
	// ReviewThreshold and MergeThreshold are match probabilities: pairs from the first are
	// queued for review, pairs from the second are merged by the scan. A merge threshold of 1
	// turns automatic merging off.
	ReviewThreshold float64
	MergeThreshold  float64
	// Rules are survivorship rules by field (see Rule); fields not named use DefaultRules.
	Rules map[string]Rule
	// SourcePriority ranks the roles that create customers, best source first.
	SourcePriority []string
	DefaultRegion  string
}

// DefaultConfig is what Steward uses unless told otherwise.
func DefaultConfig() Config {
	return Config{ReviewThreshold: 0.5, MergeThreshold: 0.99, SourcePriority: DefaultSourcePriority, DefaultRegion: "GB"}
}

// Validate names the first setting that cannot work.
func (c Config) Validate() error {
	if !(c.ReviewThreshold > 0 && c.ReviewThreshold < 1) {
		return fmt.Errorf("duplicate-review-threshold: must be between 0 and 1 (exclusive)")
	}
	if !(c.MergeThreshold > c.ReviewThreshold && c.MergeThreshold <= 1) {
		return fmt.Errorf("duplicate-merge-threshold: must be above the review threshold and at most 1 (1 turns automatic merges off)")
	}
	return nil
}

// Service is duplicate detection and merging.
type Service struct {
	store    Store
	vault    *customer.Vault
	consents *consent.Service
	ingest   *ingest.Service
	jobs     job.Store
	keys     Keys
	catalog  *catalog.Catalog
	config   Config
	monitor  *quality.Monitor
	clock    clock.Clock
	audit    audit.Store
}

// Deps is what the duplicate service is built from; every field but Clock is required.
type Deps struct {
	Store Store
	// Vault opens and reseals the profiles a merge combines; merges write their own audit
	// entries.
	Vault *customer.Vault
	// Consents carries a merged customer's consent records to the winner.
	Consents *consent.Service
	// Ingest undoes merges, which it records, with the identities they moved.
	Ingest *ingest.Service
	// Jobs queues background scans.
	Jobs job.Store
	// Monitor derives the quality report, which counts the pairs waiting for review.
	Monitor *quality.Monitor
	Keys    Keys
	Catalog *catalog.Catalog
	// Clock stamps pairs and merges; nil is the system clock.
	Clock clock.Clock
	// Audit records reads of the queue: which customers a reviewer was shown as a pair.
	Audit audit.Store
}

// New builds the duplicate service with its validated settings.
func New(d Deps, cfg Config) (*Service, error) {
	if d.Store == nil || d.Vault == nil || d.Consents == nil || d.Ingest == nil || d.Jobs == nil || d.Keys == nil || d.Catalog == nil ||
		d.Monitor == nil || d.Audit == nil {
		return nil, errors.New("duplicate service: store, vault, consents, ingest, jobs, keys, catalog, monitor and audit are all required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{store: d.Store, vault: d.Vault, consents: d.Consents, ingest: d.Ingest, jobs: d.Jobs, keys: d.Keys,
		catalog: d.Catalog, config: cfg, monitor: d.Monitor, clock: clock.Or(d.Clock), audit: d.Audit}, nil
}

func (s *Service) now() time.Time { return s.clock() }

// QualityReport is the quality report over the catalog's fields, in catalog order: how
// complete, valid and fresh the base is, and how many duplicates wait for review. Counts only,
// for roles with customers.read.
func (s *Service) QualityReport(ctx context.Context) (quality.BaseReport, error) {
	if _, err := authz.Require(ctx, s.catalog, catalog.PermCustomersRead); err != nil {
		return quality.BaseReport{}, err
	}
	fields := make([]string, 0, len(s.catalog.Fields))
	for _, f := range s.catalog.Fields {
		fields = append(fields, f.Name)
	}
	return s.monitor.Report(ctx, fields)
}

// require checks that the caller may see and change customers: reviewing duplicates is
// deciding about customer records.
func (s *Service) require(ctx context.Context, write bool) (authz.Actor, error) {
	a, err := authz.Require(ctx, s.catalog, catalog.PermCustomersRead)
	if err != nil || !write {
		return a, err
	}
	return authz.Require(ctx, s.catalog, catalog.PermCustomersWrite)
}

// List returns pairs in state (default pending), highest score first. cursor is the
// previous page's next cursor.
func (s *Service) List(ctx context.Context, state, cursor string, limit int) ([]Pair, string, error) {
	if _, err := s.require(ctx, false); err != nil {
		return nil, "", err
	}
	if state == "" {
		state = Pending
	}
	switch state {
	case Pending, Merged, Dismissed, Undone:
	default:
		return nil, "", problem.InvalidField("state", "must be pending, merged, dismissed or undone")
	}
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		return nil, "", problem.InvalidField("limit", "must be at most 500")
	}
	var after *Pair
	if cursor != "" {
		if !ident.Valid(cursor) {
			return nil, "", problem.InvalidField("cursor", "is not a valid cursor")
		}
		p, err := s.store.GetPair(ctx, cursor)
		if err != nil {
			if problem.Is(err, problem.NotFound) {
				return nil, "", problem.InvalidField("cursor", "is not a valid cursor")
			}
			return nil, "", err
		}
		after = &p
	}
	ps, err := s.store.ListPairs(ctx, state, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ps) > limit {
		ps = ps[:limit]
		next = ps[limit-1].ID
	}
	if ps == nil {
		ps = []Pair{}
	}
	entries := make([]audit.Entry, 0, len(ps)+1)
	entries = append(entries, audit.QueryEntry(ctx, ActionList, "", []string{"state"}, len(ps)))
	for i := range ps {
		entries = append(entries, pairRead(ctx, &ps[i]))
	}
	return ps, next, s.audit.AppendAudit(ctx, entries...)
}

// pairRead is the entry of a reviewer being shown a pair: the pair's two customers, by id.
func pairRead(ctx context.Context, p *Pair) audit.Entry {
	e := audit.New(ctx, ActionRead, p.CustomerA, nil, "")
	e.Target = "customer:" + p.CustomerB + " pair:" + p.ID
	return e
}

// Get returns one pair. Returns NotFound for an unknown id.
func (s *Service) Get(ctx context.Context, id string) (Pair, error) {
	if _, err := s.require(ctx, false); err != nil {
		return Pair{}, err
	}
	if !ident.Valid(id) {
		return Pair{}, problem.InvalidField("id", "is not a valid duplicate id")
	}
	p, err := s.store.GetPair(ctx, id)
	if err != nil {
		return Pair{}, err
	}
	return p, s.audit.AppendAudit(ctx, pairRead(ctx, &p))
}

// Dismiss records that a pending pair are different people; the pair is never proposed
// again. Returns NotFound for an unknown pair and Conflict for one already decided.
func (s *Service) Dismiss(ctx context.Context, id string) (Pair, error) {
	a, err := s.require(ctx, true)
	if err != nil {
		return Pair{}, err
	}
	if !ident.Valid(id) {
		return Pair{}, problem.InvalidField("id", "is not a valid duplicate id")
	}
	p, err := s.store.GetPair(ctx, id)
	if err != nil {
		return Pair{}, err
	}
	e := audit.New(ctx, ActionDismiss, p.CustomerA, nil, "")
	e.Target = "duplicate:" + p.ID + " customer:" + p.CustomerB
	return s.store.DismissPair(ctx, id, s.now(), a.ID, []audit.Entry{e})
}

// pairKey is how PairStates keys a pair.
func pairKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + " " + b
}

// evidenceOf turns the matcher's evidence into the stored form, weights to 0.01 bit.
func evidenceOf(ev []match.Evidence) []Evidence {
	out := make([]Evidence, 0, len(ev))
	for _, e := range ev {
		out = append(out, Evidence{Comparison: e.Comparison, Level: e.Level, Weight: round2(e.Weight), TermFrequency: round2(e.TermFrequency)})
	}
	return out
}

func round2(f float64) float64 {
	if f < 0 {
		return -float64(int64(-f*100+0.5)) / 100
	}
	return float64(int64(f*100+0.5)) / 100
}

// reasonOf is the merge reason stored with the link: ids and a score, no values.
func reasonOf(p Pair, auto bool) string {
	how := "reviewed"
	if auto {
		how = "automatic"
	}
	return fmt.Sprintf("duplicate %s (%s), match probability %.4f", p.ID, how, p.Score)
}

// levels lists a pair's evidence as comparison=level, for audit targets.
func levels(ev []Evidence) string {
	var b strings.Builder
	for _, e := range ev {
		if e.Level == "missing" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.Comparison + "=" + e.Level)
	}
	return b.String()
}
