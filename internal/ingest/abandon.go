package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/stewardhq/steward/internal/vault"
)

// ActionCartsAbandoned is the audit action of a run that derived abandoned carts.
const ActionCartsAbandoned = "carts.abandoned"

// CartField is the profile field that says when the customer last abandoned a cart.
const CartField = "last_cart_abandoned_at"

// abandonBatch bounds the checkouts marked in one transaction.
const abandonBatch = 500

func (s *Service) now() time.Time { return s.clock() }

// MarkAbandonedCarts derives cart abandonment: every checkout started more than
// Config.CartAbandonAfter ago with no order since, not marked before, is marked, and its
// customer's last_cart_abandoned_at (when the catalog declares it) moves to the time that
// checkout started, if that is later than what the profile holds. The profile change is
// audited like any other, with one carts.abandoned entry per run of the transaction. It is
// idempotent — a cart is marked once — and runs periodically in the server, so reminders can
// be built from the profile field (or from GET /v1/carts/abandoned) without polling events.
// It returns how many carts it marked.
func (s *Service) MarkAbandonedCarts(ctx context.Context) (int, error) {
	s.init()
	after := s.config.CartAbandonAfter
	if after <= 0 {
		after = time.Hour
	}
	_, declared := s.catalog.Field(CartField)
	total := 0
	for {
		now := s.now()
		var n int
		err := s.store.IngestTx(ctx, func(ctx context.Context, tx Tx) error {
			st := &txState{s: s, tx: tx, b: &Batch{KeyID: "system"}, holders: map[string]*Holder{}, counts: map[string]map[string]int{},
				keys: map[string]*vault.DataKey{}, profiles: map[string]*profile{}, roots: map[string]string{}, now: now}
			carts, err := tx.AbandonCarts(ctx, now.Add(-after), now, abandonBatch)
			if err != nil {
				return err
			}
			n = len(carts)
			if n == 0 {
				return nil
			}
			st.abandoned = n
			if declared {
				latest := map[string]time.Time{}
				var order []string
				for _, c := range carts {
					root, err := tx.Root(ctx, c.CustomerID)
					if err != nil {
						return err
					}
					if _, ok := latest[root]; !ok {
						order = append(order, root)
					}
					if c.StartedAt.After(latest[root]) {
						latest[root] = c.StartedAt
					}
				}
				for _, root := range order {
					if err := st.abandonedAt(ctx, root, latest[root]); err != nil {
						return err
					}
				}
			}
			return st.flush(ctx, nil, nil, drops{})
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < abandonBatch {
			return total, nil
		}
	}
}

// abandonedAt moves a profile's last_cart_abandoned_at forward to at.
func (st *txState) abandonedAt(ctx context.Context, root string, at time.Time) error {
	pr, err := st.profile(ctx, root)
	if err != nil {
		return err
	}
	if old, ok := pr.values[CartField].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, old); err == nil && !at.After(t) {
			return nil
		}
	}
	v, _, err := st.s.norm.Value(CartField, at.UTC().Format(time.RFC3339))
	if err != nil {
		return fmt.Errorf("derive %s: %w", CartField, err)
	}
	_, err = st.applyTraits(ctx, root, map[string]any{CartField: v})
	return err
}
