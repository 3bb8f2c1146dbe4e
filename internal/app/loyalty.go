package app

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/offer"
)

// holdoutLabel keys the draw that puts customers in an offer's hold-out group.
const holdoutLabel = "offer holdout v1"

// openLoyalty builds the loyalty programme from the --loyalty file, or the built-in one, and
// the offers that use it.
func (a *App) openLoyalty(cfg config.Config) error {
	b := loyalty.DefaultYAML()
	if cfg.Loyalty != "" {
		var err error
		if b, err = os.ReadFile(cfg.Loyalty); err != nil {
			return fmt.Errorf("loyalty programme: %w", err)
		}
	}
	p, err := loyalty.Parse(b, a.Catalog)
	if err != nil {
		return err
	}
	if a.Loyalty, err = loyalty.New(loyalty.Deps{Programme: p, Catalog: a.Catalog, Store: a.Store.Loyalty(), Customers: a.Customers,
		Permissions: a.Consents, Audit: a.Store.Audit(), Clock: a.Clock}); err != nil {
		return err
	}
	// Merges move points in their own transactions, which need the programme's tiers.
	a.Store.SetLoyaltyRules(a.Loyalty.TransferRules())
	a.Offers, err = offer.New(offer.Deps{Store: a.Store.Offers(), Orders: a.Store.Offers(), Permissions: a.Consents, Loyalty: a.Loyalty,
		Trees: a.Store.Loyalty(), Segments: a.Store.Segments(), Catalog: a.Catalog, Audit: a.Store.Audit(), Secret: a.Keys.KeyedHash(holdoutLabel, nil), Clock: a.Clock})
	return err
}

// loyaltyEvery is how often a serving node settles commerce into the ledger; reads and
// redemptions settle their own member at once, so this only bounds how stale the ledger of
// a member nobody looks at may be.
const loyaltyEvery = 5 * time.Second

// loyaltyLoop settles the ledger every loyaltyEvery and, once an hour, moves tiers as the
// qualification window moves, writes off expired points and credits birthday bonuses.
func (a *App) loyaltyLoop(ctx context.Context, sys context.Context) {
	tick := time.NewTicker(loyaltyEvery)
	defer tick.Stop()
	var lastDaily time.Time
	for {
		if _, err := a.Loyalty.Settle(sys); err != nil && ctx.Err() == nil {
			a.Log.Error("settling the loyalty ledger failed", "err", err)
		}
		if time.Since(lastDaily) >= time.Hour {
			lastDaily = time.Now()
			a.loyaltyHousekeeping(sys)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// loyaltyHousekeeping runs the programme's periodic jobs once.
func (a *App) loyaltyHousekeeping(ctx context.Context) {
	if n, err := a.Loyalty.CarryMerged(ctx); err != nil && ctx.Err() == nil {
		a.Log.Error("moving the points of merged members failed", "err", err)
	} else if n > 0 {
		a.Log.Info("points of merged members moved", "members", n)
	}
	if n, err := a.Loyalty.RecomputeTiers(ctx); err != nil && ctx.Err() == nil {
		a.Log.Error("recomputing loyalty tiers failed", "err", err)
	} else if n > 0 {
		a.Log.Info("loyalty tiers moved", "members", n)
	}
	if n, err := a.Loyalty.Expire(ctx); err != nil && ctx.Err() == nil {
		a.Log.Error("expiring loyalty points failed", "err", err)
	} else if n > 0 {
		a.Log.Info("loyalty points expired", "members", n)
	}
	if n, err := a.Loyalty.Birthdays(ctx); err != nil && ctx.Err() == nil {
		a.Log.Error("crediting birthday bonuses failed", "err", err)
	} else if n > 0 {
		a.Log.Info("birthday bonuses credited", "members", n)
	}
}
