package store

import (
	"context"
	"database/sql"
	"encoding/hex"

	"github.com/stewardhq/steward/internal/consent"
)

// DecisionWatcher is told, after a write commits, which customers' decision inputs it
// changed, so a cache of them in this process drops them before the writer's caller hears
// back. The engine keeps a change counter per customer as well (customers.decision_seq,
// bumped by triggers and by profile updates), which is what other processes compare against.
type DecisionWatcher interface {
	Forget(ids ...string)
	ForgetPolicies()
}

// setDecisionWatcher installs the watcher; nil removes it.
func (db *core) setDecisionWatcher(w DecisionWatcher) {
	if w == nil {
		db.watcher.Store(nil)
		return
	}
	db.watcher.Store(&w)
}

// notify tells the watcher what a write changed; only transact calls it.
func (db *core) notify(ch *changes) {
	w := db.watcher.Load()
	if w == nil {
		return
	}
	if len(ch.ids) > 0 {
		(*w).Forget(ch.ids...)
	}
	if ch.policies {
		(*w).ForgetPolicies()
	}
}

// DecisionVersion implements consent.Store with one query answered from two unique indexes.
func (db *Consents) DecisionVersion(ctx context.Context, customerID string) (consent.Version, error) {
	var cust sql.NullInt64
	var pol int64
	err := db.queryRow(ctx, `SELECT (SELECT decision_seq FROM `+db.customersByID()+` WHERE id = $1), (SELECT COALESCE(MAX(seq), 0) FROM policies)`,
		customerID).Scan(&cust, &pol)
	if err != nil {
		return consent.Version{}, db.translate(err)
	}
	v := consent.Version{Customer: -1, Policies: pol}
	if cust.Valid {
		v.Customer = cust.Int64
	}
	return v, nil
}

// DecisionCounters implements consent.Store, a batch of ids per query.
func (db *Consents) DecisionCounters(ctx context.Context, ids []string) (map[string]int64, error) {
	out, err := idNumbers(ids, func(args []any) (*sql.Rows, error) {
		return db.queryMany(ctx, len(ids), `SELECT id, decision_seq FROM `+db.customersByID()+` WHERE id IN (`+db.idList(1)+`)`, args...)
	})
	return out, db.translate(err)
}

// idNumbers reads the rows of (id, number) that query returns for ids, a batch of ids at a
// time (see batches), into a map.
func idNumbers(ids []string, query func(args []any) (*sql.Rows, error)) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	err := batches(ids, nil, func(args []any) error {
		rows, err := query(args)
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
			out[id] = v
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// addSuppressions inserts entries into the suppression list inside tx and returns the
// customers whose current email or phone they match: their decisions changed too.
func (db *core) addSuppressions(ctx context.Context, tx *sql.Tx, entries []consent.Suppression) ([]string, error) {
	for _, s := range entries {
		if _, err := tx.ExecContext(ctx, suppressionInsert, hex.EncodeToString(s.Hash), s.Token, s.Field, s.Purpose, s.Source, micros(s.At), s.ActorID); err != nil {
			return nil, err
		}
	}
	return db.suppressionHolders(ctx, tx, entries)
}

// suppressionHolders returns the customers whose email or phone has the blind-index token of
// one of entries: those whose decisions the entries may change.
func (db *core) suppressionHolders(ctx context.Context, tx *sql.Tx, entries []consent.Suppression) ([]string, error) {
	var out []string
	for _, s := range entries {
		rows, err := tx.QueryContext(ctx, `SELECT customer_id FROM blind_index WHERE field = $1 AND token = $2`, s.Field, s.Token)
		ids, err := collect(db, rows, err, func(r rowScanner) (id string, err error) { return id, r.Scan(&id) })
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
	}
	return out, nil
}
