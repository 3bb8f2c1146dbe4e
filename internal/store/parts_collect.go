package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// rowsOf is how one table's rows name their customer and which of its columns an access
// export shows, in what order. The wording around them is the rights domain's.
type rowsOf struct {
	where       string // the condition selecting the customer's rows, the id bound as $1
	cols, order string // exported columns and their order; no cols: not exported row by row
	// remove and count, where a customer's part of a table is not rows SQL can select (its
	// number inside blocks shared with others), take where's place: remove takes the part
	// out inside a write transaction, count counts it.
	remove func(db *core, ctx context.Context, tx *sql.Tx, id string) (int64, error)
	count  func(db *core, ctx context.Context, id string) (int64, error)
}

// customerRows are the tables holding customer rows that erasure and access exports reach
// (see rights.NewRegistry). Columns ending in _at hold microseconds and are shown as times;
// "plain" and "items" hold JSON.
var customerRows = map[string]rowsOf{
	"customers":          {where: `id = $1`},
	"blind_index":        {where: `customer_id = $1`},
	"audit_log":          {where: `customer_id = $1`},
	"erasure_ledger":     {where: `customer_id = $1`},
	"requests":           {where: `customer_id = $1`},
	"exports":            {where: `customer_id = $1`},
	"legal_holds":        {where: `customer_id = $1`},
	"events":             {where: `customer_id = $1`, cols: `type, name, category, at, plain`, order: `ORDER BY id`},
	"identities":         {where: `customer_id = $1`, cols: `kind, created_at`, order: `ORDER BY created_at`},
	"customer_links":     {where: `customer_id = $1`, cols: `merged_into, merge_id`},
	"orders":             {where: `customer_id = $1`, cols: `order_id, status, currency, total, tax, shipping, discount, refunded, items, placed_at`, order: `ORDER BY placed_at`},
	"reviews":            {where: `customer_id = $1`, cols: `review_id, product_id, rating, at`, order: `ORDER BY at`},
	"checkouts":          {where: `customer_id = $1`, cols: `checkout_id, started_at, value, currency, ordered_at`, order: `ORDER BY started_at`},
	"match_keys":         {where: `customer_id = $1`},
	"customer_quality":   {where: `customer_id = $1`, cols: `validation, reasons, checked_at`},
	"portal_tokens":      {where: `customer_id = $1`},
	"form_confirmations": {where: `customer_id = $1`, cols: `form, purposes, policy_version, requested_at, expires_at`, order: `ORDER BY requested_at`},
	"match_terms":        {where: `customer_id = $1`},
	// Blocks of customers' numbers, shared: the customer's number is taken out of them and
	// counted through its list.
	"search_tokens": {
		remove: func(db *core, ctx context.Context, tx *sql.Tx, id string) (int64, error) {
			_, n, err := db.eraseTokens(ctx, tx, id)
			return n, err
		},
		count: (*core).searchRowsOf,
	},
	"search_lists": {where: `customer_id = $1`},
	// A pair names the customer on either side.
	"duplicates":      {where: `customer_id = $1 OR other_id = $1`, cols: `state, score, created_at, decided_at`, order: `ORDER BY created_at`},
	"consent_records": {where: `customer_id = $1`, cols: `kind, purpose, granted, policy_version, source, channel, at`, order: `ORDER BY seq`},
	// Deleting memberships makes each one leave with reason "gone" (see Rights.leaveSegments),
	// which queues a removal for the destinations; the removals still pending stay until sent.
	"segment_members":        {where: `customer_id = $1`, cols: `segment_id, entered_at`, order: `ORDER BY entered_at`},
	"segment_history":        {where: `customer_id = $1`, cols: `segment_id, entered, reason, at`, order: `ORDER BY id`},
	"segment_export_members": {where: `customer_id = $1`, cols: `export_id`},
	"destination_deliveries": {where: `customer_id = $1 AND NOT (action = 'remove' AND state = 'pending')`,
		cols: `destination_id, action, state, created_at, delivered_at`, order: `ORDER BY id`},
	"loyalty_accounts":     {where: `customer_id = $1`, cols: `balance, tier, tier_since, joined_at`},
	"loyalty_entries":      {where: `customer_id = $1`, cols: `kind, points, balance, cause, ref, order_id, reason, expires_at, at`, order: `ORDER BY id`},
	"loyalty_tier_changes": {where: `customer_id = $1`, cols: `from_tier, to_tier, qualifying, at`, order: `ORDER BY id`},
	"loyalty_pending":      {where: `customer_id = $1`},
	"offer_exposures":      {where: `customer_id = $1`, cols: `offer_id, holdout, at`, order: `ORDER BY at`},
	"offer_redemptions":    {where: `customer_id = $1`, cols: `offer_id, order_id, at`, order: `ORDER BY at`},
}

// ExportRows implements rights.Rows. Exports read the customer's rows only, never the pair
// rows that name the customer on the other side.
func (db *Rights) ExportRows(ctx context.Context, table, id string) ([]map[string]any, error) {
	t, ok := customerRows[table]
	if !ok || t.cols == "" {
		return nil, fmt.Errorf("no exported rows in table %q", table)
	}
	names := strings.Split(t.cols, ", ")
	rows, err := db.read.QueryContext(ctx, `SELECT `+t.cols+` FROM `+table+` WHERE customer_id = $1 `+t.order, id)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	var items []map[string]any
	for rows.Next() {
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return items, db.translate(err)
		}
		item := make(map[string]any, len(names))
		for i, n := range names {
			item[n] = exportValue(n, vals[i])
		}
		items = append(items, item)
	}
	return items, db.translate(rows.Err())
}

func exportValue(name string, v any) any {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	switch {
	case strings.HasSuffix(name, "_at") || name == "at":
		if us, ok := v.(int64); ok {
			if us == 0 {
				return nil
			}
			return fromMicros(us)
		}
	case name == "plain" || name == "items":
		if s, ok := v.(string); ok {
			var j any
			if json.Unmarshal([]byte(s), &j) == nil {
				return j
			}
		}
	}
	return v
}
