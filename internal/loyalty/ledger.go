package loyalty

import (
	"math"
	"slices"
	"time"
)

// Entry kinds: what an entry does to the balance.
const (
	KindEarn    = "earn"    // points credited for an order, an event or a rule
	KindRedeem  = "redeem"  // points spent
	KindExpire  = "expire"  // points that lapsed, oldest first
	KindAdjust  = "adjust"  // points a staff member added or removed, with a reason
	KindReverse = "reverse" // points taken back because the order that earned them was refunded or cancelled
	// KindTransfer moves lots between the accounts of two customers merged into one (or
	// parted again): out of one account, into the other, with their expiry and qualifying
	// points.
	KindTransfer = "transfer"
)

// Causes: what an entry happened because of. Together with Ref they name it exactly: the
// order, refund, event, staff member or rule.
const (
	CauseOrder        = "order"
	CauseRefund       = "refund"
	CauseCancellation = "cancellation"
	CauseEvent        = "event"
	CauseBirthday     = "birthday"
	CauseExpiry       = "expiry"
	CausePerson       = "person"
	CauseRedemption   = "redemption"
	CauseOffer        = "offer"
	CauseMerge        = "merge"   // the customers were merged; Ref names the other account
	CauseUnmerge      = "unmerge" // the merge was undone; Ref names the other account
)

// Entry is one line of the ledger. Entries are never changed or removed except with the
// member's whole ledger when they are erased.
type Entry struct {
	ID         int64  `json:"id"`
	CustomerID string `json:"-"`
	Kind       string `json:"kind"`
	Points     int64  `json:"points"`
	Balance    int64  `json:"balance"` // the balance after this entry
	Cause      string `json:"cause"`
	Ref        string `json:"ref,omitempty"`      // the order, refund, event or idempotency key
	OrderID    string `json:"order_id,omitempty"` // the order the entry concerns, if any
	Reason     string `json:"reason,omitempty"`   // an adjustment's reason
	Actor      string `json:"actor,omitempty"`    // who made a manual entry or redemption
	Qualifying bool   `json:"qualifying"`         // counts towards the tier
	// QualifyingPoints is what the entry counts towards the tier: its points when it
	// qualifies, except for a transfer, which carries the qualifying points of the lots it
	// moves whatever is left of them to spend.
	QualifyingPoints int64 `json:"qualifying_points,omitempty"`
	// Lot is the credit whose lot a transfer out takes (0: the oldest lots, as any debit).
	Lot       int64     `json:"lot,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	At        time.Time `json:"at"`
}

// Posting is an entry as the service asks for it; the store fills in the id and balance.
// Points are signed: credits positive, debits negative. Points 0 writes nothing.
type Posting struct {
	Kind, Cause, Ref, OrderID, Reason, Actor string
	Points                                   int64
	Qualifying                               bool
	ExpiresAt                                time.Time
	At                                       time.Time
	// QualifyingPoints and Lot are a transfer's (see Entry); other postings qualify with
	// their points and take the oldest lots.
	QualifyingPoints int64
	Lot              int64
}

// TierPoints is what the posting counts towards the tier.
func (p Posting) TierPoints() int64 {
	switch {
	case p.Kind == KindTransfer:
		return p.QualifyingPoints
	case p.Qualifying:
		return p.Points
	}
	return 0
}

// State is what a posting is decided on, read inside the transaction that writes it, with
// the member's account locked: two tills redeeming the same points are decided one after
// the other.
type State struct {
	Exists  bool
	Balance int64
	Tier    string
	// OrderEarned and OrderReversed are the points the posting's order earned and had taken
	// back so far (both at least 0).
	OrderEarned, OrderReversed int64
	// Ledger is the account's ledger when the write asked for it (Write.Ledger).
	Ledger []Entry
}

// Lot is what remains of one credit after the debits, which consume credits oldest first.
type Lot struct {
	ID         int64 // the credit entry
	At         time.Time
	ExpiresAt  time.Time
	Remaining  int64
	Qualifying bool
	// From is the account a transferred lot came from ("": earned on this account).
	From string
}

// Lots returns the remaining points of each credit in the order debits take them. The
// ledger is replayed in order: a credit joins the end of the queue, a debit takes from its
// front, so debits (redemptions, expiries, reversals, negative adjustments) consume the
// oldest credits first and the points that expire are the ones earned longest ago. Two
// kinds of entry differ, both written only by merges: a transfer in takes its place in the
// queue by its expiry (before the first lot that expires later, or never), since a lot from
// a merged-away account may be older than what the account held already; and a debit naming
// a lot (a transfer out) takes that lot. A ledger without transfers is spent exactly as it
// always was.
func Lots(entries []Entry) []Lot {
	var q []Lot
	head := 0
	for _, e := range entries {
		switch {
		case e.Points > 0:
			l := Lot{ID: e.ID, At: e.At, ExpiresAt: e.ExpiresAt, Remaining: e.Points, Qualifying: e.Qualifying}
			if e.Kind != KindTransfer {
				q = append(q, l)
				continue
			}
			l.From = e.Ref
			i := head
			for i < len(q) && !expiresLater(q[i].ExpiresAt, l.ExpiresAt) {
				i++
			}
			q = slices.Insert(q, i, l)
		case e.Points < 0:
			debit := -e.Points
			if e.Lot != 0 {
				for i := head; i < len(q); i++ {
					if q[i].ID == e.Lot {
						take := min(debit, q[i].Remaining)
						q[i].Remaining -= take
						debit -= take
						break
					}
				}
			}
			for debit > 0 && head < len(q) {
				take := min(debit, q[head].Remaining)
				q[head].Remaining -= take
				debit -= take
				if q[head].Remaining == 0 {
					head++
				}
			}
		}
	}
	var lots []Lot
	for _, l := range q[head:] {
		if l.Remaining > 0 {
			lots = append(lots, l)
		}
	}
	return lots
}

// expiresLater reports whether expiry a is later than b, the zero time (never) being the
// latest of all.
func expiresLater(a, b time.Time) bool {
	switch {
	case a.IsZero():
		return !b.IsZero()
	case b.IsZero():
		return false
	}
	return a.After(b)
}

// Expired is the points of lots whose expiry is at or before now.
func Expired(lots []Lot, now time.Time) int64 {
	var n int64
	for _, l := range lots {
		if !l.ExpiresAt.IsZero() && !l.ExpiresAt.After(now) {
			n += l.Remaining
		}
	}
	return n
}

// ExpiringBetween is the points of lots that expire after from and at or before to, with the
// earliest such expiry.
func ExpiringBetween(lots []Lot, from, to time.Time) (int64, time.Time) {
	var n int64
	var first time.Time
	for _, l := range lots {
		if !l.ExpiresAt.IsZero() && l.ExpiresAt.After(from) && !l.ExpiresAt.After(to) {
			n += l.Remaining
			if first.IsZero() || l.ExpiresAt.Before(first) {
				first = l.ExpiresAt
			}
		}
	}
	return n, first
}

// Order is what an order earns on.
type Order struct {
	ID       string
	Currency string
	Total    float64
	Tax      float64
	Shipping float64
	Refunded float64
	Items    []Item
	PlacedAt time.Time
	Status   string
}

// Item is one order line.
type Item struct {
	Category string  `json:"category,omitempty"`
	Price    float64 `json:"price"`
	Quantity int64   `json:"quantity"`
}

// OrderPoints are the points an order earns a member of tier: the rate of each line's
// category (or the base rate) on what was paid for goods, so a discount shrinks every line
// alike, times the tier's multiplier, rounded down. An order in another currency earns
// nothing.
func (p *Programme) OrderPoints(o Order, tier Level) int64 {
	if o.Currency != p.Currency {
		return 0
	}
	net := o.Total - o.Tax - o.Shipping
	if net <= 0 || math.IsNaN(net) || math.IsInf(net, 0) {
		return 0
	}
	raw := p.Earning.PointsPerUnit * net
	var weighted, sum float64
	for _, it := range o.Items {
		line := it.Price * float64(it.Quantity)
		if line <= 0 {
			continue
		}
		rate, ok := p.Earning.Categories[it.Category]
		if !ok {
			rate = p.Earning.PointsPerUnit
		}
		weighted += rate * line
		sum += line
	}
	if sum > 0 {
		raw = weighted * math.Min(1, net/sum)
	}
	m := tier.EarnMultiplier
	if m < 1 {
		m = 1
	}
	pts := math.Floor(raw*m + 1e-9)
	if pts > 1e12 {
		return 0
	}
	return int64(pts)
}

// RefundTarget is the points that should have been taken back from an order that earned
// earned points once refunded of its total has been refunded: the same share of the points
// as of the money, so that refunds adding up to the order take back exactly what it earned.
func RefundTarget(earned int64, total, refunded float64) int64 {
	if earned <= 0 || refunded <= 0 {
		return 0
	}
	if total <= 0 || refunded >= total {
		return earned
	}
	return min(earned, int64(math.Round(float64(earned)*refunded/total)))
}

// Value is what points are worth in the programme's currency, in minor units' precision.
func (p *Programme) Value(points int64) float64 {
	return math.Round(float64(points)/float64(p.Redemption.PointsPerUnit)*100) / 100
}

// ExpiryOf is when points credited at are due to lapse; zero when points never expire.
func (p *Programme) ExpiryOf(at time.Time) time.Time {
	if p.Expiry.Months == 0 {
		return time.Time{}
	}
	return at.AddDate(0, p.Expiry.Months, 0)
}

// WindowStart is the start of the qualification window that ends at now.
func (p *Programme) WindowStart(now time.Time) time.Time {
	return now.AddDate(0, -p.Tiers.WindowMonths, 0)
}
