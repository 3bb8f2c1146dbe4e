package segment

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/problem"
)

// DefaultMinCohort is the smallest count shown for a generalized_only purpose and the smallest
// trend cell: fewer people than this could be singled out by a narrow rule.
const DefaultMinCohort = 10

// Segment is a named group of customers, defined by a rule over what a purpose may use.
type Segment struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Purpose string `json:"purpose"`
	Rule    Rule   `json:"rule"`
	// MinCohort withholds counts below it for generalized_only purposes.
	MinCohort   int        `json:"min_cohort"`
	CreatedAt   time.Time  `json:"created_at"`
	RefreshedAt *time.Time `json:"refreshed_at,omitempty"`
}

// Input is what a client sends to create a segment.
type Input struct {
	Name      string `json:"name"`
	Purpose   string `json:"purpose"`
	Rule      *Rule  `json:"rule"`
	MinCohort int    `json:"min_cohort,omitempty"`
}

// Change is one customer entering or leaving one segment.
type Change struct {
	SegmentID  string    `json:"segment_id"`
	CustomerID string    `json:"customer_id"`
	Entered    bool      `json:"entered"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// Reasons a customer entered or left a segment.
const (
	ReasonRule       = "rule"        // the rule now matches, or no longer does
	ReasonNotAllowed = "not_allowed" // the permission decision no longer allows the purpose
	ReasonGone       = "gone"        // erased or merged into another customer
)

// Count is the answer of a count: Count, or CountBelow when the count is withheld.
type Count struct {
	SegmentID   string     `json:"segment_id"`
	Purpose     string     `json:"purpose"`
	Count       *int64     `json:"count,omitempty"`
	CountBelow  int        `json:"count_below,omitempty"`
	RefreshedAt *time.Time `json:"refreshed_at,omitempty"`
}

// Store keeps segments, memberships and their history. Memberships hold customer ids only.
type Store interface {
	// CreateSegment stores s with its audit entries.
	CreateSegment(ctx context.Context, s Segment, entries []audit.Entry) error
	// Segment returns one segment; NotFound if there is none.
	Segment(ctx context.Context, id string) (Segment, error)
	// Segments lists every segment, oldest first.
	Segments(ctx context.Context) ([]Segment, error)
	// CountMembers counts a segment's members.
	CountMembers(ctx context.Context, segmentID string) (int64, error)
	// Members pages a segment's member ids, by id.
	Members(ctx context.Context, segmentID, after string, limit int) ([]string, error)
	// Memberships says which segments each of ids belongs to now.
	Memberships(ctx context.Context, ids []string) (map[string][]string, error)
	// ApplyChanges adds and removes memberships. A change already in effect (another node
	// applied it) is skipped; each applied one is written to the history and queues a
	// delivery (upsert on entering, remove on leaving) for every active destination of its
	// segment, in the same transaction. It returns how many it applied.
	ApplyChanges(ctx context.Context, changes []Change) (int, error)
	// Orphans returns the members, of any segment, whose customer no longer exists or was
	// merged into another.
	Orphans(ctx context.Context) ([]string, error)
	// SetRefreshed records when a full refresh of every segment finished.
	SetRefreshed(ctx context.Context, at time.Time) error
	// History lists a segment's changes, newest first.
	History(ctx context.Context, segmentID string, limit int) ([]Change, error)
	// Changed returns customers touched since cursor (events received, profile and consent
	// changes, erasures: anything audited or tracked), at most limit, and the cursor after
	// them; an empty cursor starts from now.
	Changed(ctx context.Context, cursor string, limit int) ([]string, string, error)
}

// Loader opens what rules read about customers.
type Loader interface {
	// Facts loads the facts needs asks for, of each of ids that exists and is not merged
	// away; the others are left out.
	Facts(ctx context.Context, ids []string, needs Needs) ([]Facts, error)
	// Page is Facts for the customers after the id after, by id: ids are every customer
	// read (merged ones included, whose facts are left out), empty at the end.
	Page(ctx context.Context, after string, limit int, needs Needs) (ids []string, facts []Facts, err error)
}

// Jobs queues the long work of refreshes and exports.
type Jobs interface {
	CreateJob(ctx context.Context, j job.Job) error
	GetJob(ctx context.Context, id string) (job.Job, error)
	ListJobs(ctx context.Context, limit int) ([]job.Job, error)
}

// Job kinds run by the job runner.
const (
	RefreshJob = "segment.refresh"
	ExportJob  = "segment.export"
)

// refreshBatch is how many customers one step of a refresh evaluates.
const refreshBatch = 500

// Service is segments, trends, exports and destinations. Every method checks the caller's
// role against the purpose it acts for.
type Service struct {
	store     Store
	exports   ExportStore
	dests     DestinationStore
	trends    TrendStore
	loader    Loader
	profiles  Profiles
	decider   Decider
	jobs      Jobs
	audit     audit.Store
	catalog   *catalog.Catalog
	keys      Keys
	send      Transport
	now       clock.Clock
	eval      Evaluator
	publicURL string

	mu sync.Mutex
	// cursor is where this node's incremental sync stands in the change feed.
	cursor string
	// projection holds each customer's generalised attributes for trend breakdowns, in
	// memory only; built is true once a full walk has filled it.
	projection *projection
	built      bool
	breaksAt   time.Time
}

// Deps is what the service is built from; all are required but Clock.
type Deps struct {
	Store        Store
	Exports      ExportStore
	Destinations DestinationStore
	Trends       TrendStore
	Loader       Loader
	Profiles     Profiles
	Decider      Decider
	Jobs         Jobs
	Audit        audit.Store
	Catalog      *catalog.Catalog
	Keys         Keys
	Transport    Transport
	Generalize   Generalizer
	Clock        clock.Clock
	// PublicURL prefixes export download links.
	PublicURL string
}

// New builds the service.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Exports == nil || d.Destinations == nil || d.Trends == nil || d.Loader == nil || d.Profiles == nil ||
		d.Decider == nil || d.Jobs == nil || d.Audit == nil || d.Catalog == nil || d.Keys == nil || d.Transport == nil || d.Generalize == nil {
		return nil, errors.New("segment service: missing dependency")
	}
	s := &Service{store: d.Store, exports: d.Exports, dests: d.Destinations, trends: d.Trends, loader: d.Loader, profiles: d.Profiles,
		decider: d.Decider, jobs: d.Jobs, audit: d.Audit, catalog: d.Catalog, keys: d.Keys, send: d.Transport, now: clock.Or(d.Clock),
		publicURL: strings.TrimRight(d.PublicURL, "/"), projection: newProjection()}
	s.eval = Evaluator{Catalog: d.Catalog, Generalize: d.Generalize}
	return s, nil
}

// Audit actions of segments.
const (
	ActionCreate = "segment.create"
	ActionView   = "segment.preview"
)

// Create validates and stores a segment. Needs customers.read and a role that may act for the
// purpose. Invalid names the part of the rule, the field and the purpose.
func (s *Service) Create(ctx context.Context, in Input) (Segment, error) {
	if _, err := authz.MayRead(ctx, s.catalog, in.Purpose); err != nil {
		return Segment{}, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 200 {
		return Segment{}, problem.InvalidField("name", "must be 1 to 200 characters")
	}
	if in.Purpose == "" {
		return Segment{}, problem.InvalidField("purpose", "is required")
	}
	if in.Rule == nil {
		return Segment{}, problem.InvalidField("rule", "is required")
	}
	if err := in.Rule.Validate(s.catalog, in.Purpose); err != nil {
		return Segment{}, err
	}
	if in.MinCohort < 0 || in.MinCohort > 10000 {
		return Segment{}, problem.InvalidField("min_cohort", "must be between 0 and 10000")
	}
	if in.MinCohort == 0 {
		in.MinCohort = DefaultMinCohort
	}
	seg := Segment{ID: ident.New(), Name: name, Purpose: in.Purpose, Rule: *in.Rule, MinCohort: in.MinCohort, CreatedAt: s.now().UTC()}
	e := audit.New(ctx, ActionCreate, "", nil, in.Purpose)
	e.Target = "segment:" + seg.ID
	if err := s.store.CreateSegment(ctx, seg, []audit.Entry{e}); err != nil {
		return Segment{}, err
	}
	// A new segment is filled by a full refresh in the background; until it has run, counts
	// say so by having no refreshed_at.
	if _, err := s.StartRefresh(ctx); err != nil {
		return Segment{}, err
	}
	return seg, nil
}

// List returns the segments of the purposes the caller may act for.
func (s *Service) List(ctx context.Context) ([]Segment, error) {
	a, err := authz.Require(ctx, s.catalog, catalog.PermCustomersRead)
	if err != nil {
		return nil, err
	}
	all, err := s.store.Segments(ctx)
	if err != nil {
		return nil, err
	}
	out := []Segment{}
	for _, seg := range all {
		if s.catalog.RoleMayActFor(a.Role, seg.Purpose) {
			out = append(out, seg)
		}
	}
	return out, nil
}

// Get returns one segment; NotFound also when the caller may not act for its purpose.
func (s *Service) Get(ctx context.Context, id string) (Segment, error) {
	a, err := authz.Require(ctx, s.catalog, catalog.PermCustomersRead)
	if err != nil {
		return Segment{}, err
	}
	if !ident.Valid(id) {
		return Segment{}, problem.NotFoundf("segment not found")
	}
	seg, err := s.store.Segment(ctx, id)
	if err != nil {
		return Segment{}, err
	}
	if !s.catalog.RoleMayActFor(a.Role, seg.Purpose) {
		return Segment{}, problem.NotFoundf("segment not found")
	}
	return seg, nil
}

// Count counts a segment's members. For a generalized_only purpose a count under the
// segment's minimum cohort is withheld (CountBelow).
func (s *Service) Count(ctx context.Context, id string) (Count, error) {
	seg, err := s.Get(ctx, id)
	if err != nil {
		return Count{}, err
	}
	n, err := s.store.CountMembers(ctx, seg.ID)
	if err != nil {
		return Count{}, err
	}
	c := Count{SegmentID: seg.ID, Purpose: seg.Purpose, RefreshedAt: seg.RefreshedAt}
	if p, _ := s.catalog.Purpose(seg.Purpose); p.GeneralizedOnly && n < int64(seg.MinCohort) {
		c.CountBelow = seg.MinCohort
	} else {
		c.Count = &n
	}
	return c, nil
}

// Preview shows up to limit members, masked: enough to see whether the rule means what was
// intended, without revealing anyone. Refused for generalized_only purposes, whose segments
// are counted, never listed. Each member shown is audited as a masked read.
func (s *Service) Preview(ctx context.Context, id string, limit int) ([]map[string]any, error) {
	seg, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if p, _ := s.catalog.Purpose(seg.Purpose); p.GeneralizedOnly {
		return nil, problem.Forbiddenf("segments for purpose %q are counted, never listed", seg.Purpose)
	}
	if limit <= 0 {
		limit = 20
	}
	if limit > 100 {
		return nil, problem.InvalidField("limit", "must be at most 100")
	}
	ids, err := s.store.Members(ctx, seg.ID, "", limit)
	if err != nil {
		return nil, err
	}
	out, err := s.profiles.Masked(ctx, ids)
	if err != nil {
		return nil, err
	}
	entries := make([]audit.Entry, 0, len(ids))
	for _, cid := range ids {
		e := audit.New(ctx, ActionView, cid, nil, "")
		e.Target = "segment:" + seg.ID
		entries = append(entries, e)
	}
	if len(entries) > 0 {
		if err := s.audit.AppendAudit(ctx, entries...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// History returns who entered and left a segment lately, newest first.
func (s *Service) History(ctx context.Context, id string, limit int) ([]Change, error) {
	seg, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if p, _ := s.catalog.Purpose(seg.Purpose); p.GeneralizedOnly {
		return nil, problem.Forbiddenf("segments for purpose %q are counted, never listed", seg.Purpose)
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return s.store.History(ctx, seg.ID, limit)
}

// StartRefresh queues a full refresh of every segment's membership, or returns the one queued
// already. A refresh running now does not stand in for it: its walk may have passed customers a
// new segment needs.
func (s *Service) StartRefresh(ctx context.Context) (job.Job, error) {
	return s.startRefresh(ctx, false)
}

// startRefresh is StartRefresh; with orRunning a running refresh is enough.
func (s *Service) startRefresh(ctx context.Context, orRunning bool) (job.Job, error) {
	jobs, err := s.jobs.ListJobs(ctx, 100)
	if err != nil {
		return job.Job{}, err
	}
	for _, j := range jobs {
		if j.Kind == RefreshJob && (j.State == job.Queued || orRunning && j.State == job.Running) {
			return j, nil
		}
	}
	j := job.Job{ID: ident.New(), Kind: RefreshJob}
	if err := s.jobs.CreateJob(ctx, j); err != nil {
		return job.Job{}, err
	}
	return s.jobs.GetJob(ctx, j.ID)
}

// RefreshStep is one step of the full refresh: the next batch of customers evaluated against
// every segment. The first step works out the RFM quintiles of the whole base; the last
// records the refresh time.
func (s *Service) RefreshStep(ctx context.Context, j job.Job) (string, int64, error) {
	if j.Cursor == "" {
		if err := s.computeBreaks(ctx); err != nil {
			return "", 0, err
		}
	}
	after := strings.TrimPrefix(j.Cursor, "after:")
	segs, needs, err := s.segmentsAndNeeds(ctx)
	if err != nil {
		return j.Cursor, 0, err
	}
	ids, facts, err := s.loader.Page(ctx, after, refreshBatch, needs)
	if err != nil {
		return j.Cursor, 0, err
	}
	if len(ids) == 0 {
		// Members whose customer is gone (erased, merged away) and whom no change reached
		// leave now.
		gone, err := s.store.Orphans(ctx)
		if err != nil {
			return j.Cursor, 0, err
		}
		if _, err := s.apply(ctx, segs, gone, nil); err != nil {
			return j.Cursor, 0, err
		}
		s.mu.Lock()
		s.built = true
		s.mu.Unlock()
		return "", 0, s.store.SetRefreshed(ctx, s.now().UTC())
	}
	if _, err := s.apply(ctx, segs, ids, facts); err != nil {
		return j.Cursor, 0, err
	}
	return "after:" + ids[len(ids)-1], int64(len(ids)), nil
}

// segmentsAndNeeds lists the segments and what evaluating all of them reads.
func (s *Service) segmentsAndNeeds(ctx context.Context) ([]Segment, Needs, error) {
	segs, err := s.store.Segments(ctx)
	var needs Needs
	for _, seg := range segs {
		needs.Add(seg.Rule)
		needs.AddPurpose(seg.Purpose)
	}
	return segs, needs, err
}

// Refresh runs a full refresh in the calling goroutine, for the command line and tests.
func (s *Service) Refresh(ctx context.Context) error {
	j := job.Job{Kind: RefreshJob}
	for {
		next, _, err := s.RefreshStep(ctx, j)
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		j.Cursor = next
	}
}

// computeBreaks works out the RFM quintiles of every ordering customer from the orders.
func (s *Service) computeBreaks(ctx context.Context) error {
	now := s.now()
	pop, err := s.trends.RFMPopulation(ctx, now)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.eval.Breaks, s.breaksAt = ComputeBreaks(pop), now
	s.mu.Unlock()
	return nil
}

// Evaluate re-decides the memberships of ids in every segment and applies what changed. Ids
// that are no longer customers (erased, merged away) leave every segment.
func (s *Service) Evaluate(ctx context.Context, ids []string) (int, error) {
	segs, needs, err := s.segmentsAndNeeds(ctx)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	facts, err := s.loader.Facts(ctx, ids, needs)
	if err != nil {
		return 0, err
	}
	return s.apply(ctx, segs, ids, facts)
}

// apply decides the memberships of ids from their facts (an id without facts is gone) and
// writes what changed.
func (s *Service) apply(ctx context.Context, segs []Segment, ids []string, facts []Facts) (int, error) {
	if len(ids) == 0 || len(segs) == 0 {
		return 0, nil
	}
	current, err := s.store.Memberships(ctx, ids)
	if err != nil {
		return 0, err
	}
	now := s.now().UTC()
	s.mu.Lock()
	ev := s.eval
	s.mu.Unlock()
	var changes []Change
	seen := make(map[string]bool, len(facts))
	for i := range facts {
		f := &facts[i]
		seen[f.CustomerID] = true
		s.observe(f, now)
		for _, seg := range segs {
			allowed := f.Allowed[seg.Purpose]
			in := allowed && ev.Match(seg.Rule, seg.Purpose, f, now)
			was := slices.Contains(current[f.CustomerID], seg.ID)
			switch {
			case in && !was:
				changes = append(changes, Change{SegmentID: seg.ID, CustomerID: f.CustomerID, Entered: true, Reason: ReasonRule, At: now})
			case !in && was:
				reason := ReasonRule
				if !allowed {
					reason = ReasonNotAllowed
				}
				changes = append(changes, Change{SegmentID: seg.ID, CustomerID: f.CustomerID, Reason: reason, At: now})
			}
		}
	}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		s.forget(id)
		for _, segID := range current[id] {
			changes = append(changes, Change{SegmentID: segID, CustomerID: id, Reason: ReasonGone, At: now})
		}
	}
	if len(changes) == 0 {
		return 0, nil
	}
	return s.store.ApplyChanges(ctx, changes)
}

// syncBatch bounds the customers one sync evaluates at once.
const syncBatch = 1000

// Sync evaluates the customers changed since this node last looked: the incremental upkeep
// of memberships between full refreshes. The first call only finds where the change feed
// stands. It returns how many customers it evaluated.
func (s *Service) Sync(ctx context.Context) (int, error) {
	s.mu.Lock()
	cursor := s.cursor
	s.mu.Unlock()
	if err := s.upkeep(ctx, cursor == ""); err != nil {
		return 0, err
	}
	total := 0
	for {
		ids, next, err := s.store.Changed(ctx, cursor, syncBatch)
		if err != nil {
			return total, err
		}
		if len(ids) > 0 {
			if _, err := s.Evaluate(ctx, ids); err != nil {
				return total, err
			}
		}
		total += len(ids)
		cursor = next
		s.mu.Lock()
		s.cursor = cursor
		s.mu.Unlock()
		if len(ids) < syncBatch {
			return total, nil
		}
	}
}

// refreshEvery is how old the last full refresh may grow before another is queued: the
// change feed misses what happened while no node was running, and RFM quintiles drift.
const refreshEvery = 24 * time.Hour

// upkeep queues a full refresh when this node starts following the change feed (what changed
// while it was down is found by the refresh) or the last one is a day old, and works out the
// RFM quintiles when this node has none or they are a day old.
func (s *Service) upkeep(ctx context.Context, starting bool) error {
	segs, err := s.store.Segments(ctx)
	if err != nil || len(segs) == 0 {
		return err
	}
	now := s.now()
	stale := starting
	for _, seg := range segs {
		if seg.RefreshedAt == nil || now.Sub(*seg.RefreshedAt) > refreshEvery {
			stale = true
		}
	}
	if stale {
		if _, err := s.startRefresh(ctx, true); err != nil {
			return err
		}
	}
	s.mu.Lock()
	old := s.breaksAt.IsZero() || now.Sub(s.breaksAt) > refreshEvery
	s.mu.Unlock()
	if old {
		return s.computeBreaks(ctx)
	}
	return nil
}

// member reports whether a customer is a member of a segment now.
func (s *Service) member(ctx context.Context, segmentID, customerID string) (bool, error) {
	m, err := s.store.Memberships(ctx, []string{customerID})
	if err != nil {
		return false, err
	}
	return slices.Contains(m[customerID], segmentID), nil
}
