package quality

import (
	"context"
	"sort"
	"time"
)

// Contact statuses, from the worst news to the best. A customer has one: the first that
// applies in this order, so a complaint outranks a bounce and a bounce outranks inactivity.
const (
	StatusComplained   = "complained"   // marked a message as spam: never send marketing again
	StatusBounced      = "bounced"      // the current address bounced and nothing opened since
	StatusUnsubscribed = "unsubscribed" // unsubscribed through a message's link
	StatusInvalid      = "invalid"      // the stored e-mail or phone no longer passes validation
	StatusInactive     = "inactive"     // no engagement for the configured period
	StatusRisky        = "risky"        // deliverable but doubtful: disposable domain, typo, premium-rate number
	StatusValid        = "valid"        // nothing against it
	StatusNone         = "none"         // no e-mail address or phone number to judge
)

// Statuses lists every status, worst first, for reports that count them.
func Statuses() []string {
	return []string{StatusComplained, StatusBounced, StatusUnsubscribed, StatusInvalid, StatusInactive, StatusRisky, StatusValid, StatusNone}
}

// Validation verdicts on a customer's stored contact values.
const (
	ValidationValid   = "valid"
	ValidationRisky   = "risky"
	ValidationInvalid = "invalid"
	ValidationNone    = "none"
)

// Engagement is when a customer (and everyone merged into them) last sent each kind of
// signal through tracking. Zero times mean never.
type Engagement struct {
	Bounced      time.Time
	Complained   time.Time
	Unsubscribed time.Time
	// Engaged is the newest event that shows the person is there: an e-mail opened or
	// clicked, a page viewed, an order placed — anything but a delivery report or one of
	// the three signals above.
	Engaged time.Time
	// Opened is the newest e-mail opened or link clicked: the proof that the address
	// receives mail again after a (soft) bounce.
	Opened time.Time
}

// Engagement event names, as the Segment e-mail specification sends them.
const (
	EventEmailBounced     = "Email Bounced"
	EventEmailSpam        = "Email Marked as Spam"
	EventUnsubscribed     = "Unsubscribed"
	EventEmailDelivered   = "Email Delivered"
	EventEmailOpened      = "Email Opened"
	EventEmailLinkClicked = "Email Link Clicked"
)

// StatusFacts is everything a contact status is derived from. None of it is personal
// plaintext: a verdict, times and the customer's creation time.
type StatusFacts struct {
	Validation string
	// ValidationReasons are the codes behind a risky or invalid verdict (disposable, typo,
	// role, premium_rate, email_invalid, phone_invalid).
	ValidationReasons []string
	Engagement
	// EmailSince is when the current e-mail address was first seen. Bounces and complaints
	// older than it were about another address and no longer count.
	EmailSince time.Time
	// Created is when the customer was created; a customer who never engaged is inactive
	// once this is longer ago than the inactivity period.
	Created time.Time
}

// Status is a customer's contact status as shown with the customer and counted in the
// quality report.
type Status struct {
	Status string `json:"status"`
	// Reasons are short codes, never values: "bounced", "disposable", "no_engagement" …
	Reasons          []string   `json:"reasons"`
	Validation       string     `json:"validation"`
	LastEngagementAt *time.Time `json:"last_engagement_at,omitempty"`
	Since            *time.Time `json:"since,omitempty"`
}

// DefaultInactiveAfter is how long without engagement makes a contact inactive, unless
// configured otherwise: six months, the period after which mailbox providers start to treat
// mail to unengaged recipients as unwanted.
const DefaultInactiveAfter = 180 * 24 * time.Hour

// DeriveStatus decides a contact status from its facts. It is pure, so every combination
// can be tested as a table.
func DeriveStatus(f StatusFacts, now time.Time, inactiveAfter time.Duration) Status {
	if inactiveAfter <= 0 {
		inactiveAfter = DefaultInactiveAfter
	}
	st := Status{Validation: f.Validation, Reasons: []string{}}
	if st.Validation == "" {
		st.Validation = ValidationNone
	}
	if !f.Engaged.IsZero() {
		t := f.Engaged
		st.LastEngagementAt = &t
	}
	set := func(status, reason string, since time.Time) Status {
		st.Status = status
		st.Reasons = append(st.Reasons, reason)
		if !since.IsZero() {
			s := since
			st.Since = &s
		}
		return st
	}
	current := func(t time.Time) bool { return !t.IsZero() && !t.Before(f.EmailSince) }
	switch {
	case current(f.Complained):
		return set(StatusComplained, "complained", f.Complained)
	case current(f.Bounced) && !f.Opened.After(f.Bounced):
		// A soft bounce followed by an open means the address works again.
		return set(StatusBounced, "bounced", f.Bounced)
	case !f.Unsubscribed.IsZero():
		return set(StatusUnsubscribed, "unsubscribed", f.Unsubscribed)
	case st.Validation == ValidationInvalid:
		st.Status = StatusInvalid
		st.Reasons = append(st.Reasons, f.ValidationReasons...)
		return st
	case st.Validation == ValidationNone:
		st.Status = StatusNone
		st.Reasons = append(st.Reasons, "no_contact")
		return st
	}
	last := f.Engaged
	if last.IsZero() {
		last = f.Created
	}
	if !last.IsZero() && now.Sub(last) > inactiveAfter {
		return set(StatusInactive, "no_engagement", last.Add(inactiveAfter))
	}
	if st.Validation == ValidationRisky {
		st.Status = StatusRisky
		st.Reasons = append(st.Reasons, f.ValidationReasons...)
		return st
	}
	st.Status = StatusValid
	return st
}

// AssessContact judges a customer's stored e-mail address and phone number (either may be
// empty) as valid, risky, invalid or none, with reason codes. Stored values were valid when
// written; they can turn invalid or risky when the rules or lists change (a domain becomes
// known as disposable), so the verdict is taken again whenever status is derived. MX checks
// are left out: they belong to forms, not to a scan of the whole base.
func AssessContact(email, phone string) (string, []string) {
	if email == "" && phone == "" {
		return ValidationNone, nil
	}
	var reasons []string
	invalid, risky := false, false
	if email != "" {
		r := ValidateEmail(email)
		switch {
		case !r.Acceptable:
			invalid = true
			reasons = append(reasons, "email_invalid")
		default:
			if r.Disposable {
				risky = true
				reasons = append(reasons, FlagDisposable)
			}
			if r.Suggestion != "" {
				risky = true
				reasons = append(reasons, FlagTypo)
			}
			if r.Role {
				reasons = append(reasons, FlagRole)
			}
		}
	}
	if phone != "" {
		p := ValidatePhone(phone, "")
		switch {
		case !p.Valid:
			// A bad phone only makes the contact invalid when there is no good e-mail to
			// reach the person by.
			reasons = append(reasons, "phone_invalid")
			if email == "" {
				invalid = true
			}
		case p.Type == PhonePremiumRate:
			risky = true
			reasons = append(reasons, FlagPremiumRate)
		}
	}
	sort.Strings(reasons)
	switch {
	case invalid:
		return ValidationInvalid, reasons
	case risky:
		return ValidationRisky, reasons
	}
	return ValidationValid, reasons
}

// MonitorStore is what contact status and the quality report need from an engine. It
// returns counts, times and verdicts, never values.
type MonitorStore interface {
	// Engagement returns the newest engagement signals of a customer and of every customer
	// merged into it.
	Engagement(ctx context.Context, customerID string) (Engagement, error)
	// EmailSince returns since when the customer has held the e-mail address whose
	// blind-index token is emailToken, as the duplicate scan saw it: zero when it is the
	// first address the scan saw (every signal counts), and changed true when the scan saw
	// another address last (the address changed since).
	EmailSince(ctx context.Context, customerID string, emailToken int64) (since time.Time, changed bool, err error)
	// ContactRows calls fn with the stored facts of every customer that has not been merged
	// into another, in no particular order.
	ContactRows(ctx context.Context, fn func(ContactRow) error) error
	// FieldCounts returns how many customers hold each field, and how many there are.
	FieldCounts(ctx context.Context) (total int64, counts map[string]int64, err error)
	// PendingDuplicates returns how many duplicate pairs wait for review.
	PendingDuplicates(ctx context.Context) (int64, error)
}

// ContactRow is one customer's stored status facts, as the last duplicate scan and the
// events left them.
type ContactRow struct {
	Checked    bool // false when no scan has looked at the customer's current values
	Validation string
	Reasons    []string
	EmailSince time.Time
	Created    time.Time
	Engagement
}
