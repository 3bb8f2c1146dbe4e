package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/problem"
)

// ActionTransfer is the audit action of points moving with a merge, on each account.
const ActionTransfer = loyalty.ActionPost + loyalty.KindTransfer

// SetLoyaltyRules installs what merges need of the loyalty programme to move points with
// them (see loyalty.TransferRules). Without it a merge still moves the points, opening an
// account in the merged-away account's tier and leaving tiers to the hourly recompute.
func (e *Engine) SetLoyaltyRules(r loyalty.TransferRules) { e.db.loyaltyRules.Store(&r) }

// transferPoints carries out t inside tx, the transaction of the merge (or of its undoing).
// Both accounts are locked, in id order so that two transfers never wait on each other
// crosswise, before From's ledger is read: a redemption on either account is decided
// before the points move or after (and then follows them, see Loyalty.Post), and the plan
// is made on what the account holds now, so a second transfer for the same merge plans
// nothing. Every entry records the balance after it and the CHECKs refuse a negative one.
func (db *core) transferPoints(ctx context.Context, tx *sql.Tx, t loyalty.Transfer) error {
	// Most merges join visitors who are not members: one look settles it. (An account
	// opened by a transaction not committed yet is not seen here, and its posting does not
	// see this merge's link either; CarryMerged moves what it credited.)
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM loyalty_accounts WHERE customer_id = $1`, t.From).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	var from, to loyalty.State
	var fromJoined, toThrough int64
	lock := func(id string, st *loyalty.State, extra *int64, col string) error {
		err := tx.QueryRowContext(ctx, `SELECT balance, tier, `+col+` FROM loyalty_accounts WHERE customer_id = $1`+db.d.ForUpdate, id).
			Scan(&st.Balance, &st.Tier, extra)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		st.Exists = err == nil
		return err
	}
	locks := []func() error{
		func() error { return lock(t.From, &from, &fromJoined, "joined_at") },
		func() error { return lock(t.To, &to, &toThrough, "expired_through") },
	}
	if t.To < t.From {
		locks[0], locks[1] = locks[1], locks[0]
	}
	for _, l := range locks {
		if err := l(); err != nil {
			return err
		}
	}
	if !from.Exists {
		return nil
	}
	ledger, err := db.ledgerTx(ctx, tx, t.From)
	if err != nil {
		return err
	}
	out, in := loyalty.Plan(ledger, t)
	if len(out) == 0 {
		return nil
	}
	rules := db.loyaltyRules.Load()
	if !to.Exists {
		to = loyalty.State{Exists: true, Tier: from.Tier}
		if rules != nil {
			to.Tier = rules.OpenTier
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO loyalty_accounts (customer_id, balance, tier, tier_since, joined_at) VALUES ($1, 0, $2, $3, $4)`,
			t.To, to.Tier, micros(time.Now()), fromJoined); err != nil {
			return err
		}
	}
	write := func(id string, bal int64, ps []loyalty.Posting) (int64, error) {
		for i, p := range ps {
			if bal += p.Points; bal < 0 {
				return 0, problem.Conflictf("points: the balance cannot go below zero")
			}
			dedup := t.Cause + ":" + t.Ref + ":" + id + ":" + strconv.Itoa(i)
			if _, err := db.insertEntry(ctx, tx, id, dedup, p, bal); err != nil {
				return 0, err
			}
		}
		_, err := db.txExec(ctx, tx, ledgerBalance, bal, id)
		return bal, err
	}
	if _, err := write(t.From, from.Balance, out); err != nil {
		return err
	}
	if _, err := write(t.To, to.Balance, in); err != nil {
		return err
	}
	// A lot that expired before it arrived, after the receiving account's last expiry run,
	// is written off by the next run rather than never.
	for _, p := range in {
		if !p.ExpiresAt.IsZero() && micros(p.ExpiresAt) <= toThrough {
			toThrough = micros(p.ExpiresAt) - 1
			if _, err := tx.ExecContext(ctx, `UPDATE loyalty_accounts SET expired_through = $1 WHERE customer_id = $2`, toThrough, t.To); err != nil {
				return err
			}
		}
	}
	purpose := ""
	if rules != nil {
		purpose = rules.Purpose
		r := rules.Tiers()
		for _, side := range []struct {
			id   string
			tier string
		}{{t.From, from.Tier}, {t.To, to.Tier}} {
			if err := db.retier(ctx, tx, side.id, side.tier, r); err != nil {
				return err
			}
		}
	}
	var entries []audit.Entry
	for _, id := range []string{t.From, t.To} {
		e := audit.New(ctx, ActionTransfer, id, nil, purpose)
		e.Target = t.Cause + ":" + t.Ref
		entries = append(entries, e)
	}
	return db.appendAudit(ctx, tx, entries)
}

// CarryMerged implements loyalty.Store: accounts of customers merged into others that
// still hold points or qualifying points, each moved to the customer it was merged into, in
// a transaction of its own keyed by the merge.
func (db *Loyalty) CarryMerged(ctx context.Context, limit int) (int, error) {
	rows, err := db.query(ctx, `SELECT l.customer_id, l.merged_into, l.merge_id FROM customer_links l JOIN loyalty_accounts a ON a.customer_id = l.customer_id
		WHERE a.balance > 0 OR (SELECT `+qualifyingSum+` FROM loyalty_entries e WHERE e.customer_id = a.customer_id AND e.qualifying = 1) <> 0
		ORDER BY l.customer_id LIMIT $1`, limit)
	type link struct{ from, to, merge string }
	links, err := collect(db, rows, err, func(row rowScanner) (link, error) {
		var l link
		return l, row.Scan(&l.from, &l.to, &l.merge)
	})
	if err != nil {
		return 0, err
	}
	for _, l := range links {
		if err := db.update(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return db.transferPoints(ctx, tx, loyalty.Transfer{From: l.from, To: l.to, Cause: loyalty.CauseMerge, Ref: l.merge})
		}); err != nil {
			return 0, err
		}
	}
	return len(links), nil
}
