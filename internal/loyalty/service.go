package loyalty

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
)

// Audit actions written by the programme.
const (
	ActionRead      = "loyalty.read"
	ActionEnrol     = "loyalty.enrol"
	ActionPost      = "loyalty." // + the entry's kind
	ActionTierMoved = "loyalty.tier"
	ActionFind      = "loyalty.find"
)

// MemberNumberField is the catalog field that holds a member's number, encrypted and
// blind-indexed like any other exact look-up.
const MemberNumberField = "loyalty_member_number"

// Account is a member's standing.
type Account struct {
	CustomerID string    `json:"customer_id"`
	Balance    int64     `json:"balance"`
	Tier       string    `json:"tier"`
	TierSince  time.Time `json:"tier_since"`
	JoinedAt   time.Time `json:"joined_at"`
}

// TierChange is one move between tiers.
type TierChange struct {
	From       string    `json:"from"`
	To         string    `json:"to"`
	Qualifying int64     `json:"qualifying"`
	At         time.Time `json:"at"`
}

// TierRule is how the store recomputes a member's tier after a qualifying entry: the points
// of qualifying entries since Since, mapped by Of, at time At.
type TierRule struct {
	Since time.Time
	At    time.Time
	Of    func(qualifying int64) string
}

// Write is one posting as the store carries it out, in one transaction with the member's
// account locked.
type Write struct {
	CustomerID string
	// Dedup is the entry's unique key: a second write with it returns the first's entry and
	// writes nothing (idempotent retries, a redemption sent twice).
	Dedup string
	// Replays are keys the same posting may have been written under before a merge (the
	// same idempotency key on another account of the merge tree): found, they answer as
	// Dedup would.
	Replays []string
	// Ledger asks for the account's ledger in State, read under the lock.
	Ledger bool
	// OrderID names the order whose earned and reversed points State reports.
	OrderID string
	// PendingID is the pending work the write settles, removed in the same transaction.
	PendingID int64
	Decide    func(State) (Posting, error)
	Tiers     TierRule
	Audit     func(Entry) []audit.Entry
}

// Pending is commerce the ledger has not settled yet: the database records it in the
// transaction that stores the order, refund or review, whichever way it arrived (REST,
// tracking, till, a connected platform), so no order is missed and none earns twice.
type Pending struct {
	ID         int64
	Kind       string // order, refund, cancel, review
	CustomerID string
	Order      Order // for order, refund and cancel
	RefundID   int64
	ReviewID   int64
}

// Pending kinds.
const (
	PendingOrder  = "order"
	PendingRefund = "refund"
	PendingCancel = "cancel"
	PendingReview = "review"
)

// Store is what the programme keeps its ledger in. Methods return NotFound for a customer
// who is not a member where they say so, and never reveal other customers' rows.
type Store interface {
	// Post carries out w and returns the entry written, or the earlier entry with w.Dedup
	// (replay true). A Decide error rolls everything back and is returned as it is. A
	// customer merged into another since the caller resolved them gets *MergedError and
	// nothing written: their points have moved.
	Post(ctx context.Context, w Write) (e Entry, replay bool, err error)
	// Settle removes pending work that needs no entry.
	Settle(ctx context.Context, pendingID int64) error
	// OpenAccount makes the customer a member in tier, reporting whether they were not one.
	OpenAccount(ctx context.Context, customerID, tier string, at time.Time, entries []audit.Entry) (bool, error)
	// Account returns the member's account; NotFound when the customer is not a member.
	Account(ctx context.Context, customerID string) (Account, error)
	// Entries returns up to limit entries with ids below before (0: the newest), newest
	// first. Ledger returns every entry, oldest first, with only what balances, lots and
	// tiers are computed from (points, qualifying, expiry, time), so that a member with
	// thousands of entries is read quickly.
	Entries(ctx context.Context, customerID string, before int64, limit int) ([]Entry, error)
	Ledger(ctx context.Context, customerID string) ([]Entry, error)
	TierChanges(ctx context.Context, customerID string) ([]TierChange, error)
	// PendingWork returns up to limit pending items, oldest first, of the given customers
	// (all customers when none are given).
	PendingWork(ctx context.Context, customerIDs []string, limit int) ([]Pending, error)
	// Qualifying sums the qualifying points of every member after after (by id, up to
	// limit members) since since, with their tier.
	Qualifying(ctx context.Context, since time.Time, after string, limit int) ([]Standing, error)
	// MoveTiers sets the members' tiers and records the changes, with their audit entries.
	MoveTiers(ctx context.Context, moves []Move, at time.Time, entries []audit.Entry) error
	// ExpiryDue lists members with a positive balance holding credits that expired after
	// the last expiry run for them and at or before now.
	ExpiryDue(ctx context.Context, now time.Time, limit int) ([]string, error)
	// MarkExpired records that the member's expiries were applied up to through.
	MarkExpired(ctx context.Context, customerID string, through time.Time) error
	// BirthdayCandidates lists members after after (by id) whose last birthday bonus was before year.
	BirthdayCandidates(ctx context.Context, year int, after string, limit int) ([]string, error)
	// Tree returns the customer a merged customer was merged into (itself otherwise) and
	// every customer merged into that one, itself included.
	Tree(ctx context.Context, customerID string) (root string, tree []string, err error)
	// CarryMerged transfers (see Transfer) what up to limit accounts of customers merged
	// into others still hold to the customer each was merged into, and says how many.
	CarryMerged(ctx context.Context, limit int) (int, error)
}

// Standing is a member's tier and qualifying points.
type Standing struct {
	CustomerID string
	Tier       string
	Qualifying int64
}

// Move is a tier change the recompute decided.
type Move struct {
	CustomerID, From, To string
	Qualifying           int64
}

// Customers is the audited customer service, for member numbers and birth dates.
type Customers interface {
	Find(ctx context.Context, field string, raw any, purpose string, limit int) ([]customer.View, error)
	Get(ctx context.Context, id, purpose string) (customer.View, error)
	Fill(ctx context.Context, id string, fields map[string]any) (customer.View, error)
}

// Permissions is the permission decision (consent.Service): a restricted customer's points
// are not used.
type Permissions interface {
	Permit(ctx context.Context, customerID, purpose string) error
}

// Auditor appends audit entries on their own (reads).
type Auditor interface {
	AppendAudit(ctx context.Context, entries ...audit.Entry) error
}

// Deps is what the service is built from; Clock may be nil.
type Deps struct {
	Programme   *Programme
	Catalog     *catalog.Catalog
	Store       Store
	Customers   Customers
	Permissions Permissions
	// Audit takes the entries of reads; writes append theirs in their own transaction.
	Audit Auditor
	Clock clock.Clock
}

// Service runs the programme.
type Service struct {
	p     *Programme
	cat   *catalog.Catalog
	store Store
	cust  Customers
	perm  Permissions
	audit Auditor
	now   clock.Clock
}

// New builds the service.
func New(d Deps) (*Service, error) {
	if d.Programme == nil || d.Catalog == nil || d.Store == nil || d.Customers == nil || d.Permissions == nil || d.Audit == nil {
		return nil, errors.New("loyalty: programme, catalog, store, customers, permissions and audit are required")
	}
	return &Service{p: d.Programme, cat: d.Catalog, store: d.Store, cust: d.Customers, perm: d.Permissions, audit: d.Audit,
		now: clock.Or(d.Clock)}, nil
}

// Programme is the programme in force.
func (s *Service) Programme() *Programme { return s.p }

// allowed checks that the actor may act on members for the programme's purpose: it holds
// permission and its role may act for the purpose.
func (s *Service) allowed(ctx context.Context, permission string) (authz.Actor, error) {
	a, err := authz.Require(ctx, s.cat, permission)
	if err != nil {
		return a, err
	}
	if !s.cat.RoleMayActFor(a.Role, s.p.Purpose) {
		return a, problem.Forbiddenf("role %q may not act for purpose %q, which the loyalty programme serves", a.Role, s.p.Purpose)
	}
	return a, nil
}

// member resolves id to the customer whose account it is (the winner of a merge) after the
// permission decision, and settles what is pending for it, so the answer includes the order
// the till recorded a moment ago.
func (s *Service) member(ctx context.Context, id string) (string, error) {
	root, _, err := s.memberTree(ctx, id)
	return root, err
}

// memberTree is member with the customers of the merge tree.
func (s *Service) memberTree(ctx context.Context, id string) (string, []string, error) {
	if !ident.Valid(id) {
		return "", nil, problem.InvalidField("id", "is not a valid customer id")
	}
	root, tree, err := s.store.Tree(ctx, id)
	if err != nil {
		return "", nil, err
	}
	if err := s.perm.Permit(ctx, root, s.p.Purpose); err != nil {
		return "", nil, err
	}
	return root, tree, s.settle(ctx, tree)
}

// post carries out the write build makes for the account of root. A merge committed since
// root was resolved moved that account's points to another, and the store refuses the
// posting (MergedError): it is built again for the root of the tree they moved to, so that
// a redemption is decided on the points where they are now.
func (s *Service) post(ctx context.Context, root string, tree []string, build func(root string, tree []string) Write) (Entry, bool, error) {
	for attempt := 0; ; attempt++ {
		e, replay, err := s.store.Post(ctx, build(root, tree))
		var m *MergedError
		if !errors.As(err, &m) || attempt == 3 {
			return e, replay, err
		}
		if root, tree, err = s.store.Tree(ctx, m.Into); err != nil {
			return Entry{}, false, err
		}
	}
}

// replays are the dedup keys of prefix and key on the accounts of tree other than root.
func replays(prefix, key, root string, tree []string) []string {
	var out []string
	for _, id := range tree {
		if id != root {
			out = append(out, prefix+id+":"+key)
		}
	}
	return out
}

// Summary is a member's account as the till and staff see it.
type Summary struct {
	Account
	Value        float64      `json:"value"` // what the balance is worth
	Currency     string       `json:"currency"`
	Qualifying   int64        `json:"qualifying"`
	NextTier     string       `json:"next_tier,omitempty"`
	ToNextTier   int64        `json:"to_next_tier,omitempty"`
	Benefits     []string     `json:"benefits"`
	ExpiringSoon Expiring     `json:"expiring_soon"`
	Statement    []Entry      `json:"statement"`
	NextBefore   int64        `json:"next_before,omitempty"`
	TierHistory  []TierChange `json:"tier_history"`
}

// Expiring is the points that lapse within the programme's soon_days.
type Expiring struct {
	Points int64     `json:"points"`
	First  time.Time `json:"first,omitzero"`
	Until  time.Time `json:"until"`
}

// Get returns a member's balance, tier, points expiring soon and a page of the statement,
// newest first (limit entries with ids below before). Returns NotFound when the customer is
// not a member.
func (s *Service) Get(ctx context.Context, id string, before int64, limit int) (Summary, error) {
	if _, err := s.allowed(ctx, catalog.PermCustomersRead); err != nil {
		return Summary{}, err
	}
	if limit <= 0 {
		limit = 50
	}
	if limit > 1000 {
		return Summary{}, problem.InvalidField("limit", "must be at most 1000")
	}
	if before < 0 {
		return Summary{}, problem.InvalidField("before", "must be a positive entry id")
	}
	root, err := s.member(ctx, id)
	if err != nil {
		return Summary{}, err
	}
	acc, err := s.store.Account(ctx, root)
	if err != nil {
		return Summary{}, err
	}
	all, err := s.store.Ledger(ctx, root)
	if err != nil {
		return Summary{}, err
	}
	now := s.now()
	out := Summary{Account: acc, Value: s.p.Value(acc.Balance), Currency: s.p.Currency, Benefits: []string{}}
	var sum int64
	since := s.p.WindowStart(now)
	for _, e := range all {
		sum += e.Points
		if e.Qualifying && e.At.After(since) {
			out.Qualifying += e.QualifyingPoints
		}
	}
	if sum != acc.Balance {
		return Summary{}, fmt.Errorf("loyalty: ledger of a member sums to %d, account says %d", sum, acc.Balance)
	}
	if l, ok := s.p.Level(acc.Tier); ok {
		out.Benefits = append(out.Benefits, l.Benefits...)
	}
	for _, l := range s.p.Tiers.Levels {
		if l.Threshold > out.Qualifying {
			out.NextTier, out.ToNextTier = l.Name, l.Threshold-out.Qualifying
			break
		}
	}
	until := now.AddDate(0, 0, s.p.Expiry.SoonDays)
	out.ExpiringSoon.Points, out.ExpiringSoon.First = ExpiringBetween(Lots(all), now, until)
	out.ExpiringSoon.Until = until
	if out.Statement, err = s.store.Entries(ctx, root, before, limit+1); err != nil {
		return Summary{}, err
	}
	if len(out.Statement) > limit {
		out.Statement = out.Statement[:limit]
		out.NextBefore = out.Statement[limit-1].ID
	}
	if out.TierHistory, err = s.store.TierChanges(ctx, root); err != nil {
		return Summary{}, err
	}
	e := audit.New(ctx, ActionRead, root, nil, s.p.Purpose)
	return out, s.audit.AppendAudit(ctx, e)
}

// RedeemInput is a redemption at a till or in a shop.
type RedeemInput struct {
	Points int64 `json:"points"`
	// IdempotencyKey identifies the redemption: sending it again (a retry after a timeout)
	// answers with the first redemption instead of spending twice.
	IdempotencyKey string `json:"idempotency_key"`
	OrderID        string `json:"order_id,omitempty"`
}

// Redemption is a redemption's outcome.
type Redemption struct {
	Entry    Entry   `json:"entry"`
	Value    float64 `json:"value"`
	Currency string  `json:"currency"`
	Balance  int64   `json:"balance"`
	Replayed bool    `json:"replayed"`
}

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)

// Redeem spends points. Two redemptions of the same points at the same moment are decided
// one after the other on the locked account, so the second finds the balance spent and gets
// Conflict; the same idempotency key again returns the first redemption (Replayed), and with
// different points it is a Conflict too.
func (s *Service) Redeem(ctx context.Context, id string, in RedeemInput) (Redemption, error) {
	a, err := s.allowed(ctx, catalog.PermCustomersWrite)
	if err != nil {
		return Redemption{}, err
	}
	if !keyPattern.MatchString(in.IdempotencyKey) {
		return Redemption{}, problem.InvalidField("idempotency_key", "is required: 8 to 128 letters, digits, dots, colons, dashes or underscores, unique per redemption")
	}
	if in.Points <= 0 || in.Points > 1_000_000_000 {
		return Redemption{}, problem.InvalidField("points", "must be a positive number of points")
	}
	if in.Points < s.p.Redemption.Minimum {
		return Redemption{}, problem.InvalidField("points", "must be at least %d, the programme's minimum redemption", s.p.Redemption.Minimum)
	}
	if len(in.OrderID) > 128 {
		return Redemption{}, problem.InvalidField("order_id", "must be at most 128 characters")
	}
	root, tree, err := s.memberTree(ctx, id)
	if err != nil {
		return Redemption{}, err
	}
	now := s.now()
	e, replay, err := s.post(ctx, root, tree, func(root string, tree []string) Write {
		return Write{CustomerID: root, Dedup: "redeem:" + root + ":" + in.IdempotencyKey, Replays: replays("redeem:", in.IdempotencyKey, root, tree),
			Decide: func(st State) (Posting, error) {
				if !st.Exists {
					return Posting{}, problem.NotFoundf("the customer is not a member of the loyalty programme")
				}
				if st.Balance < in.Points {
					return Posting{}, problem.Conflictf("points: the balance is %d points, fewer than the %d asked for", st.Balance, in.Points)
				}
				return Posting{Kind: KindRedeem, Cause: CauseRedemption, Ref: in.IdempotencyKey, OrderID: in.OrderID, Actor: a.ID,
					Points: -in.Points, At: now}, nil
			},
			Audit: s.postAudit(ctx)}
	})
	if err != nil {
		return Redemption{}, err
	}
	if replay && (e.Points != -in.Points || e.Kind != KindRedeem) {
		return Redemption{}, problem.Conflictf("idempotency_key: already used for a different redemption")
	}
	balance := e.Balance
	if replay {
		// The first redemption's entry holds the balance after it, not the balance now, and
		// the points it left may have moved with a merge since.
		r, _, err := s.store.Tree(ctx, e.CustomerID)
		if err != nil {
			return Redemption{}, err
		}
		acc, err := s.store.Account(ctx, r)
		if err != nil {
			return Redemption{}, err
		}
		balance = acc.Balance
	}
	return Redemption{Entry: e, Value: s.p.Value(in.Points), Currency: s.p.Currency, Balance: balance, Replayed: replay}, nil
}

// AdjustInput is a staff member's manual change of a balance.
type AdjustInput struct {
	Points         int64  `json:"points"`
	Reason         string `json:"reason"`
	IdempotencyKey string `json:"idempotency_key"`
}

// Adjust adds (or, negative, removes) points by hand, naming the staff member and one of the
// programme's reasons; Forbidden for the keys of machines. A removal larger than the balance is a Conflict: the balance never
// goes below zero.
func (s *Service) Adjust(ctx context.Context, id string, in AdjustInput) (Entry, error) {
	a, err := s.allowed(ctx, catalog.PermCustomersWrite)
	if err != nil {
		return Entry{}, err
	}
	// An adjustment is a person's decision about a customer: staff roles that handle customers
	// (support, admin, dpo, owner) hold customers.reveal or requests.manage; the keys of
	// machines (tills, back ends) hold neither.
	if !s.cat.RoleHas(a.Role, catalog.PermCustomersRead) || !(s.cat.RoleHas(a.Role, catalog.PermCustomersReveal) || s.cat.RoleHas(a.Role, catalog.PermRequestsManage)) {
		return Entry{}, problem.Forbiddenf("role %q may not adjust balances: adjustments are for staff who handle customers", a.Role)
	}
	if !keyPattern.MatchString(in.IdempotencyKey) {
		return Entry{}, problem.InvalidField("idempotency_key", "is required: 8 to 128 letters, digits, dots, colons, dashes or underscores")
	}
	if in.Points == 0 || in.Points > 1_000_000_000 || in.Points < -1_000_000_000 {
		return Entry{}, problem.InvalidField("points", "must be a non-zero number of points")
	}
	if !s.p.AdjustmentReason(in.Reason) {
		return Entry{}, problem.InvalidField("reason", "must be one of %s", strings.Join(s.p.Adjustments.Reasons, ", "))
	}
	root, tree, err := s.memberTree(ctx, id)
	if err != nil {
		return Entry{}, err
	}
	now := s.now()
	e, replay, err := s.post(ctx, root, tree, func(root string, tree []string) Write {
		return Write{CustomerID: root, Dedup: "adjust:" + root + ":" + in.IdempotencyKey, Replays: replays("adjust:", in.IdempotencyKey, root, tree),
			Decide: func(st State) (Posting, error) {
				if !st.Exists {
					return Posting{}, problem.NotFoundf("the customer is not a member of the loyalty programme")
				}
				if st.Balance+in.Points < 0 {
					return Posting{}, problem.Conflictf("points: the balance is %d points; it cannot go below zero", st.Balance)
				}
				p := Posting{Kind: KindAdjust, Cause: CausePerson, Ref: in.IdempotencyKey, Reason: in.Reason, Actor: a.ID, Points: in.Points, At: now}
				if in.Points > 0 {
					p.ExpiresAt = s.p.ExpiryOf(now)
				}
				return p, nil
			},
			Audit: s.postAudit(ctx)}
	})
	if err == nil && replay && (e.Points != in.Points || e.Kind != KindAdjust) {
		return Entry{}, problem.Conflictf("idempotency_key: already used for a different adjustment")
	}
	return e, err
}

// Enrol makes the customer a member and gives them a member number unless their profile
// holds one (from a programme imported earlier). Enrolling a member again changes nothing.
func (s *Service) Enrol(ctx context.Context, id string) (Account, error) {
	if _, err := s.allowed(ctx, catalog.PermCustomersWrite); err != nil {
		return Account{}, err
	}
	root, err := s.member(ctx, id)
	if err != nil {
		return Account{}, err
	}
	if err := s.open(ctx, root); err != nil {
		return Account{}, err
	}
	return s.store.Account(ctx, root)
}

// open opens the account and assigns a member number where the profile has none (Fill
// keeps one that is there). A number another customer holds already is drawn again.
func (s *Service) open(ctx context.Context, id string) error {
	now := s.now()
	created, err := s.store.OpenAccount(ctx, id, s.p.Tiers.Levels[0].Name, now, []audit.Entry{audit.New(ctx, ActionEnrol, id, nil, s.p.Purpose)})
	if err != nil || !created {
		return err
	}
	for attempt := 0; ; attempt++ {
		n, err := s.p.NewMemberNumber()
		if err != nil {
			return err
		}
		_, err = s.cust.Fill(ctx, id, map[string]any{MemberNumberField: n})
		if err == nil || attempt >= 3 || problem.ExistingIDOf(err) == "" {
			return err
		}
	}
}

// Member is a member as a till finds them.
type Member struct {
	CustomerID string  `json:"customer_id"`
	Balance    int64   `json:"balance"`
	Value      float64 `json:"value"`
	Tier       string  `json:"tier"`
}

// Find finds members at the till by member number, phone or e-mail: the exact look-ups
// (blind indexes), audited as look-ups. Customers found who are not members are not
// returned; nobody found is an empty list.
func (s *Service) Find(ctx context.Context, by, value string) ([]Member, error) {
	if _, err := s.allowed(ctx, catalog.PermCustomersRead); err != nil {
		return nil, err
	}
	field := map[string]string{"member_number": MemberNumberField, "phone": "phone", "email": "email"}[by]
	if field == "" {
		return nil, problem.InvalidField("by", "must be member_number, phone or email")
	}
	if strings.TrimSpace(value) == "" || len(value) > 256 {
		return nil, problem.InvalidField(by, "is required (at most 256 characters)")
	}
	if by == "member_number" && !s.p.ValidMemberNumber(strings.TrimSpace(value)) {
		return nil, problem.InvalidField("member_number", "is not a member number of this programme (its check digit does not match)")
	}
	views, err := s.cust.Find(ctx, field, strings.TrimSpace(value), "", 5)
	if err != nil {
		return nil, err
	}
	out := []Member{}
	for _, v := range views {
		root, err := s.member(ctx, v.ID)
		if problem.Is(err, problem.Forbidden) {
			continue
		}
		if err != nil {
			return nil, err
		}
		acc, err := s.store.Account(ctx, root)
		if problem.Is(err, problem.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Member{CustomerID: root, Balance: acc.Balance, Value: s.p.Value(acc.Balance), Tier: acc.Tier})
	}
	return out, nil
}

// EventInput is something a customer did that the programme rewards.
type EventInput struct {
	Event string `json:"event"`
	// Ref identifies the occurrence (the referral, the survey), so it is credited once.
	Ref string `json:"ref"`
}

// RecordEvent credits the points of an event the programme names (a referral, say).
// Reviews are credited when Steward records them; naming one here is refused so that a
// review never earns twice.
func (s *Service) RecordEvent(ctx context.Context, id string, in EventInput) (Entry, error) {
	if _, err := s.allowed(ctx, catalog.PermCustomersWrite); err != nil {
		return Entry{}, err
	}
	pts, ok := s.p.Earning.Events[in.Event]
	if !ok || in.Event == "review" {
		return Entry{}, problem.InvalidField("event", "is not an event the programme rewards through this route")
	}
	if !keyPattern.MatchString(in.Ref) {
		return Entry{}, problem.InvalidField("ref", "is required: 8 to 128 letters, digits, dots, colons, dashes or underscores identifying the occurrence")
	}
	root, err := s.member(ctx, id)
	if err != nil {
		return Entry{}, err
	}
	if s.p.AutoEnrol {
		if err := s.open(ctx, root); err != nil {
			return Entry{}, err
		}
	}
	return s.credit(ctx, root, "event:"+in.Event+":"+in.Ref, 0, Posting{Kind: KindEarn, Cause: CauseEvent, Ref: in.Event + ":" + in.Ref, Points: pts})
}

// credit writes a credit for a member, expiring as the programme says.
func (s *Service) credit(ctx context.Context, id, dedup string, pendingID int64, p Posting) (Entry, error) {
	now := s.now()
	if p.At.IsZero() {
		p.At = now
	}
	p.ExpiresAt = s.p.ExpiryOf(p.At)
	e, _, err := s.post(ctx, id, nil, func(id string, _ []string) Write {
		return Write{CustomerID: id, Dedup: dedup, PendingID: pendingID,
			Decide: func(st State) (Posting, error) {
				if !st.Exists {
					return Posting{}, problem.NotFoundf("the customer is not a member of the loyalty programme")
				}
				return p, nil
			}, Audit: s.postAudit(ctx)}
	})
	return e, err
}

func (s *Service) postAudit(ctx context.Context) func(Entry) []audit.Entry {
	return func(e Entry) []audit.Entry {
		a := audit.New(ctx, ActionPost+e.Kind, e.CustomerID, nil, s.p.Purpose)
		a.Target = "loyalty_entry:" + strconv.FormatInt(e.ID, 10)
		return []audit.Entry{a}
	}
}

// Tier is the member's tier, for services that decided the caller's access themselves (offer
// eligibility); NotFound when the customer is not a member.
func (s *Service) Tier(ctx context.Context, id string) (string, error) {
	acc, err := s.store.Account(ctx, id)
	return acc.Tier, err
}

// Bonus credits what a points multiplier adds to an order's own points (multiplier − 1
// times what the order netted), once per offer and order, for services that decided the
// caller's access themselves. Conflict when the order earned nothing (yet).
func (s *Service) Bonus(ctx context.Context, id, orderID, code string, multiplier float64) (int64, error) {
	if err := s.settle(ctx, []string{id}); err != nil {
		return 0, err
	}
	now := s.now()
	e, _, err := s.post(ctx, id, nil, func(id string, _ []string) Write {
		return Write{CustomerID: id, Dedup: "offer:" + code + ":" + orderID, OrderID: orderID,
			Decide: func(st State) (Posting, error) {
				net := st.OrderEarned - st.OrderReversed
				if !st.Exists || net <= 0 {
					return Posting{}, problem.Conflictf("order_id: the order has earned no points to multiply")
				}
				return Posting{Kind: KindEarn, Cause: CauseOffer, Ref: code, OrderID: orderID, Points: int64(float64(net) * (multiplier - 1)),
					At: now, ExpiresAt: s.p.ExpiryOf(now)}, nil
			}, Audit: s.postAudit(ctx)}
	})
	return e.Points, err
}

// Card is what the member card in the privacy portal shows besides the member number.
type Card struct {
	Balance  int64   `json:"balance"`
	Value    float64 `json:"value"`
	Currency string  `json:"currency"`
	Tier     string  `json:"tier"`
}

// CardFor is the member's own card, for the privacy portal, where the customer signed in
// is the only one the caller can name: it reads nothing but their account, and is audited as
// a read of it. NotFound when the customer is not a member.
func (s *Service) CardFor(ctx context.Context, id string) (Card, error) {
	// A profile merged into another shows the account its points moved to.
	root, tree, err := s.store.Tree(ctx, id)
	if err != nil {
		return Card{}, err
	}
	if err := s.settle(ctx, tree); err != nil {
		return Card{}, err
	}
	acc, err := s.store.Account(ctx, root)
	if err != nil {
		return Card{}, err
	}
	return Card{Balance: acc.Balance, Value: s.p.Value(acc.Balance), Currency: s.p.Currency, Tier: acc.Tier},
		s.audit.AppendAudit(ctx, audit.New(ctx, ActionRead, root, nil, s.p.Purpose))
}
