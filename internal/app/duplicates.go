package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/duplicate"
)

// openDuplicates builds duplicate detection with its survivorship rules and source priority,
// checked against the catalog.
func (a *App) openDuplicates(cfg config.Config) (*duplicate.Service, error) {
	rules := cfg.SurvivorshipRules()
	for f := range rules {
		if _, ok := a.Catalog.Field(f); !ok && f != "address" && !strings.HasSuffix(f, "_address") {
			return nil, fmt.Errorf("survivorship: %s is not a field of the data catalog", f)
		}
	}
	priority := cfg.SourceRoles()
	for _, r := range priority {
		if _, ok := a.Catalog.Role(r); !ok && r != "system" {
			return nil, fmt.Errorf("source-priority: %s is not a role of the data catalog", r)
		}
	}
	dc := duplicate.Config{ReviewThreshold: cfg.DuplicateReviewThreshold, MergeThreshold: cfg.DuplicateMergeThreshold,
		Rules: rules, SourcePriority: priority, DefaultRegion: cfg.DefaultRegion}
	return duplicate.New(duplicate.Deps{Store: a.Store.Duplicates(), Vault: a.Vault, Consents: a.Consents, Ingest: a.Ingest,
		Jobs: a.Store.Jobs(), Keys: a.Keys, Catalog: a.Catalog, Monitor: a.Monitor, Clock: a.Clock, Audit: a.Store.Audit()}, dc)
}

// scanDue runs a duplicate scan when the scan interval has passed since the last (ctx
// carries the system actor). Scans on several nodes at once are harmless: pairs are stored
// once per customer pair and a merge checks its pair is still pending.
func (a *App) scanDue(ctx context.Context, last *time.Time) {
	if a.Config.DuplicateScanEvery <= 0 || time.Since(*last) < a.Config.DuplicateScanEvery {
		return
	}
	*last = time.Now()
	res, err := a.Duplicates.Scan(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.Log.Error("duplicate scan failed", "err", err)
		}
		return
	}
	a.Log.Info("duplicate scan", "refreshed", res.Refreshed, "candidates", res.Candidates, "pairs", res.Pairs, "auto_merged", res.AutoMerged)
}
