package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

// Store is what the audit trail needs from an engine. Appends made alongside a change happen
// inside the engine's own write methods; AppendAudit is for reads, which change nothing else.
type Store interface {
	// AppendAudit links and stores entries in one transaction.
	AppendAudit(ctx context.Context, entries ...Entry) error
	// ListAudit returns entries matching f, newest first.
	ListAudit(ctx context.Context, f Filter) ([]Entry, error)
	// ReadTrail calls fn with every signed checkpoint, the recorded head of every chain (with
	// its anchor and seal) and a scan of every entry in (chain, seq) order, all as of one
	// moment, while other nodes and jobs keep appending; the scan stops at its callback's
	// error.
	ReadTrail(ctx context.Context, fn func(cps []Checkpoint, heads []SealedHead, scan func(func(*Entry) error) error) error) error
}

// Filter narrows a listing. Zero values mean "any".
type Filter struct {
	CustomerID string
	ActorID    string
	Action     string
	Since      time.Time
	Until      time.Time
	BeforeID   int64 // paging: only entries with ID < BeforeID
	Limit      int
}

// Service reads and verifies the trail.
type Service struct {
	store           Store
	catalog         *catalog.Catalog
	publicKey       ed25519.PublicKey
	headKey         []byte
	checkpointEvery int64
}

// NewService builds the trail's reader. publicKey verifies checkpoints and headKey (see
// HeadKey) the sealed chain heads, which vouch for the entries after the last checkpoint.
// checkpointEvery is the interval the trail is checkpointed at; Verify requires every
// checkpoint, and zero skips that check.
func NewService(store Store, cat *catalog.Catalog, publicKey ed25519.PublicKey, headKey []byte, checkpointEvery int64) (*Service, error) {
	if store == nil || cat == nil || len(publicKey) != ed25519.PublicKeySize || len(headKey) == 0 {
		return nil, errors.New("audit service: a store, the catalog, the checkpoint public key and the head key are required")
	}
	return &Service{store: store, catalog: cat, publicKey: publicKey, headKey: headKey, checkpointEvery: checkpointEvery}, nil
}

// Missing records a read that found nothing to show: the route asked (its pattern, never a
// value from its path or query), the customer it named when it named one, and whether that
// customer is unknown or was erased. "Is this person a customer?" asked by id is answered by
// a 404 or a 410, so the question leaves the same trace as a read that found someone.
func (s *Service) Missing(ctx context.Context, route, customerID string, gone bool) error {
	e := New(ctx, ActionReadMissing, customerID, nil, "")
	e.Target = "route:" + route
	e.Outcome = OutcomeNotFound
	if gone {
		e.Outcome = OutcomeGone
	}
	return s.store.AppendAudit(ctx, e)
}

// Query records a read that is not about one customer — a look-up, a list, a check — by the
// kind of its query and how many results it had, never the query's values: enough for an
// auditor to see who asked what kind of question how often.
func (s *Service) Query(ctx context.Context, action, purpose string, kinds []string, results int) error {
	return s.store.AppendAudit(ctx, QueryEntry(ctx, action, purpose, kinds, results))
}

// QueryEntry is the entry Query appends, for services that append it with others.
func QueryEntry(ctx context.Context, action, purpose string, kinds []string, results int) Entry {
	e := New(ctx, action, "", nil, purpose)
	e.Target = "query:" + strings.Join(kinds, ",") + " results:" + strconv.Itoa(results)
	return e
}

// Check verifies the trail for a caller with audit.read (see Verify).
func (s *Service) Check(ctx context.Context) (Report, error) {
	if _, err := authz.Require(ctx, s.catalog, "audit.read"); err != nil {
		return Report{}, err
	}
	return s.Verify(ctx)
}

// MaxPage bounds one listing so an auditor's query cannot exhaust the server.
const MaxPage = 1000

// List returns a page of entries for callers with audit.read, newest first, and records that
// the trail itself was read.
func (s *Service) List(ctx context.Context, f Filter) ([]Entry, error) {
	if _, err := authz.Require(ctx, s.catalog, "audit.read"); err != nil {
		return nil, err
	}
	if f.Limit <= 0 || f.Limit > MaxPage {
		f.Limit = 100
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return nil, problem.InvalidField("until", "is before since")
	}
	entries, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	if err := s.store.AppendAudit(ctx, New(ctx, ActionAuditRead, f.CustomerID, nil, "")); err != nil {
		return nil, err
	}
	return entries, nil
}

// Report summarises a successful verification.
type Report struct {
	Entries     int64 `json:"entries"`
	Chains      int   `json:"chains"`
	Checkpoints int   `json:"checkpoints"`
}

// Verify walks the whole trail. It returns a *Break naming the first bad entry, so the
// operator knows where to start looking.
func (s *Service) Verify(ctx context.Context) (Report, error) {
	var r Report
	err := s.store.ReadTrail(ctx, func(cps []Checkpoint, heads []SealedHead, scan func(func(*Entry) error) error) error {
		v := NewVerifier(cps, heads, s.publicKey, s.headKey)
		v.Every = s.checkpointEvery
		if err := scan(v.Add); err != nil {
			return err
		}
		if err := v.Finish(); err != nil {
			return err
		}
		r = Report{Entries: v.Checked(), Chains: len(heads), Checkpoints: len(cps)}
		return nil
	})
	return r, err
}
