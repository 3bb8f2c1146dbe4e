package activity

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/problem"
)

// Day is the length of one bucket of every series: counts are by UTC day.
const Day = 24 * time.Hour

// MaxDays bounds how far back a series reaches, so a query never sweeps years of events.
const MaxDays = 366

// Count is how many things happened on one UTC day (Day is its midnight).
type Count struct {
	Day time.Time `json:"day"`
	N   int64     `json:"n"`
}

// Choice is how many consent choices for one purpose were recorded on one day, and how many of
// them granted it.
type Choice struct {
	Day     time.Time `json:"day"`
	Purpose string    `json:"purpose"`
	Granted int64     `json:"granted"`
	Total   int64     `json:"total"`
}

// Store counts rows per day from since on (a UTC midnight). Days with nothing are left out;
// the service fills them in.
type Store interface {
	CustomersPerDay(ctx context.Context, since time.Time) ([]Count, error)
	EventsPerDay(ctx context.Context, since time.Time) ([]Count, error)
	ConsentsPerDay(ctx context.Context, since time.Time) ([]Choice, error)
	RequestsPerDay(ctx context.Context, since time.Time) ([]Count, error)
}

// Service reads the series for the person in the context.
type Service struct {
	store   Store
	catalog *catalog.Catalog
	clock   clock.Clock

	mu    sync.Mutex
	cache map[string]cached
}

// FreshFor is how long a count read from the database is served again before it is read
// anew. Each series sweeps the rows of its window (tables are not indexed by time, which
// would slow every write), seconds at a million customers created in the window, so a
// dashboard many people open shows counts up to a minute old instead of sweeping on every
// view. Counts only, never personal data, are kept; each node keeps its own.
const FreshFor = time.Minute

type cached struct {
	at      time.Time
	counts  []Count
	choices []Choice
}

// New builds the service; store and catalog are required.
func New(store Store, cat *catalog.Catalog, c clock.Clock) (*Service, error) {
	if store == nil || cat == nil {
		return nil, errors.New("activity: a store and a catalog are required")
	}
	return &Service{store: store, catalog: cat, clock: clock.Or(c), cache: map[string]cached{}}, nil
}

// read returns what fetch reads for key, from the cache while it is fresh.
func (s *Service) read(ctx context.Context, key string, fetch func(context.Context) (cached, error)) (cached, error) {
	now := s.clock()
	s.mu.Lock()
	c, ok := s.cache[key]
	s.mu.Unlock()
	if ok && now.Sub(c.at) < FreshFor && !now.Before(c.at) {
		return c, nil
	}
	c, err := fetch(ctx)
	if err != nil {
		return c, err
	}
	c.at = now
	s.mu.Lock()
	for k, old := range s.cache { // yesterday's windows and stale reads go
		if now.Sub(old.at) >= FreshFor {
			delete(s.cache, k)
		}
	}
	s.cache[key] = c
	s.mu.Unlock()
	return c, nil
}

// Metric names one series.
type Metric string

// The series, each with the permission that may read it: customers and their events and
// consents are customer data (customers.read), requests are the privacy officer's queue
// (requests.manage).
const (
	Customers Metric = "customers"
	Events    Metric = "events"
	Consents  Metric = "consents"
	Requests  Metric = "requests"
)

// Metrics are the series in the order the dashboard shows them.
var Metrics = []Metric{Customers, Events, Consents, Requests}

// Permission is the permission a role needs to read m.
func (m Metric) Permission() string {
	if m == Requests {
		return catalog.PermRequestsManage
	}
	return catalog.PermCustomersRead
}

// Allowed reports whether the actor in ctx may read m, so a page can leave out what the
// person may not see instead of failing.
func (s *Service) Allowed(ctx context.Context, m Metric) bool {
	_, err := authz.Require(ctx, s.catalog, m.Permission())
	return err == nil
}

// since is the first day of a window of days ending today, and the window's length checked.
func (s *Service) since(days int) (time.Time, error) {
	if days < 1 || days > MaxDays {
		return time.Time{}, problem.InvalidField("days", "must be 1 to %d", MaxDays)
	}
	today := s.clock().UTC().Truncate(Day)
	return today.Add(-time.Duration(days-1) * Day), nil
}

// Series returns m per day for the last days days (today included), one Count per day,
// oldest first, zero where nothing happened. Forbidden when the role may not read m.
func (s *Service) Series(ctx context.Context, m Metric, days int) ([]Count, error) {
	if _, err := authz.Require(ctx, s.catalog, m.Permission()); err != nil {
		return nil, err
	}
	since, err := s.since(days)
	if err != nil {
		return nil, err
	}
	var got []Count
	switch m {
	case Customers, Events, Requests:
		read := map[Metric]func(context.Context, time.Time) ([]Count, error){
			Customers: s.store.CustomersPerDay, Events: s.store.EventsPerDay, Requests: s.store.RequestsPerDay}[m]
		c, err := s.read(ctx, string(m)+since.String(), func(ctx context.Context) (cached, error) {
			counts, err := read(ctx, since)
			return cached{counts: counts}, err
		})
		if err != nil {
			return nil, err
		}
		got = c.counts
	case Consents:
		cs, err := s.choices(ctx, since)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			got = append(got, Count{Day: c.Day, N: c.Total})
		}
	default:
		return nil, problem.InvalidField("metric", "unknown metric %q", string(m))
	}
	out := make([]Count, days)
	for i := range out {
		out[i].Day = since.Add(time.Duration(i) * Day)
	}
	for _, c := range got {
		if i := int(c.Day.Sub(since) / Day); i >= 0 && i < days {
			out[i].N += c.N
		}
	}
	return out, nil
}

// Rate is one purpose's consent rate in one period: the share of the choices recorded then
// that granted it (Total 0: no choice was recorded, and Share means nothing).
type Rate struct {
	Start   time.Time `json:"start"`
	Granted int64     `json:"granted"`
	Total   int64     `json:"total"`
}

// Share is Granted over Total, 0 when nothing was recorded.
func (r Rate) Share() float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(r.Granted) / float64(r.Total)
}

// PurposeRates is one consent purpose's rates, one per period, oldest first.
type PurposeRates struct {
	Purpose string `json:"purpose"`
	Rates   []Rate `json:"rates"`
}

// ConsentRates returns, for each purpose whose legal basis is consent, the share of choices
// granting it per period of `every` days over the last periods periods. Needs
// customers.read: the counts are of customers' choices, never who made them.
func (s *Service) ConsentRates(ctx context.Context, periods, every int) ([]PurposeRates, error) {
	if _, err := authz.Require(ctx, s.catalog, catalog.PermCustomersRead); err != nil {
		return nil, err
	}
	if periods < 1 || every < 1 {
		return nil, problem.Invalidf("periods and their length must be at least 1")
	}
	since, err := s.since(periods * every)
	if err != nil {
		return nil, err
	}
	cs, err := s.choices(ctx, since)
	if err != nil {
		return nil, err
	}
	byPurpose := map[string][]Rate{}
	var out []PurposeRates
	for _, p := range s.catalog.Purposes {
		if p.LegalBasis != catalog.Consent {
			continue
		}
		rates := make([]Rate, periods)
		for i := range rates {
			rates[i].Start = since.Add(time.Duration(i*every) * Day)
		}
		byPurpose[p.Name] = rates
		out = append(out, PurposeRates{Purpose: p.Name, Rates: rates})
	}
	for _, c := range cs {
		rates, ok := byPurpose[c.Purpose]
		if i := int(c.Day.Sub(since)/Day) / every; ok && i >= 0 && i < periods {
			rates[i].Granted += c.Granted
			rates[i].Total += c.Total
		}
	}
	return out, nil
}

// choices reads the consent choices per day and purpose from since on, through the cache.
func (s *Service) choices(ctx context.Context, since time.Time) ([]Choice, error) {
	c, err := s.read(ctx, string(Consents)+since.String(), func(ctx context.Context) (cached, error) {
		cs, err := s.store.ConsentsPerDay(ctx, since)
		return cached{choices: cs}, err
	})
	return c.choices, err
}
