package audit

import (
	"context"
	"crypto/ed25519"
	"time"

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
	// ScanAudit calls fn for every entry in (chain, seq) order; fn's error stops the scan.
	ScanAudit(ctx context.Context, fn func(*Entry) error) error
	// AuditHeads returns the recorded head of every chain.
	AuditHeads(ctx context.Context) ([]Head, error)
	// AuditCheckpoints returns every signed checkpoint.
	AuditCheckpoints(ctx context.Context) ([]Checkpoint, error)
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

// Require returns Unauthenticated when ctx has no actor and Forbidden when the actor's role
// lacks permission. It lives beside Actor so every service checks permissions the same way.
func Require(ctx context.Context, cat *catalog.Catalog, permission string) (Actor, error) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return a, problem.New(problem.Unauthenticated, "authentication required")
	}
	if !cat.RoleHas(a.Role, permission) {
		return a, problem.Forbiddenf("role %q lacks permission %q", a.Role, permission)
	}
	return a, nil
}

// Service reads and verifies the trail.
type Service struct {
	Store     Store
	Catalog   *catalog.Catalog
	PublicKey ed25519.PublicKey
	// CheckpointEvery is the interval the trail is checkpointed at; Verify requires every
	// checkpoint. Zero skips that check.
	CheckpointEvery int64
}

// MaxPage bounds one listing so an auditor's query cannot exhaust the server.
const MaxPage = 1000

// List returns a page of entries for callers with audit.read, newest first, and records that
// the trail itself was read.
func (s *Service) List(ctx context.Context, f Filter) ([]Entry, error) {
	if _, err := Require(ctx, s.Catalog, "audit.read"); err != nil {
		return nil, err
	}
	if f.Limit <= 0 || f.Limit > MaxPage {
		f.Limit = 100
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return nil, problem.InvalidField("until", "is before since")
	}
	entries, err := s.Store.ListAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	if err := s.Store.AppendAudit(ctx, New(ctx, ActionAuditRead, f.CustomerID, nil, "")); err != nil {
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
	cps, err := s.Store.AuditCheckpoints(ctx)
	if err != nil {
		return Report{}, err
	}
	heads, err := s.Store.AuditHeads(ctx)
	if err != nil {
		return Report{}, err
	}
	v := NewVerifier(cps, s.PublicKey)
	v.Every = s.CheckpointEvery
	if err := s.Store.ScanAudit(ctx, v.Add); err != nil {
		return Report{}, err
	}
	if err := v.Finish(heads); err != nil {
		return Report{}, err
	}
	return Report{Entries: v.Checked(), Chains: len(heads), Checkpoints: len(cps)}, nil
}
