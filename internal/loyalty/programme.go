package loyalty

import (
	_ "embed"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stewardhq/steward/internal/catalog"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML is the built-in programme, the one a Steward runs without --loyalty.
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Programme is the loyalty programme as the shop configured it. It is checked once, by
// Parse, and never changes while Steward runs.
type Programme struct {
	Purpose       string         `yaml:"purpose"`
	Currency      string         `yaml:"currency"`
	AutoEnrol     bool           `yaml:"auto_enrol"`
	Earning       Earning        `yaml:"earning"`
	Tiers         Tiers          `yaml:"tiers"`
	Expiry        Expiry         `yaml:"expiry"`
	Redemption    RedemptionRule `yaml:"redemption"`
	MemberNumbers MemberNumbers  `yaml:"member_numbers"`
	Adjustments   Adjustments    `yaml:"adjustments"`
}

// Earning are the rules that credit points.
type Earning struct {
	// PointsPerUnit are the points for each whole currency unit an order is worth after tax
	// and shipping.
	PointsPerUnit float64 `yaml:"points_per_unit"`
	// Categories replace PointsPerUnit for order lines of a product category.
	Categories map[string]float64 `yaml:"categories"`
	// Events are points for things a customer does other than buying: "review" is credited
	// for each product review collected, other names through the events route.
	Events map[string]int64 `yaml:"events"`
	// BirthdayBonus is credited once a year on the member's birthday.
	BirthdayBonus int64 `yaml:"birthday_bonus"`
}

// Tiers are the membership levels, reached by points earned from orders within a rolling
// window.
type Tiers struct {
	WindowMonths int     `yaml:"window_months"`
	Levels       []Level `yaml:"levels"`
}

// Level is one tier.
type Level struct {
	Name      string `yaml:"name"`
	Threshold int64  `yaml:"threshold"`
	// EarnMultiplier scales the points a member of this tier earns from orders (1 when unset).
	EarnMultiplier float64  `yaml:"earn_multiplier"`
	Benefits       []string `yaml:"benefits"`
}

// Expiry says when earned points lapse.
type Expiry struct {
	Months   int `yaml:"months"`
	SoonDays int `yaml:"soon_days"`
}

// RedemptionRule says what points are worth.
type RedemptionRule struct {
	PointsPerUnit int64 `yaml:"points_per_unit"`
	Minimum       int64 `yaml:"minimum"`
}

// MemberNumbers shapes the member numbers Steward assigns.
type MemberNumbers struct {
	Prefix string `yaml:"prefix"`
	Digits int    `yaml:"digits"`
}

// Adjustments lists the reasons staff may give when they adjust a balance by hand. Reasons
// are a fixed list rather than free text, so a note about a person never lands in the ledger
// in clear.
type Adjustments struct {
	Reasons []string `yaml:"reasons"`
}

var (
	codePattern   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	prefixPattern = regexp.MustCompile(`^[A-Z]{0,4}$`)
)

// Parse reads a programme and checks it against the catalog, naming every problem: a rule
// the catalog does not allow (the birthday bonus without birth dates declared for the
// programme's purpose) is refused here, not discovered when it runs.
func Parse(b []byte, cat *catalog.Catalog) (*Programme, error) {
	var p Programme
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("loyalty programme: %w", err)
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if _, ok := cat.Purpose(p.Purpose); !ok {
		bad("purpose: %q is not a purpose of the catalog", p.Purpose)
	}
	if len(p.Currency) != 3 || strings.ToUpper(p.Currency) != p.Currency {
		bad("currency: must be a three-letter ISO 4217 code in capitals, such as GBP")
	}
	p.Earning.check(bad)
	if p.Earning.BirthdayBonus > 0 {
		f, ok := cat.Field("birth_date")
		if !ok || !slices.Contains(f.Purposes, p.Purpose) {
			bad("earning.birthday_bonus: the catalog does not declare birth_date for purpose %q; remove the bonus or declare the field for the purpose", p.Purpose)
		}
	}
	p.Tiers.check(bad)
	if p.Expiry.Months < 0 || p.Expiry.Months > 120 {
		bad("expiry.months: must be between 0 (never) and 120")
	}
	if p.Expiry.SoonDays == 0 {
		p.Expiry.SoonDays = 30
	}
	if p.Expiry.SoonDays < 0 || p.Expiry.SoonDays > 366 {
		bad("expiry.soon_days: must be between 1 and 366")
	}
	if p.Redemption.PointsPerUnit <= 0 {
		bad("redemption.points_per_unit: must be a positive number of points")
	}
	if p.Redemption.Minimum < 0 {
		bad("redemption.minimum: must not be negative")
	}
	if !prefixPattern.MatchString(p.MemberNumbers.Prefix) {
		bad("member_numbers.prefix: at most four capital letters")
	}
	if p.MemberNumbers.Digits < 6 || p.MemberNumbers.Digits > 18 {
		bad("member_numbers.digits: must be between 6 and 18")
	}
	if len(p.Adjustments.Reasons) == 0 {
		bad("adjustments.reasons: name at least one reason staff may give")
	}
	for i, r := range p.Adjustments.Reasons {
		if !codePattern.MatchString(r) {
			bad("adjustments.reasons[%d]: must be lower-case letters, digits and underscores", i)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("loyalty programme: %s", strings.Join(errs, "; "))
	}
	return &p, nil
}

func (e *Earning) check(bad func(string, ...any)) {
	if e.PointsPerUnit < 0 || e.PointsPerUnit > 1000 || math.IsNaN(e.PointsPerUnit) {
		bad("earning.points_per_unit: must be between 0 and 1000")
	}
	for name, rate := range e.Categories {
		if name == "" || len(name) > 128 {
			bad("earning.categories: a category name must be 1 to 128 characters")
		}
		if rate < 0 || rate > 1000 || math.IsNaN(rate) {
			bad("earning.categories.%s: must be between 0 and 1000", name)
		}
	}
	for name, pts := range e.Events {
		if !codePattern.MatchString(name) {
			bad("earning.events: %q must be lower-case letters, digits and underscores", name)
		}
		if pts <= 0 || pts > 1_000_000 {
			bad("earning.events.%s: must be between 1 and 1000000 points", name)
		}
	}
	if e.BirthdayBonus < 0 || e.BirthdayBonus > 1_000_000 {
		bad("earning.birthday_bonus: must be between 0 (none) and 1000000 points")
	}
}

func (t *Tiers) check(bad func(string, ...any)) {
	if t.WindowMonths < 1 || t.WindowMonths > 60 {
		bad("tiers.window_months: must be between 1 and 60")
	}
	if len(t.Levels) == 0 {
		bad("tiers.levels: name at least one tier, with threshold 0")
		return
	}
	if t.Levels[0].Threshold != 0 {
		bad("tiers.levels[0].threshold: the first tier must have threshold 0, so every member has a tier")
	}
	seen := map[string]bool{}
	for i := range t.Levels {
		l := &t.Levels[i]
		if !codePattern.MatchString(l.Name) {
			bad("tiers.levels[%d].name: must be lower-case letters, digits and underscores", i)
		}
		if seen[l.Name] {
			bad("tiers.levels[%d].name: %q is declared twice", i, l.Name)
		}
		seen[l.Name] = true
		if i > 0 && l.Threshold <= t.Levels[i-1].Threshold {
			bad("tiers.levels[%d].threshold: thresholds must rise from one tier to the next", i)
		}
		if l.EarnMultiplier == 0 {
			l.EarnMultiplier = 1
		}
		if l.EarnMultiplier < 1 || l.EarnMultiplier > 10 || math.IsNaN(l.EarnMultiplier) {
			bad("tiers.levels[%d].earn_multiplier: must be between 1 and 10", i)
		}
		for j, b := range l.Benefits {
			if !codePattern.MatchString(b) {
				bad("tiers.levels[%d].benefits[%d]: must be lower-case letters, digits and underscores", i, j)
			}
		}
	}
}

// Level returns the tier of that name.
func (p *Programme) Level(name string) (Level, bool) {
	for _, l := range p.Tiers.Levels {
		if l.Name == name {
			return l, true
		}
	}
	return Level{}, false
}

// TierFor is the highest tier whose threshold the qualifying points reach.
func (p *Programme) TierFor(qualifying int64) Level {
	out := p.Tiers.Levels[0]
	for _, l := range p.Tiers.Levels {
		if qualifying >= l.Threshold {
			out = l
		}
	}
	return out
}

// AdjustmentReason reports whether staff may give reason.
func (p *Programme) AdjustmentReason(reason string) bool {
	return slices.Contains(p.Adjustments.Reasons, reason)
}
