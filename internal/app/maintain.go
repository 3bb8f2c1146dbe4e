package app

import (
	"context"
	"time"

	"github.com/stewardhq/steward/internal/authz"
)

// maintainEvery is how often the serve loop finishes interrupted erasures, deletes expired
// export packages and finished import uploads, and derives abandoned carts.
const maintainEvery = time.Minute

// startMaintenance runs the periodic work of a serving node until ctx ends: resuming erasures
// a crash interrupted, deleting expired exports, the retention purge and scheduled backups
// when configured. The returned function waits for it to stop.
func (a *App) startMaintenance(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sys := authz.WithActor(ctx, authz.System)
		tick := time.NewTicker(maintainEvery)
		defer tick.Stop()
		lastBackup, lastRetention, lastScan := time.Now(), time.Now(), time.Now()
		a.maintainOnce(sys) // erasures interrupted by the crash that preceded this start
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			a.maintainOnce(sys)
			a.scanDue(sys, &lastScan)
			if a.Config.RetentionEvery > 0 && time.Since(lastRetention) >= a.Config.RetentionEvery {
				lastRetention = time.Now()
				if _, err := a.Retention.Run(sys); err != nil && ctx.Err() == nil {
					a.Log.Error("retention run failed", "err", err)
				}
			}
			if a.Config.BackupDir != "" && time.Since(lastBackup) >= a.Config.BackupEvery {
				lastBackup = time.Now()
				if name, err := a.ScheduledBackup(ctx, a.Config.BackupDir, a.Config.BackupKeep); err != nil {
					if ctx.Err() == nil {
						a.Log.Error("scheduled backup failed", "err", err)
					}
				} else {
					a.Log.Info("backup written", "file", name)
				}
			}
		}
	}()
	return func() { <-done }
}

func (a *App) maintainOnce(ctx context.Context) {
	if n, err := a.Rights.Resume(ctx); err != nil && ctx.Err() == nil {
		a.Log.Error("resuming erasures failed", "err", err)
	} else if n > 0 {
		a.Log.Info("resumed interrupted erasures", "count", n)
	}
	if _, err := a.Rights.PurgeExports(ctx); err != nil && ctx.Err() == nil {
		a.Log.Error("deleting expired exports failed", "err", err)
	}
	if n, err := a.Ingest.MarkAbandonedCarts(ctx); err != nil && ctx.Err() == nil {
		a.Log.Error("deriving abandoned carts failed", "err", err)
	} else if n > 0 {
		a.Log.Info("abandoned carts derived", "count", n)
	}
	if _, err := a.Segments.PurgeExports(ctx); err != nil && ctx.Err() == nil {
		a.Log.Error("deleting expired segment exports failed", "err", err)
	}
	if _, err := a.Imports.Sweep(ctx); err != nil && ctx.Err() == nil {
		a.Log.Error("deleting finished import uploads failed", "err", err)
	}
	// Creates leave their search tokens pending until enough wait; a quiet spell's few go now.
	if _, err := a.Store.Customers().MergeSearch(ctx); err != nil && ctx.Err() == nil {
		a.Log.Error("moving pending search tokens failed", "err", err)
	}
}
