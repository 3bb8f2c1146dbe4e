package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/stewardhq/steward/internal/rights"
)

// collectionParts are the Parts of the tables that collection (tracking, orders, stitching)
// and consent fill. Their rows reference the customer row and go with it when erasure deletes
// the profile; each Part still deletes explicitly, so a resumed erasure finishes the job.
func (db *core) collectionParts() []rights.Part {
	cascade := "Removed with the profile."
	return []rights.Part{
		part{table: "events", erase: db.deleteWhere("events", "customer_id", cascade),
			export: db.exportRows("events", "Events", "What you did on the sites, apps and tills that report to us: type, name and time. Values that identify you (addresses, free text) are kept encrypted with your key and are shown in the profile section where they became profile fields.",
				`type, name, category, at, plain`, `ORDER BY id`)},
		part{table: "identities", erase: db.deleteWhere("identities", "customer_id", cascade),
			export: db.exportRows("identities", "Identifiers", "The kinds of identifier (device, user, anonymous ids) that lead to your record; the identifiers themselves are stored encrypted and as keyed hashes.",
				`kind, created_at`, `ORDER BY created_at`)},
		part{table: "customer_links", erase: db.deleteWhere("customer_links", "customer_id", cascade),
			export: db.exportRows("customer_links", "Merged records", "Records of yours that were found to be the same person and merged.",
				`merged_into, merge_id`, ``)},
		part{table: "orders", erase: db.deleteWhere("orders", "customer_id", cascade),
			export: db.exportRows("orders", "Orders", "", `order_id, status, currency, total, tax, shipping, discount, refunded, items, placed_at`, `ORDER BY placed_at`)},
		part{table: "reviews", erase: db.deleteWhere("reviews", "customer_id", cascade),
			export: db.exportRows("reviews", "Reviews", "", `review_id, product_id, rating, at`, `ORDER BY at`)},
		part{table: "checkouts", erase: db.deleteWhere("checkouts", "customer_id", cascade),
			export: db.exportRows("checkouts", "Checkouts started", "", `checkout_id, started_at, value, currency, ordered_at`, `ORDER BY started_at`)},
		part{table: "match_keys", erase: db.deleteWhere("match_keys", "customer_id", cascade),
			export: func(context.Context, string) (rights.Section, error) {
				return rights.Section{Title: "Duplicate-detection keys", Note: "Keyed hashes of parts of your name, birth date and address let us notice when you are registered twice; they cannot be turned back into the values, so they are not listed."}, nil
			}},
		part{table: "customer_quality", erase: db.deleteWhere("customer_quality", "customer_id", cascade),
			export: db.exportRows("customer_quality", "Contact checks", "Whether your contact details looked deliverable when we last checked them.",
				`validation, reasons, checked_at`, ``)},
		part{table: "duplicates", erase: db.eraseDuplicates,
			export: db.exportRows("duplicates", "Duplicate checks", "Times another record was found to be possibly you, how sure the check was, and what was decided.",
				`state, score, created_at, decided_at`, `ORDER BY created_at`)},
		part{table: "consent_records", erase: db.keep("consent_records", "Kept as the proof of what you agreed to and withdrew, which the law requires us to be able to show; it holds a random id, purposes, policy versions and keyed hashes, and no contact details."),
			export: db.exportRows("consent_records", "Consents", "Every consent, withdrawal, objection and restriction you gave, with the privacy-policy version and how it reached us.",
				`kind, purpose, granted, policy_version, source, channel, at`, `ORDER BY seq`)},
	}
}

// exportRows reads the customer's rows of table, the named columns only, as export items.
// Columns ending in _at hold microseconds and are shown as times; "plain" and "items" hold JSON.
func (db *core) exportRows(table, title, note, cols, order string) func(ctx context.Context, id string) (rights.Section, error) {
	names := strings.Split(cols, ", ")
	return func(ctx context.Context, id string) (rights.Section, error) {
		sec := rights.Section{Title: title, Note: note}
		rows, err := db.read.QueryContext(ctx, `SELECT `+cols+` FROM `+table+` WHERE customer_id = $1 `+order, id)
		if err != nil {
			return sec, db.translate(err)
		}
		defer rows.Close()
		for rows.Next() {
			vals := make([]any, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return sec, db.translate(err)
			}
			item := make(map[string]any, len(names))
			for i, n := range names {
				item[n] = exportValue(n, vals[i])
			}
			sec.Items = append(sec.Items, item)
		}
		return sec, db.translate(rows.Err())
	}
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

// eraseDuplicates deletes the pairs the customer stands in on either side.
func (db *core) eraseDuplicates(ctx context.Context, id string) (rights.Outcome, error) {
	var n int64
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM duplicates WHERE customer_id = $1 OR other_id = $1`, id)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return rights.Outcome{Table: "duplicates", Deleted: n, Why: "Removed with the profile."}, err
}
