package offer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/segment"
)

// Reward kinds.
const (
	RewardPercentage       = "percentage"
	RewardAmount           = "amount"
	RewardPointsMultiplier = "points_multiplier"
)

// Eligibility kinds. Each condition of an offer is one of them; a customer must meet all.
const (
	EligibleTier     = "tier"
	EligibleMinSpend = "min_spend"
	EligibleSegment  = "segment"
)

// Offer is one entry of the catalogue.
type Offer struct {
	ID          string      `json:"id"`
	Code        string      `json:"code"`
	Description string      `json:"description"`
	Reward      Reward      `json:"reward"`
	ValidFrom   time.Time   `json:"valid_from"`
	ValidUntil  time.Time   `json:"valid_until"`
	Eligibility []Condition `json:"eligibility"`
	// FrequencyCap bounds how often one customer redeems the offer.
	FrequencyCap Cap `json:"frequency_cap"`
	// Purpose is the catalog purpose showing the offer serves: personalization for offers
	// chosen for the customer, which needs their consent.
	Purpose string `json:"purpose"`
	// Products are the products the offer is for; recommendations start from them.
	Products []string `json:"products"`
	// Holdout is the share of eligible customers (0 to 0.5) who are not shown the offer, so
	// that its uplift can be measured against them.
	Holdout   float64   `json:"holdout"`
	CreatedAt time.Time `json:"created_at"`
}

// Reward is what the offer gives: a percentage or an amount off, or a multiple of the points
// the order earns.
type Reward struct {
	Kind  string  `json:"kind"`
	Value float64 `json:"value"`
}

// Condition is one eligibility condition: a tier (Tiers lists the tiers that qualify), a
// minimum spend over the last Days days, or a segment (Segment is its id) the customer is a
// member of now.
type Condition struct {
	Kind    string   `json:"kind"`
	Tiers   []string `json:"tiers,omitempty"`
	Amount  float64  `json:"amount,omitempty"`
	Days    int      `json:"days,omitempty"`
	Segment string   `json:"segment,omitempty"`
}

// Cap is a frequency cap: at most Count redemptions per customer within Days days (0: over
// the offer's life). Count 0 means no cap.
type Cap struct {
	Count int `json:"count"`
	Days  int `json:"days"`
}

var codePattern = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_-]{1,39}$`)

// check validates an offer against the catalog and the programme, naming the first problem.
func (o *Offer) check(cat *catalog.Catalog, p *loyalty.Programme) error {
	o.Code = strings.ToUpper(strings.TrimSpace(o.Code))
	switch {
	case !codePattern.MatchString(o.Code):
		return problem.InvalidField("code", "must be 2 to 40 capital letters, digits, dashes or underscores")
	case strings.TrimSpace(o.Description) == "" || len(o.Description) > 500:
		return problem.InvalidField("description", "is required (at most 500 characters)")
	case o.ValidFrom.IsZero() || o.ValidUntil.IsZero() || !o.ValidUntil.After(o.ValidFrom):
		return problem.InvalidField("valid_until", "valid_from and valid_until are required, and the offer must end after it starts")
	case o.Holdout < 0 || o.Holdout > 0.5 || math.IsNaN(o.Holdout):
		return problem.InvalidField("holdout", "must be a share between 0 and 0.5")
	case o.FrequencyCap.Count < 0 || o.FrequencyCap.Days < 0 || o.FrequencyCap.Days > 3660:
		return problem.InvalidField("frequency_cap", "count and days must not be negative (days at most 3660)")
	case len(o.Products) > 50:
		return problem.InvalidField("products", "at most 50 products")
	}
	if o.Purpose == "" {
		o.Purpose = "personalization"
	}
	if _, ok := cat.Purpose(o.Purpose); !ok {
		return problem.InvalidField("purpose", "unknown purpose %q", o.Purpose)
	}
	switch o.Reward.Kind {
	case RewardPercentage:
		if o.Reward.Value <= 0 || o.Reward.Value > 100 {
			return problem.InvalidField("reward.value", "a percentage must be above 0 and at most 100")
		}
	case RewardAmount:
		if o.Reward.Value <= 0 || o.Reward.Value > 1e6 {
			return problem.InvalidField("reward.value", "an amount must be positive")
		}
	case RewardPointsMultiplier:
		if o.Reward.Value <= 1 || o.Reward.Value > 10 {
			return problem.InvalidField("reward.value", "a points multiplier must be above 1 and at most 10")
		}
	default:
		return problem.InvalidField("reward.kind", "must be percentage, amount or points_multiplier")
	}
	for i, p0 := range o.Products {
		if strings.TrimSpace(p0) == "" || len(p0) > 128 {
			return problem.InvalidField("products", "products[%d] must be a product id of 1 to 128 characters", i)
		}
	}
	for i := range o.Eligibility {
		c := &o.Eligibility[i]
		switch c.Kind {
		case EligibleTier:
			if len(c.Tiers) == 0 {
				return problem.InvalidField("eligibility", "eligibility[%d]: a tier condition names at least one tier", i)
			}
			for _, t := range c.Tiers {
				if _, ok := p.Level(t); !ok {
					return problem.InvalidField("eligibility", "eligibility[%d]: %q is not a tier of the loyalty programme", i, t)
				}
			}
		case EligibleMinSpend:
			if c.Amount <= 0 || math.IsNaN(c.Amount) {
				return problem.InvalidField("eligibility", "eligibility[%d]: a minimum spend needs a positive amount", i)
			}
			if c.Days == 0 {
				c.Days = 365
			}
			if c.Days < 1 || c.Days > 3660 {
				return problem.InvalidField("eligibility", "eligibility[%d]: days must be between 1 and 3660", i)
			}
		case EligibleSegment:
			if strings.TrimSpace(c.Segment) == "" {
				return problem.InvalidField("eligibility", "eligibility[%d]: a segment condition names the segment's id", i)
			}
		default:
			return problem.InvalidField("eligibility", "eligibility[%d]: kind must be tier, min_spend or segment", i)
		}
	}
	return nil
}

// Shown is an offer a customer may be shown now, and why.
type Shown struct {
	Offer
	Reasons         []string         `json:"reasons"`
	Recommendations []Recommendation `json:"recommendations"`
}

// Recommendation is a product bought together with one of the offer's products.
type Recommendation struct {
	ProductID string `json:"product_id"`
	// Together is how many orders held both.
	Together int `json:"together"`
}

// Withheld is an offer the customer is not shown, and why: for staff and tests, the answer
// says what decided.
type Withheld struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Decision is the answer of Offers.
type Decision struct {
	CustomerID string     `json:"customer_id"`
	Offers     []Shown    `json:"offers"`
	Withheld   []Withheld `json:"withheld"`
}

// RedemptionInput records an offer used against an order.
type RedemptionInput struct {
	OrderID string `json:"order_id"`
}

// Redemption is a recorded use of an offer.
type Redemption struct {
	Code       string    `json:"code"`
	OrderID    string    `json:"order_id"`
	Discount   float64   `json:"discount,omitempty"`     // for percentage and amount rewards
	BonusPoint int64     `json:"bonus_points,omitempty"` // for points multipliers
	At         time.Time `json:"at"`
}

// Uplift is an offer's measured effect: the share of customers who ordered after being shown
// it against the share of the hold-out group who ordered after being held out.
type Uplift struct {
	Code            string  `json:"code"`
	Shown           int     `json:"shown"`
	ShownOrdered    int     `json:"shown_ordered"`
	Holdout         int     `json:"holdout"`
	HoldoutOrdered  int     `json:"holdout_ordered"`
	ShownRate       float64 `json:"shown_rate"`
	HoldoutRate     float64 `json:"holdout_rate"`
	Uplift          float64 `json:"uplift"` // ShownRate - HoldoutRate
	Redemptions     int     `json:"redemptions"`
	MinimumPerGroup int     `json:"minimum_per_group"`
	// Conclusive is false while either group is smaller than MinimumPerGroup.
	Conclusive bool `json:"conclusive"`
}

// Exposure is one customer's first evaluation as eligible for an offer, in the group they
// fell in.
type Exposure struct {
	OfferID, CustomerID string
	Holdout             bool
	At                  time.Time
}

// OrderFacts are what eligibility reads about a customer's orders.
type OrderFacts interface {
	// Spend is what the customers (a merge tree) spent on orders since since, less refunds.
	Spend(ctx context.Context, ids []string, since time.Time) (float64, error)
	// Order returns the customer an order belongs to and its total; NotFound if unknown.
	Order(ctx context.Context, orderID string) (customerID string, total float64, err error)
	// Baskets calls fn with the customer and the products of each order of the customers
	// given, at most limit orders, newest first.
	Baskets(ctx context.Context, customerIDs []string, limit int, fn func(customerID string, products []string)) error
	// Customers lists customers that placed orders, after after by id, up to limit.
	Buyers(ctx context.Context, after string, limit int) ([]string, error)
}

// Store keeps the catalogue, exposures and redemptions.
type Store interface {
	CreateOffer(ctx context.Context, o Offer, entries []audit.Entry) error
	// GetOffer returns NotFound for an unknown code.
	GetOffer(ctx context.Context, code string) (Offer, error)
	ListOffers(ctx context.Context) ([]Offer, error)
	// Expose records the customer's group for the offer the first time, keeping the first.
	Expose(ctx context.Context, xs []Exposure) error
	// Redeem records a redemption, unless the offer was already redeemed against the order
	// (Conflict), counting the customer's redemptions since since: more than limit rolls
	// back with Conflict (limit 0: no cap). entries are written with it.
	Redeem(ctx context.Context, offerID, customerID, orderID string, since time.Time, limit int, at time.Time, entries []audit.Entry) error
	// Redemptions counts the customer's redemptions of the offer since since.
	Redemptions(ctx context.Context, offerID, customerID string, since time.Time) (int, error)
	// Uplift counts exposed customers by group and those who ordered after exposure.
	Uplift(ctx context.Context, offerID string) (Uplift, error)
}

// Permissions is the permission decision.
type Permissions interface {
	May(ctx context.Context, customerID, purpose string) (consent.Decision, error)
	Check(ctx context.Context, purpose string, ids []string) (consent.Bulk, error)
}

// Loyalty is what offers read of the programme: the member's tier, and the bonus of a
// points multiplier.
type Loyalty interface {
	Tier(ctx context.Context, customerID string) (string, error)
	Bonus(ctx context.Context, customerID, orderID, offerCode string, multiplier float64) (int64, error)
	Programme() *loyalty.Programme
}

// Trees resolves merged customers.
type Trees interface {
	Tree(ctx context.Context, id string) (root string, tree []string, err error)
}

// Segments is what offers read of segments: whether a segment exists and for which purpose,
// who its members are now, and which segments a customer belongs to.
type Segments interface {
	// Segment returns NotFound for an unknown id.
	Segment(ctx context.Context, id string) (segment.Segment, error)
	// Memberships says which segments each of ids belongs to now.
	Memberships(ctx context.Context, ids []string) (map[string][]string, error)
	// Members pages a segment's member ids, by id.
	Members(ctx context.Context, segmentID, after string, limit int) ([]string, error)
}

// Deps builds the service; Clock may be nil. Secret keys the hold-out draw.
type Deps struct {
	Store       Store
	Orders      OrderFacts
	Permissions Permissions
	Loyalty     Loyalty
	Trees       Trees
	Segments    Segments
	Catalog     *catalog.Catalog
	Audit       Auditor
	Secret      []byte
	Clock       clock.Clock
}

// Auditor appends audit entries of reads.
type Auditor interface {
	AppendAudit(ctx context.Context, entries ...audit.Entry) error
}

// Service runs the offers.
type Service struct {
	d Deps
	// mu guards recs: the co-purchase counts over everyone ("") and over each segment an
	// offer is bound to, by segment id.
	mu   sync.Mutex
	recs map[string]*coPurchase
}

// New builds the service.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Orders == nil || d.Permissions == nil || d.Loyalty == nil || d.Trees == nil || d.Segments == nil || d.Catalog == nil || d.Audit == nil || len(d.Secret) == 0 {
		return nil, errors.New("offer: store, orders, permissions, loyalty, trees, segments, catalog, audit and secret are required")
	}
	d.Clock = clock.Or(d.Clock)
	return &Service{d: d, recs: map[string]*coPurchase{}}, nil
}

// Audit actions.
const (
	ActionCreate = "offer.create"
	ActionShow   = "offer.show"
	ActionRedeem = "offer.redeem"
)

// Create adds an offer to the catalogue. Needs catalog.write: offers decide what customers
// are shown, like the catalog decides what staff see.
func (s *Service) Create(ctx context.Context, o Offer) (Offer, error) {
	if _, err := authz.Require(ctx, s.d.Catalog, catalog.PermCatalogWrite); err != nil {
		return Offer{}, err
	}
	if err := o.check(s.d.Catalog, s.d.Loyalty.Programme()); err != nil {
		return Offer{}, err
	}
	if err := s.checkSegments(ctx, o); err != nil {
		return Offer{}, err
	}
	o.ID, o.CreatedAt = ident.New(), s.d.Clock().UTC().Truncate(time.Microsecond)
	if o.Products == nil {
		o.Products = []string{}
	}
	e := audit.New(ctx, ActionCreate, "", nil, "")
	e.Target = "offer:" + o.Code
	if err := s.d.Store.CreateOffer(ctx, o, []audit.Entry{e}); err != nil {
		return Offer{}, err
	}
	return o, nil
}

// checkSegments refuses a segment condition naming a segment that does not exist, or one
// built for another purpose than the offer's: membership is decided under the permission
// decision for the segment's purpose, so only a segment of the offer's own purpose says that
// its members may be chosen for what the offer does. A segment of analytics, say, counts
// people who never agreed to be picked out for a personalised offer.
func (s *Service) checkSegments(ctx context.Context, o Offer) error {
	for i, c := range o.Eligibility {
		if c.Kind != EligibleSegment {
			continue
		}
		seg, err := s.d.Segments.Segment(ctx, c.Segment)
		if problem.Is(err, problem.NotFound) {
			return problem.InvalidField("eligibility", "eligibility[%d]: segment %q does not exist", i, c.Segment)
		}
		if err != nil {
			return err
		}
		if seg.Purpose != o.Purpose {
			return problem.InvalidField("eligibility", "eligibility[%d]: segment %q was built for purpose %s, and the offer serves %s; an offer may only use a segment of its own purpose",
				i, c.Segment, seg.Purpose, o.Purpose)
		}
	}
	return nil
}

// List is the catalogue. Needs catalog.read.
func (s *Service) List(ctx context.Context) ([]Offer, error) {
	if _, err := authz.Require(ctx, s.d.Catalog, catalog.PermCatalogRead); err != nil {
		return nil, err
	}
	return s.d.Store.ListOffers(ctx)
}

// InHoldout reports whether the customer is in the offer's hold-out group: a keyed hash of
// the offer and the customer, so the group is random across customers, stable for each, and
// cannot be chosen by anyone who does not hold the key.
func (s *Service) InHoldout(o Offer, customerID string) bool {
	if o.Holdout <= 0 {
		return false
	}
	m := hmac.New(sha256.New, s.d.Secret)
	m.Write([]byte(o.ID))
	m.Write([]byte{0})
	m.Write([]byte(customerID))
	x := binary.BigEndian.Uint64(m.Sum(nil))
	return float64(x)/float64(math.MaxUint64) < o.Holdout
}

// Offers decides which offers the customer may be shown now, after the permission decision
// for each offer's purpose (so a customer who withdrew consent, objected, or whose request
// carries GPC for a purpose GPC opts out of is shown none of its offers), with the reasons
// each offer is shown and recommendations from the offer's products. Needs customers.read
// and a role that may act for the purposes shown. Every customer evaluated as eligible is
// recorded in the shown or the hold-out group, for Uplift.
func (s *Service) Offers(ctx context.Context, id string) (Decision, error) {
	if _, err := authz.Require(ctx, s.d.Catalog, catalog.PermCustomersRead); err != nil {
		return Decision{}, err
	}
	return s.decide(ctx, id, true)
}

// decide is Offers; byRole also withholds offers whose purpose the caller's role may not act
// for. A redemption does not ask it: the till recording an offer the customer brings acts
// for the service, and the customer's own decision is still checked.
func (s *Service) decide(ctx context.Context, id string, byRole bool) (Decision, error) {
	a, _ := authz.ActorFrom(ctx)
	var err error
	if !ident.Valid(id) {
		return Decision{}, problem.InvalidField("id", "is not a valid customer id")
	}
	root, tree, err := s.d.Trees.Tree(ctx, id)
	if err != nil {
		return Decision{}, err
	}
	offers, err := s.d.Store.ListOffers(ctx)
	if err != nil {
		return Decision{}, err
	}
	now := s.d.Clock().UTC()
	out := Decision{CustomerID: root, Offers: []Shown{}, Withheld: []Withheld{}}
	decisions := map[string]consent.Decision{}
	var tier string
	tierRead := false
	var segments []string // the segments the customer belongs to now
	segmentsRead := false
	var exposures []Exposure
	var shownPurposes []string
	for _, o := range offers {
		withhold := func(reason string) { out.Withheld = append(out.Withheld, Withheld{Code: o.Code, Reason: reason}) }
		if now.Before(o.ValidFrom) || !now.Before(o.ValidUntil) {
			continue // not running: neither shown nor worth a reason
		}
		if byRole && !s.d.Catalog.RoleMayActFor(a.Role, o.Purpose) {
			withhold("the caller's role may not act for purpose " + o.Purpose)
			continue
		}
		d, ok := decisions[o.Purpose]
		if !ok {
			if d, err = s.d.Permissions.May(ctx, root, o.Purpose); err != nil {
				return Decision{}, err
			}
			decisions[o.Purpose] = d
		}
		if !d.Allowed {
			withhold("not allowed for purpose " + o.Purpose + ": " + d.Reason)
			continue
		}
		reasons := []string{o.Purpose + " allowed: " + d.Reason}
		eligible := true
		for _, c := range o.Eligibility {
			switch c.Kind {
			case EligibleTier:
				if !tierRead {
					if tier, err = s.d.Loyalty.Tier(ctx, root); err != nil && !problem.Is(err, problem.NotFound) {
						return Decision{}, err
					}
					tierRead = true
				}
				if !slices.Contains(c.Tiers, tier) {
					withhold("tier " + orNone(tier) + " is not one of " + strings.Join(c.Tiers, ", "))
					eligible = false
				} else {
					reasons = append(reasons, "tier "+tier)
				}
			case EligibleMinSpend:
				spent, err := s.d.Orders.Spend(ctx, tree, now.AddDate(0, 0, -c.Days))
				if err != nil {
					return Decision{}, err
				}
				if spent < c.Amount {
					withhold("spent less than the minimum over the last " + itoa(c.Days) + " days")
					eligible = false
				} else {
					reasons = append(reasons, "spent at least "+ftoa(c.Amount)+" over the last "+itoa(c.Days)+" days")
				}
			case EligibleSegment:
				if !segmentsRead {
					m, err := s.d.Segments.Memberships(ctx, []string{root})
					if err != nil {
						return Decision{}, err
					}
					segments, segmentsRead = m[root], true
				}
				if !slices.Contains(segments, c.Segment) {
					withhold("not a member of segment " + c.Segment)
					eligible = false
				} else {
					reasons = append(reasons, "member of segment "+c.Segment)
				}
			default:
				withhold("eligibility " + c.Kind + " is not available")
				eligible = false
			}
			if !eligible {
				break
			}
		}
		if !eligible {
			continue
		}
		if o.FrequencyCap.Count > 0 {
			n, err := s.d.Store.Redemptions(ctx, o.ID, root, capSince(o, now))
			if err != nil {
				return Decision{}, err
			}
			if n >= o.FrequencyCap.Count {
				withhold("frequency cap reached")
				continue
			}
		}
		hold := s.InHoldout(o, root)
		exposures = append(exposures, Exposure{OfferID: o.ID, CustomerID: root, Holdout: hold, At: now})
		if hold {
			withhold("in the offer's hold-out group, which measures its uplift")
			continue
		}
		sh := Shown{Offer: o, Reasons: reasons, Recommendations: []Recommendation{}}
		if d, ok := decisions["personalization"]; o.Purpose == "personalization" && ok && d.Allowed {
			if sh.Recommendations, err = s.recommend(ctx, o.Products, segmentOf(o), tree); err != nil {
				return Decision{}, err
			}
		}
		out.Offers = append(out.Offers, sh)
		shownPurposes = append(shownPurposes, o.Purpose)
	}
	if err := s.d.Store.Expose(ctx, exposures); err != nil {
		return Decision{}, err
	}
	slices.Sort(shownPurposes)
	e := audit.New(ctx, ActionShow, root, nil, strings.Join(slices.Compact(shownPurposes), ","))
	e.Target = "offers:" + itoa(len(out.Offers))
	return out, s.d.Audit.AppendAudit(ctx, e)
}

// segmentOf is the segment whose members' baskets recommend for the offer: its first segment
// condition, or "" (everyone) when it has none.
func segmentOf(o Offer) string {
	for _, c := range o.Eligibility {
		if c.Kind == EligibleSegment {
			return c.Segment
		}
	}
	return ""
}

func capSince(o Offer, now time.Time) time.Time {
	if o.FrequencyCap.Days == 0 {
		return time.Time{}
	}
	return now.AddDate(0, 0, -o.FrequencyCap.Days)
}

// Redeem records that the customer used the offer against an order of theirs. The offer
// must be one the customer may be shown now (the same decision as Offers, hold-out
// included) and under its frequency cap; an offer is redeemed against an order once. A
// points multiplier credits the bonus points the order earns beyond its own.
func (s *Service) Redeem(ctx context.Context, id, code string, in RedemptionInput) (Redemption, error) {
	if _, err := authz.Require(ctx, s.d.Catalog, catalog.PermCustomersWrite); err != nil {
		return Redemption{}, err
	}
	if strings.TrimSpace(in.OrderID) == "" || len(in.OrderID) > 128 {
		return Redemption{}, problem.InvalidField("order_id", "is required (at most 128 characters)")
	}
	o, err := s.d.Store.GetOffer(ctx, strings.ToUpper(code))
	if err != nil {
		return Redemption{}, err
	}
	d, err := s.decide(ctx, id, false)
	if err != nil {
		return Redemption{}, err
	}
	shown := slices.ContainsFunc(d.Offers, func(sh Shown) bool { return sh.ID == o.ID })
	if !shown {
		reason := "the offer is not running"
		for _, w := range d.Withheld {
			if w.Code == o.Code {
				reason = w.Reason
			}
		}
		return Redemption{}, problem.Conflictf("offer %s cannot be redeemed by this customer now: %s", o.Code, reason)
	}
	owner, total, err := s.d.Orders.Order(ctx, in.OrderID)
	if err != nil {
		return Redemption{}, err
	}
	root, tree, err := s.d.Trees.Tree(ctx, id)
	if err != nil {
		return Redemption{}, err
	}
	if !slices.Contains(tree, owner) {
		return Redemption{}, problem.InvalidField("order_id", "is not an order of this customer")
	}
	now := s.d.Clock().UTC().Truncate(time.Microsecond)
	e := audit.New(ctx, ActionRedeem, root, nil, o.Purpose)
	e.Target = "offer:" + o.Code
	if err := s.d.Store.Redeem(ctx, o.ID, root, in.OrderID, capSince(o, now), o.FrequencyCap.Count, now, []audit.Entry{e}); err != nil {
		return Redemption{}, err
	}
	r := Redemption{Code: o.Code, OrderID: in.OrderID, At: now}
	switch o.Reward.Kind {
	case RewardPercentage:
		r.Discount = math.Round(total*o.Reward.Value) / 100
	case RewardAmount:
		r.Discount = math.Min(total, o.Reward.Value)
	case RewardPointsMultiplier:
		if r.BonusPoint, err = s.d.Loyalty.Bonus(ctx, root, in.OrderID, o.Code, o.Reward.Value); err != nil {
			return r, err
		}
	}
	return r, nil
}

// Report is each offer's uplift. Needs customers.read and a role that may act for analytics
// (it reports counts, never customers).
func (s *Service) Report(ctx context.Context) ([]Uplift, error) {
	a, err := authz.Require(ctx, s.d.Catalog, catalog.PermCustomersRead)
	if err != nil {
		return nil, err
	}
	if !s.d.Catalog.RoleMayActFor(a.Role, "analytics") {
		return nil, problem.Forbiddenf("role %q may not act for purpose %q", a.Role, "analytics")
	}
	offers, err := s.d.Store.ListOffers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Uplift, 0, len(offers))
	for _, o := range offers {
		u, err := s.d.Store.Uplift(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		u.Code = o.Code
		u.MinimumPerGroup = MinimumPerGroup
		if u.Shown > 0 {
			u.ShownRate = float64(u.ShownOrdered) / float64(u.Shown)
		}
		if u.Holdout > 0 {
			u.HoldoutRate = float64(u.HoldoutOrdered) / float64(u.Holdout)
		}
		u.Uplift = math.Round((u.ShownRate-u.HoldoutRate)*1e4) / 1e4
		u.Conclusive = u.Shown >= MinimumPerGroup && u.Holdout >= MinimumPerGroup
		out = append(out, u)
	}
	return out, nil
}

// MinimumPerGroup is the group size below which an uplift is reported as not conclusive.
const MinimumPerGroup = 30

func orNone(s string) string {
	if s == "" {
		return "(none: not a member)"
	}
	return s
}
