package postgres

import (
	"context"
	"database/sql"
	"time"
)

// statisticsEvery is how often a node looks for tables whose planner statistics lag.
const statisticsEvery = 2 * time.Second

// staleTablesSQL names Steward's tables (partitions of events included) where at least a
// thousand rows, and half of those there are, changed since the table was last analysed, or
// that were never analysed and hold a thousand rows: a table that grew from nothing is then
// analysed as it doubles, and its statistics are never more than a few times off. The
// planner scales a table's row count to its current size by itself; what goes stale is what
// the rows hold. Analysing at every fifth more, as autovacuum does at its own pace, made a
// table filled at thousands of rows a second be analysed every other second, a fifth of the
// database's time in a run of 100,000 events into a new database; autovacuum still refines
// the statistics at its pace.
const staleTablesSQL = `SELECT quote_ident(schemaname) || '.' || quote_ident(relname)
	FROM pg_stat_user_tables
	WHERE schemaname = current_schema() AND n_mod_since_analyze >= 1000 AND n_mod_since_analyze >= n_live_tup / 2
	ORDER BY relname`

// keepStatistics analyses Steward's tables as they grow, until stop is called. The planner
// knows a table only from its statistics: one never analysed, or analysed when it held a
// tenth of what it holds, gets plans made for the wrong size. A new database filled by an
// import or the first minutes of traffic was read with whole-table scans for up to a minute
// (autovacuum's pace): a look-up of a batch's 64 identifiers scanned every identifier of
// their kind, 12 ms instead of 1. Several nodes may all run it: ANALYZE skips a table
// another one is analysing (SKIP_LOCKED), and a table analysed by one is no longer stale
// for the others.
func keepStatistics(db *sql.DB, every time.Duration) (stop func() error) {
	// Stopping cancels a pass under way: a database out of reach must not hold up closing.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Best effort, and quiet: autovacuum analyses the tables at its own pace
			// regardless, and a database out of reach is reported by every request. A pass
			// stuck on a cut network gives up, not to keep a connection forever.
			pass, end := context.WithTimeout(ctx, time.Minute)
			_ = analyzeStale(pass, db)
			end()
		}
	}()
	return func() error {
		cancel()
		<-done
		return nil
	}
}

// analyzeStale analyses the tables staleTablesSQL names, one at a time.
func analyzeStale(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, staleTablesSQL)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		// The name comes from the catalog, quoted by quote_ident.
		if _, err := db.ExecContext(ctx, `ANALYZE (SKIP_LOCKED) `+t); err != nil {
			return err
		}
	}
	return nil
}
