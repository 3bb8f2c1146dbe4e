package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// monthsAhead is how many months after the current one always have their events partition, so
// that a node whose purge job has not run for weeks still stores events.
const monthsAhead = 2

// ensurePartitions creates the events partitions of the current month and the next ones (see
// migration 0028); it is what the purge job runs first, and what a node runs when it starts.
// The months it made are remembered, so that an ingest transaction storing their events
// never needs a second connection for them (see eventMonths).
func ensurePartitions(ctx context.Context, db *sql.DB, now time.Time) error {
	from := monthStart(now)
	to := from.AddDate(0, monthsAhead+1, 0)
	_, err := db.ExecContext(ctx, `SELECT steward_event_partitions($1, $2)`, from.UnixMicro(), to.UnixMicro())
	if err != nil {
		return fmt.Errorf("events partitions: %w", err)
	}
	for m := from; m.Before(to); m = m.AddDate(0, 1, 0) {
		madeMonths.Store(monthKey{db, m.UnixMicro()}, struct{}{})
	}
	return nil
}

// madeMonths remembers, per database, the months whose partition this process has seen made,
// so that only the first event of a month asks the database.
var madeMonths sync.Map // monthKey → struct{}

type monthKey struct {
	db    *sql.DB
	month int64
}

// eventMonths makes sure the month of every received time has its events partition before
// the events are inserted. It runs on its own connection, outside the inserting transaction,
// so a partition made for it commits at once and never holds the parent table locked for
// the length of an ingest transaction.
func eventMonths(ctx context.Context, db *sql.DB, received []time.Time) error {
	for _, t := range received {
		m := monthStart(t)
		k := monthKey{db, m.UnixMicro()}
		if _, ok := madeMonths.Load(k); ok {
			continue
		}
		if _, err := db.ExecContext(ctx, `SELECT steward_event_partitions($1, $2)`, m.UnixMicro(), m.AddDate(0, 1, 0).UnixMicro()); err != nil {
			return fmt.Errorf("events partition: %w", err)
		}
		madeMonths.Store(k, struct{}{})
	}
	return nil
}

// purgeEvents is the PostgreSQL part of the retention purge: it creates the coming months'
// partitions, then drops every partition of a month that is over and holds no event that is
// kept until erasure or not yet expired, returning the events dropped. The rows left expired
// in other months are deleted one by one by the shared purge.
func purgeEvents(ctx context.Context, db *sql.DB, now time.Time) (int64, error) {
	if err := ensurePartitions(ctx, db, now); err != nil {
		return 0, err
	}
	rows, err := db.QueryContext(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relname = 'events' AND p.relnamespace = current_schema()::regnamespace ORDER BY c.relname`)
	if err != nil {
		return 0, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return 0, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	current := monthStart(now)
	var dropped int64
	for _, name := range names {
		var y, mo int
		if _, err := fmt.Sscanf(name, "events_y%4dm%2d", &y, &mo); err != nil {
			continue // not one of ours
		}
		if !time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC).Before(current) {
			continue // events may still arrive in it
		}
		n, err := dropIfExpired(ctx, db, name, now)
		// A month dropped must be asked for again should an event of it arrive (only a clock
		// set back could send one).
		madeMonths.Delete(monthKey{db, time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC).UnixMicro()})
		if err != nil {
			return dropped, err
		}
		dropped += n
	}
	return dropped, nil
}

// dropIfExpired drops partition name if nothing in it is still kept, in one transaction that
// locks it first, so an event moved or written meanwhile cannot be lost; it returns how many
// expired events went with it.
func dropIfExpired(ctx context.Context, db *sql.DB, name string, now time.Time) (int64, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := tx.ExecContext(ctx, `LOCK TABLE `+ident+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		return 0, err
	}
	var kept bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+ident+` WHERE expires_at = 0 OR expires_at >= $1)`, now.UnixMicro()).Scan(&kept); err != nil {
		return 0, err
	}
	if kept {
		return 0, nil
	}
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+ident).Scan(&n); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE `+ident); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}
