package loyalty

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/problem"
)

// settleBatch bounds one round of pending work.
const settleBatch = 500

// Settle turns pending commerce (orders completed or cancelled, refunds and returns, reviews)
// into ledger entries, for every customer, and says how many items it settled. The serve
// loop runs it every few seconds; reads and redemptions settle their own member first.
func (s *Service) Settle(ctx context.Context) (int, error) {
	n := 0
	for {
		ps, err := s.store.PendingWork(ctx, nil, settleBatch)
		if err != nil {
			return n, err
		}
		for _, p := range ps {
			if err := s.settleOne(ctx, p); err != nil {
				return n, err
			}
		}
		n += len(ps)
		if len(ps) < settleBatch || ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
}

// settle settles the pending work of the given customers (a merge tree).
func (s *Service) settle(ctx context.Context, ids []string) error {
	for {
		ps, err := s.store.PendingWork(ctx, ids, settleBatch)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if err := s.settleOne(ctx, p); err != nil {
				return err
			}
		}
		if len(ps) < settleBatch {
			return nil
		}
	}
}

// settleOne posts the entry one pending item calls for, as the programme acting for itself
// (the entry names the order, refund or review that caused it). A merge committed while it
// did moves the points of the account it resolved; it then settles the item again, on the
// account they moved to.
func (s *Service) settleOne(ctx context.Context, p Pending) error {
	ctx = authz.WithActor(ctx, authz.Actor{ID: "loyalty", Name: "loyalty programme", Role: authz.System.Role})
	for attempt := 0; ; attempt++ {
		err := s.settleOnce(ctx, p)
		var m *MergedError
		if !errors.As(err, &m) || attempt == 3 {
			return err
		}
	}
}

func (s *Service) settleOnce(ctx context.Context, p Pending) error {
	root, _, err := s.store.Tree(ctx, p.CustomerID)
	if problem.Is(err, problem.NotFound) {
		return s.store.Settle(ctx, p.ID)
	}
	if err != nil {
		return err
	}
	if _, err := s.store.Account(ctx, root); problem.Is(err, problem.NotFound) {
		if !s.p.AutoEnrol || p.Kind != PendingOrder {
			return s.store.Settle(ctx, p.ID)
		}
		if err := s.open(ctx, root); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	now := s.now()
	w := Write{CustomerID: root, PendingID: p.ID, OrderID: p.Order.ID, Audit: s.postAudit(ctx)}
	switch p.Kind {
	case PendingOrder:
		w.Dedup = "earn:order:" + p.Order.ID
		w.Tiers = s.tierRule(now)
		w.Decide = func(st State) (Posting, error) {
			if !st.Exists || st.OrderEarned > 0 {
				return Posting{}, nil
			}
			l, _ := s.p.Level(st.Tier)
			at := p.Order.PlacedAt
			if at.After(now) || at.IsZero() {
				at = now
			}
			return Posting{Kind: KindEarn, Cause: CauseOrder, Ref: p.Order.ID, OrderID: p.Order.ID, Points: s.p.OrderPoints(p.Order, l),
				Qualifying: true, At: at, ExpiresAt: s.p.ExpiryOf(at)}, nil
		}
	case PendingRefund, PendingCancel:
		w.Dedup = "reverse:" + p.Kind + ":" + p.Order.ID + ":" + strconv.FormatInt(p.RefundID, 10)
		w.Tiers = s.tierRule(now)
		w.Decide = func(st State) (Posting, error) {
			target := st.OrderEarned
			cause := CauseCancellation
			if p.Kind == PendingRefund {
				target, cause = RefundTarget(st.OrderEarned, p.Order.Total, p.Order.Refunded), CauseRefund
			}
			// Never more than the order earned, and never below a zero balance: points the
			// member already spent stay spent.
			take := min(target-st.OrderReversed, st.Balance)
			if take <= 0 {
				return Posting{}, nil
			}
			return Posting{Kind: KindReverse, Cause: cause, Ref: p.Order.ID + "#" + strconv.FormatInt(p.RefundID, 10), OrderID: p.Order.ID,
				Points: -take, Qualifying: true, At: now}, nil
		}
	case PendingReview:
		pts := s.p.Earning.Events["review"]
		w.Dedup = "earn:review:" + strconv.FormatInt(p.ReviewID, 10)
		w.Decide = func(st State) (Posting, error) {
			if !st.Exists || pts <= 0 {
				return Posting{}, nil
			}
			return Posting{Kind: KindEarn, Cause: CauseEvent, Ref: "review:" + strconv.FormatInt(p.ReviewID, 10), Points: pts, At: now,
				ExpiresAt: s.p.ExpiryOf(now)}, nil
		}
	default:
		return s.store.Settle(ctx, p.ID)
	}
	_, _, err = s.store.Post(ctx, w)
	return err
}

func (s *Service) tierRule(now time.Time) TierRule {
	return TierRule{Since: s.p.WindowStart(now), At: now, Of: func(q int64) string { return s.p.TierFor(q).Name }}
}

// recomputeBatch is how many members one round of the tier recompute reads.
const recomputeBatch = 10_000

// RecomputeTiers moves every member to the tier their qualifying points within the window
// ending now reach, as the window moves past old orders, and records each move. It reads
// members in batches by id and writes only the moves, and says how many members moved.
func (s *Service) RecomputeTiers(ctx context.Context) (int, error) {
	ctx = authz.WithActor(ctx, authz.Actor{ID: "loyalty", Name: "loyalty programme", Role: authz.System.Role})
	now := s.now()
	since := s.p.WindowStart(now)
	moved := 0
	after := ""
	for {
		st, err := s.store.Qualifying(ctx, since, after, recomputeBatch)
		if err != nil {
			return moved, err
		}
		var moves []Move
		for _, m := range st {
			if to := s.p.TierFor(m.Qualifying).Name; to != m.Tier {
				moves = append(moves, Move{CustomerID: m.CustomerID, From: m.Tier, To: to, Qualifying: m.Qualifying})
			}
		}
		if len(moves) > 0 {
			entries := make([]audit.Entry, len(moves))
			for i, m := range moves {
				entries[i] = tierAudit(ctx, m, s.p.Purpose)
			}
			if err := s.store.MoveTiers(ctx, moves, now, entries); err != nil {
				return moved, err
			}
			moved += len(moves)
		}
		if len(st) < recomputeBatch {
			return moved, nil
		}
		after = st[len(st)-1].CustomerID
		if ctx.Err() != nil {
			return moved, ctx.Err()
		}
	}
}

// Expire writes off the points whose expiry has passed, oldest first, for every member
// holding some, and says how many members lost points.
func (s *Service) Expire(ctx context.Context) (int, error) {
	ctx = authz.WithActor(ctx, authz.Actor{ID: "loyalty", Name: "loyalty programme", Role: authz.System.Role})
	now := s.now()
	n := 0
	for {
		ids, err := s.store.ExpiryDue(ctx, now, 1000)
		if err != nil || len(ids) == 0 {
			return n, err
		}
		for _, id := range ids {
			all, err := s.store.Ledger(ctx, id)
			if err != nil {
				return n, err
			}
			if Expired(Lots(all), now) > 0 {
				// Decided again on the ledger read under the lock: a merge may have moved lots
				// in or out since, and the expiry takes what is due now.
				_, _, err := s.store.Post(ctx, Write{CustomerID: id, Dedup: "expire:" + id + ":" + strconv.FormatInt(now.UnixMicro(), 10), Ledger: true,
					Decide: func(st State) (Posting, error) {
						due := Expired(Lots(st.Ledger), now)
						return Posting{Kind: KindExpire, Cause: CauseExpiry, Ref: now.UTC().Format(time.RFC3339), Points: -min(due, st.Balance), At: now}, nil
					}, Audit: s.postAudit(ctx)})
				var m *MergedError
				if errors.As(err, &m) {
					continue // its points moved; the expiry of the account they moved to takes them
				}
				if err != nil {
					return n, err
				}
				n++
			}
			if err := s.store.MarkExpired(ctx, id, now); err != nil {
				return n, err
			}
		}
	}
}

// Birthdays credits the birthday bonus to members whose birthday is today and who have not
// had it this year. Their birth date is read through the customer service for the
// programme's purpose (which Parse checked the catalog allows), so each read is audited and
// a customer whose choices forbid the purpose is skipped.
func (s *Service) Birthdays(ctx context.Context) (int, error) {
	if s.p.Earning.BirthdayBonus <= 0 {
		return 0, nil
	}
	ctx = authz.WithActor(ctx, authz.Actor{ID: "loyalty", Name: "loyalty programme", Role: authz.System.Role})
	now := s.now().UTC()
	n := 0
	after := ""
	for {
		ids, err := s.store.BirthdayCandidates(ctx, now.Year(), after, 1000)
		if err != nil || len(ids) == 0 {
			return n, err
		}
		after = ids[len(ids)-1]
		for _, id := range ids {
			// The account of a customer merged into another is the other's now, which has a
			// birthday of its own.
			if root, _, err := s.store.Tree(ctx, id); err != nil || root != id {
				if err != nil && !problem.Is(err, problem.NotFound) {
					return n, err
				}
				continue
			}
			v, err := s.cust.Get(ctx, id, s.p.Purpose)
			if problem.Is(err, problem.Forbidden) || problem.Is(err, problem.NotFound) || problem.Is(err, problem.Gone) {
				continue
			}
			if err != nil {
				return n, err
			}
			bd, _ := v.Fields["birth_date"].(string)
			d, err := time.Parse("2006-01-02", bd)
			if err != nil || d.Month() != now.Month() || d.Day() != now.Day() {
				continue
			}
			year := strconv.Itoa(now.Year())
			if _, err := s.credit(ctx, id, "birthday:"+id+":"+year, 0, Posting{Kind: KindEarn, Cause: CauseBirthday, Ref: year,
				Points: s.p.Earning.BirthdayBonus}); err != nil {
				return n, err
			}
			n++
		}
	}
}

// CarryMerged moves the points that accounts of customers merged into others still hold to
// the account of the customer each was merged into, and says how many accounts it emptied.
// A merge moves them in its own transaction; this is for accounts merged before points
// followed merges, and runs with the hourly jobs.
func (s *Service) CarryMerged(ctx context.Context) (int, error) {
	ctx = authz.WithActor(ctx, authz.Actor{ID: "loyalty", Name: "loyalty programme", Role: authz.System.Role})
	return s.store.CarryMerged(ctx, 1000)
}

// tierAudit is the entry of a tier move.
func tierAudit(ctx context.Context, m Move, purpose string) audit.Entry {
	e := audit.New(ctx, ActionTierMoved, m.CustomerID, nil, purpose)
	e.Target = "tier:" + m.From + "->" + m.To
	return e
}
