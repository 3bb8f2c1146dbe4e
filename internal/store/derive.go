package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/ingest"
)

// Activity implements ingest.Tx: the few aggregates derived figures need, read inside the
// transaction so that the orders and events it has just written count. Amounts come back one
// by one, never summed here: the engine would add them as floats.
func (t *ingestTx) Activity(ctx context.Context, tree []string, parts ingest.ActivityParts, complaints, social []string, socialSince time.Time) (ingest.Activity, error) {
	var a ingest.Activity
	if len(tree) == 0 {
		return a, nil
	}
	q := activitySQL(len(tree))
	args := anyArgs(tree)
	if parts&ingest.PartOrders != 0 {
		if err := t.activityOrders(ctx, q, args, &a); err != nil {
			return a, err
		}
	}
	if parts&ingest.PartReview != 0 {
		var rating, at int64
		err := t.db.txQueryRow(ctx, t.tx, q.review, args...).Scan(&rating, &at)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return a, err
		default:
			a.LastReview = &ingest.ActivityReview{Rating: rating, At: fromMicros(at)}
		}
	}
	var err error
	if parts&ingest.PartComplaints != 0 {
		if a.Complaints, err = t.countEvents(ctx, tree, complaints, 0); err != nil {
			return a, err
		}
	}
	if parts&ingest.PartSocial != 0 {
		a.Social, err = t.countEvents(ctx, tree, social, micros(socialSince))
	}
	return a, err
}

// activityOrders reads the orders and refunds of Activity in one statement: each order once
// with its refunds after it, a refund's row carrying the order it refunds.
func (t *ingestTx) activityOrders(ctx context.Context, q activityQueries, args []any, a *ingest.Activity) error {
	rows, err := t.query(ctx, q.orders, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var o ingest.ActivityOrder
		var at int64
		var kind sql.NullString
		var amount sql.NullFloat64
		if err := rows.Scan(&o.OrderID, &o.Status, &o.Currency, &o.Total, &at, &kind, &amount); err != nil {
			return err
		}
		o.PlacedAt = fromMicros(at)
		if n := len(a.Orders); n == 0 || a.Orders[n-1].OrderID != o.OrderID {
			a.Orders = append(a.Orders, o)
		}
		if kind.Valid {
			a.Refunds = append(a.Refunds, ingest.ActivityRefund{OrderID: o.OrderID, Kind: kind.String, Amount: amount.Float64})
		}
	}
	return rows.Err()
}

// countEvents counts the track events of tree named one of names, at or after since (in
// microseconds; 0 for all).
func (t *ingestTx) countEvents(ctx context.Context, tree, names []string, since int64) (int64, error) {
	if len(names) == 0 {
		return 0, nil
	}
	args := append(anyArgs(tree), anyArgs(names)...)
	args = append(args, since)
	var n int64
	err := t.db.txQueryRow(ctx, t.tx, countEventsSQL(len(tree), len(names)), args...).Scan(&n)
	return n, err
}

// activityQueries are the statements Activity runs for a tree of n customers.
type activityQueries struct{ orders, review string }

func activitySQL(n int) activityQueries {
	in := placeholders(1, n)
	return activityQueries{
		orders: `SELECT o.order_id, o.status, o.currency, o.total, o.placed_at, r.kind, r.amount
		FROM orders o LEFT JOIN order_refunds r ON r.order_id = o.order_id
		WHERE o.customer_id IN (` + in + `) ORDER BY o.order_id, r.id`,
		review: `SELECT rating, at FROM reviews WHERE customer_id IN (` + in + `) ORDER BY at DESC, id DESC LIMIT 1`,
	}
}

func countEventsSQL(tree, names int) string {
	return `SELECT COUNT(*) FROM events WHERE customer_id IN (` + placeholders(1, tree) + `) AND type = 'track'
		AND name IN (` + placeholders(tree+1, names) + `) AND at >= $` + strconv.Itoa(tree+names+1)
}

// activityStatements are Activity's statements for a customer with no one merged into it,
// almost every customer whose figures a batch recomputes: prepared once up front (see
// core.prepareWrites) instead of parsed again for every order stored.
func activityStatements() []string {
	q := activitySQL(1)
	return []string{q.orders, q.review, countEventsSQL(1, len(ingest.ComplaintEvents)), countEventsSQL(1, len(ingest.SocialEvents))}
}

// RootCustomers implements ingest.Store.
func (db *Ingest) RootCustomers(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := db.query(ctx, `SELECT c.id FROM customers c WHERE c.id > $1
		AND NOT EXISTS (SELECT 1 FROM customer_links l WHERE l.customer_id = c.id) ORDER BY c.id LIMIT $2`, after, limit)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, db.translate(err)
		}
		out = append(out, id)
	}
	return out, db.translate(rows.Err())
}
