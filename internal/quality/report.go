package quality

import (
	"context"
	"errors"
	"time"
)

// Monitor derives contact statuses and the quality report from stored facts. It reads no
// personal values itself: callers that hold a customer's opened values pass the two it
// judges (e-mail and phone), and the report works from verdicts the duplicate scan stored.
type Monitor struct {
	store         MonitorStore
	inactiveAfter time.Duration
	clock         func() time.Time
}

// NewMonitor builds a monitor over store. inactiveAfter is how long without engagement makes
// a contact inactive (0 means DefaultInactiveAfter); now is the clock (nil is the system's).
func NewMonitor(store MonitorStore, inactiveAfter time.Duration, now func() time.Time) (*Monitor, error) {
	if store == nil {
		return nil, errors.New("quality monitor: a store is required")
	}
	if now == nil {
		now = time.Now
	}
	return &Monitor{store: store, inactiveAfter: inactiveAfter, clock: now}, nil
}

func (m *Monitor) now() time.Time { return m.clock().UTC() }

// Contact is what ContactStatus needs to know about one customer.
type Contact struct {
	CustomerID string
	Created    time.Time
	// Updated is when the profile last changed: when the e-mail address was set, as far as
	// is known, if it changed after the last scan.
	Updated    time.Time
	Email      string
	Phone      string
	EmailToken int64 // the e-mail's blind-index token, 0 without an address
}

// ContactStatus derives a customer's status now, from the values given and the signals
// stored. It reveals nothing the caller does not hold already.
func (m *Monitor) ContactStatus(ctx context.Context, c Contact) (Status, error) {
	eng, err := m.store.Engagement(ctx, c.CustomerID)
	if err != nil {
		return Status{}, err
	}
	f := StatusFacts{Engagement: eng, Created: c.Created}
	f.Validation, f.ValidationReasons = AssessContact(c.Email, c.Phone)
	if c.Email != "" {
		since, changed, err := m.store.EmailSince(ctx, c.CustomerID, c.EmailToken)
		if err != nil {
			return Status{}, err
		}
		f.EmailSince = since
		if changed {
			// Changed after the last scan: at the latest change of the profile, as far as
			// is known; bounces before it were about the old address.
			f.EmailSince = c.Updated
		}
	}
	return DeriveStatus(f, m.now(), m.inactiveAfter), nil
}

// BaseReport is the quality report of the whole customer base: counts only, never values or customer ids.
type BaseReport struct {
	GeneratedAt time.Time `json:"generated_at"`
	Customers   int64     `json:"customers"`
	// Completeness is, per catalog field, how many customers hold it and that share.
	Completeness []FieldCompleteness `json:"completeness"`
	// ContactStatus counts customers by status (merged-away customers are left out).
	ContactStatus map[string]int64 `json:"contact_status"`
	// Unchecked counts customers whose current values no scan has judged yet; their
	// status counts use what the last scan saw, or none.
	Unchecked         int64 `json:"unchecked"`
	DuplicatesPending int64 `json:"duplicates_pending"`
	// StaleContacts counts contacts with no engagement for the inactivity period
	// (InactiveDays), whatever else their status says.
	StaleContacts int64 `json:"stale_contacts"`
	InactiveDays  int   `json:"inactive_days"`
}

// FieldCompleteness is one field's line of the report.
type FieldCompleteness struct {
	Field  string  `json:"field"`
	Filled int64   `json:"filled"`
	Share  float64 `json:"share"`
}

// Report counts completeness per field (fields in catalog order), statuses, pending
// duplicates and stale contacts.
func (m *Monitor) Report(ctx context.Context, fields []string) (BaseReport, error) {
	now := m.now()
	inactive := m.inactiveAfter
	if inactive <= 0 {
		inactive = DefaultInactiveAfter
	}
	rep := BaseReport{GeneratedAt: now.Truncate(time.Second), ContactStatus: map[string]int64{}, InactiveDays: int(inactive / (24 * time.Hour))}
	for _, s := range Statuses() {
		rep.ContactStatus[s] = 0
	}
	total, counts, err := m.store.FieldCounts(ctx)
	if err != nil {
		return BaseReport{}, err
	}
	rep.Customers = total
	rep.Completeness = make([]FieldCompleteness, 0, len(fields))
	for _, f := range fields {
		fc := FieldCompleteness{Field: f, Filled: counts[f]}
		if total > 0 {
			fc.Share = float64(int64(float64(fc.Filled)/float64(total)*10000)) / 10000
		}
		rep.Completeness = append(rep.Completeness, fc)
	}
	err = m.store.ContactRows(ctx, func(r ContactRow) error {
		if !r.Checked {
			rep.Unchecked++
		}
		v := r.Validation
		if v == "" {
			v = ValidationNone
		}
		st := DeriveStatus(StatusFacts{Validation: v, ValidationReasons: r.Reasons, Engagement: r.Engagement,
			EmailSince: r.EmailSince, Created: r.Created}, now, inactive)
		rep.ContactStatus[st.Status]++
		last := r.Engaged
		if last.IsZero() {
			last = r.Created
		}
		if v != ValidationNone && !last.IsZero() && now.Sub(last) > inactive {
			rep.StaleContacts++
		}
		return nil
	})
	if err != nil {
		return BaseReport{}, err
	}
	if rep.DuplicatesPending, err = m.store.PendingDuplicates(ctx); err != nil {
		return BaseReport{}, err
	}
	return rep, nil
}
