package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/problem"
)

// Ingest is collection's repository: message ids, identities, stitching, merges, events and
// orders. Its hot statements are prepared on first use, so an installation that never
// collects never prepares them.
type Ingest struct {
	*core
	prepareOnce sync.Once
	prepareErr  error
	// sized holds the multi-row statements by rows carried (see batchRows), built once: building
	// them for every statement cost as much as some of the statements.
	sized map[int]sizedSQL
}

// sizedSQL are ingest's multi-row statements for one number of rows.
type sizedSQL struct{ claim, reclaim, identities, candidates, events, orders, roots, children string }

var _ ingest.Store = (*Ingest)(nil)

const (
	identityHolder = `SELECT i.customer_id, c.master_version, c.dkey, COALESCE(l.merged_into, '')
		FROM identities i JOIN customers c ON c.id = i.customer_id LEFT JOIN customer_links l ON l.customer_id = i.customer_id
		WHERE i.kind = $1 AND i.token = $2`
	linkOf         = `SELECT merged_into FROM customer_links WHERE customer_id = $1`
	identityInsert = `INSERT INTO identities (kind, token, customer_id, sealed, created_at) VALUES ($1, $2, $3, $4, $5)`
	dropAdd        = `INSERT INTO ingest_drops (key_id, name, count) VALUES ($1, $2, $3)
		ON CONFLICT (key_id, name) DO UPDATE SET count = ingest_drops.count + excluded.count`
	customerExists = `SELECT 1 FROM customers WHERE id = $1`
	linkedInto     = `SELECT customer_id FROM customer_links WHERE merged_into = $1`
)

// holdsKind asks whether any identity of a kind is stored. Ordered as the primary key is, so
// that the plan reads the key whatever the kind (see hasSuppressions): a kind nobody holds,
// asked once in every batch, scanned every identity.
const holdsKind = `SELECT 1 FROM identities WHERE kind = $1 ORDER BY kind, token LIMIT 1`

// customerForUpdate reads one customer in an ingest transaction, locking it where the engine
// locks rows.
func (db *Ingest) customerForUpdate() string {
	return `SELECT ` + customerColumns + ` FROM ` + db.customersByID() + ` WHERE id = $1` + db.d.ForUpdate
}

// prepareIngest prepares the hot ingest statements up front, like prepareWrites.
func (db *Ingest) prepareIngest(ctx context.Context) error {
	qs := []string{holdsKind, identityHolder, linkOf, identityInsert, dropAdd, customerExists, linkedInto, db.customerForUpdate()}
	db.sized = map[int]sizedSQL{}
	for _, n := range rowBatches {
		q := sizedSQL{claim: db.claimSQL(n), reclaim: reclaimSQL(n), identities: identitiesSQL(n), candidates: indexCandidatesSQL(n), events: db.eventSQL(n),
			orders: activityOrdersSQL(n), roots: rootsSQL(n), children: childrenSQL(n)}
		db.sized[n] = q
		qs = append(qs, q.claim, q.reclaim, q.events)
		if db.d.PlanEach == nil {
			// Planned per call where PlanEach is set, never as prepared (see txLookup).
			qs = append(qs, q.identities, q.candidates, q.orders, q.roots, q.children)
		}
	}
	for _, q := range qs {
		if _, err := db.prepared(ctx, db.write, q); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	return nil
}

// IngestTx implements ingest.Store. On PostgreSQL two nodes may link the same new identifier
// at once; the loser's unique violation reruns its whole batch, which then finds the link.
func (db *Ingest) IngestTx(ctx context.Context, fn func(ctx context.Context, tx ingest.Tx) error) error {
	db.prepareOnce.Do(func() { db.prepareErr = db.prepareIngest(ctx) })
	if db.prepareErr != nil {
		return db.translate(db.prepareErr)
	}
	var ch changes
	for attempt := 0; ; attempt++ {
		err := db.transact(ctx, nil, &ch, func(ctx context.Context, tx *sql.Tx) error {
			return fn(ctx, &ingestTx{db: db, tx: tx, changed: &ch})
		})
		// Only transactions of their own race other nodes; an engine's single Writer has none
		// to race.
		// A choice recorded while a merge of the batch was decided is read by the next run,
		// on every engine.
		if problem.Is(err, problem.Conflict) && (db.writer == nil || errors.Is(err, consent.ErrLedgerChanged)) && attempt < 5 {
			continue
		}
		if errors.Is(err, consent.ErrLedgerChanged) {
			// Customers this busy are the client's to retry a moment later, as from a busy
			// database: nothing was stored.
			return problem.Wrap(problem.Unavailable, err, "customers of this batch kept changing while it was stored; retry")
		}
		return err
	}
}

type ingestTx struct {
	db *Ingest
	tx *sql.Tx
	// changed collects the customers whose decision inputs the transaction changed, for the
	// watcher once it commits (see core.transact).
	changed *changes
}

func (t *ingestTx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.db.txExec(ctx, t.tx, q, args...)
}

// rowsPerStatement is how many rows one unprepared multi-row statement carries.
const rowsPerStatement = 100

// batchRows is how many of rows the next multi-row statement of ingest carries: the most of
// rowBatches that fits, so that every statement is one prepared up front. A statement per
// row was most of the ingest's statement cost; a statement of any other length was parsed
// anew each time, which cost a delivery of one event more than the rest of its writing.
func batchRows(rows int) int {
	i := len(rowBatches) - 1
	for i > 0 && rowBatches[i] > rows {
		i--
	}
	return rowBatches[i]
}

// claimSQL inserts n message ids in one statement and returns those it inserted; ids already
// present are left for reclaimSQL. Nothing in it can fail half-way (a multi-row insert, see
// Rewriter.MultiRowInsert, whose one conflict is skipped), so SQLite keeps no copy of the
// pages it touches to undo it alone: with the expired-id update folded in as an upsert, that
// copy of the random-keyed index's pages was about a fifth of the claim's time.
func (db *core) claimSQL(n int) string {
	return db.valuesSQL(`INSERT INTO ingest_messages (key_id, message_hash, received_at)`, 3, n,
		` ON CONFLICT (key_id, message_hash) DO NOTHING RETURNING key_id, message_hash`)
}

// reclaimSQL claims again, for one write key, n ids already present but received before the
// cutoff (outside the deduplication window, not yet purged), and returns them.
func reclaimSQL(n int) string {
	return `UPDATE ingest_messages SET received_at = $1 WHERE received_at < $2 AND key_id = $3 AND message_hash IN (` +
		placeholders(4, n) + `) RETURNING key_id, message_hash`
}

func (db *core) valuesSQL(head string, cols, n int, tail string) string {
	var b strings.Builder
	if db.rw != nil {
		head = db.rw.MultiRowInsert(head)
	}
	b.WriteString(head)
	b.WriteString(" VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + placeholders(i*cols+1, cols) + ")")
	}
	b.WriteString(tail)
	return db.native(b.String())
}

// eventColumns are the columns an ingested event fills.
var eventColumns = []string{"customer_id", "key_id", "type", "name", "category", "at", "received_at", "expires_at", "plain", "sealed"}

func (db *core) eventSQL(n int) string {
	return db.valuesSQL(`INSERT INTO events (`+strings.Join(eventColumns, ", ")+`)`, len(eventColumns), n, "")
}

func identitiesSQL(n int) string {
	return identityHolderMany + placeholders(2, n) + `)`
}

const identityHolderMany = `SELECT i.token, i.customer_id, c.master_version, c.dkey, COALESCE(l.merged_into, '')
		FROM identities i JOIN customers c ON c.id = i.customer_id LEFT JOIN customer_links l ON l.customer_id = i.customer_id
		WHERE i.kind = $1 AND i.token IN (`

func (t *ingestTx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.db.txStmt(ctx, t.tx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, t.db.native(q), args...)
}

func (t *ingestTx) ClaimMessages(ctx context.Context, keyIDs []string, hashes [][]byte, at, cutoff time.Time) ([]bool, error) {
	if len(keyIDs) != len(hashes) {
		return nil, fmt.Errorf("claim messages: %d key ids for %d ids", len(keyIDs), len(hashes))
	}
	// An id is claimed per write key: the key id and the hash together name it.
	name := func(key string, h []byte) string { return key + "\x00" + string(h) }
	fresh := make(map[string]bool, len(hashes))
	// Each id is claimed once, however often a client repeated it within the batch: the
	// first occurrence is the one stored (below).
	type claim struct {
		key  string
		hash []byte
	}
	unique := make([]claim, 0, len(hashes))
	seen := make(map[string]bool, len(hashes))
	for i, h := range hashes {
		if n := name(keyIDs[i], h); !seen[n] {
			seen[n] = true
			unique = append(unique, claim{keyIDs[i], h})
		}
	}
	// Rows come back as (key id, hash); collect marks them fresh.
	collect := func(rows *sql.Rows, err error) error {
		if err != nil {
			return fmt.Errorf("claim messages: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var key string
			var h []byte
			if err := rows.Scan(&key, &h); err != nil {
				return err
			}
			fresh[name(key, h)] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim messages: %w", err)
		}
		return nil
	}
	// insert inserts cs, a statement per batchRows of them, and marks those it inserted fresh.
	insert := func(cs []claim) error {
		for from, n := 0, 0; from < len(cs); from += n {
			n = batchRows(len(cs) - from)
			args := make([]any, 0, 3*n)
			for _, c := range cs[from : from+n] {
				args = append(args, c.key, c.hash, micros(at))
			}
			if err := collect(t.query(ctx, t.db.sized[n].claim, args...)); err != nil {
				return err
			}
		}
		return nil
	}
	// unclaimed lists the ids not claimed so far, in order of first appearance.
	unclaimed := func() []claim {
		var out []claim
		for _, c := range unique {
			if !fresh[name(c.key, c.hash)] {
				out = append(out, c)
			}
		}
		return out
	}
	if err := insert(unique); err != nil {
		return nil, err
	}
	// Ids present already are retries, unless received before the cutoff: those are claimed
	// again, grouped by write key.
	var keys []string
	present := map[string][][]byte{}
	for _, c := range unclaimed() {
		if _, ok := present[c.key]; !ok {
			keys = append(keys, c.key)
		}
		present[c.key] = append(present[c.key], c.hash)
	}
	for _, key := range keys {
		hashes := present[key]
		for from, n := 0, 0; from < len(hashes); from += n {
			n = batchRows(len(hashes) - from)
			args := make([]any, 0, n+3)
			args = append(args, micros(at), micros(cutoff), key)
			for _, h := range hashes[from : from+n] {
				args = append(args, h)
			}
			if err := collect(t.query(ctx, t.db.sized[n].reclaim, args...)); err != nil {
				return nil, err
			}
		}
	}
	// An id neither inserted nor claimed again was present and inside the window, or was
	// present but expired and purged, by another transaction, between the two statements
	// (PostgreSQL, where each statement sees what committed before it): inserted again now,
	// it is claimed, or found present, a retry.
	if err := insert(unclaimed()); err != nil {
		return nil, err
	}
	// A message id repeated within one request is stored once: its first occurrence wins.
	out := make([]bool, len(hashes))
	for i, h := range hashes {
		if n := name(keyIDs[i], h); fresh[n] {
			out[i] = true
			delete(fresh, n)
		}
	}
	return out, nil
}

func (t *ingestTx) Identities(ctx context.Context, kind string, tokens [][]byte) (map[string]ingest.Holder, error) {
	out := map[string]ingest.Holder{}
	err := inChunks(kind, tokens, func(args []any, n int) error {
		rows, err := t.db.txLookup(ctx, t.tx, t.db.sized[n].identities, args...)
		if err != nil {
			return fmt.Errorf("look up identities: %w", err)
		}
		type found struct {
			tok  []byte
			h    ingest.Holder
			link string
		}
		var fs []found
		for rows.Next() {
			var f found
			if err := rows.Scan(&f.tok, &f.h.CustomerID, &f.h.MasterVersion, &f.h.Key, &f.link); err != nil {
				rows.Close()
				return err
			}
			fs = append(fs, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("look up identities: %w", err)
		}
		for _, f := range fs {
			f.h.Root = f.h.CustomerID
			if f.link != "" {
				if f.h.Root, err = t.root(ctx, f.link); err != nil {
					return err
				}
			}
			out[string(f.tok)] = f.h
		}
		return nil
	})
	return out, err
}

// inChunks calls fn with the arguments of each IN (...) look-up of vals, batchRows at a
// time: head, then the values, and how many values there are.
func inChunks[T any](head any, vals []T, fn func(args []any, n int) error) error {
	for from, n := 0, 0; from < len(vals); from += n {
		n = batchRows(len(vals) - from)
		part := vals[from : from+n]
		args := make([]any, 0, len(part)+1)
		args = append(args, head)
		for _, v := range part {
			args = append(args, v)
		}
		if err := fn(args, len(part)); err != nil {
			return err
		}
	}
	return nil
}

func (t *ingestTx) Identity(ctx context.Context, kind string, token []byte) (ingest.Holder, bool, error) {
	var h ingest.Holder
	var link string
	err := t.db.txQueryRow(ctx, t.tx, identityHolder, kind, token).Scan(&h.CustomerID, &h.MasterVersion, &h.Key, &link)
	if errors.Is(err, sql.ErrNoRows) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("look up identity: %w", err)
	}
	h.Root = h.CustomerID
	if link != "" {
		if h.Root, err = t.root(ctx, link); err != nil {
			return h, false, err
		}
	}
	return h, true, nil
}

// root follows merge links from id to the customer at the top.
func (t *ingestTx) root(ctx context.Context, id string) (string, error) {
	return followLinks(id, func(c string) (string, error) {
		var next string
		err := t.db.txQueryRow(ctx, t.tx, linkOf, c).Scan(&next)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil
		}
		return next, err
	})
}

// followLinks walks merge links; merges only ever link a root to another root, so the chain
// has no cycles, and the bound only guards against a damaged table.
func followLinks(id string, next func(string) (string, error)) (string, error) {
	for i := 0; i < 1000; i++ {
		n, err := next(id)
		if err != nil {
			return "", fmt.Errorf("follow merge link: %w", err)
		}
		if n == "" {
			return id, nil
		}
		id = n
	}
	return "", errors.New("merge links form a cycle")
}

func (t *ingestTx) Root(ctx context.Context, id string) (string, error) {
	var one int
	err := t.db.txQueryRow(ctx, t.tx, customerExists, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return "", problem.NotFoundf("customer not found")
	}
	if err != nil {
		return "", err
	}
	return t.root(ctx, id)
}

// Roots implements ingest.Tx: one statement finds every customer and its merge link, and
// only the links are followed further.
func (t *ingestTx) Roots(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	links := map[string]string{}
	err := inPadded(ids, func(args []any, n int) error {
		rows, err := t.db.txLookup(ctx, t.tx, t.db.sized[n].roots, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, link string
			if err := rows.Scan(&id, &link); err != nil {
				return err
			}
			out[id] = id
			if link != "" {
				links[id] = link
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			return nil, problem.NotFoundf("customer not found")
		}
	}
	for id, link := range links {
		if out[id], err = t.root(ctx, link); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func rootsSQL(n int) string {
	return `SELECT c.id, COALESCE(l.merged_into, '') FROM customers c LEFT JOIN customer_links l ON l.customer_id = c.id
		WHERE c.id IN (` + placeholders(1, n) + `)`
}

// Trees implements ingest.Tx: the customers merged into the roots, a statement per level of
// merging for all of them (almost always one, which finds nobody).
func (t *ingestTx) Trees(ctx context.Context, roots []string) ([][]string, error) {
	out := make([][]string, len(roots))
	in := make(map[string]int, len(roots))
	level := make([]string, 0, len(roots))
	for i, r := range roots {
		out[i] = []string{r}
		if _, dup := in[r]; !dup {
			in[r] = i
			level = append(level, r)
		}
	}
	for len(level) > 0 {
		var next []string
		err := inPadded(level, func(args []any, n int) error {
			rows, err := t.db.txLookup(ctx, t.tx, t.db.sized[n].children, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var parent, child string
				if err := rows.Scan(&parent, &child); err != nil {
					return err
				}
				i := in[parent]
				if _, seen := in[child]; seen || len(out[i]) >= maxTree {
					continue
				}
				in[child] = i
				out[i] = append(out[i], child)
				next = append(next, child)
			}
			return rows.Err()
		})
		if err != nil {
			return nil, err
		}
		level = next
	}
	return out, nil
}

// maxTree bounds the customers of one tree, which only a damaged links table could exceed.
const maxTree = 10000

func childrenSQL(n int) string {
	return `SELECT merged_into, customer_id FROM customer_links WHERE merged_into IN (` + placeholders(1, n) + `)`
}

func (t *ingestTx) Customer(ctx context.Context, id string) (*customer.Record, error) {
	rows, err := t.query(ctx, t.db.customerForUpdate(), id)
	if err != nil {
		return nil, err
	}
	recs, err := t.db.scanCustomers(rows)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, problem.NotFoundf("customer not found")
	}
	return recs[0], nil
}

func (t *ingestTx) Tree(ctx context.Context, root string) ([]string, error) {
	return tree(root, func(id string) (*sql.Rows, error) {
		return t.query(ctx, linkedInto, id)
	})
}

// tree lists root and every customer linked below it, breadth first.
func tree(root string, children func(string) (*sql.Rows, error)) ([]string, error) {
	out := []string{root}
	for i := 0; i < len(out) && len(out) < maxTree; i++ {
		rows, err := children(out[i])
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *ingestTx) IdentityKinds(ctx context.Context, ids []string, indexed []string) ([]string, error) {
	q := `SELECT kind FROM identities WHERE customer_id = $1`
	if len(indexed) > 0 {
		q += ` UNION ALL SELECT field FROM blind_index WHERE customer_id = $1 AND field IN (` + placeholders(2, len(indexed)) + `)`
	}
	var out []string
	for _, id := range ids {
		rows, err := t.tx.QueryContext(ctx, q, append([]any{id}, anyArgs(indexed)...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// HoldsKind implements ingest.Tx.
func (t *ingestTx) HoldsKind(ctx context.Context, kind string) (bool, error) {
	var one int
	err := t.db.txQueryRow(ctx, t.tx, holdsKind, kind).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up identities: %w", err)
	}
	return true, nil
}

// IndexCandidates implements ingest.Tx.
func (t *ingestTx) IndexCandidates(ctx context.Context, field string, tokens []int64) ([]ingest.IndexCandidate, error) {
	var out []ingest.IndexCandidate
	err := inChunks(field, tokens, func(args []any, n int) error {
		rows, err := t.db.txLookup(ctx, t.tx, t.db.sized[n].candidates, args...)
		if err != nil {
			return fmt.Errorf("look up index: %w", err)
		}
		var toks []int64
		var links []string
		recs, err := t.db.scanLedCustomers(rows, func() []any {
			toks, links = append(toks, 0), append(links, "")
			return []any{&toks[len(toks)-1], &links[len(links)-1]}
		})
		if err != nil {
			return fmt.Errorf("look up index: %w", err)
		}
		for i, r := range recs {
			h := ingest.Holder{CustomerID: r.ID, Root: r.ID, MasterVersion: r.MasterVersion, Key: r.Key}
			if links[i] != "" {
				if h.Root, err = t.root(ctx, links[i]); err != nil {
					return err
				}
			}
			out = append(out, ingest.IndexCandidate{Token: toks[i], Holder: h, Record: r})
		}
		return nil
	})
	return out, err
}

// indexCandidatesSQL finds the customers whose blind-index entry for a field carries one of
// n tokens, with the customer each has been merged into.
func indexCandidatesSQL(n int) string {
	return `SELECT b.token, COALESCE(l.merged_into, ''), ` + customerColumnsOfC + `
		FROM blind_index b JOIN customers c ON c.id = b.customer_id LEFT JOIN customer_links l ON l.customer_id = b.customer_id
		WHERE b.field = $1 AND b.token IN (` + placeholders(2, n) + `)`
}

func (t *ingestTx) CreateCustomers(ctx context.Context, recs []*customer.Record) error {
	args := make([]any, 0, 8*len(recs))
	var index, tokens []any
	for _, r := range recs {
		t.changed.add(r.ID)
		args = append(args, r.ID, r.Version, r.MasterVersion, r.Key, encodeSealed(r.Sealed), encodePlain(r.Plain), micros(r.CreatedAt), micros(r.UpdatedAt))
		for _, ix := range r.Index {
			index = append(index, ix.Field, ix.Token, r.ID)
		}
		tokens = appendSearchLists(tokens, r)
	}
	if err := t.db.insertRows(ctx, t.tx, t.db.customerRows, args); err != nil {
		return err
	}
	if err := t.db.insertRows(ctx, t.tx, t.db.indexRows, index); err != nil {
		return err
	}
	return t.db.insertSearchLists(ctx, t.tx, tokens)
}

func (t *ingestTx) UpdateCustomer(ctx context.Context, r *customer.Record, prev int64) error {
	t.changed.add(r.ID)
	res, err := t.exec(ctx, t.db.customerUpdate(), r.Version, r.MasterVersion, r.Key, encodeSealed(r.Sealed), encodePlain(r.Plain), micros(r.UpdatedAt), r.ID, prev)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return problem.Conflictf("customer was changed concurrently; retry")
	}
	if r.IndexKept {
		return nil
	}
	if _, err := t.exec(ctx, indexDelete, r.ID); err != nil {
		return err
	}
	if err := t.db.insertIndex(ctx, t.tx, r); err != nil {
		return err
	}
	return t.db.replaceSearch(ctx, t.tx, r)
}

func (t *ingestTx) AddIdentities(ctx context.Context, rows []ingest.IdentityRow) error {
	args := make([]any, 0, 5*len(rows))
	for _, r := range rows {
		args = append(args, r.Kind, r.Token, r.CustomerID, r.Sealed, micros(r.CreatedAt))
	}
	if err := t.db.insertRows(ctx, t.tx, t.db.identityRows, args); err != nil {
		return fmt.Errorf("insert identities: %w", err)
	}
	return nil
}

// AddConsentRecords implements ingest.Tx.
func (t *ingestTx) AddConsentRecords(ctx context.Context, recs []consent.Record) error {
	for _, r := range recs {
		t.changed.add(r.CustomerID)
	}
	return insertRecords(ctx, t.tx, recs)
}

// LockCustomers implements ingest.Tx.
func (t *ingestTx) LockCustomers(ctx context.Context, ids []string) (map[string]ingest.Locked, error) {
	locked, err := t.db.lockCustomers(ctx, t.tx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]ingest.Locked, len(locked))
	for id, l := range locked {
		out[id] = ingest.Locked{Version: l.version, Into: l.into}
	}
	return out, nil
}

func (t *ingestTx) AddMerges(ctx context.Context, ms []ingest.Merge) error {
	for _, m := range ms {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO customer_merges (id, winner_id, loser_id, reason, created_at) VALUES ($1, $2, $3, $4, $5)`,
			m.ID, m.Winner, m.Loser, m.Reason, micros(m.CreatedAt)); err != nil {
			return fmt.Errorf("insert merge: %w", err)
		}
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO customer_links (customer_id, merged_into, merge_id) VALUES ($1, $2, $3)`, m.Loser, m.Winner, m.ID); err != nil {
			return fmt.Errorf("insert merge link: %w", err)
		}
		if err := bumpDecisions(ctx, t.tx, m.Winner, m.Loser); err != nil {
			return err
		}
		// In order: a loser merged into a winner merged further in the same batch brings its
		// points along.
		if err := t.db.transferPoints(ctx, t.tx, loyalty.Transfer{From: m.Loser, To: m.Winner, Cause: loyalty.CauseMerge, Ref: m.ID}); err != nil {
			return err
		}
		t.changed.add(m.Winner, m.Loser)
	}
	return nil
}

// ProposePairs implements ingest.Tx. The evidence names the kind of identifier the message
// shared, never its value.
func (t *ingestTx) ProposePairs(ctx context.Context, ps []ingest.Proposal) error {
	for _, p := range ps {
		ev, _ := json.Marshal([]map[string]any{{"comparison": "shared_identifier", "level": p.Class, "weight": 0}})
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO duplicates (id, customer_id, other_id, score, weight, decision, evidence, state, created_at, updated_at)
			VALUES ($1, $2, $3, 0, 0, $4, $5, $6, $7, $7) ON CONFLICT (customer_id, other_id) DO NOTHING`,
			p.ID, p.A, p.B, ingest.PairSharedIdentifier, string(ev), duplicate.Pending, micros(p.At)); err != nil {
			return fmt.Errorf("propose pair: %w", err)
		}
	}
	return nil
}

// bumpDecisions marks the decision inputs of the two customers of a merge as changed: whoever
// reads one customer's ledger through the other must not keep what was cached before.
func bumpDecisions(ctx context.Context, tx *sql.Tx, a, b string) error {
	_, err := tx.ExecContext(ctx, `UPDATE customers SET decision_seq = decision_seq + 1 WHERE id IN ($1, $2)`, a, b)
	return err
}

func (t *ingestTx) InsertEvents(ctx context.Context, evs []ingest.EventRow) error {
	if f := t.db.d.EventMonths; f != nil {
		received := make([]time.Time, len(evs))
		for i, e := range evs {
			received[i] = e.ReceivedAt
		}
		if err := f(ctx, t.db.write, received); err != nil {
			return err
		}
	}
	row := func(e ingest.EventRow) []any {
		var exp int64
		if !e.ExpiresAt.IsZero() {
			exp = micros(e.ExpiresAt)
		}
		return []any{e.CustomerID, e.KeyID, e.Type, e.Name, e.Category, micros(e.At), micros(e.ReceivedAt), exp, string(e.Plain), e.Sealed}
	}
	if copied, err := t.db.copyRows(ctx, "events", eventColumns, len(evs), func(i int) []any { return row(evs[i]) }); copied || err != nil {
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		return nil
	}
	for from, n := 0, 0; from < len(evs); from += n {
		n = batchRows(len(evs) - from)
		part := evs[from : from+n]
		args := make([]any, 0, len(part)*len(eventColumns))
		for _, e := range part {
			args = append(args, row(e)...)
		}
		if _, err := t.exec(ctx, t.db.sized[len(part)].events, args...); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
	}
	return nil
}

func (t *ingestTx) AddDrops(ctx context.Context, keyID string, counts map[string]int64) error {
	for name, n := range counts {
		if _, err := t.exec(ctx, dropAdd, keyID, name, n); err != nil {
			return fmt.Errorf("count drops: %w", err)
		}
	}
	return nil
}

func (t *ingestTx) AppendAudit(ctx context.Context, entries []audit.Entry) error {
	return t.db.appendAudit(ctx, t.tx, entries)
}

func (t *ingestTx) AddOrders(ctx context.Context, changes []ingest.OrderChange) error {
	for _, c := range changes {
		if err := t.addOrder(ctx, c); err != nil {
			return fmt.Errorf("record %s: %w", c.Kind, err)
		}
	}
	return nil
}

// The statements that record commerce facts, prepared up front (see core.prepareWrites):
// an ingest batch of orders runs them once per order.
const (
	orderUpsert = `INSERT INTO orders (order_id, customer_id, status, currency, total, tax, shipping, discount, refunded, items, placed_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $10)
			ON CONFLICT (order_id) DO UPDATE SET status = CASE WHEN orders.status IN ('cancelled', 'refunded', 'partially_refunded') THEN orders.status ELSE excluded.status END,
				currency = excluded.currency, total = excluded.total, tax = excluded.tax, shipping = excluded.shipping,
				discount = excluded.discount, items = excluded.items, updated_at = excluded.updated_at`
	orderCheckoutsOrdered = `UPDATE checkouts SET ordered_at = $1 WHERE customer_id = $2 AND ordered_at = 0 AND started_at <= $1`
	orderRefundRow        = `INSERT INTO orders (order_id, customer_id, status, currency, total, tax, shipping, discount, refunded, items, placed_at, updated_at)
			VALUES ($1, $2, 'refunded', $3, 0, 0, 0, 0, 0, '[]', $4, $4) ON CONFLICT (order_id) DO NOTHING`
	orderRefundInsert = `INSERT INTO order_refunds (order_id, kind, amount, items, at) VALUES ($1, $2, $3, $4, $5)`
	orderRefundUpdate = `UPDATE orders SET refunded = refunded + $1, updated_at = $2,
			status = CASE WHEN refunded + $1 >= total THEN 'refunded' ELSE 'partially_refunded' END WHERE order_id = $3`
	orderCancel = `INSERT INTO orders (order_id, customer_id, status, currency, total, tax, shipping, discount, refunded, items, placed_at, updated_at)
			VALUES ($1, $2, 'cancelled', $3, $4, 0, 0, 0, 0, $5, $6, $6) ON CONFLICT (order_id) DO UPDATE SET status = 'cancelled', updated_at = excluded.updated_at`
	reviewInsert   = `INSERT INTO reviews (customer_id, review_id, product_id, rating, at) VALUES ($1, $2, $3, $4, $5)`
	checkoutUpsert = `INSERT INTO checkouts (customer_id, checkout_id, started_at, value, currency, ordered_at) VALUES ($1, $2, $3, $4, $5, 0)
			ON CONFLICT (customer_id, checkout_id) DO UPDATE SET value = CASE WHEN checkouts.ordered_at = 0 THEN excluded.value ELSE checkouts.value END`
)

// orderStatements lists them for core.prepareWrites.
func orderStatements() []string {
	return []string{orderUpsert, orderCheckoutsOrdered, orderRefundRow, orderRefundInsert, orderRefundUpdate, orderCancel, reviewInsert, checkoutUpsert}
}

func (t *ingestTx) addOrder(ctx context.Context, c ingest.OrderChange) error {
	at := micros(c.At)
	items := encodeItems(c.Items)
	switch c.Kind {
	case ingest.OrderCompleted, ingest.OrderUpdated:
		status := "completed"
		if c.Kind == ingest.OrderUpdated {
			status = "updated"
		}
		if _, err := t.exec(ctx, orderUpsert,
			c.OrderID, c.CustomerID, status, c.Currency, c.Total, c.Tax, c.Shipping, c.Discount, items, at); err != nil {
			return err
		}
		if c.Kind == ingest.OrderCompleted {
			_, err := t.exec(ctx, orderCheckoutsOrdered, at, c.CustomerID)
			return err
		}
		return nil
	case ingest.OrderRefunded:
		if _, err := t.exec(ctx, orderRefundRow, c.OrderID, c.CustomerID, c.Currency, at); err != nil {
			return err
		}
		if _, err := t.exec(ctx, orderRefundInsert,
			c.OrderID, c.Reason, c.Total, items, at); err != nil {
			return err
		}
		_, err := t.exec(ctx, orderRefundUpdate, c.Total, at, c.OrderID)
		return err
	case ingest.OrderCancelled:
		if _, err := t.exec(ctx, orderCancel,
			c.OrderID, c.CustomerID, c.Currency, c.Total, items, at); err != nil {
			return err
		}
		return nil
	case ingest.ProductReviewed:
		_, err := t.exec(ctx, reviewInsert,
			c.CustomerID, c.Review.ReviewID, c.Review.ProductID, c.Review.Rating, at)
		return err
	case ingest.CheckoutStarted, ingest.CartAdded:
		value := c.Total
		if value == 0 {
			for _, it := range c.Items {
				value += it.Price * float64(it.Quantity)
			}
		}
		_, err := t.exec(ctx, checkoutUpsert,
			c.CustomerID, c.CheckoutID, at, value, c.Currency)
		return err
	}
	return fmt.Errorf("unknown order change %q", c.Kind)
}

func encodeItems(items []ingest.OrderItem) string {
	if len(items) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(items)
	return string(b)
}

// placeholders returns "$from, $from+1, …" for n arguments.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}

func anyArgs(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// CustomerTree implements ingest.Store.
func (db *Ingest) CustomerTree(ctx context.Context, id string) (string, []string, error) {
	return db.customerTree(ctx, id)
}

// customerTree is CustomerTree for every repository that reads across a merge tree.
func (db *core) customerTree(ctx context.Context, id string) (string, []string, error) {
	var one int
	err := db.queryRow(ctx, `SELECT 1 FROM customers WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, problem.NotFoundf("customer not found")
	}
	if err != nil {
		return "", nil, db.translate(err)
	}
	root, err := followLinks(id, func(c string) (string, error) {
		var next string
		err := db.queryRow(ctx, linkOf, c).Scan(&next)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil
		}
		return next, err
	})
	if err != nil {
		return "", nil, db.translate(err)
	}
	ids, err := tree(root, func(c string) (*sql.Rows, error) {
		return db.query(ctx, `SELECT customer_id FROM customer_links WHERE merged_into = $1`, c)
	})
	return root, ids, db.translate(err)
}

// ListEvents implements ingest.Store.
func (db *Ingest) ListEvents(ctx context.Context, ids []string, f ingest.EventFilter) ([]ingest.EventRow, error) {
	args := anyArgs(ids)
	q := `SELECT e.id, e.customer_id, e.key_id, e.type, e.name, e.category, e.at, e.received_at, e.expires_at, e.plain, e.sealed, c.master_version, c.dkey
		FROM events e JOIN customers c ON c.id = e.customer_id WHERE e.customer_id IN (` + placeholders(1, len(ids)) + `)`
	add := func(cond string, v any) {
		args = append(args, v)
		q += " AND " + strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args)))
	}
	if f.Type != "" {
		add("e.type = ?", f.Type)
	}
	if f.Name != "" {
		add("e.name = ?", f.Name)
	}
	if f.Category != "" {
		add("e.category = ?", f.Category)
	}
	if !f.Since.IsZero() {
		add("e.at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("e.at < ?", micros(f.Until))
	}
	if f.BeforeID > 0 {
		add("e.id < ?", f.BeforeID)
	}
	args = append(args, f.Limit)
	q += ` ORDER BY e.id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []ingest.EventRow
	for rows.Next() {
		var e ingest.EventRow
		var at, recv, exp int64
		var plain string
		if err := rows.Scan(&e.ID, &e.CustomerID, &e.KeyID, &e.Type, &e.Name, &e.Category, &at, &recv, &exp, &plain, &e.Sealed, &e.MasterVersion, &e.Key); err != nil {
			return nil, db.translate(err)
		}
		e.At, e.ReceivedAt, e.Plain = fromMicros(at), fromMicros(recv), []byte(plain)
		if exp > 0 {
			e.ExpiresAt = fromMicros(exp)
		}
		out = append(out, e)
	}
	return out, db.translate(rows.Err())
}

// ListIdentities implements ingest.Store. A profile's current indexed contact values are
// listed from its blind-index entries, dated by the profile's last change.
func (db *Ingest) ListIdentities(ctx context.Context, ids []string, indexed []string) ([]ingest.IdentityRow, error) {
	q := `SELECT kind, token, customer_id, sealed, created_at FROM identities WHERE customer_id IN (` + placeholders(1, len(ids)) + `)`
	args := anyArgs(ids)
	if len(indexed) > 0 {
		q += ` UNION ALL SELECT b.field, NULL, b.customer_id, NULL, c.updated_at FROM blind_index b JOIN customers c ON c.id = b.customer_id
			WHERE b.customer_id IN (` + placeholders(len(ids)+1, len(ids)) + `) AND b.field IN (` + placeholders(2*len(ids)+1, len(indexed)) + `)`
		args = append(append(args, anyArgs(ids)...), anyArgs(indexed)...)
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []ingest.IdentityRow
	for rows.Next() {
		var r ingest.IdentityRow
		var at int64
		if err := rows.Scan(&r.Kind, &r.Token, &r.CustomerID, &r.Sealed, &at); err != nil {
			return nil, db.translate(err)
		}
		r.CreatedAt = fromMicros(at)
		out = append(out, r)
	}
	return out, db.translate(rows.Err())
}

const mergeColumns = `id, winner_id, loser_id, reason, created_at, undone_at`

func scanMerge(row rowScanner) (ingest.Merge, error) {
	var m ingest.Merge
	var at int64
	var undone sql.NullInt64
	if err := row.Scan(&m.ID, &m.Winner, &m.Loser, &m.Reason, &at, &undone); err != nil {
		return m, err
	}
	m.CreatedAt = fromMicros(at)
	if undone.Valid {
		t := fromMicros(undone.Int64)
		m.UndoneAt = &t
	}
	return m, nil
}

// ListMerges implements ingest.Store.
func (db *Ingest) ListMerges(ctx context.Context, ids []string) ([]ingest.Merge, error) {
	ph := placeholders(1, len(ids))
	rows, err := db.read.QueryContext(ctx, `SELECT `+mergeColumns+` FROM customer_merges WHERE winner_id IN (`+ph+`) OR loser_id IN (`+ph+`) ORDER BY created_at DESC, id DESC`, anyArgs(ids)...)
	out, err := collect(db, rows, err, scanMerge)
	if out == nil {
		out = []ingest.Merge{}
	}
	return out, err
}

// UndoMerge implements ingest.Store.
func (db *Ingest) UndoMerge(ctx context.Context, id string, at time.Time, entries func(ingest.Merge) []audit.Entry,
	records func(ingest.Merge) (consent.Carry, error)) (ingest.Merge, error) {
	var m ingest.Merge
	var ch changes
	err := db.transact(ctx, nil, &ch, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if m, err = db.lockMerge(ctx, tx, id); err != nil {
			return err
		}
		var kept consent.Carry
		if records != nil {
			if kept, err = records(m); err != nil {
				return err
			}
			if err := db.checkVersions(ctx, tx, kept.Versions); err != nil {
				return err
			}
		}
		if err := db.undoLocked(ctx, tx, &m, at); err != nil {
			return err
		}
		ch.add(m.Winner, m.Loser)
		if records != nil {
			if err := insertRecords(ctx, tx, kept.Records); err != nil {
				return err
			}
		}
		return db.appendAudit(ctx, tx, entries(m))
	})
	return m, err
}

// lockMerge reads a merge still to be undone inside tx, locking it where the engine locks
// rows: NotFound for an unknown merge, Conflict for one already undone.
func (db *core) lockMerge(ctx context.Context, tx *sql.Tx, id string) (ingest.Merge, error) {
	m, err := scanMerge(tx.QueryRowContext(ctx, `SELECT `+mergeColumns+` FROM customer_merges WHERE id = $1`+db.d.ForUpdate, id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, problem.NotFoundf("merge not found")
	}
	if err != nil {
		return m, err
	}
	if m.UndoneAt != nil {
		return m, problem.Conflictf("merge was already undone")
	}
	return m, nil
}

// checkVersions locks the customers of versions (see consent.Carry.Versions) and fails with
// consent.ErrLedgerChanged if any counter moved since it was read, or the customer is gone.
func (db *core) checkVersions(ctx context.Context, tx *sql.Tx, versions map[string]int64) error {
	if len(versions) == 0 {
		return nil
	}
	ids := make([]string, 0, len(versions))
	for id := range versions {
		ids = append(ids, id)
	}
	locked, err := db.lockCustomers(ctx, tx, ids)
	if err != nil {
		return err
	}
	for id, v := range versions {
		if l, ok := locked[id]; !ok || l.version != v {
			return consent.LedgerChanged()
		}
	}
	return nil
}

// undoLocked marks m, read by lockMerge, undone at at and removes its link inside tx.
func (db *core) undoLocked(ctx context.Context, tx *sql.Tx, m *ingest.Merge, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE customer_merges SET undone_at = $1 WHERE id = $2`, micros(at), m.ID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM customer_links WHERE customer_id = $1 AND merge_id = $2`, m.Loser, m.ID); err != nil {
		return err
	}
	if err := bumpDecisions(ctx, tx, m.Winner, m.Loser); err != nil {
		return err
	}
	// What is left of the points the merge brought goes back with the customer.
	if err := db.transferPoints(ctx, tx, loyalty.Transfer{From: m.Winner, To: m.Loser, Cause: loyalty.CauseUnmerge, Ref: m.ID, Only: m.Loser}); err != nil {
		return err
	}
	t := at
	m.UndoneAt = &t
	return nil
}

// Drops implements ingest.Store.
func (db *Ingest) Drops(ctx context.Context, keyID string) (map[string]int64, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT name, count FROM ingest_drops WHERE key_id = $1`, keyID)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var n string
		var c int64
		if err := rows.Scan(&n, &c); err != nil {
			return nil, db.translate(err)
		}
		out[n] = c
	}
	return out, db.translate(rows.Err())
}

// ListOrders implements ingest.Store.
func (db *Ingest) ListOrders(ctx context.Context, ids []string, limit int) ([]ingest.Order, error) {
	args := append(anyArgs(ids), limit)
	rows, err := db.read.QueryContext(ctx, `SELECT order_id, customer_id, status, currency, total, tax, shipping, discount, refunded, items, placed_at, updated_at
		FROM orders WHERE customer_id IN (`+placeholders(1, len(ids))+`) ORDER BY placed_at DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, db.translate(err)
	}
	out := []ingest.Order{}
	for rows.Next() {
		var o ingest.Order
		var items string
		var placed, updated int64
		if err := rows.Scan(&o.OrderID, &o.CustomerID, &o.Status, &o.Currency, &o.Total, &o.Tax, &o.Shipping, &o.Discount, &o.Refunded, &items, &placed, &updated); err != nil {
			rows.Close()
			return nil, db.translate(err)
		}
		_ = json.Unmarshal([]byte(items), &o.Items)
		o.PlacedAt, o.UpdatedAt = fromMicros(placed), fromMicros(updated)
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.translate(err)
	}
	for i := range out {
		rr, err := db.read.QueryContext(ctx, `SELECT kind, amount, items, at FROM order_refunds WHERE order_id = $1 ORDER BY id`, out[i].OrderID)
		if err != nil {
			return nil, db.translate(err)
		}
		for rr.Next() {
			var r ingest.Refund
			var items string
			var at int64
			if err := rr.Scan(&r.Kind, &r.Amount, &items, &at); err != nil {
				rr.Close()
				return nil, db.translate(err)
			}
			_ = json.Unmarshal([]byte(items), &r.Items)
			r.At = fromMicros(at)
			out[i].Refunds = append(out[i].Refunds, r)
		}
		rr.Close()
	}
	return out, nil
}

// OrderCustomer implements ingest.Store.
func (db *Ingest) OrderCustomer(ctx context.Context, orderID string) (string, error) {
	var id string
	err := db.queryRow(ctx, `SELECT customer_id FROM orders WHERE order_id = $1`, orderID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", problem.NotFoundf("order not found")
	}
	return id, db.translate(err)
}

// AbandonedCarts implements ingest.Store.
func (db *Ingest) AbandonedCarts(ctx context.Context, before time.Time, limit int) ([]ingest.AbandonedCart, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT customer_id, checkout_id, started_at, value, currency FROM checkouts
		WHERE ordered_at = 0 AND started_at < $1 ORDER BY started_at LIMIT $2`, micros(before), limit)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	out := []ingest.AbandonedCart{}
	for rows.Next() {
		var c ingest.AbandonedCart
		var at int64
		if err := rows.Scan(&c.CustomerID, &c.CheckoutID, &at, &c.Value, &c.Currency); err != nil {
			return nil, db.translate(err)
		}
		c.StartedAt = fromMicros(at)
		out = append(out, c)
	}
	return out, db.translate(rows.Err())
}

// lastingMicros is ingest.LastingClaim as stored: ids claimed at it are left out of the index
// of receipt times (ingest_messages_received), whose condition, in migration 0034, names the
// same number.
var lastingMicros = micros(ingest.LastingClaim)

// expiredMessagesSQL finds message ids received before $1, at most $2 of them. The second
// bound is the index's own condition: the engines use a partial index only for a query that
// states it.
var expiredMessagesSQL = `SELECT key_id, message_hash FROM ingest_messages WHERE received_at < $1 AND received_at < ` +
	strconv.FormatInt(lastingMicros, 10) + ` LIMIT $2`

// PurgeIngest implements ingest.Store.
func (db *Ingest) PurgeIngest(ctx context.Context, dedupBefore, now time.Time, limit int) (int64, error) {
	var dropped int64
	if db.d.PurgeEvents != nil {
		var err error
		if dropped, err = db.d.PurgeEvents(ctx, db.write, now); err != nil {
			return 0, db.translate(err)
		}
	}
	var n int64
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		n = dropped
		for _, q := range []struct {
			sql string
			arg int64
		}{
			{`DELETE FROM ingest_messages WHERE (key_id, message_hash) IN (` + expiredMessagesSQL + `)`, micros(dedupBefore)},
			{`DELETE FROM events WHERE id IN (SELECT id FROM events WHERE expires_at > 0 AND expires_at < $1 LIMIT $2)`, micros(now)},
		} {
			res, err := tx.ExecContext(ctx, q.sql, q.arg, limit)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += k
		}
		return nil
	})
	return n, err
}

// AppendConsents implements ingest.Tx: the ledger appends of consent signals, stored with the
// batch that carried them. The customers are the transaction's own, so they are not looked up
// again; the decision watcher hears of them once the batch commits.
func (t *ingestTx) AppendConsents(ctx context.Context, as []consent.Append) error {
	var entries []audit.Entry
	for _, a := range as {
		if err := insertRecords(ctx, t.tx, a.Records); err != nil {
			return fmt.Errorf("insert consent records: %w", err)
		}
		holders, err := t.db.addSuppressions(ctx, t.tx, a.Suppressions)
		if err != nil {
			return fmt.Errorf("insert suppressions: %w", err)
		}
		t.changed.add(a.CustomerID)
		t.changed.add(holders...)
		entries = append(entries, a.Entries...)
	}
	return t.db.appendAudit(ctx, t.tx, entries)
}
