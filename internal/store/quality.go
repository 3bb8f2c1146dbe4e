package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stewardhq/steward/internal/quality"
)

// Quality is the repository contact status and the quality report read from.
type Quality struct{ *core }

var _ quality.MonitorStore = (*Quality)(nil)

// engagementCase folds events by name into the four engagement times, in one row per
// customer: what contact status needs, from plain columns only.
const engagementCase = `MAX(CASE WHEN e.name = '` + quality.EventEmailBounced + `' THEN e.at END) AS b,
	MAX(CASE WHEN e.name = '` + quality.EventEmailSpam + `' THEN e.at END) AS c,
	MAX(CASE WHEN e.name = '` + quality.EventUnsubscribed + `' THEN e.at END) AS u,
	MAX(CASE WHEN e.name NOT IN ('` + quality.EventEmailBounced + `', '` + quality.EventEmailSpam + `', '` + quality.EventUnsubscribed + `', '` +
	quality.EventEmailDelivered + `') THEN e.at END) AS e,
	MAX(CASE WHEN e.name IN ('` + quality.EventEmailOpened + `', '` + quality.EventEmailLinkClicked + `') THEN e.at END) AS o`

func engagementOf(b, c, u, e, o sql.NullInt64) quality.Engagement {
	t := func(v sql.NullInt64) time.Time {
		if !v.Valid {
			return time.Time{}
		}
		return fromMicros(v.Int64)
	}
	return quality.Engagement{Bounced: t(b), Complained: t(c), Unsubscribed: t(u), Engaged: t(e), Opened: t(o)}
}

// Engagement implements quality.MonitorStore over the customer's merge tree.
func (db *Quality) Engagement(ctx context.Context, customerID string) (quality.Engagement, error) {
	_, tree, err := db.customerTree(ctx, customerID)
	if err != nil {
		return quality.Engagement{}, err
	}
	var b, c, u, e, o sql.NullInt64
	err = db.read.QueryRowContext(ctx, `SELECT `+engagementCase+` FROM events e WHERE e.customer_id IN (`+placeholders(1, len(tree))+`)`,
		anyArgs(tree)...).Scan(&b, &c, &u, &e, &o)
	if err != nil {
		return quality.Engagement{}, db.translate(err)
	}
	return engagementOf(b, c, u, e, o), nil
}

// EmailSince implements quality.MonitorStore.
func (db *Quality) EmailSince(ctx context.Context, customerID string, emailToken int64) (time.Time, bool, error) {
	var token, since int64
	err := db.read.QueryRowContext(ctx, `SELECT email_token, email_since FROM customer_quality WHERE customer_id = $1`, customerID).Scan(&token, &since)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, db.translate(err)
	case token != emailToken:
		return time.Time{}, true, nil
	case since == 0:
		return time.Time{}, false, nil
	}
	return fromMicros(since), false, nil
}

// ContactRows implements quality.MonitorStore in one pass over customers, their stored
// verdicts and an aggregate of their events.
func (db *Quality) ContactRows(ctx context.Context, fn func(quality.ContactRow) error) error {
	rows, err := db.read.QueryContext(ctx, `SELECT c.created_at, c.version, q.version, q.validation, q.reasons, q.email_since, g.b, g.c, g.u, g.e, g.o
		FROM customers c
		LEFT JOIN customer_quality q ON q.customer_id = c.id
		LEFT JOIN (SELECT e.customer_id AS id, `+engagementCase+` FROM events e GROUP BY e.customer_id) g ON g.id = c.id
		WHERE NOT EXISTS (SELECT 1 FROM customer_links l WHERE l.customer_id = c.id)`)
	if err != nil {
		return db.translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var created, version int64
		var qversion, since, b, c, u, e, o sql.NullInt64
		var validation, reasons sql.NullString
		if err := rows.Scan(&created, &version, &qversion, &validation, &reasons, &since, &b, &c, &u, &e, &o); err != nil {
			return db.translate(err)
		}
		r := quality.ContactRow{Checked: qversion.Valid && qversion.Int64 == version, Validation: validation.String,
			Reasons: decodeList(reasons.String), Created: fromMicros(created), Engagement: engagementOf(b, c, u, e, o)}
		if since.Valid && since.Int64 != 0 {
			r.EmailSince = fromMicros(since.Int64)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return db.translate(rows.Err())
}

// FieldCounts implements quality.MonitorStore from the field names of stored rows; values
// stay sealed.
func (db *Quality) FieldCounts(ctx context.Context) (int64, map[string]int64, error) {
	counts := map[string]int64{}
	var total int64
	after := ""
	for {
		rows, err := db.read.QueryContext(ctx, `SELECT id, sealed, plain FROM customers WHERE id > $1 ORDER BY id LIMIT 5000`, after)
		if err != nil {
			return 0, nil, db.translate(err)
		}
		n := 0
		for rows.Next() {
			var sealed []byte
			var plain string
			if err := rows.Scan(&after, &sealed, &plain); err != nil {
				rows.Close()
				return 0, nil, db.translate(err)
			}
			n++
			s, err := decodeSealed(sealed)
			if err != nil {
				rows.Close()
				return 0, nil, err
			}
			p, err := decodePlain(plain)
			if err != nil {
				rows.Close()
				return 0, nil, err
			}
			for f := range s {
				counts[f]++
			}
			for f := range p {
				counts[f]++
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return 0, nil, db.translate(err)
		}
		total += int64(n)
		if n < 5000 {
			return total, counts, nil
		}
	}
}

// PendingDuplicates implements quality.MonitorStore.
func (db *Quality) PendingDuplicates(ctx context.Context) (int64, error) {
	var n int64
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM duplicates WHERE state = 'pending'`).Scan(&n)
	return n, db.translate(err)
}
