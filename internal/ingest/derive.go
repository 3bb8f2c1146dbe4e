package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
)

// Derived figures. The catalog declares profile fields that sum up what a customer did —
// orders, spending, returns, reviews, complaints, social interactions — so that support sees
// them at a glance and segments can select on them. They are facts about stored events, not
// something a client sends: every transaction that stores an event bearing on them recomputes
// them for the customer (over their whole merge tree) from what is stored, in the same
// transaction, and Derive recomputes them all (steward derive). Recomputing rather than adding
// up changes makes them right whatever order events arrive in, however often an order is
// updated, and after merges and their undoing; it also makes Derive idempotent.

// The derived fields. A catalog that does not declare one simply does not get it.
const (
	FieldOrderCount       = "order_count"
	FieldLifetimeValue    = "lifetime_value"
	FieldFirstOrderAt     = "first_order_at"
	FieldLastOrderAt      = "last_order_at"
	FieldReturnCount      = "return_count"
	FieldLastReviewRating = "last_review_rating"
	FieldComplaintCount   = "complaint_count"
	FieldSocialCount      = "social_interaction_count"
)

// FigureFields lists the derived fields.
var FigureFields = []string{FieldOrderCount, FieldLifetimeValue, FieldFirstOrderAt, FieldLastOrderAt, FieldReturnCount,
	FieldLastReviewRating, FieldComplaintCount, FieldSocialCount}

// Events that are counted rather than turned into records: complaints to support, and
// interactions with the business's social media accounts.
const (
	EventComplaintFiled    = "Complaint Filed"
	EventSocialInteraction = "Social Interaction"
	EventProductShared     = "Product Shared"
)

// ComplaintEvents and SocialEvents are the event names the two counts count.
var (
	ComplaintEvents = []string{EventComplaintFiled}
	SocialEvents    = []string{EventSocialInteraction, EventProductShared}
)

// SocialWindow is how far back social_interaction_count counts: a year, as the catalog says.
const SocialWindow = 365 * 24 * time.Hour

// ActionDerive is the audit action of a run of Derive, with its counts.
const ActionDerive = "figures.derive"

// Activity is what a customer tree's figures are computed from: its orders with their
// refunds, its newest review and its counted events. Amounts are as stored.
type Activity struct {
	Orders     []ActivityOrder
	Refunds    []ActivityRefund
	LastReview *ActivityReview
	Complaints int64
	Social     int64
}

// ActivityOrder is one stored order.
type ActivityOrder struct {
	OrderID  string
	Status   string
	Currency string
	Total    float64
	PlacedAt time.Time
}

// ActivityRefund is one refund or return of an order.
type ActivityRefund struct {
	OrderID string
	Kind    string // refund or return
	Amount  float64
}

// ActivityReview is the customer's newest review.
type ActivityReview struct {
	Rating int64
	At     time.Time
}

// ActivityParts names the groups of derived figures, each computed from its own part of a
// customer's activity. A transaction recomputes only the groups its events bear on: an order
// needs the orders and refunds read, not a count over every event the customer ever had.
type ActivityParts uint8

// The groups of figures.
const (
	// PartOrders: order_count, lifetime_value, first_order_at, last_order_at and
	// return_count, from the orders and their refunds.
	PartOrders ActivityParts = 1 << iota
	// PartReview: last_review_rating, from the newest review.
	PartReview
	// PartComplaints: complaint_count, from the complaint events.
	PartComplaints
	// PartSocial: social_interaction_count, from the social events of the last year.
	PartSocial
	// AllParts is every group: merges, their undoing and Derive recompute them all.
	AllParts = PartOrders | PartReview | PartComplaints | PartSocial
)

// fieldPart is the group each derived field belongs to.
var fieldPart = map[string]ActivityParts{
	FieldOrderCount: PartOrders, FieldLifetimeValue: PartOrders, FieldFirstOrderAt: PartOrders, FieldLastOrderAt: PartOrders,
	FieldReturnCount: PartOrders, FieldLastReviewRating: PartReview, FieldComplaintCount: PartComplaints, FieldSocialCount: PartSocial,
}

// figureParts is the groups of figures storing m can change for its customer; zero for none.
func figureParts(m *Message) ActivityParts {
	if m.Type != TypeTrack {
		return 0
	}
	switch m.Name {
	case "Order Completed", "Order Updated", "Order Refunded", "Order Cancelled":
		return PartOrders
	case "Product Reviewed":
		return PartReview
	}
	var p ActivityParts
	if slices.Contains(ComplaintEvents, m.Name) {
		p |= PartComplaints
	}
	if slices.Contains(SocialEvents, m.Name) {
		p |= PartSocial
	}
	return p
}

// counted reports whether an order counts as placed: not cancelled, and not a row that only
// a refund of an order never reported created (no total, never completed).
func (o *ActivityOrder) counted() bool {
	switch o.Status {
	case "cancelled":
		return false
	case "completed", "updated":
		return true
	}
	return o.Total != 0
}

// Figures computes the derived fields from a tree's activity: field → value in the form a
// client would send it (json.Number, RFC 3339 text), or nil for a field the customer has no
// figure for (no orders, no reviews, nothing counted), which is then left off the profile.
//
// lifetime_value is the total of the orders placed less what was refunded of them, in the
// currency most of the orders were placed in (ties go to the latest order's): amounts in
// other currencies cannot be added without rates, and are left out. Each amount is rounded to
// the currency's minor unit and summed as an integer, so no float error accumulates.
func Figures(a Activity) map[string]any {
	out := map[string]any{}
	for _, f := range FigureFields {
		out[f] = nil
	}
	var placed []*ActivityOrder
	byID := map[string]*ActivityOrder{}
	for i := range a.Orders {
		o := &a.Orders[i]
		if o.counted() {
			placed = append(placed, o)
			byID[o.OrderID] = o
		}
	}
	if len(placed) > 0 {
		sort.Slice(placed, func(i, j int) bool {
			if !placed[i].PlacedAt.Equal(placed[j].PlacedAt) {
				return placed[i].PlacedAt.Before(placed[j].PlacedAt)
			}
			return placed[i].OrderID < placed[j].OrderID
		})
		out[FieldOrderCount] = json.Number(strconv.Itoa(len(placed)))
		out[FieldFirstOrderAt] = placed[0].PlacedAt.UTC().Format(time.RFC3339Nano)
		out[FieldLastOrderAt] = placed[len(placed)-1].PlacedAt.UTC().Format(time.RFC3339Nano)
		cur := mainCurrency(placed)
		exp := minorExponent(cur)
		var total int64
		for _, o := range placed {
			if sameCurrency(o.Currency, cur) {
				total += minorUnits(o.Total, exp)
			}
		}
		for _, r := range a.Refunds {
			if o := byID[r.OrderID]; o != nil && sameCurrency(o.Currency, cur) {
				total -= minorUnits(r.Amount, exp)
			}
		}
		out[FieldLifetimeValue] = json.Number(formatMinor(total, exp))
	}
	var returns int64
	for _, r := range a.Refunds {
		if r.Kind == "return" {
			returns++
		}
	}
	if returns > 0 {
		out[FieldReturnCount] = json.Number(strconv.FormatInt(returns, 10))
	}
	if a.LastReview != nil {
		out[FieldLastReviewRating] = json.Number(strconv.FormatInt(a.LastReview.Rating, 10))
	}
	if a.Complaints > 0 {
		out[FieldComplaintCount] = json.Number(strconv.FormatInt(a.Complaints, 10))
	}
	if a.Social > 0 {
		out[FieldSocialCount] = json.Number(strconv.FormatInt(a.Social, 10))
	}
	return out
}

// mainCurrency is the currency most of the orders (sorted oldest first) name; ties go to the
// latest order's. Orders that name none count with any.
func mainCurrency(placed []*ActivityOrder) string {
	n := map[string]int{}
	best := ""
	for _, o := range placed {
		if o.Currency == "" {
			continue
		}
		n[o.Currency]++
		if n[o.Currency] >= n[best] || best == "" {
			best = o.Currency
		}
	}
	return best
}

func sameCurrency(c, main string) bool { return c == "" || main == "" || c == main }

// minorExponent is the number of decimals of a currency's minor unit (ISO 4217): two for
// most, none for the yen and its kind, three for the dinars of Bahrain, Iraq, Jordan, Kuwait,
// Libya and Tunisia and the Omani rial.
func minorExponent(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}

// minorUnits converts an amount as stored to whole minor units, rounding half away from zero
// through its shortest decimal form (so 0.1 is exactly 10 cents, not 9.999…). The decimal
// digits are shifted as text: the exact rational arithmetic this replaces cost more than the
// rest of a figure's computation.
func minorUnits(amount float64, exp int) int64 {
	if math.IsNaN(amount) || math.IsInf(amount, 0) {
		return 0
	}
	text := strconv.FormatFloat(amount, 'f', -1, 64)
	neg := strings.HasPrefix(text, "-")
	text = strings.TrimPrefix(text, "-")
	whole, frac, _ := strings.Cut(text, ".")
	for len(frac) <= exp {
		frac += "0"
	}
	// The digits kept, and the first one dropped, which decides the rounding: the shortest
	// form has no trailing zeros, so a 5 there is exactly a half or more.
	digits, next := strings.TrimLeft(whole+frac[:exp], "0"), frac[exp]
	if len(digits) > 18 {
		return 0
	}
	var v int64
	for _, c := range digits {
		v = v*10 + int64(c-'0')
	}
	if next >= '5' {
		v++
	}
	if neg {
		v = -v
	}
	return v
}

// formatMinor writes minor units as a decimal amount: 6025 with two decimals is "60.25".
func formatMinor(v int64, exp int) string {
	if exp == 0 {
		return strconv.FormatInt(v, 10)
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := strconv.FormatInt(v, 10)
	for len(s) <= exp {
		s = "0" + s
	}
	return sign + s[:len(s)-exp] + "." + s[len(s)-exp:]
}

// deriveFigures recomputes the figures of the customers whose events the transaction stored
// (or merged), once each, against the root they have by its end: only the groups of figures
// the transaction's events bear on (a merge, all of them). It runs after the transaction's
// events and orders are written, so the computation sees them, and before updateCustomers,
// which stores a stored customer's new figures with the rest of what the transaction changed
// on the profile: one seal and one write per customer, however many reasons it has to change.
func (st *txState) deriveFigures(ctx context.Context) error {
	if (len(st.figureRoots) == 0 && len(st.merges) == 0) || !st.s.declaresFigures() {
		return nil
	}
	ids := make([]string, 0, len(st.figureRoots)+len(st.merges))
	for _, f := range st.figureRoots {
		ids = append(ids, st.rootOf(f.id))
	}
	for _, m := range st.merges {
		ids = append(ids, st.rootOf(m.Winner))
	}
	// The links the transaction wrote are stored by now: the engine follows them. Every
	// read below is one for the whole batch, not one per customer.
	roots, err := st.tx.Roots(ctx, ids)
	if err != nil {
		return err
	}
	want := map[string]ActivityParts{}
	var order []string
	for i, id := range ids {
		parts := AllParts
		if i < len(st.figureRoots) {
			parts = st.figureRoots[i].parts
		}
		root := roots[id]
		if _, seen := want[root]; !seen {
			order = append(order, root)
		}
		want[root] |= parts
	}
	sort.Strings(order)
	// The profiles first: loading one locks the customer (where the engine locks rows), so
	// what a concurrent transaction committed for them is read below, not overwritten.
	for _, root := range order {
		if _, err := st.profile(ctx, root); err != nil {
			return err
		}
	}
	trees, err := st.tx.Trees(ctx, order)
	if err != nil {
		return err
	}
	parts := make([]ActivityParts, len(order))
	for i, root := range order {
		parts[i] = want[root]
	}
	acts, err := st.tx.Activities(ctx, trees, parts, ComplaintEvents, SocialEvents, st.now.Add(-SocialWindow))
	if err != nil {
		return err
	}
	for i, root := range order {
		if _, err := st.setFigures(st.profileCtx(ctx, st.profiles[root]), root, parts[i], acts[i], false); err != nil {
			return err
		}
	}
	return nil
}

// figureRoot is a customer whose figures the transaction's events change, and which groups.
type figureRoot struct {
	id    string
	parts ActivityParts
}

// refigure computes one root's figures of the groups in parts over its tree and reports
// whether they changed. A customer the transaction created, or any customer when storeNow is set
// (Derive, Refigure: no other change follows), is stored at once with its audit entry; any
// other's new figures join the profile's other changes, stored by updateCustomers.
func (st *txState) refigure(ctx context.Context, root string, parts ActivityParts, storeNow bool) (bool, error) {
	// The profile first: loading it locks the customer (where the engine locks rows), so what
	// a concurrent transaction committed for them is read below, not overwritten.
	if _, err := st.profile(ctx, root); err != nil {
		return false, err
	}
	tree, err := st.tx.Tree(ctx, root)
	if err != nil {
		return false, err
	}
	act, err := st.tx.Activity(ctx, tree, parts, ComplaintEvents, SocialEvents, st.now.Add(-SocialWindow))
	if err != nil {
		return false, err
	}
	return st.setFigures(ctx, root, parts, act, storeNow)
}

// setFigures computes root's figures of the groups in parts from act, its tree's activity,
// and reports whether they changed (see refigure for when they are stored). Its profile is
// loaded already.
func (st *txState) setFigures(ctx context.Context, root string, parts ActivityParts, act Activity, storeNow bool) (bool, error) {
	pr, err := st.profile(ctx, root)
	if err != nil {
		return false, err
	}
	var changed []string
	next := pr.values
	for field, raw := range Figures(act) {
		if fieldPart[field]&parts == 0 {
			continue
		}
		if _, declared := st.s.catalog.Field(field); !declared {
			continue
		}
		old, had := pr.values[field]
		var v any
		if raw != nil {
			if v, _, err = st.s.norm.Value(field, raw); err != nil {
				return false, fmt.Errorf("derive %s: %w", field, err)
			}
		}
		if raw == nil && !had || raw != nil && had && sameJSON(old, v) {
			continue
		}
		if len(changed) == 0 {
			next = make(map[string]any, len(pr.values)+len(FigureFields))
			for k, x := range pr.values {
				next[k] = x
			}
		}
		if raw == nil {
			delete(next, field)
		} else {
			next[field] = v
		}
		changed = append(changed, field)
	}
	if len(changed) == 0 {
		return false, nil
	}
	sort.Strings(changed)
	if !storeNow && !pr.isNew {
		pr.values, pr.shared, pr.sealed = next, false, false
		for _, f := range changed {
			if !contains(pr.dirty, f) {
				pr.dirty = append(pr.dirty, f)
			}
		}
		return true, nil
	}
	prev := pr.rec.Version
	if err := st.s.vault.ResealChanged(pr.rec, pr.dk, next, changed); err != nil {
		return false, err
	}
	if err := st.tx.UpdateCustomer(ctx, pr.rec, prev); err != nil {
		return false, err
	}
	pr.values, pr.shared, pr.sealed, pr.prev = next, false, true, pr.rec.Version
	st.entries = append(st.entries, audit.New(ctx, audit.ActionCustomerUpdate, root, changed, ""))
	return true, nil
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// declaresFigures reports whether the catalog declares any derived field.
func (s *Service) declaresFigures() bool {
	for _, f := range FigureFields {
		if _, ok := s.catalog.Field(f); ok {
			return true
		}
	}
	return false
}

// Refigure recomputes the derived figures of the given customers' roots from what is stored,
// in one transaction, for changes that are not events: a merge of duplicates and the undoing
// of a merge, after which each side's figures cover its own tree again. Unknown customers are
// skipped. It checks no permission: its callers are services that checked the one the change
// needed, and it only brings figures in line with what is stored.
func (s *Service) Refigure(ctx context.Context, ids ...string) error {
	if !s.declaresFigures() || len(ids) == 0 {
		return nil
	}
	_, err := s.deriveTx(ctx, ids, false)
	return err
}

// deriveBatch bounds the customers recomputed in one transaction of Derive.
const deriveBatch = 200

// DeriveResult says what a run of Derive did.
type DeriveResult struct {
	Customers int `json:"customers"`
	Changed   int `json:"changed"`
}

// Derive recomputes every customer's derived figures from the stored orders, refunds, reviews
// and events, a batch of customers per transaction, and stores the profiles whose figures
// differ, each change audited, with one figures.derive entry per batch. Running it again
// changes nothing. Merged-away customers are covered by their roots. Needs customers.write.
func (s *Service) Derive(ctx context.Context) (DeriveResult, error) {
	var res DeriveResult
	if _, err := authz.Require(ctx, s.catalog, "customers.write"); err != nil {
		return res, err
	}
	if !s.declaresFigures() {
		return res, nil
	}
	after := ""
	for {
		ids, err := s.store.RootCustomers(ctx, after, deriveBatch)
		if err != nil {
			return res, err
		}
		if len(ids) == 0 {
			return res, nil
		}
		n, err := s.deriveTx(ctx, ids, true)
		if err != nil {
			return res, err
		}
		res.Customers += len(ids)
		res.Changed += n
		after = ids[len(ids)-1]
		if len(ids) < deriveBatch {
			return res, nil
		}
	}
}

// deriveTx recomputes the roots of ids in one transaction and returns how many profiles
// changed; summary adds the figures.derive entry with the counts.
func (s *Service) deriveTx(ctx context.Context, ids []string, summary bool) (int, error) {
	var changed int
	err := s.store.IngestTx(ctx, func(ctx context.Context, tx Tx) error {
		changed = 0
		st := &txState{s: s, tx: tx, b: &Batch{KeyID: "system"}, holders: map[string]*Holder{}, counts: map[string]map[string]int{},
			keys: map[string]*vault.DataKey{}, profiles: map[string]*profile{}, roots: map[string]string{}, now: s.now()}
		seen := map[string]bool{}
		for _, id := range ids {
			root, err := tx.Root(ctx, id)
			if err != nil {
				if problem.Is(err, problem.NotFound) {
					continue
				}
				return err
			}
			if seen[root] {
				continue
			}
			seen[root] = true
			did, err := st.refigure(ctx, root, AllParts, true)
			if err != nil {
				return err
			}
			if did {
				changed++
			}
		}
		entries := st.entries
		if summary {
			e := audit.New(ctx, ActionDerive, "", nil, "")
			e.Target = fmt.Sprintf("customers:%d changed:%d", len(ids), changed)
			entries = append(entries, e)
		}
		if len(entries) == 0 {
			return nil
		}
		return tx.AppendAudit(ctx, entries)
	})
	return changed, err
}
