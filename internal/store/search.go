package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/search"
)

var _ customer.SearchStore = (*Customers)(nil)

// appendSearchRows appends the rows of r's search tokens to args.
func appendSearchRows(args []any, r *customer.Record) []any {
	for _, t := range r.Search {
		args = append(args, t, r.ID)
	}
	return args
}

// replaceSearch replaces r's stored search tokens inside tx, when r was sealed in this process
// (customer.Record.Search is nil otherwise, and the stored tokens still hold).
func (db *core) replaceSearch(ctx context.Context, tx *sql.Tx, r *customer.Record) error {
	if r.Search == nil {
		return nil
	}
	if _, err := db.txExec(ctx, tx, searchDelete, r.ID); err != nil {
		return err
	}
	return db.insertRows(ctx, tx, db.searchRows, appendSearchRows(nil, r))
}

// SearchCounts implements search.Store: a bounded count in the index per token.
func (db *Customers) SearchCounts(ctx context.Context, tokens []int64, max int) ([]int, error) {
	out := make([]int, len(tokens))
	for i, tok := range tokens {
		if err := db.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM search_tokens WHERE token = $1 LIMIT $2) t`, tok, max+1).Scan(&out[i]); err != nil {
			return nil, db.translate(err)
		}
	}
	return out, nil
}

// SearchTop implements search.Store in one statement, so that the holders of every token are
// weighed inside the engine and only the best n cross to Steward: a statement per token reading
// its holders cost most of a search at a million customers. The holders of the read tokens are
// gathered once (r); each probed token is looked up for them alone, by the primary key.
func (db *Customers) SearchTop(ctx context.Context, read, probe []search.Weight, perToken, n int) ([]search.Weighed, error) {
	if len(read) == 0 {
		return nil, nil
	}
	var b strings.Builder
	args := make([]any, 0, 3*len(read)+2*len(probe)+1)
	arg := func(v any) int { args = append(args, v); return len(args) }
	b.WriteString(`WITH r AS MATERIALIZED (`)
	for i, w := range read {
		if i > 0 {
			b.WriteString(` UNION ALL `)
		}
		fmt.Fprintf(&b, `SELECT customer_id, CAST($%d AS DOUBLE PRECISION) AS w FROM (SELECT customer_id FROM search_tokens WHERE token = $%d LIMIT $%d) t%d`,
			arg(w.Weight), arg(w.Token), arg(perToken), i)
	}
	b.WriteString(`), ids AS MATERIALIZED (SELECT DISTINCT customer_id FROM r) SELECT customer_id, SUM(w) FROM (SELECT customer_id, w FROM r`)
	for _, w := range probe {
		fmt.Fprintf(&b, ` UNION ALL SELECT ids.customer_id, CAST($%d AS DOUBLE PRECISION) FROM ids JOIN search_tokens s ON s.token = $%d AND s.customer_id = ids.customer_id`,
			arg(w.Weight), arg(w.Token))
	}
	fmt.Fprintf(&b, `) u GROUP BY customer_id ORDER BY SUM(w) DESC, customer_id LIMIT $%d`, arg(n))
	rows, err := db.query(ctx, b.String(), args...)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var out []search.Weighed
	for rows.Next() {
		var c search.Weighed
		if err := rows.Scan(&c.ID, &c.Weight); err != nil {
			return nil, db.translate(err)
		}
		out = append(out, c)
	}
	return out, db.translate(rows.Err())
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
// statements for the whole batch: the records whose stored version moved on since they were
// read are left to the change that moved it, which wrote its own tokens.
func (db *Customers) ReplaceSearchTokens(ctx context.Context, recs []*customer.Record) (int, error) {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	var n int
	err := db.transact(ctx, nil, &changes{}, func(ctx context.Context, tx *sql.Tx) error {
		stored := map[string]int64{}
		err := batches(ids, nil, func(args []any) error {
			rows, err := tx.QueryContext(ctx, db.native(`SELECT id, version FROM `+db.customersByID()+` WHERE id IN (`+db.idList(1)+`)`), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				var v int64
				if err := rows.Scan(&id, &v); err != nil {
					return err
				}
				stored[id] = v
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		// Tokens already as derived (a rebuild of a complete index) are left alone, and a
		// customer without tokens (an index being built) only gets its inserts: deleting is
		// the dearest statement here.
		held := map[string][]int64{}
		err = batches(ids, nil, func(args []any) error {
			rows, err := tx.QueryContext(ctx, db.native(`SELECT customer_id, token FROM search_tokens WHERE customer_id IN (`+db.idList(1)+`)`), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				var tok int64
				if err := rows.Scan(&id, &tok); err != nil {
					return err
				}
				held[id] = append(held[id], tok)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		type row struct {
			token int64
			id    string
		}
		var current, stale []string
		var rows []row
		for _, r := range recs {
			if v, ok := stored[r.ID]; !ok || v != r.Version {
				continue
			}
			current = append(current, r.ID)
			if sameTokens(held[r.ID], r.Search) {
				continue
			}
			if len(held[r.ID]) > 0 {
				stale = append(stale, r.ID)
			}
			for _, t := range r.Search {
				rows = append(rows, row{t, r.ID})
			}
		}
		// In the index's order, so that the inserts walk the B-tree forward rather than
		// jumping about it: what a rebuild of a million customers mostly costs.
		slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(a.token, b.token), cmp.Compare(a.id, b.id)) })
		args := make([]any, 0, 2*len(rows))
		for _, r := range rows {
			args = append(args, r.token, r.id)
		}
		err = batches(stale, nil, func(a []any) error {
			_, err := tx.ExecContext(ctx, db.native(`DELETE FROM search_tokens WHERE customer_id IN (`+db.idList(1)+`)`), a...)
			return err
		})
		if err != nil {
			return err
		}
		n = len(current)
		return db.insertRows(ctx, tx, db.searchRows, args)
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
