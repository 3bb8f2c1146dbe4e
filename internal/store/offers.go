package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/offer"
	"github.com/stewardhq/steward/internal/problem"
)

// Offers is the repository of the offer catalogue, its exposures and redemptions, and the
// order facts eligibility and recommendations read.
type Offers struct{ *core }

var (
	_ offer.Store      = (*Offers)(nil)
	_ offer.OrderFacts = (*Offers)(nil)
)

// Offers is the offers' repository.
func (e *Engine) Offers() *Offers { return &Offers{e.db} }

const offerColumns = `id, code, description, reward_kind, reward_value, valid_from, valid_until, eligibility, cap_count, cap_days, purpose, products, holdout, created_at`

// CreateOffer implements offer.Store; a code in use is a Conflict.
func (db *Offers) CreateOffer(ctx context.Context, o offer.Offer, entries []audit.Entry) error {
	elig, _ := json.Marshal(o.Eligibility)
	prods, _ := json.Marshal(o.Products)
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO offers (`+offerColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			o.ID, o.Code, o.Description, o.Reward.Kind, o.Reward.Value, micros(o.ValidFrom), micros(o.ValidUntil), string(elig),
			o.FrequencyCap.Count, o.FrequencyCap.Days, o.Purpose, string(prods), o.Holdout, micros(o.CreatedAt)); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
	if problem.Is(err, problem.Conflict) {
		return problem.InvalidField("code", "offer %s exists already", o.Code)
	}
	return err
}

func scanOffer(row rowScanner) (offer.Offer, error) {
	var o offer.Offer
	var from, until, created int64
	var elig, prods string
	err := row.Scan(&o.ID, &o.Code, &o.Description, &o.Reward.Kind, &o.Reward.Value, &from, &until, &elig, &o.FrequencyCap.Count,
		&o.FrequencyCap.Days, &o.Purpose, &prods, &o.Holdout, &created)
	if err != nil {
		return o, err
	}
	o.ValidFrom, o.ValidUntil, o.CreatedAt = fromMicros(from), fromMicros(until), fromMicros(created)
	if err := json.Unmarshal([]byte(elig), &o.Eligibility); err != nil {
		return o, err
	}
	if o.Eligibility == nil {
		o.Eligibility = []offer.Condition{}
	}
	return o, json.Unmarshal([]byte(prods), &o.Products)
}

// GetOffer implements offer.Store.
func (db *Offers) GetOffer(ctx context.Context, code string) (offer.Offer, error) {
	o, err := scanOffer(db.queryRow(ctx, `SELECT `+offerColumns+` FROM offers WHERE code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return o, problem.NotFoundf("offer not found")
	}
	return o, db.translate(err)
}

// ListOffers implements offer.Store.
func (db *Offers) ListOffers(ctx context.Context) ([]offer.Offer, error) {
	rows, err := db.query(ctx, `SELECT `+offerColumns+` FROM offers ORDER BY created_at, code`)
	out, err := collect(db, rows, err, scanOffer)
	if out == nil {
		out = []offer.Offer{}
	}
	return out, err
}

// Expose implements offer.Store: the first evaluation decides the group and the time from
// which the customer's orders count for the uplift.
func (db *Offers) Expose(ctx context.Context, xs []offer.Exposure) error {
	if len(xs) == 0 {
		return nil
	}
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, x := range xs {
			h := 0
			if x.Holdout {
				h = 1
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO offer_exposures (offer_id, customer_id, holdout, at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (offer_id, customer_id) DO NOTHING`, x.OfferID, x.CustomerID, h, micros(x.At)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Redeem implements offer.Store. The count and the insert share the transaction, so two
// redemptions at once cannot both slip under the cap.
func (db *Offers) Redeem(ctx context.Context, offerID, customerID, orderID string, since time.Time, limit int, at time.Time, entries []audit.Entry) error {
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO offer_redemptions (offer_id, customer_id, order_id, at) VALUES ($1, $2, $3, $4)`,
			offerID, customerID, orderID, micros(at)); err != nil {
			return err
		}
		if limit > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM offer_redemptions WHERE offer_id = $1 AND customer_id = $2 AND at >= $3`,
				offerID, customerID, micros(since)).Scan(&n); err != nil {
				return err
			}
			if n > limit {
				return problem.Conflictf("the offer's frequency cap is reached for this customer")
			}
		}
		return db.appendAudit(ctx, tx, entries)
	})
	if problem.Is(err, problem.Conflict) && problem.Detail(err) != "the offer's frequency cap is reached for this customer" {
		return problem.Conflictf("order_id: the offer was already redeemed against this order")
	}
	return err
}

// Redemptions implements offer.Store.
func (db *Offers) Redemptions(ctx context.Context, offerID, customerID string, since time.Time) (int, error) {
	var n int
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM offer_redemptions WHERE offer_id = $1 AND customer_id = $2 AND at >= $3`,
		offerID, customerID, micros(since)).Scan(&n)
	return n, db.translate(err)
}

// Uplift implements offer.Store: per group, the customers evaluated and those who placed an
// order (not cancelled) at or after their evaluation.
func (db *Offers) Uplift(ctx context.Context, offerID string) (offer.Uplift, error) {
	var u offer.Uplift
	rows, err := db.sweep().QueryContext(ctx, `SELECT x.holdout, COUNT(*), COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM orders o
		WHERE o.customer_id = x.customer_id AND o.placed_at >= x.at AND o.status <> 'cancelled') THEN 1 ELSE 0 END), 0)
		FROM offer_exposures x WHERE x.offer_id = $1 GROUP BY x.holdout`, offerID)
	if err != nil {
		return u, db.translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var h, n, ordered int
		if err := rows.Scan(&h, &n, &ordered); err != nil {
			return u, db.translate(err)
		}
		if h == 1 {
			u.Holdout, u.HoldoutOrdered = n, ordered
		} else {
			u.Shown, u.ShownOrdered = n, ordered
		}
	}
	if err := rows.Err(); err != nil {
		return u, db.translate(err)
	}
	err = db.queryRow(ctx, `SELECT COUNT(*) FROM offer_redemptions WHERE offer_id = $1`, offerID).Scan(&u.Redemptions)
	return u, db.translate(err)
}

// Spend implements offer.OrderFacts.
func (db *Offers) Spend(ctx context.Context, ids []string, since time.Time) (float64, error) {
	var f float64
	args := append(anyArgs(ids), micros(since))
	err := db.read.QueryRowContext(ctx, `SELECT COALESCE(SUM(total - refunded), 0) FROM orders WHERE customer_id IN (`+placeholders(1, len(ids))+`)
		AND placed_at >= $`+strconv.Itoa(len(args))+` AND status <> 'cancelled'`, args...).Scan(&f)
	return f, db.translate(err)
}

// Order implements offer.OrderFacts.
func (db *Offers) Order(ctx context.Context, orderID string) (string, float64, error) {
	var id string
	var total float64
	err := db.queryRow(ctx, `SELECT customer_id, total FROM orders WHERE order_id = $1`, orderID).Scan(&id, &total)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, problem.NotFoundf("order not found")
	}
	return id, total, db.translate(err)
}

// Baskets implements offer.OrderFacts.
func (db *Offers) Baskets(ctx context.Context, ids []string, limit int, fn func(customerID string, products []string)) error {
	if len(ids) == 0 {
		return nil
	}
	args := append(anyArgs(ids), limit)
	rows, err := db.sweep().QueryContext(ctx, `SELECT customer_id, items FROM orders WHERE customer_id IN (`+placeholders(1, len(ids))+`)
		AND status <> 'cancelled' ORDER BY placed_at DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return db.translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var customerID, items string
		if err := rows.Scan(&customerID, &items); err != nil {
			return db.translate(err)
		}
		var lines []struct {
			ProductID string `json:"product_id"`
			SKU       string `json:"sku"`
		}
		if json.Unmarshal([]byte(items), &lines) != nil {
			continue
		}
		ps := make([]string, 0, len(lines))
		for _, l := range lines {
			if l.ProductID != "" {
				ps = append(ps, l.ProductID)
			} else if l.SKU != "" {
				ps = append(ps, l.SKU)
			}
		}
		fn(customerID, ps)
	}
	return db.translate(rows.Err())
}

// Buyers implements offer.OrderFacts.
func (db *Offers) Buyers(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := db.sweep().QueryContext(ctx, `SELECT DISTINCT customer_id FROM orders WHERE customer_id > $1 ORDER BY customer_id LIMIT $2`, after, limit)
	return collect(db, rows, err, scanText)
}
