package loyalty

import (
	"slices"
	"time"
)

// Transfer is what moves between the accounts of two customers when one is merged into the
// other, or when that merge is undone. The store that merges them carries it out in the
// merge's own transaction, with both accounts locked, so a redemption on either account is
// decided before the points move or after, never on points that already moved.
type Transfer struct {
	From, To string
	// Cause is CauseMerge or CauseUnmerge; Ref names the merge, which keys the entries, so a
	// transfer is written once.
	Cause, Ref string
	// Only, when set, moves only the lots and qualifying points that came from that account
	// (undoing a merge gives back what is left of what the merge brought); otherwise
	// everything moves.
	Only string
}

// Plan is the postings of t given From's ledger, oldest first: out of From and into To, in
// the same order. Each remaining lot moves as a pair, the lot named on the way out and its
// earn date, expiry and qualifying flag kept on the way in, so the points still expire when
// they were due to and in turn among To's lots (see Lots). The qualifying points move by
// the date they were earned: with the lot of that date where one is left, and as a pair of
// entries of no points otherwise (points spent or taken back still counted towards the tier
// when they were earned). Planned again on the ledger it produced, it plans nothing: that is
// what makes a second run of the same merge a no-op.
func Plan(ledger []Entry, t Transfer) (out, in []Posting) {
	qualifying := map[int64]int64{} // by earn date, in microseconds
	for _, e := range ledger {
		mine := e.Qualifying
		if t.Only != "" {
			mine = e.Kind == KindTransfer && e.Ref == t.Only
		}
		if mine && e.QualifyingPoints != 0 {
			qualifying[e.At.UnixMicro()] += e.QualifyingPoints
		}
	}
	pair := func(points, q int64, lot Lot) {
		out = append(out, Posting{Kind: KindTransfer, Cause: t.Cause, Ref: t.To, Points: -points, Lot: lot.ID,
			Qualifying: lot.Qualifying || q != 0, QualifyingPoints: -q, At: lot.At})
		in = append(in, Posting{Kind: KindTransfer, Cause: t.Cause, Ref: t.From, Points: points,
			Qualifying: lot.Qualifying || q != 0, QualifyingPoints: q, At: lot.At, ExpiresAt: lot.ExpiresAt})
	}
	for _, l := range Lots(ledger) {
		if t.Only != "" && l.From != t.Only {
			continue
		}
		d := l.At.UnixMicro()
		q := qualifying[d]
		delete(qualifying, d)
		pair(l.Remaining, q, l)
	}
	dates := make([]int64, 0, len(qualifying))
	for d, q := range qualifying {
		if q != 0 {
			dates = append(dates, d)
		}
	}
	slices.Sort(dates)
	for _, d := range dates {
		pair(0, qualifying[d], Lot{At: time.UnixMicro(d).UTC()})
	}
	return out, in
}

// TransferRules are what a store that merges customers needs of the programme to move
// points with the merge: the tier an account opens in, the tier rule now, and the purpose
// the audit entries name.
type TransferRules struct {
	OpenTier string
	Purpose  string
	Tiers    func() TierRule
}

// TransferRules are the programme's, for the store.
func (s *Service) TransferRules() TransferRules {
	return TransferRules{OpenTier: s.p.Tiers.Levels[0].Name, Purpose: s.p.Purpose, Tiers: func() TierRule { return s.tierRule(s.now()) }}
}

// MergedError is the store's answer to a posting for a customer merged into another since
// the caller resolved them: the account's points have moved to Into's tree, and so must the
// posting.
type MergedError struct{ Into string }

func (e *MergedError) Error() string { return "loyalty: the customer was merged into another customer" }
