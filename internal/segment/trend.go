package segment

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

// Metrics a trend may ask for. Each reads rows of one table; the domain groups them.
const (
	MetricNewCustomers     = "new_customers"
	MetricActiveCustomers  = "active_customers"
	MetricOrders           = "orders"
	MetricRevenue          = "revenue"
	MetricAverageOrder     = "average_order_value"
	MetricRepeatRate       = "repeat_purchase_rate"
	MetricBestProducts     = "best_selling_products"
	MetricBestCategories   = "best_selling_categories"
	MetricCartAbandonment  = "cart_abandonment"
	MetricSignupConversion = "signup_conversion"
	MetricConsentRate      = "consent_rate"
	MetricOptOuts          = "opt_outs"
	MetricRequestsOpened   = "requests_opened"
	MetricRequestsClosed   = "requests_closed"
)

// Metrics lists every metric, in the order the documentation gives them.
var Metrics = []string{MetricNewCustomers, MetricActiveCustomers, MetricOrders, MetricRevenue, MetricAverageOrder, MetricRepeatRate,
	MetricBestProducts, MetricBestCategories, MetricCartAbandonment, MetricSignupConversion, MetricConsentRate, MetricOptOuts,
	MetricRequestsOpened, MetricRequestsClosed}

// Breakdowns a trend may be split by: generalised attributes, or segment membership.
var Breakdowns = []string{"age_band", "gender", "region", "country", "segment"}

// countMetrics are the metrics whose value is a count of rows, to which differential privacy
// adds noise of sensitivity one per customer and row kind.
var countMetrics = []string{MetricNewCustomers, MetricActiveCustomers, MetricOrders, MetricOptOuts, MetricRequestsOpened, MetricRequestsClosed,
	MetricBestProducts, MetricBestCategories}

// TrendRow is one fact a metric counts: whose, when, how much, and a label for metrics that
// have one (a product, a category, a purpose, a request type).
type TrendRow struct {
	CustomerID string
	At         time.Time
	Value      float64
	Label      string
	// Items is an order's lines as stored (JSON), for the best-seller metrics.
	Items string
}

// TrendStore reads the rows of metrics and keeps the privacy budgets of noisy answers.
type TrendStore interface {
	// TrendRows calls fn for every row of metric in [from, to), of the members of segmentID
	// only when it is not empty.
	TrendRows(ctx context.Context, metric string, from, to time.Time, segmentID string, fn func(TrendRow) error) error
	// RFMPopulation returns every ordering customer's raw recency, frequency and monetary value.
	RFMPopulation(ctx context.Context, now time.Time) ([]RFM, error)
	// SpendBudget adds epsilon to what actor spent on day, unless that would pass limit; it
	// returns what is spent after the call and whether it was spent.
	SpendBudget(ctx context.Context, actor, day string, epsilon, limit float64) (float64, bool, error)
}

// TrendQuery is what a trend asks for.
type TrendQuery struct {
	Metric   string
	Interval string // day, week, month
	By       string
	Segment  string
	From, To time.Time
	// Epsilon, when above zero, asks for a differentially private answer: Laplace noise of
	// scale 1/Epsilon on every count, charged to the caller's budget for the day.
	Epsilon float64
}

// Trend is a time series per group, with withheld cells marked.
type Trend struct {
	Metric    string    `json:"metric"`
	Interval  string    `json:"interval"`
	By        string    `json:"by,omitempty"`
	Segment   string    `json:"segment,omitempty"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	MinCohort int       `json:"min_cohort"`
	Series    []Series  `json:"series"`
	Privacy   *Privacy  `json:"privacy,omitempty"`
}

// Series is one group's points.
type Series struct {
	Group  string  `json:"group"`
	Points []Point `json:"points"`
}

// Point is one period's value; Value and Customers are left out and CountBelow set when fewer
// customers than the minimum cohort make it up.
type Point struct {
	Period     string   `json:"period"`
	Value      *float64 `json:"value,omitempty"`
	Customers  *int     `json:"customers,omitempty"`
	CountBelow int      `json:"count_below,omitempty"`
}

// Privacy states the differential privacy of a noisy answer.
type Privacy struct {
	Mechanism   string  `json:"mechanism"`
	Epsilon     float64 `json:"epsilon"`
	SpentToday  float64 `json:"spent_today"`
	BudgetToday float64 `json:"budget_per_day"`
}

// DailyBudget is the privacy budget (total epsilon) each caller may spend on noisy answers per
// day (UTC).
const DailyBudget = 3.0

// maxTrendPeriods bounds the periods of one answer.
const maxTrendPeriods = 400

// ActionTrend is the audit action of a trend query: counts only, never customers.
const ActionTrend = "trend.read"

// Trend answers a trend query. Trends are analytics: the caller's role must act for it, the
// breakdowns are generalised attributes, and every cell under the minimum cohort is withheld.
func (s *Service) Trend(ctx context.Context, q TrendQuery) (Trend, error) {
	a, err := authz.MayRead(ctx, s.catalog, AnalyticsPurpose)
	if err != nil {
		return Trend{}, err
	}
	if !slices.Contains(Metrics, q.Metric) {
		return Trend{}, problem.InvalidField("metric", "unknown metric %q", q.Metric)
	}
	if q.Interval == "" {
		q.Interval = "day"
	}
	if q.Interval != "day" && q.Interval != "week" && q.Interval != "month" {
		return Trend{}, problem.InvalidField("interval", "must be day, week or month")
	}
	if q.By != "" && !slices.Contains(Breakdowns, q.By) {
		return Trend{}, problem.InvalidField("by", "must be one of age_band, gender, region, country, segment")
	}
	if q.By != "" && q.By != "segment" && !s.attributeAllowed(q.By) {
		return Trend{}, problem.InvalidField("by", "field behind %q may not be used for purpose %q", q.By, AnalyticsPurpose)
	}
	now := s.now().UTC()
	if q.To.IsZero() {
		q.To = now
	}
	if q.From.IsZero() {
		q.From = q.To.AddDate(0, 0, -90)
	}
	if !q.From.Before(q.To) {
		return Trend{}, problem.InvalidField("from", "must be before to")
	}
	if periods(q) > maxTrendPeriods {
		return Trend{}, problem.InvalidField("from", "at most %d periods per answer; choose a longer interval", maxTrendPeriods)
	}
	if q.Epsilon < 0 || q.Epsilon > DailyBudget {
		return Trend{}, problem.InvalidField("epsilon", "must be between 0 and %g", DailyBudget)
	}
	if q.Epsilon > 0 && !slices.Contains(countMetrics, q.Metric) {
		return Trend{}, problem.InvalidField("epsilon", "noisy answers are given for count metrics only")
	}
	var segNames map[string]string
	if q.Segment != "" {
		if _, err := s.Get(ctx, q.Segment); err != nil {
			return Trend{}, problem.InvalidField("segment", "no such segment")
		}
	}
	if q.By == "segment" {
		segs, err := s.List(ctx)
		if err != nil {
			return Trend{}, err
		}
		segNames = map[string]string{}
		for _, sg := range segs {
			segNames[sg.ID] = sg.Name
		}
	} else if q.By != "" {
		if err := s.ensureProjection(ctx); err != nil {
			return Trend{}, err
		}
	}
	t := Trend{Metric: q.Metric, Interval: q.Interval, By: q.By, Segment: q.Segment, From: q.From, To: q.To, MinCohort: DefaultMinCohort, Series: []Series{}}
	if q.Epsilon > 0 {
		spent, ok, err := s.trends.SpendBudget(ctx, a.ID, now.Format("2006-01-02"), q.Epsilon, DailyBudget)
		if err != nil {
			return Trend{}, err
		}
		if !ok {
			return Trend{}, problem.New(problem.RateLimited, "privacy budget for today spent (%g of %g); ask again tomorrow or with a smaller epsilon", spent, DailyBudget)
		}
		t.Privacy = &Privacy{Mechanism: "laplace", Epsilon: q.Epsilon, SpentToday: spent, BudgetToday: DailyBudget}
	}
	cells := map[cellKey]*cell{}
	var pending []TrendRow
	flush := func() error {
		groups, err := s.groupsOf(ctx, q.By, pending, segNames)
		if err != nil {
			return err
		}
		for i, r := range pending {
			for _, g := range groups[i] {
				for _, lv := range labelled(q.Metric, r) {
					k := cellKey{period: periodOf(r.At, q.Interval), group: joinGroup(lv.label, g)}
					c := cells[k]
					if c == nil {
						c = &cell{customers: map[string]int{}}
						cells[k] = c
					}
					c.customers[r.CustomerID]++
					c.sum += lv.value
					c.rows++
				}
			}
		}
		pending = pending[:0]
		return nil
	}
	err = s.trends.TrendRows(ctx, q.Metric, q.From, q.To, q.Segment, func(r TrendRow) error {
		pending = append(pending, r)
		if len(pending) >= 5000 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return Trend{}, err
	}
	t.Series = series(cells, q, t.MinCohort)
	e := audit.New(ctx, ActionTrend, "", nil, AnalyticsPurpose)
	e.Target = "metric:" + q.Metric + " by:" + q.By
	if err := s.audit.AppendAudit(ctx, e); err != nil {
		return Trend{}, err
	}
	return t, nil
}

// AnalyticsPurpose is the purpose trends serve.
const AnalyticsPurpose = "analytics"

type cellKey struct{ period, group string }

type cell struct {
	customers map[string]int
	sum       float64
	rows      int
}

type labelValue struct {
	label string
	value float64
}

// labelled splits a row into the labelled values it contributes: an order's lines for the
// best sellers, the row's own label otherwise.
func labelled(metric string, r TrendRow) []labelValue {
	if metric != MetricBestProducts && metric != MetricBestCategories {
		return []labelValue{{r.Label, r.Value}}
	}
	var items []struct {
		ProductID string `json:"product_id"`
		Name      string `json:"name"`
		Category  string `json:"category"`
		Quantity  int64  `json:"quantity"`
	}
	if json.Unmarshal([]byte(r.Items), &items) != nil {
		return nil
	}
	out := make([]labelValue, 0, len(items))
	for _, it := range items {
		l := it.Category
		if metric == MetricBestProducts {
			l = it.ProductID
			if l == "" {
				l = it.Name
			}
		}
		if l == "" {
			l = "unknown"
		}
		out = append(out, labelValue{l, float64(max(it.Quantity, 1))})
	}
	return out
}

func joinGroup(label, group string) string {
	switch {
	case label == "":
		return group
	case group == "":
		return label
	}
	return label + " / " + group
}

// series turns cells into points, withholding small cells and finishing ratios.
func series(cells map[cellKey]*cell, q TrendQuery, k int) []Series {
	byGroup := map[string][]Point{}
	for key, c := range cells {
		p := Point{Period: key.period}
		n := len(c.customers)
		if n < k {
			p.CountBelow = k
		} else {
			v := value(q.Metric, c)
			if q.Epsilon > 0 {
				v = math.Max(0, math.Round(v+laplace(1/q.Epsilon)))
			}
			p.Value, p.Customers = &v, &n
		}
		byGroup[key.group] = append(byGroup[key.group], p)
	}
	out := make([]Series, 0, len(byGroup))
	for g, pts := range byGroup {
		sort.Slice(pts, func(i, j int) bool { return pts[i].Period < pts[j].Period })
		out = append(out, Series{Group: g, Points: pts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

func value(metric string, c *cell) float64 {
	round := func(v float64) float64 { return math.Round(v*10000) / 10000 }
	switch metric {
	case MetricActiveCustomers, MetricNewCustomers:
		return float64(len(c.customers))
	case MetricAverageOrder:
		if c.rows == 0 {
			return 0
		}
		return round(c.sum / float64(c.rows))
	case MetricRepeatRate:
		repeat := 0
		for _, n := range c.customers {
			if n >= 2 {
				repeat++
			}
		}
		return round(float64(repeat) / float64(len(c.customers)))
	case MetricCartAbandonment, MetricSignupConversion, MetricConsentRate:
		return round(c.sum / float64(c.rows))
	case MetricRevenue:
		return math.Round(c.sum*100) / 100
	}
	return c.sum
}

// laplace draws Laplace noise of the given scale.
func laplace(scale float64) float64 {
	u := rand.Float64() - 0.5
	return -scale * math.Copysign(1, u) * math.Log(1-2*math.Abs(u))
}

func periodOf(t time.Time, interval string) string {
	t = t.UTC()
	switch interval {
	case "week":
		wd := (int(t.Weekday()) + 6) % 7 // Monday starts the week
		return t.AddDate(0, 0, -wd).Format("2006-01-02")
	case "month":
		return t.Format("2006-01")
	}
	return t.Format("2006-01-02")
}

func periods(q TrendQuery) int {
	days := q.To.Sub(q.From).Hours() / 24
	switch q.Interval {
	case "week":
		return int(days/7) + 1
	case "month":
		return int(days/28) + 1
	}
	return int(days) + 1
}

// attrs are one customer's generalised attributes, as analytics may see them: age band,
// gender, region and country, each an index into the projection's table of values (0 is
// "unknown"), so that a million customers take tens of megabytes, not hundreds.
type attrs [4]uint16

// breakdownIndex is the position of each attribute breakdown in attrs.
var breakdownIndex = map[string]int{"age_band": 0, "gender": 1, "region": 2, "country": 3}

// projection is the in-memory table of every customer's attrs on this node.
type projection struct {
	rows   map[[16]byte]attrs
	values []string
	index  map[string]uint16
}

func newProjection() *projection {
	return &projection{rows: map[[16]byte]attrs{}, values: []string{"unknown"}, index: map[string]uint16{"": 0, "unknown": 0}}
}

// intern returns v's index, adding it while the table has room (a region field is free text;
// past 65,535 distinct values the rest count as unknown).
func (p *projection) intern(v string) uint16 {
	if i, ok := p.index[v]; ok {
		return i
	}
	if len(p.values) >= 1<<16-1 {
		return 0
	}
	i := uint16(len(p.values))
	p.values = append(p.values, v)
	p.index[v] = i
	return i
}

func projectionKey(id string) ([16]byte, bool) {
	u, err := uuid.Parse(id)
	return u, err == nil
}

// attributeFields are the catalog fields behind each breakdown.
var attributeFields = map[string]string{"age_band": "birth_date", "gender": "gender", "region": "region", "country": "country"}

func (s *Service) attributeAllowed(by string) bool {
	f, ok := s.catalog.Field(attributeFields[by])
	return ok && f.AllowsPurpose(AnalyticsPurpose)
}

// observe keeps f's generalised attributes in the in-memory projection.
func (s *Service) observe(f *Facts, now time.Time) {
	var a attrs
	get := func(name string) string {
		fd, ok := s.catalog.Field(name)
		if !ok || !fd.AllowsPurpose(AnalyticsPurpose) {
			return ""
		}
		v, ok := f.Values[name]
		if !ok || v == nil {
			return ""
		}
		if fd.Generalize != "" && fd.Generalize != catalog.GeneralizeNone {
			if v, ok = s.eval.Generalize(fd, v, now); !ok {
				return ""
			}
		}
		str, _ := v.(string)
		return str
	}
	vals := [4]string{get("birth_date"), get("gender"), get("region"), get("country")}
	key, ok := projectionKey(f.CustomerID)
	if !ok {
		return
	}
	s.mu.Lock()
	for i, v := range vals {
		a[i] = s.projection.intern(v)
	}
	s.projection.rows[key] = a
	s.mu.Unlock()
}

func (s *Service) forget(id string) {
	if key, ok := projectionKey(id); ok {
		s.mu.Lock()
		delete(s.projection.rows, key)
		s.mu.Unlock()
	}
}

// ensureProjection fills the projection on this node the first time a breakdown needs it.
func (s *Service) ensureProjection(ctx context.Context) error {
	s.mu.Lock()
	built := s.built
	s.mu.Unlock()
	if built {
		return nil
	}
	now := s.now()
	after := ""
	for {
		ids, facts, err := s.loader.Page(ctx, after, 2000, Needs{})
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			break
		}
		for i := range facts {
			s.observe(&facts[i], now)
		}
		after = ids[len(ids)-1]
	}
	s.mu.Lock()
	s.built = true
	s.mu.Unlock()
	return nil
}

// groupsOf gives each row the groups it counts in: one attribute value, every segment the
// customer belongs to, or the single unnamed group.
func (s *Service) groupsOf(ctx context.Context, by string, rows []TrendRow, segNames map[string]string) ([][]string, error) {
	out := make([][]string, len(rows))
	switch by {
	case "":
		for i := range rows {
			out[i] = []string{""}
		}
	case "segment":
		ids := make([]string, 0, len(rows))
		for _, r := range rows {
			ids = append(ids, r.CustomerID)
		}
		m, err := s.store.Memberships(ctx, ids)
		if err != nil {
			return nil, err
		}
		for i, r := range rows {
			for _, sid := range m[r.CustomerID] {
				if name, ok := segNames[sid]; ok {
					out[i] = append(out[i], name)
				}
			}
		}
	default:
		col := breakdownIndex[by]
		s.mu.Lock()
		for i, r := range rows {
			v := "unknown"
			if key, ok := projectionKey(r.CustomerID); ok {
				if a, ok := s.projection.rows[key]; ok {
					v = s.projection.values[a[col]]
				}
			}
			out[i] = []string{v}
		}
		s.mu.Unlock()
	}
	return out, nil
}

// CSV renders a trend as rows of period, group, value, customers and withheld.
func (t Trend) CSV() [][]string {
	rows := [][]string{{"period", "group", "value", "customers", "withheld_below"}}
	for _, se := range t.Series {
		for _, p := range se.Points {
			r := []string{p.Period, se.Group, "", "", ""}
			if p.Value != nil {
				r[2] = strconv.FormatFloat(*p.Value, 'f', -1, 64)
				r[3] = strconv.Itoa(*p.Customers)
			} else {
				r[4] = strconv.Itoa(p.CountBelow)
			}
			rows = append(rows, r)
		}
	}
	return rows
}
