package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/search"
)

var _ customer.SearchStore = (*Customers)(nil)

// Search tokens live in two tables (see the migrations creating search_lists, numbering them
// and keeping the numbers in blocks): search_tokens, the numbers of the customers holding each
// token in blocks (see searchblock.go), which searches read by token; and search_lists, one
// row per customer giving it that number and holding its tokens as a JSON array, through which
// a change or an erasure finds the blocks to take its number out of, and a search's numbers
// find their customers. A create writes its list alone, pending (merged = 0): a dozen rows at
// scattered places of search_tokens was what a create's search tokens cost, in B-tree work and
// in the pages each commit rewrites. The write
// transaction that brings the pending lists to mergeAt moves them into search_tokens, sorted,
// in one pass (mergeSearch), and searches read the pending lists besides search_tokens,
// through a cache of them by number (pendingLists).
const (
	// mergeAt is how many customers' lists may wait before a write moves them. A move
	// writes each page of search_tokens it touches once, and the pages touched grow far
	// slower than the lists moved, since customers share most of their tokens' places (a
	// town, a mail domain, a name's sound): moving every 1,024 customers wrote the index's
	// pages a third as often per create as moving every 256. What a search pays for the lists
	// waiting is a read of the pending index's numbers; their tokens are read once, then
	// cached.
	mergeAt = 1024
	// mergeMost bounds one move, so that lists left by an earlier process do not make one
	// transaction long.
	mergeMost = 8192
)

// encodeTokens is a token list as search_lists stores it: a JSON array of integers, which
// both engines' JSON table functions read in SQL.
func encodeTokens(tokens []int64) string {
	b := make([]byte, 0, 2+12*len(tokens))
	b = append(b, '[')
	for i, t := range tokens {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, t, 10)
	}
	return string(append(b, ']'))
}

// decodeTokens reads a list encodeTokens wrote (by hand: encoding/json took a tenth of a
// move's time).
func decodeTokens(s string) ([]int64, error) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, fmt.Errorf("search list: not a JSON array")
	}
	out := make([]int64, 0, strings.Count(s, ",")+1)
	for f := range strings.SplitSeq(s[1:len(s)-1], ",") {
		if f == "" {
			continue
		}
		t, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("search list: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// numList is the engine's subquery of the integers of the JSON array bound as $n.
func (db *core) numList(n int) string {
	return "SELECT CAST(j.value AS BIGINT) FROM " + fmt.Sprintf(db.d.JSONTable, n)
}

// appendSearchLists appends the row of r's pending search list to args, when r was sealed in
// this process (customer.Record.Search is nil otherwise).
func appendSearchLists(args []any, r *customer.Record) []any {
	if r.Search == nil {
		return args
	}
	return append(args, r.ID, encodeTokens(r.Search), 0)
}

// insertSearchLists inserts the pending lists in args (appendSearchLists) inside tx, and moves
// the pending lists into search_tokens when mergeAt of them wait. A transaction bringing
// mergeAt lists or more by itself (an import's, a batch create's) writes them moved straight
// away: its own tokens cover as many of the index's pages as a move would, and going through
// the pending index and back cost an import a fifth of what its search tokens cost.
func (db *core) insertSearchLists(ctx context.Context, tx *sql.Tx, args []any) error {
	if len(args) == 0 {
		return nil
	}
	if len(args)/3 >= mergeAt {
		return db.insertMerged(ctx, tx, args)
	}
	if err := db.insertRows(ctx, tx, db.listRows, args); err != nil {
		return err
	}
	if !db.searchCounted.Load() {
		// What earlier processes left (a command-line import, a stop) counts too, once.
		var waiting int64
		if err := db.txQueryRow(ctx, tx, `SELECT COUNT(*) FROM search_lists WHERE merged = 0`).Scan(&waiting); err != nil {
			return err
		}
		db.searchPending.Add(waiting - int64(len(args)/3))
		db.searchCounted.Store(true)
	}
	if db.searchPending.Add(int64(len(args)/3)) < mergeAt {
		return nil
	}
	_, err := db.mergeSearch(ctx, tx)
	return err
}

// insertMerged inserts the lists in args (appendSearchLists) as moved, and their tokens into
// search_tokens under the numbers the inserts gave them, in the index's order.
func (db *core) insertMerged(ctx context.Context, tx *sql.Tx, args []any) error {
	if db.d.ListsNumbered != "" {
		return db.insertNumbered(ctx, tx, args)
	}
	lists := make(map[string]string, len(args)/3)
	for i := 0; i < len(args); i += 3 {
		args[i+2] = 1
		lists[args[i].(string)] = args[i+1].(string)
	}
	var toks []tokenRow
	err := db.listReturning.each(args, func(q string, args []any) error {
		var res *sql.Rows
		var err error
		if st := db.txStmt(ctx, tx, q); st != nil {
			res, err = st.QueryContext(ctx, args...)
		} else {
			res, err = tx.QueryContext(ctx, db.native(q), args...)
		}
		if err != nil {
			return err
		}
		defer res.Close()
		for res.Next() {
			var id string
			var num int64
			if err := res.Scan(&id, &num); err != nil {
				return err
			}
			tokens, err := decodeTokens(lists[id])
			if err != nil {
				return err
			}
			for _, t := range tokens {
				toks = append(toks, tokenRow{t, num})
			}
		}
		return res.Err()
	})
	if err != nil {
		return err
	}
	return db.insertTokens(ctx, tx, toks)
}

// insertNumbered is insertMerged where one writer runs at a time: the lists are given the
// numbers after the highest given so far, in order, and inserted under them, so that neither
// the numbers nor the lists travel back (reading them back was half of what inserting the
// lists cost an import).
func (db *core) insertNumbered(ctx context.Context, tx *sql.Tx, args []any) error {
	var last int64
	if err := db.txQueryRow(ctx, tx, db.d.ListsNumbered).Scan(&last); err != nil {
		return err
	}
	rows := make([]any, 0, len(args)/3*4)
	var toks []tokenRow
	for i := 0; i < len(args); i += 3 {
		last++
		rows = append(rows, last, args[i], args[i+1], 1)
		tokens, err := decodeTokens(args[i+1].(string))
		if err != nil {
			return err
		}
		for _, t := range tokens {
			toks = append(toks, tokenRow{t, last})
		}
	}
	if err := db.insertRows(ctx, tx, db.listNumbered, rows); err != nil {
		return err
	}
	return db.insertTokens(ctx, tx, toks)
}

// tokenRow is one row of search_tokens.
type tokenRow struct {
	token, num int64
}

// insertTokens inserts rows into search_tokens as new blocks, one per token and span, in the
// index's order, so that the inserts walk the B-tree forward and a page that takes many blocks
// is written once.
func (db *core) insertTokens(ctx context.Context, tx *sql.Tx, rows []tokenRow) error {
	slices.SortFunc(rows, func(a, b tokenRow) int { return cmp.Or(cmp.Compare(a.token, b.token), cmp.Compare(a.num, b.num)) })
	rows = slices.Compact(rows)
	return db.insertRows(ctx, tx, db.searchRows, appendBlocks(make([]any, 0, 4*len(rows)/2), rows))
}

// deleteTokens takes customer number num out of the blocks of search_tokens holding it for
// tokens, and says from how many it went: each such block is written again without it, or
// deleted when it held nothing else.
func (db *core) deleteTokens(ctx context.Context, tx *sql.Tx, num int64, tokens []int64) (int64, error) {
	if len(tokens) == 0 {
		return 0, nil
	}
	// Two transactions taking numbers out of one block would each write it back with the
	// other's number still in it: where writers run side by side (PostgreSQL), each first
	// takes a lock on the token's span, and reads the blocks once it has it.
	if db.d.ClaimLocks != "" {
		keys := make([]int64, len(tokens))
		for i, tok := range tokens {
			keys[i] = claimKey("search block "+strconv.FormatInt(spanOf(num), 10), tok)
		}
		if _, err := db.txExec(ctx, tx, db.d.ClaimLocks, encodeTokens(keys)); err != nil {
			return 0, err
		}
	}
	var gone int64
	for _, tok := range tokens {
		blocks, err := db.txBlocks(ctx, tx, tok, spanOf(num), num, 0)
		if err != nil {
			return gone, err
		}
		// A number is in one block of a token; should it be in more, it leaves them all.
		for _, b := range blocks {
			if !b.has(num) {
				continue
			}
			nums, err := b.decode(nil)
			if err != nil {
				return gone, err
			}
			if _, err := db.txExec(ctx, tx, `DELETE FROM search_tokens WHERE token = $1 AND first = $2`, tok, b.first); err != nil {
				return gone, err
			}
			gone++
			nums = slices.DeleteFunc(nums, func(x int64) bool { return x == num })
			if len(nums) == 0 {
				continue
			}
			if _, err := db.txExec(ctx, tx, `INSERT INTO search_tokens (token, first, n, nums) VALUES ($1, $2, $3, $4)`,
				tok, nums[0], len(nums), encodeBlock(nums)); err != nil {
				return gone, err
			}
		}
	}
	return gone, nil
}

// blocksOf is the query of a token's blocks whose first numbers lie in a range, in order.
const blocksOf = `SELECT first, n, nums FROM search_tokens WHERE token = $1 AND first BETWEEN $2 AND $3 ORDER BY first`

// txBlocks reads token's blocks whose first numbers lie in [from, to] inside tx, in order, until
// they hold at least enough numbers (all of them when enough is 0).
func (db *core) txBlocks(ctx context.Context, tx *sql.Tx, token, from, to int64, enough int) ([]block, error) {
	rows, err := tx.QueryContext(ctx, db.native(blocksOf), token, from, to)
	if err != nil {
		return nil, err
	}
	return scanBlocks(rows, enough)
}

// scanBlocks reads blocks from rows (blocksOf) until they hold at least enough numbers (all
// of them when enough is 0), and closes rows.
func scanBlocks(rows *sql.Rows, enough int) ([]block, error) {
	defer rows.Close()
	var out []block
	held := 0
	for rows.Next() {
		var b block
		if err := rows.Scan(&b.first, &b.n, &b.nums); err != nil {
			return nil, err
		}
		out = append(out, b)
		if held += b.n; enough > 0 && held >= enough {
			break
		}
	}
	return out, rows.Err()
}

// mergeSearch moves up to mergeMost pending lists into search_tokens inside tx, oldest first,
// and says how many it moved. The tokens are sorted here and inserted in the index's order: the
// same move done by the engine (its JSON table, its sorter) cost a quarter more. On PostgreSQL
// the lists another transaction holds (a change to the customer, another node's move) are left
// to the next move.
func (db *core) mergeSearch(ctx context.Context, tx *sql.Tx) (int, error) {
	lock := ""
	if db.d.ForUpdate != "" {
		lock = db.d.ForUpdate + " SKIP LOCKED"
	}
	rows, err := tx.QueryContext(ctx, db.native(`SELECT num, tokens FROM search_lists WHERE merged = 0 ORDER BY num LIMIT $1`+lock), mergeMost)
	if err != nil {
		return 0, err
	}
	var nums []int64
	var toks []tokenRow
	for rows.Next() {
		var num int64
		var list string
		if err := rows.Scan(&num, &list); err != nil {
			rows.Close()
			return 0, err
		}
		tokens, err := decodeTokens(list)
		if err != nil {
			rows.Close()
			return 0, err
		}
		nums = append(nums, num)
		for _, t := range tokens {
			toks = append(toks, tokenRow{t, num})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if err := db.insertTokens(ctx, tx, toks); err != nil {
		return 0, err
	}
	if len(nums) > 0 {
		if _, err := tx.ExecContext(ctx, db.native(`UPDATE search_lists SET merged = 1 WHERE num IN (`+db.numList(1)+`)`), encodeTokens(nums)); err != nil {
			return 0, err
		}
	}
	// A full move may have left more behind: the next write moves on.
	if len(nums) < mergeMost {
		db.searchPending.Store(0)
	} else {
		db.searchPending.Store(mergeAt)
	}
	return len(nums), nil
}

// MergeSearch moves every pending search list into search_tokens, in transactions of up to
// mergeMost customers, and says how many it moved: what a server's maintenance does with the
// few lists a quiet spell leaves waiting, and a reindex does before it ends.
func (db *Customers) MergeSearch(ctx context.Context) (int, error) {
	total := 0
	for {
		var n int
		err := db.transact(ctx, nil, &changes{}, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			n, err = db.mergeSearch(ctx, tx)
			return err
		})
		total += n
		if err != nil || n < mergeMost {
			return total, err
		}
	}
}

// listHeld is a customer's stored search list.
type listHeld struct {
	num    int64
	tokens []int64
	merged bool
}

// replaceSearch replaces r's stored search tokens inside tx, when r was sealed in this process
// (customer.Record.Search is nil otherwise, and the stored tokens still hold): only the tokens
// that changed are deleted and inserted, and none when none did. A pending list is never
// changed in place: it is written anew, under a new number, so that a pending list's number
// stands for its tokens for as long as it waits (see pendingLists).
func (db *core) replaceSearch(ctx context.Context, tx *sql.Tx, r *customer.Record) error {
	if r.Search == nil {
		return nil
	}
	var num int64
	var list string
	var merged int
	err := db.txQueryRow(ctx, tx, `SELECT num, tokens, merged FROM search_lists WHERE customer_id = $1`+db.d.ForUpdate, r.ID).Scan(&num, &list, &merged)
	if errors.Is(err, sql.ErrNoRows) {
		return db.insertSearchLists(ctx, tx, appendSearchLists(nil, r))
	}
	if err != nil {
		return err
	}
	old, err := decodeTokens(list)
	if err != nil {
		return err
	}
	if sameTokens(old, r.Search) {
		return nil
	}
	if merged != 1 {
		if _, err := db.txExec(ctx, tx, `DELETE FROM search_lists WHERE num = $1`, num); err != nil {
			return err
		}
		db.searchPending.Add(-1)
		return db.insertSearchLists(ctx, tx, appendSearchLists(nil, r))
	}
	if err := db.updateTokens(ctx, tx, num, old, r.Search); err != nil {
		return err
	}
	_, err = db.txExec(ctx, tx, `UPDATE search_lists SET tokens = $2 WHERE num = $1`, num, encodeTokens(r.Search))
	return err
}

// updateTokens turns customer number num's rows of search_tokens from old into new, writing
// only the difference.
func (db *core) updateTokens(ctx context.Context, tx *sql.Tx, num int64, old, new []int64) error {
	var gone []int64
	for _, t := range old {
		if !slices.Contains(new, t) {
			gone = append(gone, t)
		}
	}
	var added []tokenRow
	for _, t := range new {
		if !slices.Contains(old, t) {
			added = append(added, tokenRow{t, num})
		}
	}
	if _, err := db.deleteTokens(ctx, tx, num, gone); err != nil {
		return err
	}
	return db.insertTokens(ctx, tx, added)
}

// eraseSearch deletes a customer's search tokens and list inside tx, and says from how many
// blocks of search_tokens its number went.
func (db *core) eraseSearch(ctx context.Context, tx *sql.Tx, id string) (int64, error) {
	num, n, err := db.eraseTokens(ctx, tx, id)
	if err != nil || num == 0 {
		return n, err
	}
	_, err = db.txExec(ctx, tx, `DELETE FROM search_lists WHERE num = $1`, num)
	return n, err
}

// eraseTokens takes the customer's number out of the blocks of its tokens inside tx, and says
// what the number is (0 when the customer has no list) and from how many blocks it went.
func (db *core) eraseTokens(ctx context.Context, tx *sql.Tx, id string) (int64, int64, error) {
	var num int64
	var list string
	var merged int
	err := db.txQueryRow(ctx, tx, `SELECT num, tokens, merged FROM search_lists WHERE customer_id = $1`+db.d.ForUpdate, id).Scan(&num, &list, &merged)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil || merged != 1 {
		return num, 0, err
	}
	tokens, err := decodeTokens(list)
	if err != nil {
		return num, 0, err
	}
	n, err := db.deleteTokens(ctx, tx, num, tokens)
	return num, n, err
}

// searchRowsOf counts the blocks of search_tokens holding the number of the customer id, for
// the tokens of its list: what the rights registry counts as the customer's search tokens.
func (db *core) searchRowsOf(ctx context.Context, id string) (int64, error) {
	var num int64
	var list string
	err := db.queryRow(ctx, `SELECT num, tokens FROM search_lists WHERE customer_id = $1`, id).Scan(&num, &list)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, db.translate(err)
	}
	tokens, err := decodeTokens(list)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, tok := range tokens {
		blocks, err := db.blocks(ctx, tok, spanOf(num), num, 0)
		if err != nil {
			return n, err
		}
		if slices.ContainsFunc(blocks, func(b block) bool { return b.has(num) }) {
			n++
		}
	}
	return n, nil
}

// blocks reads token's blocks whose first numbers lie in [from, to], in order, until they hold
// at least enough numbers (all of them when enough is 0).
func (db *core) blocks(ctx context.Context, token, from, to int64, enough int) ([]block, error) {
	rows, err := db.query(ctx, blocksOf, token, from, to)
	if err != nil {
		return nil, db.translate(err)
	}
	out, err := scanBlocks(rows, enough)
	return out, db.translate(err)
}

// pendingList is a customer's list that is not in search_tokens yet.
type pendingList struct {
	id     string
	tokens []int64
}

// pendingCache holds the pending lists last read, by number. A pending list is never changed
// under its number (see replaceSearch), so a search reads only the numbers waiting, through
// the pending index, and the lists it has not seen: reading every waiting list's tokens took
// a partial e-mail search three to ten times as long once a thousand waited.
type pendingCache struct {
	mu    sync.Mutex
	lists map[int64]pendingList
}

// pendingLists reads the lists waiting to be moved into search_tokens.
func (db *Customers) pendingLists(ctx context.Context) ([]pendingList, error) {
	// A list changed or erased between the two reads is missing from the second: read again.
	for attempt := 0; ; attempt++ {
		nums, err := db.pendingNums(ctx)
		if err != nil {
			return nil, err
		}
		db.pending.mu.Lock()
		known := db.pending.lists
		db.pending.mu.Unlock()
		var missing []int64
		for _, n := range nums {
			if _, ok := known[n]; !ok {
				missing = append(missing, n)
			}
		}
		read, err := db.readLists(ctx, missing)
		if err != nil {
			return nil, err
		}
		if len(read) < len(missing) && attempt < 2 {
			continue
		}
		now := make(map[int64]pendingList, len(nums))
		out := make([]pendingList, 0, len(nums))
		for _, n := range nums {
			p, ok := known[n]
			if !ok {
				if p, ok = read[n]; !ok {
					continue
				}
			}
			now[n] = p
			out = append(out, p)
		}
		db.pending.mu.Lock()
		db.pending.lists = now
		db.pending.mu.Unlock()
		return out, nil
	}
}

// pendingNums reads the numbers of the pending lists, from the pending index alone.
func (db *Customers) pendingNums(ctx context.Context) ([]int64, error) {
	rows, err := db.query(ctx, `SELECT num FROM search_lists WHERE merged = 0`)
	return collect(db, rows, err, scanOne[int64])
}

// readLists reads the pending lists numbered nums that still wait.
func (db *Customers) readLists(ctx context.Context, nums []int64) (map[int64]pendingList, error) {
	out := make(map[int64]pendingList, len(nums))
	for len(nums) > 0 {
		chunk := nums[:min(len(nums), batchSize)]
		nums = nums[len(chunk):]
		rows, err := db.query(ctx, `SELECT num, customer_id, tokens FROM search_lists WHERE merged = 0 AND num IN (`+db.numList(1)+`)`, encodeTokens(chunk))
		if err != nil {
			return nil, db.translate(err)
		}
		for rows.Next() {
			var n int64
			var p pendingList
			var list string
			if err := rows.Scan(&n, &p.id, &list); err != nil {
				rows.Close()
				return nil, db.translate(err)
			}
			if p.tokens, err = decodeTokens(list); err != nil {
				rows.Close()
				return nil, err
			}
			out[n] = p
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, db.translate(err)
		}
	}
	return out, nil
}

// SearchCounts implements search.Store: a bounded count in the index per token, and the
// pending lists holding it.
func (db *Customers) SearchCounts(ctx context.Context, tokens []int64, max int) ([]int, error) {
	pending, err := db.pendingLists(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(tokens))
	for i, tok := range tokens {
		// Every block holds a number at least: max+1 blocks hold more than max.
		if err := db.queryRow(ctx, `SELECT COALESCE(SUM(n), 0) FROM (SELECT n FROM search_tokens WHERE token = $1 LIMIT $2) t`, tok, max+1).Scan(&out[i]); err != nil {
			return nil, db.translate(err)
		}
		out[i] = min(out[i], max+1)
		for _, p := range pending {
			if out[i] <= max && slices.Contains(p.tokens, tok) {
				out[i]++
			}
		}
	}
	return out, nil
}

// SearchTop implements search.Store. The holders of the read tokens are read from their
// blocks, at most perToken of each (the pending lists, read first, take their share); each
// probed token's blocks over the holders' numbers then add its weight to those holding it,
// checked in the blocks as stored; only the best n numbers are turned into customers.
func (db *Customers) SearchTop(ctx context.Context, read, probe []search.Weight, perToken, n int) ([]search.Weighed, error) {
	if len(read) == 0 {
		return nil, nil
	}
	pending, err := db.pendingLists(ctx)
	if err != nil {
		return nil, err
	}
	weights := map[string]float64{}
	limits := make([]int, len(read))
	for i, w := range read {
		limits[i] = perToken
		for _, p := range pending {
			if limits[i] > 0 && slices.Contains(p.tokens, w.Token) {
				limits[i]--
				weights[p.id] += w.Weight
			}
		}
	}
	for _, p := range pending {
		if _, ok := weights[p.id]; !ok {
			continue
		}
		for _, w := range probe {
			if slices.Contains(p.tokens, w.Token) {
				weights[p.id] += w.Weight
			}
		}
	}
	held := map[int64]float64{}
	var nums []int64
	for i, w := range read {
		if limits[i] <= 0 {
			continue
		}
		blocks, err := db.blocks(ctx, w.Token, 0, math.MaxInt64, limits[i])
		if err != nil {
			return nil, err
		}
		nums = nums[:0]
		for _, b := range blocks {
			if nums, err = b.decode(nums); err != nil {
				return nil, err
			}
		}
		for _, x := range nums[:min(len(nums), limits[i])] {
			held[x] += w.Weight
		}
	}
	if len(held) > 0 {
		lo, hi := int64(math.MaxInt64), int64(0)
		for x := range held {
			lo, hi = min(lo, x), max(hi, x)
		}
		for _, w := range probe {
			blocks, err := db.blocks(ctx, w.Token, spanOf(lo), hi, 0)
			if err != nil {
				return nil, err
			}
			bySpan := map[int64][]block{}
			for _, b := range blocks {
				bySpan[spanOf(b.first)] = append(bySpan[spanOf(b.first)], b)
			}
			for x := range held {
				if slices.ContainsFunc(bySpan[spanOf(x)], func(b block) bool { return b.has(x) }) {
					held[x] += w.Weight
				}
			}
		}
	}
	top := make([]int64, 0, len(held))
	for x := range held {
		top = append(top, x)
	}
	slices.SortFunc(top, func(a, b int64) int { return cmp.Or(cmp.Compare(held[b], held[a]), cmp.Compare(a, b)) })
	top = top[:min(n, len(top))]
	ids, err := db.listCustomers(ctx, top)
	if err != nil {
		return nil, err
	}
	// A list moved between the two reads is weighed on both sides, alike.
	for _, x := range top {
		if id, ok := ids[x]; ok {
			weights[id] = held[x]
		}
	}
	out := make([]search.Weighed, 0, len(weights))
	for id, w := range weights {
		out = append(out, search.Weighed{ID: id, Weight: w})
	}
	slices.SortFunc(out, func(a, b search.Weighed) int { return cmp.Or(cmp.Compare(b.Weight, a.Weight), cmp.Compare(a.ID, b.ID)) })
	return out[:min(n, len(out))], nil
}

// listCustomers maps search list numbers to their customers; a number whose list is gone (an
// erasure since the tokens were read) is left out.
func (db *Customers) listCustomers(ctx context.Context, nums []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(nums))
	for len(nums) > 0 {
		chunk := nums[:min(len(nums), batchSize)]
		nums = nums[len(chunk):]
		rows, err := db.query(ctx, `SELECT num, customer_id FROM search_lists WHERE num IN (`+db.numList(1)+`)`, encodeTokens(chunk))
		if err != nil {
			return nil, db.translate(err)
		}
		for rows.Next() {
			var n int64
			var id string
			if err := rows.Scan(&n, &id); err != nil {
				rows.Close()
				return nil, db.translate(err)
			}
			out[n] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, db.translate(err)
		}
	}
	return out, nil
}

// SearchCustomers implements customer.SearchStore.
func (db *Customers) SearchCustomers(ctx context.Context, ids []string) ([]*customer.Record, error) {
	var out []*customer.Record
	err := batches(ids, nil, func(args []any) error {
		rows, err := db.queryMany(ctx, len(ids), `SELECT COALESCE(l.merged_into, ''), `+customerColumnsOfC+` FROM customers c`+db.customerPK+`
			LEFT JOIN customer_links l ON l.customer_id = c.id WHERE c.id IN (`+db.idList(1)+`)`, args...)
		if err != nil {
			return err
		}
		recs, err := db.scanLinkedCustomers(rows)
		out = append(out, recs...)
		return err
	})
	return out, db.translate(err)
}

// OrderCustomers implements customer.SearchStore. Order ids are stored as sent, in clear.
func (db *Customers) OrderCustomers(ctx context.Context, orderIDs []string) ([]string, error) {
	var out []string
	for _, id := range orderIDs {
		var cid string
		err := db.queryRow(ctx, `SELECT customer_id FROM orders WHERE order_id = $1`, id).Scan(&cid)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, db.translate(err)
		}
		out = append(out, cid)
	}
	return out, nil
}

// ReplaceSearchTokens implements customer.SearchStore, in one transaction and a few
// statements for the whole batch, moving the records' lists into search_tokens: the records whose stored version moved on since they were
// read are left to the change that moved it, which wrote its own tokens.
func (db *Customers) ReplaceSearchTokens(ctx context.Context, recs []*customer.Record) (int, error) {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	var n int
	err := db.transact(ctx, nil, &changes{}, func(ctx context.Context, tx *sql.Tx) error {
		n = 0
		stored, err := idNumbers(ids, func(args []any) (*sql.Rows, error) {
			return tx.QueryContext(ctx, db.native(`SELECT id, version FROM `+db.customersByID()+` WHERE id IN (`+db.idList(1)+`)`), args...)
		})
		if err != nil {
			return err
		}
		// Tokens already as derived (a rebuild of a complete index) are left alone; a customer
		// without tokens in the index (an index being built) only gets its inserts, with the
		// batch's, in the index's order; one whose tokens changed loses and gains the difference.
		held := map[string]listHeld{}
		err = batches(ids, nil, func(args []any) error {
			rows, err := tx.QueryContext(ctx, db.native(`SELECT customer_id, num, tokens, merged FROM search_lists WHERE customer_id IN (`+db.idList(1)+`)`+db.d.ForUpdate), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, list string
				var h listHeld
				var merged int
				if err := rows.Scan(&id, &h.num, &list, &merged); err != nil {
					return err
				}
				if h.tokens, err = decodeTokens(list); err != nil {
					return err
				}
				h.merged = merged == 1
				held[id] = h
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		var fresh []*customer.Record
		var lists []any
		for _, r := range recs {
			if v, ok := stored[r.ID]; !ok || v != r.Version {
				continue
			}
			n++
			h, ok := held[r.ID]
			if ok && h.merged && sameTokens(h.tokens, r.Search) {
				continue
			}
			if ok && h.merged {
				if err := db.updateTokens(ctx, tx, h.num, h.tokens, r.Search); err != nil {
					return err
				}
			} else {
				fresh = append(fresh, r)
			}
			lists = append(lists, r.ID, encodeTokens(r.Search), 1)
		}
		if err := db.insertRows(ctx, tx, db.listUpserts, lists); err != nil {
			return err
		}
		// The customers whose tokens were not in the index are numbered by the upsert: their
		// tokens go in under those numbers.
		freshIDs := make([]string, len(fresh))
		for i, r := range fresh {
			freshIDs[i] = r.ID
		}
		nums := map[string]int64{}
		err = batches(freshIDs, nil, func(args []any) error {
			rows, err := tx.QueryContext(ctx, db.native(`SELECT customer_id, num FROM search_lists WHERE customer_id IN (`+db.idList(1)+`)`), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				var num int64
				if err := rows.Scan(&id, &num); err != nil {
					return err
				}
				nums[id] = num
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		var rows []tokenRow
		for _, r := range fresh {
			for _, t := range r.Search {
				rows = append(rows, tokenRow{t, nums[r.ID]})
			}
		}
		return db.insertTokens(ctx, tx, rows)
	})
	return n, err
}

// SearchIndexBuilt implements customer.SearchStore.
func (db *Customers) SearchIndexBuilt(ctx context.Context) (bool, error) {
	var built int
	err := db.queryRow(ctx, `SELECT built FROM search_state WHERE id = 1`).Scan(&built)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	return built == 1, db.translate(err)
}

// MarkSearchIndexBuilt implements customer.SearchStore.
func (db *Customers) MarkSearchIndexBuilt(ctx context.Context) error {
	return db.transact(ctx, nil, &changes{}, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE search_state SET built = 1 WHERE id = 1`)
		return err
	})
}

// sameTokens reports whether two token lists hold the same tokens, in any order.
func sameTokens(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
