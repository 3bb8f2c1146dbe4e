// Package retention enforces the catalog's retention periods: a purge removes each field
// whose period, counted from the customer's last activity, has run out, and customers
// inactive for longer than the configured period are erased exactly as an erasure request
// would erase them. A legal hold stops both. Planning and running share one code path, so
// the plan shows what the run will do.
package retention

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
)

// ActionRun is the audit action of a retention run; its fields carry the counts.
const ActionRun = "retention.run"

// Service plans and runs purges.
type Service struct {
	vault         *customer.Vault
	rights        *rights.Service
	catalog       *catalog.Catalog
	audit         audit.Store
	inactiveAfter catalog.Retention
	clock         clock.Clock
}

// Deps is what the retention service is built from; every field but Clock is required.
type Deps struct {
	// Vault walks and purges profiles; a purge writes its own audit entry.
	Vault *customer.Vault
	// Rights erases inactive customers exactly as an erasure request would.
	Rights  *rights.Service
	Catalog *catalog.Catalog
	Audit   audit.Store
	// Clock is the time retention counts from; nil is the system clock.
	Clock clock.Clock
}

// New builds the retention service. inactiveAfter erases customers without activity for
// that long; zero never does.
func New(d Deps, inactiveAfter catalog.Retention) (*Service, error) {
	if d.Vault == nil || d.Rights == nil || d.Catalog == nil || d.Audit == nil {
		return nil, errors.New("retention service: vault, rights service, catalog and audit store are required")
	}
	return &Service{vault: d.Vault, rights: d.Rights, catalog: d.Catalog, audit: d.Audit, inactiveAfter: inactiveAfter,
		clock: clock.Or(d.Clock)}, nil
}

// Plan is what a run does (or did): counts only, never values or ids.
type Plan struct {
	At        time.Time        `json:"at"`
	Scanned   int64            `json:"scanned"`
	Fields    map[string]int64 `json:"fields_purged"`
	Erase     int64            `json:"customers_erased"`
	Held      int64            `json:"customers_held"`
	Conflicts int64            `json:"skipped_changed,omitempty"`
}

// Plan computes what Run would do now, changing nothing.
func (s *Service) Plan(ctx context.Context) (Plan, error) { return s.walk(ctx, false) }

// Run purges and erases, and audits the run with its counts.
func (s *Service) Run(ctx context.Context) (Plan, error) {
	p, err := s.walk(ctx, true)
	if err != nil {
		return p, err
	}
	fields := []string{fmt.Sprintf("scanned=%d", p.Scanned), fmt.Sprintf("erased=%d", p.Erase), fmt.Sprintf("held=%d", p.Held)}
	for _, f := range sortedKeys(p.Fields) {
		fields = append(fields, fmt.Sprintf("purged:%s=%d", f, p.Fields[f]))
	}
	e := audit.New(ctx, ActionRun, "", fields, "legal_obligation")
	e.Target = "retention"
	return p, s.audit.AppendAudit(ctx, e)
}

func (s *Service) walk(ctx context.Context, apply bool) (Plan, error) {
	if _, err := authz.Require(ctx, s.catalog, "requests.manage"); err != nil {
		return Plan{}, err
	}
	now := s.clock()
	p := Plan{At: now, Fields: map[string]int64{}}
	held := map[string]bool{}
	holds, err := s.rights.LegalHolds(ctx)
	if err != nil {
		return p, err
	}
	for _, h := range holds {
		held[h.CustomerID] = true
	}
	after := ""
	for {
		recs, err := s.vault.Page(ctx, after, 500)
		if err != nil {
			return p, err
		}
		for _, r := range recs {
			p.Scanned++
			idle := now.Sub(r.UpdatedAt)
			inactive := !s.inactiveAfter.IsZero() && !s.inactiveAfter.UntilErasure && idle > s.inactiveAfter.Duration()
			expired := s.expired(r, idle)
			if !inactive && len(expired) == 0 {
				continue
			}
			if held[r.ID] {
				p.Held++
				continue
			}
			if inactive {
				// A customer merged into another is erased with the top of its tree, when
				// the top is inactive: erasing it alone would erase a part of an active
				// person, and erasing it as an erasure does (the whole tree) all of them.
				top, err := s.rights.Top(ctx, r.ID)
				if problem.Is(err, problem.NotFound) || (err == nil && top != r.ID) {
					continue
				}
				if err != nil {
					return p, err
				}
				p.Erase++
				if apply {
					_, err := s.rights.Erase(ctx, r.ID, "", "retention: inactive for longer than "+s.inactiveAfter.String())
					if problem.Is(err, problem.Conflict) {
						// A customer merged into this one is under legal hold, which holds
						// the whole person.
						p.Erase--
						p.Held++
						continue
					}
					if err != nil {
						return p, err
					}
				}
				continue
			}
			if apply {
				err := s.vault.Purge(ctx, r.ID, expired, r.Version)
				if problem.Is(err, problem.Conflict) || problem.Is(err, problem.NotFound) || problem.Is(err, problem.Gone) {
					p.Conflicts++ // changed or erased meanwhile: the next run looks again
					continue
				}
				if s.vault.Skip(ctx, r.ID, err) {
					continue // does not decrypt: counted and logged, the others are purged
				}
				if err != nil {
					return p, err
				}
			}
			for _, f := range expired {
				p.Fields[f]++
			}
		}
		if len(recs) < 500 {
			return p, nil
		}
		after = recs[len(recs)-1].ID
	}
}

// expired lists the stored fields whose retention ran out after idle without activity.
func (s *Service) expired(r *customer.Record, idle time.Duration) []string {
	var out []string
	check := func(name string) {
		f, ok := s.catalog.Field(name)
		if !ok || f.Retention.UntilErasure || f.Retention.IsZero() {
			return
		}
		if idle > f.Retention.Duration() {
			out = append(out, name)
		}
	}
	for name := range r.Sealed {
		check(name)
	}
	for name := range r.Plain {
		check(name)
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
