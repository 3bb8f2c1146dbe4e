package store

import (
	"context"
	"database/sql"
	"sort"
	"strings"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/rights"
)

// part is a rights.Part over one table of this store.
type part struct {
	table  string
	erase  func(ctx context.Context, id string) (rights.Outcome, error)
	export func(ctx context.Context, id string) (rights.Section, error)
}

func (p part) Table() string { return p.table }
func (p part) Erase(ctx context.Context, id string) (rights.Outcome, error) {
	return p.erase(ctx, id)
}
func (p part) Export(ctx context.Context, id string) (rights.Section, error) {
	return p.export(ctx, id)
}

// RightsParts returns the Parts for every table of this store that holds customer data: the
// registry that erasure and access exports walk. A table added with a customer_id column must
// add its Part here (or in its own domain's store); TestRegistryCoversSchema fails until it does.
func (e *Engine) RightsParts() rights.Registry {
	db := e.db
	none := func(context.Context, string) (rights.Section, error) { return rights.Section{}, nil }
	return append(rights.Registry{
		part{table: "customers", erase: db.deleteWhere("customers", "id", ""), export: none},
		part{table: "blind_index", erase: db.deleteWhere("blind_index", "customer_id", ""),
			export: func(context.Context, string) (rights.Section, error) {
				return rights.Section{Title: "Search index", Note: "Keyed hashes of your e-mail address and phone number let staff find your record; they cannot be turned back into the values, so they are not listed."}, nil
			}},
		part{table: "audit_log", erase: db.keep("audit_log", "The audit trail records who processed your data, when and why, never the values; it is kept as the legal record of processing and now names only a random id."),
			export: db.exportAudit},
		part{table: "erasure_ledger", erase: db.keep("erasure_ledger", "A random id and keyed hashes only: it keeps you erased when a backup is restored."), export: none},
		part{table: "requests", erase: db.anonymiseRequests, export: db.exportRequests},
		part{table: "exports", erase: db.deleteWhere("exports", "customer_id", ""), export: none},
		part{table: "legal_holds", erase: db.deleteWhere("legal_holds", "customer_id", ""), export: db.exportHolds},
	}, db.collectionParts()...)
}

// deleteWhere erases by deleting every row whose column names the customer.
func (db *core) deleteWhere(table, column, why string) func(ctx context.Context, id string) (rights.Outcome, error) {
	return func(ctx context.Context, id string) (rights.Outcome, error) {
		var n int64
		err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+column+` = $1`, id)
			if err != nil {
				return err
			}
			n, _ = res.RowsAffected()
			return nil
		})
		return rights.Outcome{Table: table, Deleted: n, Why: why}, err
	}
}

// keep erases nothing and reports how many rows stay and why.
func (db *core) keep(table, why string) func(ctx context.Context, id string) (rights.Outcome, error) {
	return func(ctx context.Context, id string) (rights.Outcome, error) {
		var total int64
		srcs := []string{""}
		if table == "audit_log" {
			srcs = db.auditSources()
			if err := db.syncAccess(ctx); err != nil {
				return rights.Outcome{}, err
			}
		}
		for _, src := range srcs {
			var n int64
			if err := db.queryRow(ctx, `SELECT COUNT(*) FROM `+src+table+` WHERE customer_id = $1`, id).Scan(&n); err != nil {
				return rights.Outcome{}, db.translate(err)
			}
			total += n
		}
		return rights.Outcome{Table: table, Kept: total, Why: why}, nil
	}
}

// anonymiseRequests keeps the record that each request was answered, which accountability
// requires, but drops the keyed hash of the requester's contact and any pending link.
func (db *core) anonymiseRequests(ctx context.Context, id string) (rights.Outcome, error) {
	var n int64
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET contact_hash = $1, token_hash = $1, token_expires = 0 WHERE customer_id = $2`, []byte{}, id)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return rights.Outcome{Table: "requests", Anonymised: n, Kept: n,
		Why: "Kept as the record that each request was answered (accountability); contact hashes removed, no personal values held."}, err
}

func (db *core) exportAudit(ctx context.Context, id string) (rights.Section, error) {
	entries, err := (&Audit{db}).ListAudit(ctx, audit.Filter{CustomerID: id, Limit: 10000})
	sec := rights.Section{Title: "Who processed your data", Note: "Every read and change of your record, with who did it, for which purpose and when (newest first, up to 10,000)."}
	for _, e := range entries {
		sec.Items = append(sec.Items, map[string]any{"time": e.Time, "action": e.Action, "by": e.ActorRole, "purpose": e.Purpose,
			"fields": strings.Join(e.Fields, ", "), "outcome": e.Outcome})
	}
	return sec, err
}

func (db *core) exportRequests(ctx context.Context, id string) (rights.Section, error) {
	rs, err := (&Rights{db}).ListRequests(ctx, rights.RequestFilter{CustomerID: id, Limit: 1000})
	sec := rights.Section{Title: "Your requests"}
	for _, r := range rs {
		it := map[string]any{"type": r.Type, "state": r.State, "received": r.CreatedAt, "due": r.DueAt, "jurisdiction": r.Jurisdiction}
		if !r.ClosedAt.IsZero() {
			it["closed"] = r.ClosedAt
		}
		sec.Items = append(sec.Items, it)
	}
	return sec, err
}

func (db *core) exportHolds(ctx context.Context, id string) (rights.Section, error) {
	h, err := (&Rights{db}).LegalHold(ctx, id)
	sec := rights.Section{Title: "Legal hold"}
	if err == nil {
		sec.Items = []map[string]any{{"since": h.CreatedAt, "reason": h.Reason}}
	}
	return sec, nil
}

// CustomerTables lists every table, in every schema Steward uses, that has a customer_id
// column, plus customers itself: what the rights registry must cover.
func (db *core) customerTables(ctx context.Context, q string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, q)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	set := map[string]bool{"customers": true}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, db.translate(err)
		}
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, db.translate(rows.Err())
}
