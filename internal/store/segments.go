package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/segment"
)

// Segments is the repository of segments, memberships, audience exports, destinations and
// their deliveries, and the rows trends count. It holds customer ids only.
type Segments struct{ *core }

var (
	_ segment.Store            = (*Segments)(nil)
	_ segment.ExportStore      = (*Segments)(nil)
	_ segment.DestinationStore = (*Segments)(nil)
	_ segment.TrendStore       = (*Segments)(nil)
)

const segmentColumns = `id, name, purpose, rule, min_cohort, created_at, refreshed_at`

func scanSegment(row rowScanner) (segment.Segment, error) {
	var s segment.Segment
	var rule string
	var at, refreshed int64
	if err := row.Scan(&s.ID, &s.Name, &s.Purpose, &rule, &s.MinCohort, &at, &refreshed); err != nil {
		return s, err
	}
	s.CreatedAt = fromMicros(at)
	if refreshed > 0 {
		t := fromMicros(refreshed)
		s.RefreshedAt = &t
	}
	return s, json.Unmarshal([]byte(rule), &s.Rule)
}

// CreateSegment implements segment.Store.
func (db *Segments) CreateSegment(ctx context.Context, s segment.Segment, entries []audit.Entry) error {
	rule, err := json.Marshal(s.Rule)
	if err != nil {
		return err
	}
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO segments (`+segmentColumns+`) VALUES ($1, $2, $3, $4, $5, $6, 0)`,
			s.ID, s.Name, s.Purpose, string(rule), s.MinCohort, micros(s.CreatedAt)); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// Segment implements segment.Store.
func (db *Segments) Segment(ctx context.Context, id string) (segment.Segment, error) {
	s, err := scanSegment(db.queryRow(ctx, `SELECT `+segmentColumns+` FROM segments WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, problem.NotFoundf("segment not found")
	}
	return s, db.translate(err)
}

// Segments implements segment.Store.
func (db *Segments) Segments(ctx context.Context) ([]segment.Segment, error) {
	rows, err := db.query(ctx, `SELECT `+segmentColumns+` FROM segments ORDER BY created_at, id`)
	return collect(db, rows, err, scanSegment)
}

// CountMembers implements segment.Store.
func (db *Segments) CountMembers(ctx context.Context, segmentID string) (int64, error) {
	var n int64
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM segment_members WHERE segment_id = $1`, segmentID).Scan(&n)
	return n, db.translate(err)
}

// Members implements segment.Store.
func (db *Segments) Members(ctx context.Context, segmentID, after string, limit int) ([]string, error) {
	rows, err := db.query(ctx, `SELECT customer_id FROM segment_members WHERE segment_id = $1 AND customer_id > $2
		ORDER BY customer_id LIMIT $3`, segmentID, after, limit)
	return collect(db, rows, err, scanString)
}

func scanString(row rowScanner) (string, error) {
	var s string
	err := row.Scan(&s)
	return s, err
}

// Memberships implements segment.Store.
func (db *Segments) Memberships(ctx context.Context, ids []string) (map[string][]string, error) {
	out := make(map[string][]string, len(ids))
	err := db.eachOf(ctx, ids, nil, `SELECT customer_id, segment_id FROM segment_members WHERE customer_id IN (`+db.idList(1)+`)`,
		func(row rowScanner) error {
			var c, s string
			err := row.Scan(&c, &s)
			out[c] = append(out[c], s)
			return err
		})
	return out, err
}

// eachOf runs q over ids in batches — the ids bound after lead as one JSON array, which q
// reads through idList — and calls scan for every row.
func (db *Segments) eachOf(ctx context.Context, ids []string, lead []any, q string, scan func(rowScanner) error) error {
	return db.translate(batches(ids, lead, func(args []any) error {
		rows, err := db.queryMany(ctx, len(ids), q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}))
}

// ApplyChanges implements segment.Store.
func (db *Segments) ApplyChanges(ctx context.Context, changes []segment.Change) (int, error) {
	applied := 0
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		applied = 0
		dests := map[string][]string{}
		for _, c := range changes {
			ok, err := applyChangeWith(ctx, tx, c, dests)
			if err != nil {
				return err
			}
			if ok {
				applied++
			}
		}
		return nil
	})
	return applied, err
}

// applyChange adds or removes one membership and, when that changed anything, writes the
// history row and queues a delivery for every destination of the segment.
func applyChange(ctx context.Context, tx *sql.Tx, c segment.Change) (bool, error) {
	return applyChangeWith(ctx, tx, c, map[string][]string{})
}

// applyChangeWith is applyChange with the destinations of segments already looked up in this
// transaction kept in dests.
func applyChangeWith(ctx context.Context, tx *sql.Tx, c segment.Change, dests map[string][]string) (bool, error) {
	var res sql.Result
	var err error
	action := segment.ActionRemove
	if c.Entered {
		action = segment.ActionUpsert
		res, err = tx.ExecContext(ctx, `INSERT INTO segment_members (segment_id, customer_id, entered_at) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, c.SegmentID, c.CustomerID, micros(c.At))
	} else {
		res, err = tx.ExecContext(ctx, `DELETE FROM segment_members WHERE segment_id = $1 AND customer_id = $2`, c.SegmentID, c.CustomerID)
	}
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	entered := 0
	if c.Entered {
		entered = 1
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO segment_history (segment_id, customer_id, entered, reason, at) VALUES ($1, $2, $3, $4, $5)`,
		c.SegmentID, c.CustomerID, entered, c.Reason, micros(c.At)); err != nil {
		return false, err
	}
	ds, ok := dests[c.SegmentID]
	if !ok {
		var err error
		if ds, err = destinationsOf(ctx, tx, c.SegmentID); err != nil {
			return false, err
		}
		dests[c.SegmentID] = ds
	}
	for _, d := range ds {
		if err := insertDelivery(ctx, tx, d, c.CustomerID, action, c.At); err != nil {
			return false, err
		}
	}
	return true, nil
}

// destinationsOf lists the destinations of segmentID.
func destinationsOf(ctx context.Context, tx *sql.Tx, segmentID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM destinations WHERE segment_id = $1`, segmentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var dests []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		dests = append(dests, id)
	}
	return dests, rows.Err()
}

func insertDelivery(ctx context.Context, tx *sql.Tx, destID, customerID, action string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO destination_deliveries (destination_id, customer_id, action, idem_key, state, attempts,
		next_at, last_status, last_error, created_at, delivered_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, 0, '', $5, 0)`,
		destID, customerID, action, ident.New(), micros(at))
	return err
}

// leaveSegments is the erasure of a customer's memberships: each one leaves with reason
// "gone", so that every destination that was sent the customer is sent a removal.
func (db *Rights) leaveSegments(ctx context.Context, customerID string) (int64, error) {
	var n int64
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `SELECT segment_id FROM segment_members WHERE customer_id = $1`, customerID)
		if err != nil {
			return err
		}
		var segs []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return err
			}
			segs = append(segs, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := time.Now().UTC()
		for _, s := range segs {
			ok, err := applyChange(ctx, tx, segment.Change{SegmentID: s, CustomerID: customerID, Reason: segment.ReasonGone, At: now})
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		return nil
	})
	return n, err
}

// Orphans implements segment.Store.
func (db *Segments) Orphans(ctx context.Context) ([]string, error) {
	rows, err := db.queryMany(ctx, 1<<20, `SELECT DISTINCT m.customer_id FROM segment_members m
		WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = m.customer_id)
		OR EXISTS (SELECT 1 FROM customer_links l WHERE l.customer_id = m.customer_id)`)
	return collect(db, rows, err, scanString)
}

// SetRefreshed implements segment.Store.
func (db *Segments) SetRefreshed(ctx context.Context, at time.Time) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE segments SET refreshed_at = $1`, micros(at))
		return err
	})
}

// History implements segment.Store.
func (db *Segments) History(ctx context.Context, segmentID string, limit int) ([]segment.Change, error) {
	rows, err := db.query(ctx, `SELECT segment_id, customer_id, entered, reason, at FROM segment_history WHERE segment_id = $1
		ORDER BY id DESC LIMIT $2`, segmentID, limit)
	return collect(db, rows, err, func(row rowScanner) (segment.Change, error) {
		var c segment.Change
		var entered, at int64
		err := row.Scan(&c.SegmentID, &c.CustomerID, &entered, &c.Reason, &at)
		c.Entered, c.At = entered == 1, fromMicros(at)
		return c, err
	})
}

// Changed implements segment.Store. The feed is four high-water marks: events received,
// audit entries written (profile changes, consents, erasures, merges), consent records, and
// suppression entries — whose customers are those sharing the entry's blind-index token (a few
// extra candidates are only decided again). On an engine with snapshots the marks alone could
// skip a row that commits late; see changedBehind.
func (db *Segments) Changed(ctx context.Context, cursor string, limit int) ([]string, string, error) {
	if db.d.Snapshots {
		return db.changedBehind(ctx, cursor, limit)
	}
	var marks [4]int64
	if cursor == "" {
		if err := feedMaxima(ctx, db.read, &marks); err != nil {
			return nil, "", db.translate(err)
		}
		return nil, formatMarks(marks), nil
	}
	if _, err := fmt.Sscanf(cursor, "%d.%d.%d.%d", &marks[0], &marks[1], &marks[2], &marks[3]); err != nil {
		return nil, "", fmt.Errorf("segment change cursor %q: %w", cursor, err)
	}
	var found feedFound
	if err := found.after(ctx, db.read, &marks, limit); err != nil {
		return nil, "", db.translate(err)
	}
	return found.ids, formatMarks(marks), nil
}

func formatMarks(m [4]int64) string { return fmt.Sprintf("%d.%d.%d.%d", m[0], m[1], m[2], m[3]) }

// --- exports

const exportColumns = `id, segment_id, purpose, state, members, allowed, denied, token_hash, actor_id, created_at, expires_at`

// CreateExport implements segment.ExportStore.
func (db *Segments) CreateExport(ctx context.Context, e segment.Export, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO segment_exports (`+exportColumns+`) VALUES ($1, $2, $3, $4, 0, 0, 0, $5, $6, $7, $8)`,
			e.ID, e.SegmentID, e.Purpose, e.State, e.TokenHash, e.Actor, micros(e.CreatedAt), micros(e.ExpiresAt)); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// GetExport implements segment.ExportStore.
func (db *Segments) GetExport(ctx context.Context, id string) (segment.Export, error) {
	var e segment.Export
	var at, exp int64
	err := db.queryRow(ctx, `SELECT `+exportColumns+` FROM segment_exports WHERE id = $1`, id).Scan(&e.ID, &e.SegmentID, &e.Purpose,
		&e.State, &e.Members, &e.Allowed, &e.Denied, &e.TokenHash, &e.Actor, &at, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return e, problem.NotFoundf("export not found")
	}
	e.CreatedAt, e.ExpiresAt = fromMicros(at), fromMicros(exp)
	return e, db.translate(err)
}

// AddExportMembers implements segment.ExportStore.
func (db *Segments) AddExportMembers(ctx context.Context, id string, allowed []string, members, denied int64) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		added := int64(0)
		for _, c := range allowed {
			res, err := tx.ExecContext(ctx, `INSERT INTO segment_export_members (export_id, customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, c)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			added += n
		}
		if added == 0 && len(allowed) > 0 {
			return nil // a repeated step: counted already
		}
		_, err := tx.ExecContext(ctx, `UPDATE segment_exports SET state = 'running', members = members + $1, allowed = allowed + $2,
			denied = denied + $3 WHERE id = $4`, members, added, denied, id)
		return err
	})
}

// FinishExport implements segment.ExportStore.
func (db *Segments) FinishExport(ctx context.Context, id, state string, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE segment_exports SET state = $1 WHERE id = $2`, state, id); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// ExportMembers implements segment.ExportStore.
func (db *Segments) ExportMembers(ctx context.Context, id, after string, limit int) ([]string, error) {
	rows, err := db.query(ctx, `SELECT customer_id FROM segment_export_members WHERE export_id = $1 AND customer_id > $2
		ORDER BY customer_id LIMIT $3`, id, after, limit)
	return collect(db, rows, err, scanString)
}

// PurgeExports implements segment.ExportStore.
func (db *Segments) PurgeExports(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM segment_export_members WHERE export_id IN
			(SELECT id FROM segment_exports WHERE expires_at <= $1)`, micros(now)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM segment_exports WHERE expires_at <= $1`, micros(now))
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return n, err
}

// --- destinations

const destinationColumns = `id, name, kind, segment_id, purpose, fields, url, master_version, dkey, secret, created_at`

func scanDestination(row rowScanner) (segment.Destination, error) {
	var d segment.Destination
	var fields string
	var at int64
	if err := row.Scan(&d.ID, &d.Name, &d.Kind, &d.SegmentID, &d.Purpose, &fields, &d.URL, &d.MasterVersion, &d.Key, &d.Secret, &at); err != nil {
		return d, err
	}
	d.CreatedAt = fromMicros(at)
	return d, json.Unmarshal([]byte(fields), &d.Fields)
}

// CreateDestination implements segment.DestinationStore.
func (db *Segments) CreateDestination(ctx context.Context, d segment.Destination, entries []audit.Entry) error {
	fields, err := json.Marshal(d.Fields)
	if err != nil {
		return err
	}
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO destinations (`+destinationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			d.ID, d.Name, d.Kind, d.SegmentID, d.Purpose, string(fields), d.URL, d.MasterVersion, d.Key, d.Secret, micros(d.CreatedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO destination_deliveries (destination_id, customer_id, action, idem_key, state, attempts,
			next_at, last_status, last_error, created_at, delivered_at)
			SELECT $1, customer_id, 'upsert', $1 || ':' || customer_id, 'pending', 0, $2, 0, '', $2, 0
			FROM segment_members WHERE segment_id = $3`, d.ID, micros(d.CreatedAt), d.SegmentID); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// GetDestination implements segment.DestinationStore.
func (db *Segments) GetDestination(ctx context.Context, id string) (segment.Destination, error) {
	d, err := scanDestination(db.queryRow(ctx, `SELECT `+destinationColumns+` FROM destinations WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, problem.NotFoundf("destination not found")
	}
	return d, db.translate(err)
}

// ListDestinations implements segment.DestinationStore.
func (db *Segments) ListDestinations(ctx context.Context) ([]segment.Destination, error) {
	rows, err := db.query(ctx, `SELECT `+destinationColumns+` FROM destinations ORDER BY created_at, id`)
	return collect(db, rows, err, scanDestination)
}

const deliveryColumns = `id, destination_id, customer_id, action, idem_key, state, attempts, next_at, last_status, last_error, created_at, delivered_at`

func scanDelivery(row rowScanner) (segment.Delivery, error) {
	var d segment.Delivery
	var next, at, done int64
	err := row.Scan(&d.ID, &d.DestinationID, &d.CustomerID, &d.Action, &d.Key, &d.State, &d.Attempts, &next, &d.LastStatus, &d.LastError, &at, &done)
	d.NextAt, d.CreatedAt = fromMicros(next), fromMicros(at)
	if done > 0 {
		t := fromMicros(done)
		d.DeliveredAt = &t
	}
	return d, err
}

// ClaimDeliveries implements segment.DestinationStore. The outer condition is checked again
// on the row a concurrent claimer changed, so two nodes never claim one delivery.
func (db *Segments) ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]segment.Delivery, error) {
	var out []segment.Delivery
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE destination_deliveries SET next_at = $1
			WHERE state = 'pending' AND next_at <= $2 AND id IN (SELECT id FROM destination_deliveries
			WHERE state = 'pending' AND next_at <= $2 ORDER BY next_at, id LIMIT $3)
			RETURNING `+deliveryColumns, micros(leaseUntil), micros(now), limit)
		out, err = collect(db, rows, err, scanDelivery)
		return err
	})
	return out, err
}

// FinishDelivery implements segment.DestinationStore.
func (db *Segments) FinishDelivery(ctx context.Context, d segment.Delivery, entries []audit.Entry) error {
	done := int64(0)
	if d.DeliveredAt != nil {
		done = micros(*d.DeliveredAt)
	}
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE destination_deliveries SET state = $1, attempts = $2, next_at = $3, last_status = $4,
			last_error = $5, delivered_at = $6 WHERE id = $7`, d.State, d.Attempts, micros(d.NextAt), d.LastStatus, d.LastError, done, d.ID); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// ListDeliveries implements segment.DestinationStore.
func (db *Segments) ListDeliveries(ctx context.Context, destinationID, state string, limit int) ([]segment.Delivery, error) {
	rows, err := db.query(ctx, `SELECT `+deliveryColumns+` FROM destination_deliveries WHERE destination_id = $1 AND ($2 = '' OR state = $2)
		ORDER BY id DESC LIMIT $3`, destinationID, state, limit)
	out, err := collect(db, rows, err, scanDelivery)
	if out == nil && err == nil {
		out = []segment.Delivery{}
	}
	return out, err
}

// ReplayDelivery implements segment.DestinationStore.
func (db *Segments) ReplayDelivery(ctx context.Context, destinationID string, id int64, now time.Time) (segment.Delivery, error) {
	var d segment.Delivery
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		d, err = scanDelivery(tx.QueryRowContext(ctx, `UPDATE destination_deliveries SET state = 'pending', attempts = 0, next_at = $1, last_error = ''
			WHERE id = $2 AND destination_id = $3 AND state <> 'pending' RETURNING `+deliveryColumns, micros(now), id, destinationID))
		if errors.Is(err, sql.ErrNoRows) {
			return problem.NotFoundf("no such delivery that has ended")
		}
		return err
	})
	return d, err
}

// --- trends

// trendQuery is how a metric's rows are read: the columns (customer, time in microseconds,
// value, label, items), the table with its alias, the customer column, and the condition on
// the period ($1, $2).
type trendQuery struct{ cols, from, customer, where string }

func (q trendQuery) sql(segment bool) string {
	if !segment {
		return `SELECT ` + q.cols + ` FROM ` + q.from + ` WHERE ` + q.where
	}
	// From the segment's members into the table's customer index, rather than a scan of the
	// whole table with the members as a filter.
	return `SELECT ` + q.cols + ` FROM segment_members m JOIN ` + q.from + ` ON ` + q.customer + ` = m.customer_id
		WHERE m.segment_id = $3 AND ` + q.where
}

var (
	ordersIn   = `o.placed_at >= $1 AND o.placed_at < $2`
	customerIn = `c.created_at >= $1 AND c.created_at < $2`
	consentIn  = `r.kind = 'consent' AND r.at >= $1 AND r.at < $2`
	// trendQueries are each metric's rows.
	trendQueries = map[string]trendQuery{
		segment.MetricNewCustomers:    {`c.id, c.created_at, 1, '', ''`, `customers c`, `c.id`, customerIn},
		segment.MetricActiveCustomers: {`e.customer_id, e.at, 1, '', ''`, `events e`, `e.customer_id`, `e.at >= $1 AND e.at < $2`},
		segment.MetricOrders:          {`o.customer_id, o.placed_at, 1, '', ''`, `orders o`, `o.customer_id`, ordersIn},
		segment.MetricRevenue:         {`o.customer_id, o.placed_at, o.total - o.refunded, '', ''`, `orders o`, `o.customer_id`, ordersIn},
		segment.MetricAverageOrder:    {`o.customer_id, o.placed_at, o.total - o.refunded, '', ''`, `orders o`, `o.customer_id`, ordersIn},
		segment.MetricRepeatRate:      {`o.customer_id, o.placed_at, 1, '', ''`, `orders o`, `o.customer_id`, ordersIn},
		segment.MetricBestProducts:    {`o.customer_id, o.placed_at, 1, '', o.items`, `orders o`, `o.customer_id`, ordersIn},
		segment.MetricBestCategories:  {`o.customer_id, o.placed_at, 1, '', o.items`, `orders o`, `o.customer_id`, ordersIn},
		segment.MetricCartAbandonment: {`k.customer_id, k.started_at, CASE WHEN k.abandoned_at > 0 THEN 1 ELSE 0 END, '', ''`, `checkouts k`,
			`k.customer_id`, `k.started_at >= $1 AND k.started_at < $2`},
		segment.MetricSignupConversion: {`c.id, c.created_at, CASE WHEN EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) THEN 1 ELSE 0 END, '', ''`,
			`customers c`, `c.id`, customerIn},
		segment.MetricConsentRate:    {`r.customer_id, r.at, CASE WHEN r.granted THEN 1 ELSE 0 END, r.purpose, ''`, `consent_records r`, `r.customer_id`, consentIn},
		segment.MetricOptOuts:        {`r.customer_id, r.at, 1, r.purpose, ''`, `consent_records r`, `r.customer_id`, consentIn + ` AND NOT r.granted`},
		segment.MetricRequestsOpened: {`q.customer_id, q.created_at, 1, q.type, ''`, `requests q`, `q.customer_id`, `q.created_at >= $1 AND q.created_at < $2`},
		segment.MetricRequestsClosed: {`q.customer_id, q.closed_at, 1, q.type, ''`, `requests q`, `q.customer_id`, `q.closed_at >= $1 AND q.closed_at < $2`},
	}
)

// TrendRows implements segment.TrendStore.
func (db *Segments) TrendRows(ctx context.Context, metric string, from, to time.Time, segmentID string, fn func(segment.TrendRow) error) error {
	q, ok := trendQueries[metric]
	if !ok {
		return fmt.Errorf("no rows for metric %q", metric)
	}
	args := []any{micros(from), micros(to)}
	if segmentID != "" {
		args = append(args, segmentID)
	}
	rows, err := db.queryMany(ctx, 1<<20, q.sql(segmentID != ""), args...)
	if err != nil {
		return db.translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r segment.TrendRow
		var at int64
		var v float64
		if err := rows.Scan(&r.CustomerID, &at, &v, &r.Label, &r.Items); err != nil {
			return db.translate(err)
		}
		r.At, r.Value = fromMicros(at), v
		if err := fn(r); err != nil {
			return err
		}
	}
	return db.translate(rows.Err())
}

// RFMPopulation implements segment.TrendStore: per ordering customer, days since the last
// order, the order count and the spend net of refunds.
func (db *Segments) RFMPopulation(ctx context.Context, now time.Time) ([]segment.RFM, error) {
	rows, err := db.queryMany(ctx, 1<<20, `SELECT MAX(placed_at), COUNT(*), SUM(total - refunded) FROM orders GROUP BY customer_id`)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []segment.RFM
	for rows.Next() {
		var last, n int64
		var m float64
		if err := rows.Scan(&last, &n, &m); err != nil {
			return nil, db.translate(err)
		}
		out = append(out, segment.RFM{RecencyDays: now.Sub(fromMicros(last)).Hours() / 24, Frequency: float64(n), Monetary: m})
	}
	return out, db.translate(rows.Err())
}

// SpendBudget implements segment.TrendStore.
func (db *Segments) SpendBudget(ctx context.Context, actor, day string, epsilon, limit float64) (float64, bool, error) {
	var spent float64
	ok := false
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT spent FROM trend_budgets WHERE actor = $1 AND day = $2`, actor, day).Scan(&spent)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if spent+epsilon > limit+1e-9 {
			return nil
		}
		ok = true
		spent += epsilon
		_, err = tx.ExecContext(ctx, `INSERT INTO trend_budgets (actor, day, spent) VALUES ($1, $2, $3)
			ON CONFLICT (actor, day) DO UPDATE SET spent = $3`, actor, day, spent)
		return err
	})
	return spent, ok, err
}

// EventsSince returns the events of ids at or after since, for behaviour rules: type, name,
// category and time only.
func (db *Segments) EventsSince(ctx context.Context, ids []string, since time.Time) (map[string][]segment.Event, error) {
	out := make(map[string][]segment.Event, len(ids))
	err := db.eachOf(ctx, ids, []any{micros(since)}, `SELECT customer_id, type, name, category, at FROM events
		WHERE customer_id IN (`+db.idList(2)+`) AND at >= $1`, func(row rowScanner) error {
		var c string
		var e segment.Event
		var at int64
		err := row.Scan(&c, &e.Type, &e.Name, &e.Category, &at)
		e.At = fromMicros(at)
		out[c] = append(out[c], e)
		return err
	})
	return out, err
}

// Merged returns which of ids were merged into another customer.
func (db *Segments) Merged(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := db.eachOf(ctx, ids, nil, `SELECT customer_id FROM customer_links WHERE customer_id IN (`+db.idList(1)+`)`,
		func(row rowScanner) error {
			var id string
			err := row.Scan(&id)
			out[id] = true
			return err
		})
	return out, err
}
