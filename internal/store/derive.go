package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/ingest"
)

// Activity implements ingest.Tx: the few aggregates derived figures need, read inside the
// transaction so that the orders and events it has just written count. Amounts come back one
// by one, never summed here: the engine would add them as floats.
func (t *ingestTx) Activity(ctx context.Context, tree []string, parts ingest.ActivityParts, complaints, social []string, socialSince time.Time) (ingest.Activity, error) {
	as, err := t.Activities(ctx, [][]string{tree}, []ingest.ActivityParts{parts}, complaints, social, socialSince)
	if err != nil {
		return ingest.Activity{}, err
	}
	return as[0], nil
}

// Activities implements ingest.Tx. The orders and refunds of every tree come from one
// statement for all of them: a batch of deliveries names many customers who ordered, and a
// statement per customer was most of the time spent recomputing their figures. The other
// parts, which few events bear on, are read tree by tree.
func (t *ingestTx) Activities(ctx context.Context, trees [][]string, parts []ingest.ActivityParts, complaints, social []string, socialSince time.Time) ([]ingest.Activity, error) {
	out := make([]ingest.Activity, len(trees))
	owner := map[string]int{}
	var ids []string
	for i, tree := range trees {
		if parts[i]&ingest.PartOrders == 0 {
			continue
		}
		for _, id := range tree {
			if _, dup := owner[id]; !dup {
				owner[id] = i
				ids = append(ids, id)
			}
		}
	}
	if err := t.activityOrders(ctx, ids, owner, out); err != nil {
		return nil, err
	}
	for i, tree := range trees {
		if len(tree) == 0 {
			continue
		}
		if err := t.activityRest(ctx, tree, parts[i], complaints, social, socialSince, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// activityRest reads the parts of one tree's activity other than its orders.
func (t *ingestTx) activityRest(ctx context.Context, tree []string, parts ingest.ActivityParts, complaints, social []string, socialSince time.Time, a *ingest.Activity) error {
	if parts&ingest.PartReview != 0 {
		var rating, at int64
		err := t.db.txLookupRow(ctx, t.tx, reviewSQL(len(tree)), anyArgs(tree)...).Scan(&rating, &at)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			a.LastReview = &ingest.ActivityReview{Rating: rating, At: fromMicros(at)}
		}
	}
	var err error
	if parts&ingest.PartComplaints != 0 {
		if a.Complaints, err = t.countEvents(ctx, tree, complaints, 0); err != nil {
			return err
		}
	}
	if parts&ingest.PartSocial != 0 {
		a.Social, err = t.countEvents(ctx, tree, social, micros(socialSince))
	}
	return err
}

// activityOrders reads the orders and refunds of the customers ids into the activity of the
// tree each belongs to (owner): each order once with its refunds after it, a refund's row
// carrying the order it refunds. An order belongs to one customer, so its rows come together
// whichever statement reads them.
func (t *ingestTx) activityOrders(ctx context.Context, ids []string, owner map[string]int, out []ingest.Activity) error {
	chunks := 0
	err := inPadded(ids, func(args []any, n int) error {
		chunks++
		rows, err := t.db.txLookup(ctx, t.tx, t.db.sized[n].orders, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var o ingest.ActivityOrder
			var cust string
			var at int64
			var kind sql.NullString
			var amount sql.NullFloat64
			if err := rows.Scan(&cust, &o.OrderID, &o.Status, &o.Currency, &o.Total, &at, &kind, &amount); err != nil {
				return err
			}
			a := &out[owner[cust]]
			o.PlacedAt = fromMicros(at)
			if n := len(a.Orders); n == 0 || a.Orders[n-1].OrderID != o.OrderID {
				a.Orders = append(a.Orders, o)
			}
			if kind.Valid {
				a.Refunds = append(a.Refunds, ingest.ActivityRefund{OrderID: o.OrderID, Kind: kind.String, Amount: amount.Float64})
			}
		}
		return rows.Err()
	})
	if err != nil || chunks < 2 {
		return err
	}
	// A tree read in several statements gets its orders in the one order all of them have.
	for i := range out {
		slices.SortStableFunc(out[i].Orders, func(x, y ingest.ActivityOrder) int { return strings.Compare(x.OrderID, y.OrderID) })
		slices.SortStableFunc(out[i].Refunds, func(x, y ingest.ActivityRefund) int { return strings.Compare(x.OrderID, y.OrderID) })
	}
	return nil
}

// inPadded calls fn with the arguments of each IN (...) look-up of ids, the most a prepared
// statement takes at a time, the last list filled up to the next prepared length by repeating
// its last id, which changes nothing in a set: three ids are one statement of four, not two
// statements of two and one.
func inPadded(ids []string, fn func(args []any, n int) error) error {
	most := rowBatches[len(rowBatches)-1]
	for from := 0; from < len(ids); from += most {
		part := ids[from:min(len(ids), from+most)]
		n := rowBatches[0]
		for _, b := range rowBatches {
			if n = b; b >= len(part) {
				break
			}
		}
		args := make([]any, n)
		for i := range args {
			args[i] = part[min(i, len(part)-1)]
		}
		if err := fn(args, n); err != nil {
			return err
		}
	}
	return nil
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
	err := t.db.txLookupRow(ctx, t.tx, countEventsSQL(len(tree), len(names)), args...).Scan(&n)
	return n, err
}

// activityOrdersSQL reads the orders and refunds of n customers, each row naming its customer.
func activityOrdersSQL(n int) string {
	return `SELECT o.customer_id, o.order_id, o.status, o.currency, o.total, o.placed_at, r.kind, r.amount
		FROM orders o LEFT JOIN order_refunds r ON r.order_id = o.order_id
		WHERE o.customer_id IN (` + placeholders(1, n) + `) ORDER BY o.order_id, r.id`
}

func reviewSQL(n int) string {
	return `SELECT rating, at FROM reviews WHERE customer_id IN (` + placeholders(1, n) + `) ORDER BY at DESC, id DESC LIMIT 1`
}

func countEventsSQL(tree, names int) string {
	return `SELECT COUNT(*) FROM events WHERE customer_id IN (` + placeholders(1, tree) + `) AND type = 'track'
		AND name IN (` + placeholders(tree+1, names) + `) AND at >= $` + strconv.Itoa(tree+names+1)
}

// activityStatements are Activity's statements, other than the orders' (see sizedSQL), for a
// customer with no one merged into it, almost every customer whose figures a batch
// recomputes: prepared once up front (see core.prepareWrites) instead of parsed again for
// every event stored.
func activityStatements() []string {
	return []string{reviewSQL(1), countEventsSQL(1, len(ingest.ComplaintEvents)), countEventsSQL(1, len(ingest.SocialEvents))}
}

// RootCustomers implements ingest.Store.
func (db *Ingest) RootCustomers(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := db.query(ctx, `SELECT c.id FROM customers c WHERE c.id > $1
		AND NOT EXISTS (SELECT 1 FROM customer_links l WHERE l.customer_id = c.id) ORDER BY c.id LIMIT $2`, after, limit)
	return collect(db, rows, err, scanOne[string])
}
