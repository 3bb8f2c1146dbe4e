package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/store"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/postgres"
	"github.com/stewardhq/steward/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// schema is an engine's schema in terms both engines share: for each table its columns with
// their type class and nullability, its primary key, its unique column sets, its other indexes'
// column sets and its foreign keys. Names of indexes and constraints are left out: they are
// the engines' own business.
type schema map[string]*table

type table struct {
	columns map[string]string // name -> "class" or "class not null"
	pk      string            // columns, comma-separated
	uniques map[string]bool   // column lists
	indexes map[string]bool   // column lists of indexes that are not unique
	fks     map[string]bool   // "cols -> table(cols)"
}

func newTable() *table {
	return &table{columns: map[string]string{}, uniques: map[string]bool{}, indexes: map[string]bool{}, fks: map[string]bool{}}
}

// typeClass maps a declared column type of either engine to the class both agree on.
// Booleans are INTEGER 0/1 in SQLite, which has no boolean type, and JSON is TEXT there.
var typeClass = map[string]string{
	"text": "text", "varchar": "text", "character varying": "text", "jsonb": "text", "json": "text",
	"integer": "int", "int": "int", "bigint": "int", "smallint": "int",
	"boolean": "int",
	"blob":    "blob", "bytea": "blob",
	"real": "real", "double precision": "real", "numeric": "real",
}

func class(declared string) string {
	d := strings.ToLower(strings.TrimSpace(declared))
	if i := strings.IndexByte(d, '('); i > 0 {
		d = strings.TrimSpace(d[:i])
	}
	if c, ok := typeClass[d]; ok {
		return c
	}
	return "unknown:" + d
}

// diff names every difference between a (engine an) and b (engine bn), one line each, sorted.
func diff(an string, a schema, bn string, b schema) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for name, ta := range a {
		tb, ok := b[name]
		if !ok {
			add("table %s: only in %s", name, an)
			continue
		}
		for c, ty := range ta.columns {
			switch tyb, ok := tb.columns[c]; {
			case !ok:
				add("column %s.%s: only in %s", name, c, an)
			case ty != tyb:
				add("column %s.%s: %s in %s, %s in %s", name, c, ty, an, tyb, bn)
			}
		}
		for c := range tb.columns {
			if _, ok := ta.columns[c]; !ok {
				add("column %s.%s: only in %s", name, c, bn)
			}
		}
		if ta.pk != tb.pk {
			add("primary key of %s: (%s) in %s, (%s) in %s", name, ta.pk, an, tb.pk, bn)
		}
		for _, s := range []struct {
			what   string
			ma, mb map[string]bool
		}{{"unique", ta.uniques, tb.uniques}, {"index", ta.indexes, tb.indexes}, {"foreign key", ta.fks, tb.fks}} {
			for k := range s.ma {
				if !s.mb[k] {
					add("%s %s (%s): only in %s", s.what, name, k, an)
				}
			}
			for k := range s.mb {
				if !s.ma[k] {
					add("%s %s (%s): only in %s", s.what, name, k, bn)
				}
			}
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			add("table %s: only in %s", name, bn)
		}
	}
	sort.Strings(out)
	return out
}

func nullable(class string, notNull bool) string {
	if notNull {
		return class + " not null"
	}
	return class
}

// sqliteSchema reads the main database's schema of db.
func sqliteSchema(t *testing.T, db *sql.DB) schema {
	t.Helper()
	s := schema{}
	names := queryStrings(t, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	for _, name := range names {
		tb := newTable()
		s[name] = tb
		rows, err := db.Query(`SELECT name, type, "notnull", pk FROM pragma_table_info($1) ORDER BY cid`, name)
		if err != nil {
			t.Fatal(err)
		}
		pk := map[int]string{}
		for rows.Next() {
			var col, typ string
			var notNull bool
			var pkPos int
			if err := rows.Scan(&col, &typ, &notNull, &pkPos); err != nil {
				t.Fatal(err)
			}
			if pkPos > 0 {
				pk[pkPos] = col
				notNull = true // PostgreSQL makes every primary-key column NOT NULL
			}
			tb.columns[col] = nullable(class(typ), notNull)
		}
		rows.Close()
		keys := make([]string, len(pk))
		for i := range keys {
			keys[i] = pk[i+1]
		}
		tb.pk = strings.Join(keys, ", ")
		type index struct {
			name    string
			unique  bool
			origin  string
			partial bool
		}
		var idx []index
		rows, err = db.Query(`SELECT name, "unique", origin, partial FROM pragma_index_list($1)`, name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var x index
			if err := rows.Scan(&x.name, &x.unique, &x.origin, &x.partial); err != nil {
				t.Fatal(err)
			}
			idx = append(idx, x)
		}
		rows.Close()
		for _, x := range idx {
			if x.origin == "pk" {
				continue
			}
			cols := strings.Join(queryStrings(t, db, `SELECT COALESCE(name, '<expr>') FROM pragma_index_info($1) ORDER BY seqno`, x.name), ", ")
			if x.partial {
				cols += " where …"
			}
			if x.unique {
				tb.uniques[cols] = true
			} else {
				tb.indexes[cols] = true
			}
		}
		rows, err = db.Query(`SELECT id, "table", "from", COALESCE("to", '') FROM pragma_foreign_key_list($1) ORDER BY id, seq`, name)
		if err != nil {
			t.Fatal(err)
		}
		type fk struct {
			from, to []string
			ref      string
		}
		fks := map[int]*fk{}
		var order []int
		for rows.Next() {
			var id int
			var ref, from, to string
			if err := rows.Scan(&id, &ref, &from, &to); err != nil {
				t.Fatal(err)
			}
			f, ok := fks[id]
			if !ok {
				f = &fk{ref: ref}
				fks[id] = f
				order = append(order, id)
			}
			f.from, f.to = append(f.from, from), append(f.to, to)
		}
		rows.Close()
		for _, id := range order {
			f := fks[id]
			to := strings.Join(f.to, ", ")
			if to == "" { // references the primary key implicitly
				to = s.pkOf(t, db, f.ref)
			}
			tb.fks[strings.Join(f.from, ", ")+" -> "+f.ref+"("+to+")"] = true
		}
	}
	return s
}

// pkOf returns the primary key of table ref (read from db when not read yet).
func (s schema) pkOf(t *testing.T, db *sql.DB, ref string) string {
	return strings.Join(queryStrings(t, db, `SELECT name FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk`, ref), ", ")
}

// postgresSchema reads the current schema of db.
func postgresSchema(t *testing.T, db *sql.DB) schema {
	t.Helper()
	s := schema{}
	for _, name := range queryStrings(t, db, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
		AND table_name NOT IN (SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid)`) {
		s[name] = newTable()
	}
	rows, err := db.Query(`SELECT table_name, column_name, data_type, is_nullable = 'NO' FROM information_schema.columns WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tn, col, typ string
		var notNull bool
		if err := rows.Scan(&tn, &col, &typ, &notNull); err != nil {
			t.Fatal(err)
		}
		if tb := s[tn]; tb != nil {
			tb.columns[col] = nullable(class(typ), notNull)
		}
	}
	rows.Close()
	// Indexes, with their columns in order ('<expr>' for an expression), primary and unique
	// ones told apart.
	rows, err = db.Query(`
		SELECT t.relname, ix.indisprimary, ix.indisunique, ix.indpred IS NOT NULL,
			(SELECT string_agg(COALESCE(a.attname, '<expr>'), ', ' ORDER BY k.ord)
				FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
				LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum AND k.attnum > 0)
		FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tn, cols string
		var primary, unique, partial bool
		if err := rows.Scan(&tn, &primary, &unique, &partial, &cols); err != nil {
			t.Fatal(err)
		}
		tb := s[tn]
		if tb == nil {
			continue
		}
		if partial {
			cols += " where …"
		}
		switch {
		case primary:
			tb.pk = cols
		case unique:
			tb.uniques[cols] = true
		default:
			tb.indexes[cols] = true
		}
	}
	rows.Close()
	rows, err = db.Query(`
		SELECT t.relname, r.relname,
			(SELECT string_agg(a.attname, ', ' ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
				JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
			(SELECT string_agg(a.attname, ', ' ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)
				JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum)
		FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
			JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE c.contype = 'f' AND n.nspname = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tn, ref, from, to string
		if err := rows.Scan(&tn, &ref, &from, &to); err != nil {
			t.Fatal(err)
		}
		if tb := s[tn]; tb != nil {
			tb.fks[from+" -> "+ref+"("+to+")"] = true
		}
	}
	rows.Close()
	return s
}

func queryStrings(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// migrated returns both engines' schemas at the latest migration.
func migrated(t *testing.T) (sqliteDB, pgDB *sql.DB) {
	t.Helper()
	ctx := context.Background()
	lite, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "steward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	lite.SetMaxOpenConns(1)
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, lite, ms, ""); err != nil {
		t.Fatal(err)
	}
	pg, err := sql.Open("pgx", pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	if ms, err = postgres.Migrations(); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, pg, ms, ""); err != nil {
		t.Fatal(err)
	}
	return lite, pg
}

// intended are the differences between the engines' schemas that are there on purpose, each
// with its reason. Anything else the comparison finds fails TestSchemasAgree. SQLite's access
// trail lives in a file of its own (attached as "access"), which only the main schema here
// is compared without: PostgreSQL keeps those entries in the main audit_log.
var intended = map[string]string{
	"unique audit_log (chain, seq): only in postgres": "SQLite has one writer and one chain, whose head row serialises appends; " +
		"on PostgreSQL several nodes append at once and the index refuses a forked chain",
	"primary key of events: (id) in sqlite, (id, received_at) in postgres": "PostgreSQL partitions events by month received, " +
		"and a partitioned table's key must hold the partition key; ids still come from one sequence",
	"index events (expires_at): only in postgres": "PostgreSQL asks each past month whether anything in it is kept " +
		"(expires_at = 0) or not yet expired before dropping it whole",
	"index events (expires_at where …): only in sqlite": "SQLite's purge only ever looks for expired rows, never kept ones",
}

// TestSchemasAgree migrates both engines to their latest version and fails on every
// difference in tables, columns, types, nullability, keys, indexes and references that is not
// declared in intended: nothing else checks that the two migration sets say the same.
func TestSchemasAgree(t *testing.T) {
	lite, pg := migrated(t)
	seen := map[string]bool{}
	for _, d := range diff("sqlite", sqliteSchema(t, lite), "postgres", postgresSchema(t, pg)) {
		if _, ok := intended[d]; ok {
			seen[d] = true
			continue
		}
		t.Errorf("schemas differ: %s", d)
	}
	for d := range intended {
		if !seen[d] {
			t.Errorf("declared difference no longer found, remove it from intended: %s", d)
		}
	}
}

// TestSchemaDiffFindsAddedColumn proves the comparison fails when one engine's migrations add
// what the other's do not: a column, an index and a reference added to SQLite only.
func TestSchemaDiffFindsAddedColumn(t *testing.T) {
	lite, pg := migrated(t)
	for _, q := range []string{
		`ALTER TABLE customers ADD COLUMN nickname TEXT`,
		`CREATE INDEX events_name ON events (name)`,
		`ALTER TABLE orders ADD COLUMN review_id TEXT REFERENCES reviews (review_id)`,
	} {
		if _, err := lite.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	for _, d := range diff("sqlite", sqliteSchema(t, lite), "postgres", postgresSchema(t, pg)) {
		got[d] = true
	}
	for _, want := range []string{
		"column customers.nickname: only in sqlite",
		"index events (name): only in sqlite",
		"column orders.review_id: only in sqlite",
		"foreign key orders (review_id -> reviews(review_id)): only in sqlite",
	} {
		if !got[want] {
			t.Errorf("got %v, want it to include %q", got, want)
		}
	}
}

// TestHotStatementsUseTheirIndexes checks, on both engines, the plans of statements whose
// speed rests on one index: an order's figures read a customer's orders from the index alone
// (SQLite), and the purge of old message ids finds them through the partial index that leaves
// out the ids claimed for good, which it can use only while it states the index's condition.
func TestHotStatementsUseTheirIndexes(t *testing.T) {
	if store.LastingMicros != ingest.LastingClaim.UnixMicro() {
		t.Fatalf("lastingMicros is %d, ingest.LastingClaim is %d", store.LastingMicros, ingest.LastingClaim.UnixMicro())
	}
	lite, pg := migrated(t)
	plan := func(db interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}, q string, args ...any) string {
		t.Helper()
		rows, err := db.QueryContext(context.Background(), q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(vals[len(vals)-1]))
		}
		return strings.Join(out, "\n")
	}
	if p := plan(lite, `EXPLAIN QUERY PLAN `+store.ExpiredMessagesSQL, int64(1), 100); !strings.Contains(p, "INDEX ingest_messages_received") {
		t.Errorf("SQLite purges message ids without their index:\n%s", p)
	}
	if p := plan(lite, `EXPLAIN QUERY PLAN `+store.ActivityOrdersSQL(2), "a", "b"); !strings.Contains(p, "USING COVERING INDEX orders_customer") {
		t.Errorf("SQLite reads orders for figures beyond their index:\n%s", p)
	}
	// Without the index's condition SQLite cannot use it: the check above can fail.
	if p := plan(lite, `EXPLAIN QUERY PLAN SELECT key_id FROM ingest_messages WHERE received_at < $1 LIMIT 10`, int64(1)); strings.Contains(p, "ingest_messages_received") {
		t.Errorf("SQLite used the partial index without its condition:\n%s", p)
	}
	// The order that keeps PostgreSQL on the index (see askedOfEmptyKinds) costs SQLite no sort.
	for _, q := range []string{store.HoldsKindSQL, store.HasSuppressionsSQL} {
		if p := plan(lite, `EXPLAIN QUERY PLAN `+q, "email"); strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, "USING") {
			t.Errorf("SQLite plans %s beyond its index:\n%s", q, p)
		}
	}
	// An empty table is scanned whatever its indexes: the planner is told to use one it can.
	// The setting holds for one session: the statements share one connection.
	conn, err := pg.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	if p := plan(conn, `EXPLAIN `+store.ExpiredMessagesSQL, int64(1), 100); !strings.Contains(p, "ingest_messages_received") {
		t.Errorf("PostgreSQL purges message ids without their index:\n%s", p)
	}
	if _, err := conn.ExecContext(context.Background(), `RESET enable_seqscan`); err != nil {
		t.Fatal(err)
	}
	askedOfEmptyKinds(t, conn, plan)
}

// askedOfEmptyKinds: whether anything of a kind is held (an identity kind, a purpose's
// suppression list) is asked through a statement PostgreSQL plans once for every value.
// Over tables of thousands of rows of other kinds, that plan must still read the index: a
// plan that scans, expecting a row of the kind on the first page, reads every row when the
// kind has none. Checked in the generic plan the server keeps for a prepared statement.
func askedOfEmptyKinds(t *testing.T, conn *sql.Conn, plan func(interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, string, ...any) string) {
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO customers (id, version, master_version, dkey, sealed, plain, created_at, updated_at) VALUES ('c', 1, 1, '', '', '{}', 0, 0)`,
		`INSERT INTO identities (kind, token, customer_id, sealed, created_at)
			SELECT CASE WHEN g % 10 = 0 THEN 'user_id' ELSE 'anonymous_id' END, sha256(g::text::bytea), 'c', '', 0 FROM generate_series(1, 20000) g`,
		`INSERT INTO suppressions (hash, token, field, purpose, source, at, actor_id)
			SELECT md5(g::text), g, 'email', 'marketing_email', 'import', g, 'system' FROM generate_series(1, 20000) g`,
		`ANALYZE customers, identities, suppressions`,
		`SET plan_cache_mode = force_generic_plan`,
		`PREPARE holds_kind(text) AS ` + store.HoldsKindSQL,
		`PREPARE has_suppressions(text) AS ` + store.HasSuppressionsSQL,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, q := range []string{`EXPLAIN EXECUTE holds_kind('email')`, `EXPLAIN EXECUTE has_suppressions('ads_sharing')`} {
		if p := plan(conn, q); strings.Contains(p, "Seq Scan") {
			t.Errorf("%s scans the table:\n%s", q, p)
		}
	}
}
