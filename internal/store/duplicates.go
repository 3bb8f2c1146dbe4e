package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/problem"
)

// Duplicates is duplicate detection's repository: matching keys, scored pairs and merges
// made from them.
type Duplicates struct{ *core }

var _ duplicate.Store = (*Duplicates)(nil)

// StaleCustomers implements duplicate.Store.
func (db *Duplicates) StaleCustomers(ctx context.Context, after string, limit int) ([]*customer.Record, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+customerColumnsOfC+` FROM customers c LEFT JOIN customer_quality q ON q.customer_id = c.id
		WHERE c.id > $1 AND (q.version IS NULL OR q.version <> c.version) ORDER BY c.id LIMIT $2`, after, limit)
	if err != nil {
		return nil, db.translate(err)
	}
	return db.scanCustomers(rows)
}

// The statements a scan's refresh runs per customer, prepared once up front (see
// prepareWrites): parsing them again for every customer cost a third of a refresh.
const (
	keysExists    = `SELECT 1 FROM customers WHERE id = $1`
	keysDelete    = `DELETE FROM match_keys WHERE customer_id = $1`
	termsDelete   = `DELETE FROM match_terms WHERE customer_id = $1`
	qualitySelect = `SELECT email_token, email_since FROM customer_quality WHERE customer_id = $1`
	qualityUpsert = `INSERT INTO customer_quality (customer_id, version, validation, reasons, email_token, email_since, checked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (customer_id) DO UPDATE SET version = excluded.version, validation = excluded.validation,
		reasons = excluded.reasons, email_token = excluded.email_token, email_since = excluded.email_since, checked_at = excluded.checked_at`
)

// keyStatements are the refresh statements prepareWrites prepares.
func keyStatements() []string {
	return []string{keysExists, keysDelete, termsDelete, qualitySelect, qualityUpsert}
}

// SaveKeys implements duplicate.Store. A customer's e-mail keeps its first-seen time while
// its token stays the same; a changed address starts from the scan that saw it.
func (db *Duplicates) SaveKeys(ctx context.Context, rows []duplicate.KeyRow) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, r := range rows {
			var exists int
			err := db.txQueryRow(ctx, tx, keysExists, r.CustomerID).Scan(&exists)
			if errors.Is(err, sql.ErrNoRows) {
				continue // erased since it was read
			}
			if err != nil {
				return err
			}
			if _, err := db.txExec(ctx, tx, keysDelete, r.CustomerID); err != nil {
				return err
			}
			args := make([]any, 0, 2*len(r.Tokens))
			for _, t := range r.Tokens {
				args = append(args, t, r.CustomerID)
			}
			if err := db.insertRows(ctx, tx, db.keyRows, args); err != nil {
				return err
			}
			if _, err := db.txExec(ctx, tx, termsDelete, r.CustomerID); err != nil {
				return err
			}
			args = make([]any, 0, 3*len(r.Terms))
			for _, t := range r.Terms {
				args = append(args, t.Kind, t.Token, r.CustomerID)
			}
			if err := db.insertRows(ctx, tx, db.termRows, args); err != nil {
				return err
			}
			// The first address seen has held since always (0): every signal counts. A
			// different address from then on holds since this scan.
			var since, oldToken, oldSince int64
			err = db.txQueryRow(ctx, tx, qualitySelect, r.CustomerID).Scan(&oldToken, &oldSince)
			switch {
			case err == nil && oldToken == r.EmailToken:
				since = oldSince
			case err == nil:
				since = micros(r.At)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			if _, err := db.txExec(ctx, tx, qualityUpsert,
				r.CustomerID, r.Version, r.Validation, encodeList(r.Reasons), r.EmailToken, since, micros(r.At)); err != nil {
				return err
			}
		}
		return nil
	})
}

// CandidateIDs implements duplicate.Store from the keys alone: no value is read.
func (db *Duplicates) CandidateIDs(ctx context.Context) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT DISTINCT k.customer_id FROM match_keys k
		WHERE k.token IN (SELECT token FROM match_keys m WHERE NOT EXISTS (SELECT 1 FROM customer_links l WHERE l.customer_id = m.customer_id)
			GROUP BY token HAVING COUNT(*) > 1)
		AND NOT EXISTS (SELECT 1 FROM customer_links l WHERE l.customer_id = k.customer_id) ORDER BY k.customer_id`)
	return collect(db, rows, err, func(row rowScanner) (string, error) {
		var id string
		return id, row.Scan(&id)
	})
}

// TermCounts implements duplicate.Store from the tokens alone: no value is read.
func (db *Duplicates) TermCounts(ctx context.Context) ([]duplicate.TermCount, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT kind, token, COUNT(*) FROM match_terms t
		WHERE NOT EXISTS (SELECT 1 FROM customer_links l WHERE l.customer_id = t.customer_id) GROUP BY kind, token`)
	return collect(db, rows, err, func(row rowScanner) (duplicate.TermCount, error) {
		var c duplicate.TermCount
		return c, row.Scan(&c.Kind, &c.Token, &c.Count)
	})
}

// PairStates implements duplicate.Store.
func (db *Duplicates) PairStates(ctx context.Context) (map[string]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT customer_id, other_id, state FROM duplicates`)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var a, b, st string
		if err := rows.Scan(&a, &b, &st); err != nil {
			return nil, db.translate(err)
		}
		out[a+" "+b] = st
	}
	return out, db.translate(rows.Err())
}

const pairColumns = `id, customer_id, other_id, score, weight, decision, evidence, state, merge_id, winner_id, auto,
	undo_sealed, merged_version, changed, carried, created_at, updated_at, decided_at, decided_by`

func scanPair(row rowScanner) (duplicate.Pair, error) {
	var p duplicate.Pair
	var evidence string
	var mergeID, winnerID, changed, carried, decidedBy sql.NullString
	var mergedVersion, decidedAt sql.NullInt64
	var sealed []byte
	var created, updated int64
	if err := row.Scan(&p.ID, &p.CustomerA, &p.CustomerB, &p.Score, &p.Weight, &p.Decision, &evidence, &p.State, &mergeID, &winnerID, &p.Auto,
		&sealed, &mergedVersion, &changed, &carried, &created, &updated, &decidedAt, &decidedBy); err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(evidence), &p.Evidence); err != nil {
		return p, err
	}
	p.MergeID, p.WinnerID, p.DecidedBy = mergeID.String, winnerID.String, decidedBy.String
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	if decidedAt.Valid {
		t := fromMicros(decidedAt.Int64)
		p.DecidedAt = &t
	}
	if mergeID.Valid {
		u := &duplicate.UndoState{Sealed: sealed, MergedVersion: mergedVersion.Int64, Changed: decodeList(changed.String)}
		if carried.String != "" {
			if err := json.Unmarshal([]byte(carried.String), &u.Carried); err != nil {
				return p, err
			}
		}
		p.Undo = u
	}
	return p, nil
}

// SavePending implements duplicate.Store.
func (db *Duplicates) SavePending(ctx context.Context, pairs []duplicate.Pair, entries []audit.Entry) ([]duplicate.Pair, error) {
	var out []duplicate.Pair
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = out[:0]
		if err := db.dropUnproposed(ctx, tx, pairs); err != nil {
			return err
		}
		for _, p := range pairs {
			ev, _ := json.Marshal(p.Evidence)
			stored, err := scanPair(tx.QueryRowContext(ctx, `SELECT `+pairColumns+` FROM duplicates WHERE customer_id = $1 AND other_id = $2`+db.d.ForUpdate,
				p.CustomerA, p.CustomerB))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.ExecContext(ctx, `INSERT INTO duplicates (id, customer_id, other_id, score, weight, decision, evidence, state, created_at, updated_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
					p.ID, p.CustomerA, p.CustomerB, p.Score, p.Weight, p.Decision, string(ev), duplicate.Pending, micros(p.CreatedAt), micros(p.UpdatedAt)); err != nil {
					return err
				}
				out = append(out, p)
			case err != nil:
				return err
			case stored.State == duplicate.Pending:
				if _, err := tx.ExecContext(ctx, `UPDATE duplicates SET score = $1, weight = $2, decision = $3, evidence = $4, updated_at = $5 WHERE id = $6`,
					p.Score, p.Weight, p.Decision, string(ev), micros(p.UpdatedAt), stored.ID); err != nil {
					return err
				}
				p.ID, p.CreatedAt = stored.ID, stored.CreatedAt
				out = append(out, p)
			}
		}
		return db.appendAudit(ctx, tx, entries)
	})
	return out, err
}

// dropUnproposed deletes pending pairs the scan no longer proposes (their data changed, or one
// of them was merged away): the queue holds what the latest scan found. Decided pairs stay,
// and so do pairs a browser message joined (ingest.PairSharedIdentifier): no scan proposed
// them, so none may withdraw them.
func (db *Duplicates) dropUnproposed(ctx context.Context, tx *sql.Tx, pairs []duplicate.Pair) error {
	keep := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		keep[p.CustomerA+" "+p.CustomerB] = true
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, customer_id, other_id FROM duplicates WHERE state = $1 AND decision <> $2`, duplicate.Pending, ingest.PairSharedIdentifier)
	if err != nil {
		return err
	}
	var drop []string
	for rows.Next() {
		var id, a, b string
		if err := rows.Scan(&id, &a, &b); err != nil {
			rows.Close()
			return err
		}
		if !keep[a+" "+b] {
			drop = append(drop, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range drop {
		if _, err := tx.ExecContext(ctx, `DELETE FROM duplicates WHERE id = $1`, id); err != nil {
			return err
		}
	}
	return nil
}

// ListPairs implements duplicate.Store.
func (db *Duplicates) ListPairs(ctx context.Context, state string, after *duplicate.Pair, limit int) ([]duplicate.Pair, error) {
	q := `SELECT ` + pairColumns + ` FROM duplicates WHERE state = $1`
	args := []any{state}
	if after != nil {
		q += ` AND (score < $2 OR (score = $2 AND id > $3))`
		args = append(args, after.Score, after.ID)
	}
	args = append(args, limit)
	q += ` ORDER BY score DESC, id LIMIT $` + strconv.Itoa(len(args))
	rows, err := db.read.QueryContext(ctx, q, args...)
	return collect(db, rows, err, scanPair)
}

// GetPair implements duplicate.Store.
func (db *Duplicates) GetPair(ctx context.Context, id string) (duplicate.Pair, error) {
	p, err := scanPair(db.read.QueryRowContext(ctx, `SELECT `+pairColumns+` FROM duplicates WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, problem.NotFoundf("duplicate not found")
	}
	return p, db.translate(err)
}

// PairByMerge implements duplicate.Store.
func (db *Duplicates) PairByMerge(ctx context.Context, mergeID string) (duplicate.Pair, error) {
	p, err := scanPair(db.read.QueryRowContext(ctx, `SELECT `+pairColumns+` FROM duplicates WHERE merge_id = $1`, mergeID))
	if errors.Is(err, sql.ErrNoRows) {
		return p, problem.NotFoundf("no duplicate was merged by this merge")
	}
	return p, db.translate(err)
}

// DismissPair implements duplicate.Store.
func (db *Duplicates) DismissPair(ctx context.Context, id string, at time.Time, by string, entries []audit.Entry) (duplicate.Pair, error) {
	var p duplicate.Pair
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE duplicates SET state = $1, decided_at = $2, decided_by = $3, updated_at = $2 WHERE id = $4 AND state = $5`,
			duplicate.Dismissed, micros(at), by, id, duplicate.Pending)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var state string
			err := tx.QueryRowContext(ctx, `SELECT state FROM duplicates WHERE id = $1`, id).Scan(&state)
			if errors.Is(err, sql.ErrNoRows) {
				return problem.NotFoundf("duplicate not found")
			}
			if err != nil {
				return err
			}
			return problem.Conflictf("duplicate is %s, not pending", state)
		}
		if err := db.appendAudit(ctx, tx, entries); err != nil {
			return err
		}
		p, err = scanPair(tx.QueryRowContext(ctx, `SELECT `+pairColumns+` FROM duplicates WHERE id = $1`, id))
		return err
	})
	return p, err
}

// MergePair implements duplicate.Store: the profile, the merge and its link, the consent
// records, the pair's state and the audit entries, in one transaction.
func (db *Duplicates) MergePair(ctx context.Context, w duplicate.MergeWrite) error {
	ch := changes{ids: []string{w.Merge.Winner, w.Merge.Loser}}
	return db.transact(ctx, nil, &ch, func(ctx context.Context, tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM duplicates WHERE id = $1`+db.d.ForUpdate, w.PairID).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return problem.NotFoundf("duplicate not found")
		}
		if err != nil {
			return err
		}
		if state != duplicate.Pending {
			return problem.Conflictf("duplicate is %s, not pending", state)
		}
		// Both customers locked first, so that the links and counters read are the ones
		// that hold until the merge commits.
		locked, err := db.lockCustomers(ctx, tx, []string{w.Merge.Winner, w.Merge.Loser})
		if err != nil {
			return err
		}
		for _, id := range []string{w.Merge.Winner, w.Merge.Loser} {
			l, ok := locked[id]
			if !ok {
				return problem.Conflictf("a customer of this duplicate no longer exists")
			}
			if l.into != "" {
				return problem.Conflictf("a customer of this duplicate has been merged into another customer meanwhile")
			}
			if v, ok := w.Versions[id]; !ok || v != l.version {
				return consent.LedgerChanged()
			}
		}
		if w.Winner != nil {
			if err := db.updateCustomerTx(ctx, tx, w.Winner, w.WinnerPrev); err != nil {
				return err
			}
		} else {
			var v int64
			if err := tx.QueryRowContext(ctx, `SELECT version FROM customers WHERE id = $1`+db.d.ForUpdate, w.Merge.Winner).Scan(&v); err != nil {
				return err
			}
			if v != w.WinnerPrev {
				return problem.Conflictf("customer was changed concurrently; retry")
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO customer_merges (`+mergeColumns+`) VALUES ($1, $2, $3, $4, $5, NULL)`,
			w.Merge.ID, w.Merge.Winner, w.Merge.Loser, w.Merge.Reason, micros(w.Merge.CreatedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO customer_links (customer_id, merged_into, merge_id) VALUES ($1, $2, $3)`,
			w.Merge.Loser, w.Merge.Winner, w.Merge.ID); err != nil {
			return err
		}
		if err := bumpDecisions(ctx, tx, w.Merge.Winner, w.Merge.Loser); err != nil {
			return err
		}
		if err := db.transferPoints(ctx, tx, loyalty.Transfer{From: w.Merge.Loser, To: w.Merge.Winner, Cause: loyalty.CauseMerge, Ref: w.Merge.ID}); err != nil {
			return err
		}
		if err := insertRecords(ctx, tx, w.Consents); err != nil {
			return err
		}
		// Other pairs waiting with the loser are moot: it is part of the winner now, and the
		// next scan compares the winner, merged values and all, instead.
		if _, err := tx.ExecContext(ctx, `DELETE FROM duplicates WHERE state = $1 AND id <> $2 AND (customer_id = $3 OR other_id = $3)`,
			duplicate.Pending, w.PairID, w.Merge.Loser); err != nil {
			return err
		}
		carried, _ := json.Marshal(w.Undo.Carried)
		if _, err := tx.ExecContext(ctx, `UPDATE duplicates SET state = $1, merge_id = $2, winner_id = $3, auto = $4, undo_sealed = $5, merged_version = $6,
			changed = $7, carried = $8, decided_at = $9, decided_by = $10, updated_at = $9 WHERE id = $11`,
			duplicate.Merged, w.Merge.ID, w.Merge.Winner, w.Auto, w.Undo.Sealed, w.Undo.MergedVersion, encodeList(w.Undo.Changed), string(carried),
			micros(w.Merge.CreatedAt), w.By, w.PairID); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, w.Entries)
	})
}

// UnmergePair implements duplicate.Store.
func (db *Duplicates) UnmergePair(ctx context.Context, w duplicate.UnmergeWrite) (ingest.Merge, error) {
	var m ingest.Merge
	var ch changes
	err := db.transact(ctx, nil, &ch, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if m, err = db.lockMerge(ctx, tx, w.MergeID); err != nil {
			return err
		}
		if err := db.checkVersions(ctx, tx, w.Versions); err != nil {
			return err
		}
		if err := db.undoLocked(ctx, tx, &m, w.At); err != nil {
			return err
		}
		ch.add(m.Winner, m.Loser)
		if w.Winner != nil {
			if err := db.updateCustomerTx(ctx, tx, w.Winner, w.WinnerPrev); err != nil {
				return err
			}
		}
		if err := insertRecords(ctx, tx, w.Consents); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE duplicates SET state = $1, decided_at = $2, decided_by = $3, updated_at = $2, undo_sealed = NULL WHERE id = $4`,
			duplicate.Undone, micros(w.At), w.By, w.PairID); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, w.Entries(m))
	})
	return m, err
}

// Origins implements duplicate.Store from the creation entries of the audit trail.
func (db *Duplicates) Origins(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.read.QueryContext(ctx, `SELECT customer_id, actor_role FROM audit_log WHERE action = $1 AND customer_id IN (`+placeholders(2, len(ids))+`)`,
		append([]any{audit.ActionCustomerCreate}, anyArgs(ids)...)...)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, role string
		if err := rows.Scan(&id, &role); err != nil {
			return nil, db.translate(err)
		}
		out[id] = role
	}
	return out, db.translate(rows.Err())
}

// insertRecords stores ledger records inside a transaction that has checked the customer.
func insertRecords(ctx context.Context, tx *sql.Tx, recs []consent.Record) error {
	for _, r := range recs {
		vals, err := recordValues(&r)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, recordInsert, vals...); err != nil {
			return err
		}
	}
	return nil
}
