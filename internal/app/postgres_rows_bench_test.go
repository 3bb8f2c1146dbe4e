package app

import (
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The second baseline of BenchmarkPostgres. The first stores one row per create (the customer)
// or one event row per event, and reads one row per look-up: it measures an operation against
// the least a database could do for it. The second writes every row the operation stored in
// the run, read back from the database and inserted again by plain statements into tables of
// the same definition (columns, keys and indexes), in as many transactions: it measures
// Steward against the database's own work for the rows its promises need (the blind-index
// entries, the search list, the audit entry, the deduplication claim and the identities),
// so that each ratio says how much of an operation's time is Steward's and how much the rows'.
// The two baselines' own ratio (the ceiling) is what the first ratio would be if Steward's
// work cost nothing beyond storing those rows by plain statements.

// storedRows is some rows of one table, as the driver gave them, to be inserted again.
type storedRows struct {
	table string
	cols  []string
	rows  [][]any
}

// readStored reads the rows of table that where (with args) selects.
func readStored(b *testing.B, db *sql.DB, table, where string, args ...any) storedRows {
	b.Helper()
	rs, err := db.Query(`SELECT * FROM `+table+` WHERE `+where, args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		b.Fatal(err)
	}
	out := storedRows{table: table, cols: cols}
	for rs.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			b.Fatal(err)
		}
		out.rows = append(out.rows, row)
	}
	if err := rs.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

// plainTable is the table plain inserts of table's rows go into, made once per database: on
// PostgreSQL the same columns, keys, indexes, defaults and constraints but the foreign keys
// (LIKE … INCLUDING ALL); on SQLite the table's and its indexes' own statements under new
// names, foreign keys included.
func plainTable(b *testing.B, a *App, table string) string {
	b.Helper()
	name := "bench_rows_" + table
	ddl := []string{`CREATE TABLE IF NOT EXISTS ` + name + ` (LIKE ` + table + ` INCLUDING ALL)`}
	if a.Store.Name() == "sqlite" {
		ddl = sqliteCopyDDL(b, a.Store.Write(), table, name)
	}
	for _, q := range ddl {
		if _, err := a.Store.Write().Exec(q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	return name
}

var (
	createTable = regexp.MustCompile(`(?i)^CREATE TABLE (IF NOT EXISTS )?"?\w+"?`)
	createIndex = regexp.MustCompile(`(?i)^CREATE (UNIQUE )?INDEX (IF NOT EXISTS )?"?(\w+)"? ON "?\w+"?`)
)

// sqliteCopyDDL is the statements that make table again as name, with its indexes, unless
// made already.
func sqliteCopyDDL(b *testing.B, db *sql.DB, table, name string) []string {
	b.Helper()
	rs, err := db.Query(`SELECT type, sql FROM sqlite_master WHERE tbl_name = $1 AND sql IS NOT NULL ORDER BY type = 'index'`, table)
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var kind, q string
		if err := rs.Scan(&kind, &q); err != nil {
			b.Fatal(err)
		}
		switch kind {
		case "table":
			out = append(out, createTable.ReplaceAllString(q, "CREATE TABLE IF NOT EXISTS "+name))
		case "index":
			out = append(out, createIndex.ReplaceAllString(q, "CREATE ${1}INDEX IF NOT EXISTS bench_rows_${3} ON "+name))
		}
	}
	if err := rs.Err(); err != nil || len(out) == 0 {
		b.Fatalf("the statements of %s: %d, %v", table, len(out), err)
	}
	return out
}

// split cuts each table's rows into n parts of nearly equal size: part i of every table goes
// into one transaction.
func split(tables []storedRows, n int) [][]storedRows {
	parts := make([][]storedRows, n)
	for i := range parts {
		for _, t := range tables {
			from, to := i*len(t.rows)/n, (i+1)*len(t.rows)/n
			parts[i] = append(parts[i], storedRows{table: t.table, cols: t.cols, rows: t.rows[from:to]})
		}
	}
	return parts
}

// groupBy cuts each table's rows into one part per key, by the column key names in that
// table (keys[table]), in the order of ids.
func groupBy(tables []storedRows, keys map[string]string, ids []string) [][]storedRows {
	at := make(map[string]int, len(ids))
	for i, id := range ids {
		at[id] = i
	}
	parts := make([][]storedRows, len(ids))
	for _, t := range tables {
		col := -1
		for i, c := range t.cols {
			if c == keys[t.table] {
				col = i
			}
		}
		of := make([][][]any, len(ids))
		for _, r := range t.rows {
			if id, ok := r[col].(string); ok {
				if i, ok := at[id]; ok {
					of[i] = append(of[i], r)
				}
			}
		}
		for i := range parts {
			parts[i] = append(parts[i], storedRows{table: t.table, cols: t.cols, rows: of[i]})
		}
	}
	return parts
}

// plainReplay inserts every part's rows in a transaction of its own, a prepared single-row
// insert per row as plainEventInsert does, from workers goroutines, and returns how long it
// took and how many rows it inserted.
func plainReplay(b *testing.B, a *App, parts [][]storedRows, workers int) (time.Duration, int) {
	b.Helper()
	db := a.Store.Write()
	inserts := map[string]string{}
	rows := 0
	for _, p := range parts {
		for _, t := range p {
			rows += len(t.rows)
			if _, ok := inserts[t.table]; !ok {
				inserts[t.table] = plainInsertSQL(b, a, t)
			}
		}
	}
	took := timed(func() {
		parallelN(len(parts), workers, func(i int) {
			if err := replayPart(db, parts[i], inserts); err != nil {
				b.Error(err)
			}
		})
	})
	return took, rows
}

func replayPart(db *sql.DB, part []storedRows, inserts map[string]string) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range part {
		if len(t.rows) == 0 {
			continue
		}
		st, err := tx.Prepare(inserts[t.table])
		if err != nil {
			return err
		}
		for _, r := range t.rows {
			if _, err := st.Exec(r...); err != nil {
				return fmt.Errorf("plain insert into %s: %w", t.table, err)
			}
		}
		st.Close()
	}
	return tx.Commit()
}

// plainInsertSQL inserts one of t's rows into its plain table (see plainTable).
func plainInsertSQL(b *testing.B, a *App, t storedRows) string {
	ps := make([]string, len(t.cols))
	for i := range ps {
		ps[i] = fmt.Sprintf("$%d", i+1)
	}
	return `INSERT INTO ` + plainTable(b, a, t.table) + ` (` + strings.Join(t.cols, ", ") + `) VALUES (` + strings.Join(ps, ", ") + `)`
}

// maxAuditID is the newest audit entry's id, to tell the entries a phase appended.
func maxAuditID(b *testing.B, db *sql.DB) int64 {
	b.Helper()
	var id int64
	if err := db.QueryRow(`SELECT COALESCE(MAX(id), 0) FROM audit_log`).Scan(&id); err != nil {
		b.Fatal(err)
	}
	return id
}

// customerIDs lists the customers created at or after from.
func customerIDs(b *testing.B, db *sql.DB, from time.Time) []string {
	b.Helper()
	rs, err := db.Query(`SELECT id FROM customers WHERE created_at >= $1`, from.UnixMicro())
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Close()
	var ids []string
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rs.Err(); err != nil {
		b.Fatal(err)
	}
	return ids
}

// plainCreatedRows replays, one transaction per customer, the rows the creates of ids stored:
// the customer, its blind-index entries, its search list and its audit entries.
func plainCreatedRows(b *testing.B, a *App, ids []string) (time.Duration, int) {
	b.Helper()
	db := a.Store.Write()
	tables := []storedRows{
		readStored(b, db, "customers", "id = ANY($1)", ids),
		readStored(b, db, "blind_index", "customer_id = ANY($1)", ids),
		readStored(b, db, "search_lists", "customer_id = ANY($1)", ids),
		readStored(b, db, "audit_log", "customer_id = ANY($1)", ids),
	}
	keys := map[string]string{"customers": "id", "blind_index": "customer_id", "search_lists": "customer_id", "audit_log": "customer_id"}
	return plainReplay(b, a, groupBy(tables, keys, ids), callers)
}

// plainLookedRows is the plain counterpart of n look-ups of sample's customers: a select of
// the same rows (the e-mail's blind-index entry joined with its customer) and an insert of a
// look-up's audit entry (those after the audit id since), each on its own, from callers.
func plainLookedRows(b *testing.B, a *App, sample []string, since int64, n int) time.Duration {
	b.Helper()
	db := a.Store.Write()
	var tokens []int64
	rs, err := db.Query(`SELECT token FROM blind_index WHERE field = 'email' AND customer_id = ANY($1)`, sample)
	if err != nil {
		b.Fatal(err)
	}
	for rs.Next() {
		var t int64
		if err := rs.Scan(&t); err != nil {
			b.Fatal(err)
		}
		tokens = append(tokens, t)
	}
	rs.Close()
	audit := readStored(b, db, "audit_log", "id > $1 ORDER BY id", since)
	if len(tokens) == 0 || len(audit.rows) < n {
		b.Fatalf("%d tokens and %d audit entries for %d look-ups", len(tokens), len(audit.rows), n)
	}
	insert := plainInsertSQL(b, a, audit)
	return timed(func() {
		parallel(n, func(i int) {
			var sealed []byte
			if err := db.QueryRow(`SELECT c.sealed FROM blind_index b JOIN customers c ON c.id = b.customer_id WHERE b.field = 'email' AND b.token = $1`, tokens[i%len(tokens)]).Scan(&sealed); err != nil {
				b.Error(err)
			}
			if _, err := db.Exec(insert, audit.rows[i]...); err != nil {
				b.Error(err)
			}
		})
	})
}

// plainIngestedRows replays, in batches transactions, every row the timed batches stored:
// events, message-id claims, new visitors' customers, identities and search lists, and
// audit entries. Rows are told by receipt or creation at or after from and audit ids after
// since.
func plainIngestedRows(b *testing.B, a *App, from time.Time, since int64, batches, workers int) (time.Duration, int) {
	b.Helper()
	db := a.Store.Write()
	t := from.UnixMicro()
	tables := []storedRows{
		readStored(b, db, "events", "received_at >= $1", t),
		readStored(b, db, "ingest_messages", "received_at >= $1", t),
		readStored(b, db, "customers", "created_at >= $1", t),
		readStored(b, db, "identities", "created_at >= $1", t),
		readStored(b, db, "search_lists", "customer_id IN (SELECT id FROM customers WHERE created_at >= $1)", t),
		readStored(b, db, "audit_log", "id > $1", since),
	}
	return plainReplay(b, a, split(tables, batches), workers)
}
