package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/problem"
)

// Loyalty is the repository of the loyalty programme's accounts and ledger.
type Loyalty struct{ *core }

var _ loyalty.Store = (*Loyalty)(nil)

const entryColumns = `id, customer_id, kind, points, balance, cause, ref, order_id, reason, actor, qualifying, expires_at, at, lot, qualifying_points`

// qualifyingSum is what an account's qualifying entries count towards the tier: their
// qualifying points, which entries written before transfers existed do not record apart
// from their points.
const qualifyingSum = `COALESCE(SUM(COALESCE(qualifying_points, points)), 0)`

// The statements of a posting, prepared up front (see core.prepareWrites): a till's
// redemption runs each once.
const (
	ledgerAccount   = `SELECT balance, tier FROM loyalty_accounts WHERE customer_id = $1`
	ledgerByDedup   = `SELECT ` + entryColumns + ` FROM loyalty_entries WHERE dedup = $1`
	ledgerOrderSums = `SELECT COALESCE(SUM(CASE WHEN kind = 'earn' THEN points ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN kind = 'reverse' THEN -points ELSE 0 END), 0)
		FROM loyalty_entries WHERE order_id = $1`
	ledgerBalance = `UPDATE loyalty_accounts SET balance = $1 WHERE customer_id = $2`
	ledgerInsert  = `INSERT INTO loyalty_entries (customer_id, kind, points, balance, cause, ref, order_id, reason, actor,
		qualifying, expires_at, at, dedup, lot, qualifying_points) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`
	ledgerQualifying = `SELECT ` + qualifyingSum + ` FROM loyalty_entries WHERE customer_id = $1 AND qualifying = 1 AND at > $2`
	ledgerSettle     = `DELETE FROM loyalty_pending WHERE id = $1`
	// ledgerMerged finds a customer merged into another: their account's points have moved.
	ledgerMerged = `SELECT merged_into FROM customer_links WHERE customer_id = $1`
	ledgerRows   = `SELECT id, kind, points, qualifying, expires_at, at, ref, lot, qualifying_points FROM loyalty_entries WHERE customer_id = $1 ORDER BY id`
)

// ledgerStatements lists them for core.prepareWrites.
func (db *core) ledgerStatements() []string {
	return []string{ledgerAccount + db.d.ForUpdate, ledgerByDedup, ledgerOrderSums, ledgerBalance, ledgerInsert, ledgerQualifying, ledgerSettle, ledgerMerged}
}

func scanPoints(row rowScanner) (loyalty.Entry, error) {
	var e loyalty.Entry
	var q int
	var exp, at int64
	var lot, qp sql.NullInt64
	err := row.Scan(&e.ID, &e.CustomerID, &e.Kind, &e.Points, &e.Balance, &e.Cause, &e.Ref, &e.OrderID, &e.Reason, &e.Actor, &q, &exp, &at, &lot, &qp)
	fillEntry(&e, q, exp, at, lot, qp)
	return e, err
}

// scanLedgerRow scans a row of ledgerRows: what balances, lots and tiers are computed from.
func scanLedgerRow(row rowScanner) (loyalty.Entry, error) {
	var e loyalty.Entry
	var q int
	var exp, at int64
	var lot, qp sql.NullInt64
	err := row.Scan(&e.ID, &e.Kind, &e.Points, &q, &exp, &at, &e.Ref, &lot, &qp)
	fillEntry(&e, q, exp, at, lot, qp)
	return e, err
}

// fillEntry sets what an entry's columns store in their own way: 0 for no expiry, and NULL
// for no lot and for qualifying points that are the entry's points when it qualifies.
func fillEntry(e *loyalty.Entry, q int, exp, at int64, lot, qp sql.NullInt64) {
	e.Qualifying = q == 1
	if exp > 0 {
		e.ExpiresAt = fromMicros(exp)
	}
	e.At = fromMicros(at)
	e.Lot = lot.Int64
	switch {
	case qp.Valid:
		e.QualifyingPoints = qp.Int64
	case e.Qualifying:
		e.QualifyingPoints = e.Points
	}
}

// insertEntry writes p as the entry of account id with the balance after it, keyed by dedup.
func (db *core) insertEntry(ctx context.Context, tx *sql.Tx, id, dedup string, p loyalty.Posting, bal int64) (loyalty.Entry, error) {
	var exp int64
	if !p.ExpiresAt.IsZero() {
		exp = micros(p.ExpiresAt)
	}
	q := 0
	if p.Qualifying {
		q = 1
	}
	var lot sql.NullInt64
	if p.Lot != 0 {
		lot = sql.NullInt64{Int64: p.Lot, Valid: true}
	}
	e := loyalty.Entry{CustomerID: id, Kind: p.Kind, Points: p.Points, Balance: bal, Cause: p.Cause, Ref: p.Ref, OrderID: p.OrderID,
		Reason: p.Reason, Actor: p.Actor, Qualifying: p.Qualifying, QualifyingPoints: p.TierPoints(), Lot: p.Lot, ExpiresAt: p.ExpiresAt,
		At: p.At.UTC().Truncate(time.Microsecond)}
	err := db.txQueryRow(ctx, tx, ledgerInsert, id, p.Kind, p.Points, bal, p.Cause, p.Ref, p.OrderID, p.Reason, p.Actor, q, exp, micros(p.At), dedup,
		lot, p.TierPoints()).Scan(&e.ID)
	return e, err
}

// ledgerTx reads an account's ledger inside tx, for decisions taken under its lock.
func (db *core) ledgerTx(ctx context.Context, tx *sql.Tx, id string) ([]loyalty.Entry, error) {
	rows, err := tx.QueryContext(ctx, db.native(ledgerRows), id)
	return collect(db, rows, err, scanLedgerRow)
}

// Post implements loyalty.Store. The account row is locked first (FOR UPDATE on PostgreSQL;
// SQLite has one writer), so the dedup check, the state Decide sees and the write are one
// decision: of two tills redeeming the same points, the second sees what the first left.
func (db *Loyalty) Post(ctx context.Context, w loyalty.Write) (loyalty.Entry, bool, error) {
	var out loyalty.Entry
	var replay bool
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out, replay = loyalty.Entry{}, false
		st, err := db.lockAccount(ctx, tx, w.CustomerID)
		if err != nil {
			return err
		}
		if w.Dedup != "" {
			for _, key := range append([]string{w.Dedup}, w.Replays...) {
				e, err := scanPoints(db.txQueryRow(ctx, tx, ledgerByDedup, key))
				if err == nil {
					out, replay = e, true
					return db.settlePending(ctx, tx, w.PendingID)
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
		}
		// Checked under the account's lock, which a merge takes to move the points: either
		// the merge has committed and this posting follows the points, or it waits for this
		// one and moves what it leaves.
		var into string
		if err := db.txQueryRow(ctx, tx, ledgerMerged, w.CustomerID).Scan(&into); err == nil {
			return problem.Wrap(problem.Conflict, &loyalty.MergedError{Into: into}, "the customer was merged into another customer meanwhile; retry")
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if w.OrderID != "" {
			if err := db.txQueryRow(ctx, tx, ledgerOrderSums, w.OrderID).Scan(&st.OrderEarned, &st.OrderReversed); err != nil {
				return err
			}
		}
		if w.Ledger {
			if st.Ledger, err = db.ledgerTx(ctx, tx, w.CustomerID); err != nil {
				return err
			}
		}
		p, err := w.Decide(st)
		if err != nil {
			return err
		}
		if p.Points == 0 {
			return db.settlePending(ctx, tx, w.PendingID)
		}
		bal := st.Balance + p.Points
		if !st.Exists || bal < 0 {
			return problem.Conflictf("points: the balance cannot go below zero")
		}
		if _, err := db.txExec(ctx, tx, ledgerBalance, bal, w.CustomerID); err != nil {
			return err
		}
		dedup := w.Dedup
		if dedup == "" {
			dedup = "entry:" + w.CustomerID + ":" + strconv.FormatInt(time.Now().UnixNano(), 10)
		}
		if out, err = db.insertEntry(ctx, tx, w.CustomerID, dedup, p, bal); err != nil {
			return err
		}
		if p.Qualifying && w.Tiers.Of != nil {
			if err := db.retier(ctx, tx, w.CustomerID, st.Tier, w.Tiers); err != nil {
				return err
			}
		}
		if w.Audit != nil {
			if err := db.appendAudit(ctx, tx, w.Audit(out)); err != nil {
				return err
			}
		}
		return db.settlePending(ctx, tx, w.PendingID)
	})
	if err != nil && w.Dedup != "" && problem.Is(err, problem.Conflict) {
		// Two nodes inserting the same dedup key at once: the loser answers with the winner's
		// entry, as a retry would.
		if e, rerr := scanPoints(db.queryRow(ctx, `SELECT `+entryColumns+` FROM loyalty_entries WHERE dedup = $1`, w.Dedup)); rerr == nil {
			return e, true, nil
		}
	}
	return out, replay, err
}

func (db *Loyalty) lockAccount(ctx context.Context, tx *sql.Tx, id string) (loyalty.State, error) {
	var st loyalty.State
	err := db.txQueryRow(ctx, tx, ledgerAccount+db.d.ForUpdate, id).Scan(&st.Balance, &st.Tier)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	st.Exists = err == nil
	return st, err
}

// retier moves the member to the tier their qualifying points within the window reach.
func (db *core) retier(ctx context.Context, tx *sql.Tx, id, tier string, r loyalty.TierRule) error {
	var q int64
	if err := db.txQueryRow(ctx, tx, ledgerQualifying, id, micros(r.Since)).Scan(&q); err != nil {
		return err
	}
	to := r.Of(q)
	if to == tier {
		return nil
	}
	return moveTier(ctx, tx, loyalty.Move{CustomerID: id, From: tier, To: to, Qualifying: q}, r.At)
}

func moveTier(ctx context.Context, tx *sql.Tx, m loyalty.Move, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE loyalty_accounts SET tier = $1, tier_since = $2 WHERE customer_id = $3`, m.To, micros(at), m.CustomerID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO loyalty_tier_changes (customer_id, from_tier, to_tier, qualifying, at) VALUES ($1, $2, $3, $4, $5)`,
		m.CustomerID, m.From, m.To, m.Qualifying, micros(at))
	return err
}

func (db *Loyalty) settlePending(ctx context.Context, tx *sql.Tx, id int64) error {
	if id == 0 {
		return nil
	}
	_, err := db.txExec(ctx, tx, ledgerSettle, id)
	return err
}

// Settle implements loyalty.Store.
func (db *Loyalty) Settle(ctx context.Context, id int64) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.settlePending(ctx, tx, id) })
}

// OpenAccount implements loyalty.Store.
func (db *Loyalty) OpenAccount(ctx context.Context, id, tier string, at time.Time, entries []audit.Entry) (bool, error) {
	var created bool
	err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO loyalty_accounts (customer_id, balance, tier, tier_since, joined_at)
			VALUES ($1, 0, $2, $3, $3) ON CONFLICT (customer_id) DO NOTHING`, id, tier, micros(at))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if created = n == 1; !created || err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, entries)
	})
	return created, err
}

// Account implements loyalty.Store.
func (db *Loyalty) Account(ctx context.Context, id string) (loyalty.Account, error) {
	a := loyalty.Account{CustomerID: id}
	var since, joined int64
	err := db.queryRow(ctx, `SELECT balance, tier, tier_since, joined_at FROM loyalty_accounts WHERE customer_id = $1`, id).
		Scan(&a.Balance, &a.Tier, &since, &joined)
	if errors.Is(err, sql.ErrNoRows) {
		return a, problem.NotFoundf("the customer is not a member of the loyalty programme")
	}
	a.TierSince, a.JoinedAt = fromMicros(since), fromMicros(joined)
	return a, db.translate(err)
}

// Entries implements loyalty.Store.
func (db *Loyalty) Entries(ctx context.Context, id string, before int64, limit int) ([]loyalty.Entry, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.query(ctx, `SELECT `+entryColumns+` FROM loyalty_entries WHERE customer_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, id, before, limit)
	return collect(db, rows, err, scanPoints)
}

// Ledger implements loyalty.Store.
func (db *Loyalty) Ledger(ctx context.Context, id string) ([]loyalty.Entry, error) {
	rows, err := db.query(ctx, ledgerRows, id)
	if err != nil {
		return nil, db.translate(err)
	}
	defer rows.Close()
	out := make([]loyalty.Entry, 0, 64)
	for rows.Next() {
		e, err := scanLedgerRow(rows)
		if err != nil {
			return nil, db.translate(err)
		}
		e.CustomerID = id
		out = append(out, e)
	}
	return out, db.translate(rows.Err())
}

// TierChanges implements loyalty.Store.
func (db *Loyalty) TierChanges(ctx context.Context, id string) ([]loyalty.TierChange, error) {
	rows, err := db.query(ctx, `SELECT from_tier, to_tier, qualifying, at FROM loyalty_tier_changes WHERE customer_id = $1 ORDER BY id DESC LIMIT 100`, id)
	out, err := collect(db, rows, err, func(row rowScanner) (loyalty.TierChange, error) {
		var c loyalty.TierChange
		var at int64
		err := row.Scan(&c.From, &c.To, &c.Qualifying, &at)
		c.At = fromMicros(at)
		return c, err
	})
	if out == nil {
		out = []loyalty.TierChange{}
	}
	return out, err
}

// PendingWork implements loyalty.Store.
func (db *Loyalty) PendingWork(ctx context.Context, ids []string, limit int) ([]loyalty.Pending, error) {
	q := `SELECT p.id, p.kind, p.customer_id, p.order_id, p.ref, COALESCE(o.currency, ''), COALESCE(o.total, 0), COALESCE(o.tax, 0),
		COALESCE(o.shipping, 0), COALESCE(o.refunded, 0), COALESCE(o.items, '[]'), COALESCE(o.placed_at, 0), COALESCE(o.status, '')
		FROM loyalty_pending p LEFT JOIN orders o ON o.order_id = p.order_id`
	args := []any{}
	if len(ids) > 0 {
		q += ` WHERE p.customer_id IN (` + placeholders(1, len(ids)) + `)`
		args = anyArgs(ids)
	}
	args = append(args, limit)
	q += ` ORDER BY p.id LIMIT $` + strconv.Itoa(len(args))
	// Prepared once per shape: a till's redemption asks for one member's work every time.
	rows, err := db.query(ctx, q, args...)
	return collect(db, rows, err, func(row rowScanner) (loyalty.Pending, error) {
		var p loyalty.Pending
		var ref, placed int64
		var items string
		err := row.Scan(&p.ID, &p.Kind, &p.CustomerID, &p.Order.ID, &ref, &p.Order.Currency, &p.Order.Total, &p.Order.Tax, &p.Order.Shipping,
			&p.Order.Refunded, &items, &placed, &p.Order.Status)
		if err != nil {
			return p, err
		}
		if p.Kind == loyalty.PendingReview {
			p.ReviewID = ref
		} else {
			p.RefundID = ref
		}
		p.Order.PlacedAt = fromMicros(placed)
		if err := json.Unmarshal([]byte(items), &p.Order.Items); err != nil {
			p.Order.Items = nil
		}
		return p, nil
	})
}

// Qualifying implements loyalty.Store.
func (db *Loyalty) Qualifying(ctx context.Context, since time.Time, after string, limit int) ([]loyalty.Standing, error) {
	rows, err := db.sweep().QueryContext(ctx, `SELECT a.customer_id, a.tier,
		COALESCE((SELECT SUM(COALESCE(e.qualifying_points, e.points)) FROM loyalty_entries e WHERE e.customer_id = a.customer_id AND e.qualifying = 1 AND e.at > $1), 0)
		FROM loyalty_accounts a WHERE a.customer_id > $2 ORDER BY a.customer_id LIMIT $3`, micros(since), after, limit)
	return collect(db, rows, err, func(row rowScanner) (loyalty.Standing, error) {
		var s loyalty.Standing
		err := row.Scan(&s.CustomerID, &s.Tier, &s.Qualifying)
		return s, err
	})
}

// MoveTiers implements loyalty.Store.
func (db *Loyalty) MoveTiers(ctx context.Context, moves []loyalty.Move, at time.Time, entries []audit.Entry) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, m := range moves {
			if err := moveTier(ctx, tx, m, at); err != nil {
				return err
			}
		}
		return db.appendAudit(ctx, tx, entries)
	})
}

// ExpiryDue implements loyalty.Store.
func (db *Loyalty) ExpiryDue(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := db.query(ctx, `SELECT a.customer_id FROM loyalty_accounts a WHERE a.balance > 0 AND a.expired_through < $1
		AND EXISTS (SELECT 1 FROM loyalty_entries e WHERE e.customer_id = a.customer_id AND e.expires_at > a.expired_through AND e.expires_at <= $1)
		ORDER BY a.customer_id LIMIT $2`, micros(now), limit)
	return collect(db, rows, err, scanText)
}

// MarkExpired implements loyalty.Store.
func (db *Loyalty) MarkExpired(ctx context.Context, id string, through time.Time) error {
	return db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE loyalty_accounts SET expired_through = $1 WHERE customer_id = $2`, micros(through), id)
		return err
	})
}

// BirthdayCandidates implements loyalty.Store.
func (db *Loyalty) BirthdayCandidates(ctx context.Context, year int, after string, limit int) ([]string, error) {
	rows, err := db.query(ctx, `SELECT a.customer_id FROM loyalty_accounts a WHERE a.customer_id > $1
		AND NOT EXISTS (SELECT 1 FROM loyalty_entries e WHERE e.dedup = 'birthday:' || a.customer_id || ':' || $2)
		ORDER BY a.customer_id LIMIT $3`, after, strconv.Itoa(year), limit)
	return collect(db, rows, err, scanText)
}

// Tree implements loyalty.Store.
func (db *Loyalty) Tree(ctx context.Context, id string) (string, []string, error) {
	return db.customerTree(ctx, id)
}

// sweep is the pool for reads that sweep many rows once: the bulk pool where the engine
// has one, the read pool otherwise.
func (db *core) sweep() *sql.DB {
	if db.bulk != nil {
		return db.bulk
	}
	return db.read
}

// scanText scans a row of one text column, for listings of ids.
func scanText(row rowScanner) (string, error) {
	var s string
	return s, row.Scan(&s)
}
