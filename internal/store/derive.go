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
func (t *ingestTx) Activity(ctx context.Context, tree []string, complaints, social []string, socialSince time.Time) (ingest.Activity, error) {
	var a ingest.Activity
	if len(tree) == 0 {
		return a, nil
	}
	in := placeholders(1, len(tree))
	args := anyArgs(tree)
	rows, err := t.tx.QueryContext(ctx, `SELECT order_id, status, currency, total, placed_at FROM orders WHERE customer_id IN (`+in+`)`, args...)
	if err != nil {
		return a, err
	}
	for rows.Next() {
		var o ingest.ActivityOrder
		var at int64
		if err := rows.Scan(&o.OrderID, &o.Status, &o.Currency, &o.Total, &at); err != nil {
			rows.Close()
			return a, err
		}
		o.PlacedAt = fromMicros(at)
		a.Orders = append(a.Orders, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return a, err
	}
	rows, err = t.tx.QueryContext(ctx, `SELECT r.order_id, r.kind, r.amount FROM order_refunds r JOIN orders o ON o.order_id = r.order_id
		WHERE o.customer_id IN (`+in+`) ORDER BY r.id`, args...)
	if err != nil {
		return a, err
	}
	for rows.Next() {
		var r ingest.ActivityRefund
		if err := rows.Scan(&r.OrderID, &r.Kind, &r.Amount); err != nil {
			rows.Close()
			return a, err
		}
		a.Refunds = append(a.Refunds, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return a, err
	}
	var rating, at int64
	err = t.tx.QueryRowContext(ctx, `SELECT rating, at FROM reviews WHERE customer_id IN (`+in+`) ORDER BY at DESC, id DESC LIMIT 1`, args...).Scan(&rating, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return a, err
	default:
		a.LastReview = &ingest.ActivityReview{Rating: rating, At: fromMicros(at)}
	}
	if a.Complaints, err = t.countEvents(ctx, tree, complaints, 0); err != nil {
		return a, err
	}
	a.Social, err = t.countEvents(ctx, tree, social, micros(socialSince))
	return a, err
}

// countEvents counts the track events of tree named one of names, at or after since (in
// microseconds; 0 for all).
func (t *ingestTx) countEvents(ctx context.Context, tree, names []string, since int64) (int64, error) {
	if len(names) == 0 {
		return 0, nil
	}
	args := append(anyArgs(tree), anyArgs(names)...)
	args = append(args, since)
	q := `SELECT COUNT(*) FROM events WHERE customer_id IN (` + placeholders(1, len(tree)) + `) AND type = 'track'
		AND name IN (` + placeholders(len(tree)+1, len(names)) + `) AND at >= $` + strconv.Itoa(len(tree)+len(names)+1)
	var n int64
	err := t.tx.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
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
