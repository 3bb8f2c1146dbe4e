package store

import (
	"context"
	"time"

	"github.com/stewardhq/steward/internal/activity"
)

// Activity is the repository of daily counts the console draws: plain columns only (times,
// purposes, granted flags), never a sealed value or a customer id in the answer.
type Activity struct{ *core }

var _ activity.Store = (*Activity)(nil)

// Activity implements activity.Store over the same database as the other repositories.
func (e *Engine) Activity() *Activity { return &Activity{e.quality.core} }

// microsPerDay turns a time column (microseconds since the epoch) into a day number with
// integer division, which both engines do the same way for non-negative values.
const microsPerDay = int64(activity.Day / time.Microsecond)

func (db *Activity) perDay(ctx context.Context, table, column string, since time.Time) ([]activity.Count, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+column+` / $1 AS d, COUNT(*) FROM `+table+` WHERE `+column+` >= $2 GROUP BY d ORDER BY d`,
		microsPerDay, micros(since))
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []activity.Count
	for rows.Next() {
		var d, n int64
		if err := rows.Scan(&d, &n); err != nil {
			return nil, db.translate(err)
		}
		out = append(out, activity.Count{Day: fromMicros(d * microsPerDay), N: n})
	}
	return out, db.translate(rows.Err())
}

// CustomersPerDay implements activity.Store: profiles by the day they were created.
func (db *Activity) CustomersPerDay(ctx context.Context, since time.Time) ([]activity.Count, error) {
	return db.perDay(ctx, "customers", "created_at", since)
}

// EventsPerDay implements activity.Store: events by the day they happened.
func (db *Activity) EventsPerDay(ctx context.Context, since time.Time) ([]activity.Count, error) {
	return db.perDay(ctx, "events", "at", since)
}

// RequestsPerDay implements activity.Store: data-subject requests by the day they came in.
func (db *Activity) RequestsPerDay(ctx context.Context, since time.Time) ([]activity.Count, error) {
	return db.perDay(ctx, "requests", "created_at", since)
}

// ConsentsPerDay implements activity.Store: consent choices (not objections or
// restrictions) by day and purpose, with how many granted.
func (db *Activity) ConsentsPerDay(ctx context.Context, since time.Time) ([]activity.Choice, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT at / $1 AS d, purpose, SUM(CASE WHEN granted THEN 1 ELSE 0 END), COUNT(*)
		FROM consent_records WHERE at >= $2 AND kind = 'consent' GROUP BY d, purpose ORDER BY d, purpose`, microsPerDay, micros(since))
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []activity.Choice
	for rows.Next() {
		var c activity.Choice
		var d int64
		if err := rows.Scan(&d, &c.Purpose, &c.Granted, &c.Total); err != nil {
			return nil, db.translate(err)
		}
		c.Day = fromMicros(d * microsPerDay)
		out = append(out, c)
	}
	return out, db.translate(rows.Err())
}
