package app

import (
	"context"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/ingest"
)

// openIngest wires collection: the event schema checked against the catalog, and the
// settings that tune minimisation and deduplication.
func (a *App) openIngest(cfg config.Config) (*ingest.Service, error) {
	schema, err := ingest.DefaultSchema(a.Catalog)
	if cfg.EventSchema != "" {
		schema, err = ingest.LoadSchema(cfg.EventSchema, a.Catalog)
	}
	if err != nil {
		return nil, err
	}
	return ingest.New(ingest.Deps{Store: a.Store.Ingest(), Vault: a.Vault, Customers: a.Customers, Audit: a.Store.Audit(), Keys: a.Keys,
		Catalog: a.Catalog, Schema: schema, Ledger: a.Consents, Merger: a.Consents, Clock: a.Clock},
		ingest.Config{DedupWindow: cfg.DedupWindow, PIIMode: cfg.PIIMode, IPMode: cfg.IPMode, CartAbandonAfter: cfg.CartAbandonAfter})
}

// purgeLoop forgets message ids older than the deduplication window and deletes events past
// their retention, every interval until ctx ends.
func (a *App) purgeLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	ctx = authz.WithActor(ctx, authz.System)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for ctx.Err() == nil {
			n, err := a.Ingest.Purge(ctx, time.Now())
			if err != nil {
				if ctx.Err() == nil {
					a.Log.Error("ingest purge failed", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
	}
}

// flushLoop writes the sources' delivery counters every interval until ctx ends.
func (a *App) flushLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.Sources.Flush(ctx); err != nil && ctx.Err() == nil {
			a.Log.Error("writing source counters failed", "err", err)
		}
	}
}
