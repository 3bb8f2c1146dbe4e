package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// feedSource is one table of the segments' change feed, read by an increasing key.
type feedSource struct {
	table string // the table whose largest key starts a feed
	key   string // the increasing key
	from  string // the rows, joined to what names their customer
	who   string // the customer a row names ('' for none)
	where string // rows that name no customer are left out
	xmin  string // the row's creating transaction, as a 32-bit number (engines with snapshots)
}

// feedSources are the four tables of the change feed, in the order of a cursor's marks.
var feedSources = [4]feedSource{
	{table: "events", key: "id", from: "events", who: "customer_id", xmin: "xmin"},
	{table: "audit_log", key: "id", from: "audit_log", who: "customer_id", where: " AND customer_id <> ''", xmin: "xmin"},
	{table: "consent_records", key: "seq", from: "consent_records", who: "customer_id", xmin: "xmin"},
	{table: "suppressions", key: "s.seq", from: "suppressions s LEFT JOIN blind_index b ON b.field = s.field AND b.token = s.token",
		who: "COALESCE(b.customer_id, '')", xmin: "s.xmin"},
}

// querier is a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// feedMaxima sets marks to the largest key of each source: where a new feed starts.
func feedMaxima(ctx context.Context, q querier, marks *[4]int64) error {
	for i, src := range feedSources {
		key := strings.TrimPrefix(src.key, "s.")
		if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(`+key+`), 0) FROM `+src.table).Scan(&marks[i]); err != nil {
			return err
		}
	}
	return nil
}

// feedFound gathers the distinct customers a feed read names.
type feedFound struct {
	ids  []string
	seen map[string]bool
}

// scan adds the customers of rows (key, customer) and returns the largest key read.
func (f *feedFound) scan(rows *sql.Rows, mark int64) (int64, error) {
	defer rows.Close()
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	for rows.Next() {
		var key int64
		var id string
		if err := rows.Scan(&key, &id); err != nil {
			return mark, err
		}
		mark = max(mark, key)
		if id != "" && !f.seen[id] {
			f.seen[id] = true
			f.ids = append(f.ids, id)
		}
	}
	return mark, rows.Err()
}

// after reads up to limit rows of each source past its mark, moving the marks on.
func (f *feedFound) after(ctx context.Context, q querier, marks *[4]int64, limit int) error {
	for i, src := range feedSources {
		rows, err := q.QueryContext(ctx, `SELECT `+src.key+`, `+src.who+` FROM `+src.from+` WHERE `+src.key+` > $1`+src.where+
			` ORDER BY `+src.key+` LIMIT $2`, marks[i], limit)
		if err != nil {
			return err
		}
		if marks[i], err = f.scan(rows, marks[i]); err != nil {
			return err
		}
	}
	return nil
}

// behindCursor is where a node stands in the change feed on an engine with snapshots
// (PostgreSQL). A key is taken when a row is written but becomes visible only when its
// transaction commits, so a row can commit after one with a larger key was read. Marks alone
// would skip it until the next full refresh — a consent withdrawal among them would delay the
// removal sent to a destination. So each read also looks back, between the floor and the mark,
// for rows the previous read could not see (their transaction was still running when its
// snapshot was taken) and that it can see now. Below the floor nothing unread can still commit.
type behindCursor struct {
	// Marks are the largest key read of each source; everything visible to the last read's
	// snapshot up to them has been read.
	Marks [4]int64 `json:"marks"`
	// Floors are keys below which no row the last read could not see will ever commit.
	Floors [4]int64 `json:"floors"`
	// Xmax and Xip are the last read's snapshot, as 32-bit transaction ids: a row was
	// invisible to it when its transaction is in Xip or not before Xmax.
	Xmax int64   `json:"xmax"`
	Xip  []int64 `json:"xip"`
	// Reads are recent reads, oldest first: when their snapshot was taken (database clock,
	// µs) and their marks. Once every open transaction started after a read, no row that read
	// could not see can hold a key up to its marks, and they become the floors.
	Reads []behindRead `json:"reads"`
}

type behindRead struct {
	At    int64    `json:"at"`
	Marks [4]int64 `json:"marks"`
}

// behindReads bounds the reads a cursor remembers. While a transaction older than all of
// them stays open the floors stay put (the look-back window grows) and move on once it ends.
const behindReads = 64

// changedBehind is Changed on an engine with snapshots; see behindCursor. Re-deciding a
// customer twice is harmless (a change already in effect is skipped), and each late row is
// returned once: by the first read whose snapshot sees it.
func (db *Segments) changedBehind(ctx context.Context, cursor string, limit int) ([]string, string, error) {
	var c behindCursor
	if cursor != "" {
		if err := json.Unmarshal([]byte(cursor), &c); err != nil {
			return nil, "", fmt.Errorf("segment change cursor: %w", err)
		}
	}
	// The start of the oldest transaction open now, asked before the snapshot is taken: every
	// transaction still running at the snapshot started at or after it. Only client sessions
	// write the feed's tables (autovacuum does not). Every session of Steward's own role is
	// listed; sessions of other roles show no start without pg_read_all_stats.
	var oldest int64
	if err := db.read.QueryRowContext(ctx, `SELECT (extract(epoch FROM LEAST(min(xact_start), clock_timestamp())) * 1000000)::bigint
		FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
		AND xact_start IS NOT NULL`).Scan(&oldest); err != nil {
		return nil, "", db.translate(err)
	}
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, "", db.translate(err)
	}
	defer func() { _ = tx.Rollback() }()
	// The first statement takes the snapshot every later one reads; the clock is read after.
	var snap string
	var at int64
	if err := tx.QueryRowContext(ctx, `SELECT pg_current_snapshot()::text, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint`).
		Scan(&snap, &at); err != nil {
		return nil, "", db.translate(err)
	}
	var found feedFound
	marks := c.Marks
	if cursor == "" {
		// A node starting to follow the feed queues a full refresh, which finds what
		// committed before; the feed starts here.
		if err := feedMaxima(ctx, tx, &marks); err != nil {
			return nil, "", db.translate(err)
		}
		c.Floors = marks
	} else {
		for i, src := range feedSources {
			if c.Floors[i] >= c.Marks[i] {
				continue
			}
			x := src.xmin + `::text::bigint`
			rows, err := tx.QueryContext(ctx, `SELECT `+src.key+`, `+src.who+` FROM `+src.from+` WHERE `+src.key+` > $1 AND `+src.key+` <= $2`+src.where+
				` AND `+x+` >= 3 AND (`+x+` = ANY($3) OR (`+x+` - $4 + 4294967296) % 4294967296 < 2147483648)`,
				c.Floors[i], c.Marks[i], c.Xip, c.Xmax)
			if err != nil {
				return nil, "", db.translate(err)
			}
			if _, err := found.scan(rows, 0); err != nil {
				return nil, "", db.translate(err)
			}
		}
		if err := found.after(ctx, tx, &marks, limit); err != nil {
			return nil, "", db.translate(err)
		}
	}
	next := behindCursor{Marks: marks, Floors: c.Floors}
	if next.Xmax, next.Xip, err = parseSnapshot(snap); err != nil {
		return nil, "", err
	}
	reads := append(c.Reads, behindRead{At: at, Marks: marks})
	keep := 0
	for k, r := range reads {
		if r.At < oldest {
			for i := range next.Floors {
				next.Floors[i] = max(next.Floors[i], r.Marks[i])
			}
			keep = k
		}
	}
	reads = reads[keep:]
	if len(reads) > behindReads {
		reads = reads[len(reads)-behindReads:]
	}
	next.Reads = reads
	out, err := json.Marshal(next)
	if err != nil {
		return nil, "", err
	}
	return found.ids, string(out), nil
}

// parseSnapshot reads pg_current_snapshot()'s "xmin:xmax:xip,…" as the 32-bit transaction ids
// a row's xmin holds.
func parseSnapshot(s string) (xmax int64, xip []int64, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, nil, fmt.Errorf("snapshot %q: want xmin:xmax:xip", s)
	}
	short := func(v string) (int64, error) {
		n, err := strconv.ParseUint(v, 10, 64)
		return int64(n % (1 << 32)), err
	}
	if xmax, err = short(parts[1]); err != nil {
		return 0, nil, fmt.Errorf("snapshot %q: %w", s, err)
	}
	xip = []int64{}
	if parts[2] != "" {
		for _, v := range strings.Split(parts[2], ",") {
			n, err := short(v)
			if err != nil {
				return 0, nil, fmt.Errorf("snapshot %q: %w", s, err)
			}
			xip = append(xip, n)
		}
	}
	return xmax, xip, nil
}
