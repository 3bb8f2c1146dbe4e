package rights

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
)

// Request types.
const (
	TypeAccess        = "access"
	TypePortability   = "portability"
	TypeErasure       = "erasure"
	TypeRectification = "rectification"
	TypeRestriction   = "restriction"
	TypeObjection     = "objection"
	TypeOptOut        = "opt_out"
)

// Types lists the request types in the order the documentation presents them.
var Types = []string{TypeAccess, TypePortability, TypeErasure, TypeRectification, TypeRestriction, TypeObjection, TypeOptOut}

// Request states: received → verified → in_progress → completed, or rejected from any open
// state with a reason.
const (
	StateReceived   = "received"
	StateVerified   = "verified"
	StateInProgress = "in_progress"
	StateCompleted  = "completed"
	StateRejected   = "rejected"
)

// Sources of a request.
const (
	SourceStaff    = "staff"
	SourceCustomer = "customer"
)

// Request is one data-subject request. It never holds the requester's contact details in
// clear: a self-service request keeps only a keyed hash of the address it was sent from.
type Request struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	State        string          `json:"state"`
	CustomerID   string          `json:"customer_id,omitempty"`
	Jurisdiction string          `json:"jurisdiction"`
	Source       string          `json:"source"`
	Reason       string          `json:"reason,omitempty"`
	Result       json.RawMessage `json:"result,omitempty"`
	Version      int64           `json:"version"`
	DueAt        time.Time       `json:"due_at"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	VerifiedAt   time.Time       `json:"verified_at,omitzero"`
	ClosedAt     time.Time       `json:"closed_at,omitzero"`
	// OpenedBy is the id of the staff member (API key) who opened the request, empty for a
	// request the customer made on the privacy portal. The four-eyes rule (Settings.FourEyes)
	// keeps that person from also verifying the requester's identity.
	OpenedBy string `json:"opened_by,omitempty"`
	// Overdue and DueSoon are computed when the request is read.
	Overdue bool `json:"overdue"`
	DueSoon bool `json:"due_soon"`

	ContactHash  []byte    `json:"-"`
	TokenHash    []byte    `json:"-"`
	TokenExpires time.Time `json:"-"`
}

// Open reports whether the request still awaits an answer.
func (r *Request) Open() bool { return r.State != StateCompleted && r.State != StateRejected }

// RequestFilter narrows a listing. Zero values mean any.
type RequestFilter struct {
	State      string
	Type       string
	CustomerID string
	// DueBefore keeps open requests due before it (overdue: now; due soon: now + window).
	DueBefore time.Time
	Limit     int
}

// RequestStats are counts for dashboards and metrics; no ids.
type RequestStats struct {
	Open    map[string]int64 `json:"open"`
	Overdue int64            `json:"overdue"`
	DueSoon int64            `json:"due_soon"`
}

// Deadline is how long a jurisdiction gives to answer: months are calendar months (GDPR
// Article 12(3) says "one month"), days are days (CCPA: 45 days).
type Deadline struct {
	Months, Days int
}

// After returns the due date for a request received at t.
func (d Deadline) After(t time.Time) time.Time { return t.AddDate(0, d.Months, d.Days) }

func (d Deadline) String() string {
	if d.Months > 0 {
		return strconv.Itoa(d.Months) + "m"
	}
	return strconv.Itoa(d.Days) + "d"
}

// ParseDeadlines parses "gdpr=1m,ccpa=45d" into deadlines by jurisdiction.
func ParseDeadlines(s string) (map[string]Deadline, error) {
	out := map[string]Deadline{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		val = strings.TrimSpace(val)
		if !ok || name == "" || len(val) < 2 {
			return nil, fmt.Errorf("request deadline %q: want name=1m or name=45d", part)
		}
		n, err := strconv.Atoi(val[:len(val)-1])
		if err != nil || n < 1 || n > 365 {
			return nil, fmt.Errorf("request deadline %q: want a whole number from 1 to 365 before m or d", part)
		}
		switch val[len(val)-1] {
		case 'm':
			out[name] = Deadline{Months: n}
		case 'd':
			out[name] = Deadline{Days: n}
		default:
			return nil, fmt.Errorf("request deadline %q: unit must be m (months) or d (days)", part)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("request deadlines: at least one jurisdiction is required")
	}
	return out, nil
}

// DefaultDeadlines are GDPR's one month, the UK's one month, and CCPA's 45 days.
const DefaultDeadlines = "gdpr=1m,uk_gdpr=1m,ccpa=45d"

// Settings tune the request workflow.
type Settings struct {
	Deadlines           map[string]Deadline
	DefaultJurisdiction string
	// DueSoon is how close to its due date an open request counts as due soon.
	DueSoon time.Duration
	// LinkTTL is how long a verification link works.
	LinkTTL time.Duration
	// ExportTTL is how long an export package can be downloaded before it is deleted.
	ExportTTL time.Duration
	// PublicURL is the base of links sent to customers, e.g. https://privacy.example.com.
	PublicURL string
	// FourEyes keeps whoever opened a staff request from verifying the requester's identity
	// too. Without it one key with requests.manage could open a request for any customer,
	// vouch for the requester itself and have the export made, so the identity check that
	// stands between a caller and a person's data would be one person's word.
	FourEyes bool
}

// withDefaults fills the settings left unset with the defaults a business would expect.
func (st Settings) withDefaults() Settings {
	if st.Deadlines == nil {
		st.Deadlines, _ = ParseDeadlines(DefaultDeadlines)
	}
	if st.DefaultJurisdiction == "" {
		st.DefaultJurisdiction = "gdpr"
	}
	if st.DueSoon <= 0 {
		st.DueSoon = 7 * 24 * time.Hour
	}
	if st.LinkTTL <= 0 {
		st.LinkTTL = 24 * time.Hour
	}
	if st.ExportTTL <= 0 {
		st.ExportTTL = 7 * 24 * time.Hour
	}
	if st.PublicURL == "" {
		st.PublicURL = "http://127.0.0.1:8080"
	}
	return st
}

// NewRequest is what staff give to open a request: a customer id, or an email or phone to
// find the customer by.
type NewRequest struct {
	Type         string `json:"type"`
	CustomerID   string `json:"customer_id,omitempty"`
	Email        string `json:"email,omitempty"`
	Phone        string `json:"phone,omitempty"`
	Jurisdiction string `json:"jurisdiction,omitempty"`
}

// Create opens a request on behalf of a customer (staff intake: phone call, letter, e-mail to
// the DPO). It needs requests.manage. The customer must exist: NotFound names the look-up that
// found nobody; Gone for an erased id.
func (s *Service) Create(ctx context.Context, in NewRequest) (*Request, error) {
	actor, err := authz.Require(ctx, s.catalog, "requests.manage")
	if err != nil {
		return nil, err
	}
	if err := checkType(in.Type); err != nil {
		return nil, err
	}
	jur, dl, err := s.jurisdiction(in.Jurisdiction)
	if err != nil {
		return nil, err
	}
	id, err := s.resolve(ctx, in)
	if err != nil {
		return nil, err
	}
	return s.open(ctx, in, id, jur, dl, SourceStaff, actor.ID)
}

// open stores a request opened for a known customer (by staff, or relayed by a platform) with
// its audit entry.
func (s *Service) open(ctx context.Context, in NewRequest, customerID, jur string, dl Deadline, source, openedBy string) (*Request, error) {
	now := s.now()
	r := &Request{ID: newID(), Type: in.Type, State: StateReceived, CustomerID: customerID, Jurisdiction: jur, Source: source,
		Version: 1, DueAt: dl.After(now), CreatedAt: now, UpdatedAt: now, ContactHash: s.openedWith(in), OpenedBy: openedBy}
	e := audit.New(ctx, ActionRequestCreate, customerID, nil, "privacy_requests")
	e.Target = requestTarget(r.ID)
	if err := s.store.CreateRequest(ctx, r, []audit.Entry{e}); err != nil {
		return nil, err
	}
	return s.decorate(r), nil
}

// SourcePlatform prefixes the source of a request a connected platform relayed: a shop's
// "redact this customer" notice becomes a request with source "platform:shopify".
const SourcePlatform = "platform:"

// Relay opens a request a connected platform relayed on its customer's behalf (Shopify's
// customers/redact, say), with the platform as its source. It needs a trusted write role
// (events.write and customers.write, which a source acts with): the platform vouched for
// the customer, so it answers like the platform expects, with nil and no error when nobody
// here matches the contact it named (there is nothing to erase), and never says who is a
// customer. The request then follows the workflow like any other: verified and completed by
// staff, within the jurisdiction's deadline.
func (s *Service) Relay(ctx context.Context, in NewRequest, platform string) (*Request, error) {
	actor, err := authz.Require(ctx, s.catalog, "events.write")
	if err != nil {
		return nil, err
	}
	if !s.catalog.RoleHas(actor.Role, "customers.write") {
		return nil, problem.Forbiddenf("role %q may not relay requests: a trusted write role is required", actor.Role)
	}
	if err := checkType(in.Type); err != nil {
		return nil, err
	}
	jur, dl, err := s.jurisdiction(in.Jurisdiction)
	if err != nil {
		return nil, err
	}
	// The look-up runs as the privacy function, as the portal's does: the platform may not
	// read customers, only name the one its notice is about.
	sys := authz.WithActor(ctx, authz.Actor{ID: actor.ID, Name: actor.Name, Role: "dpo"})
	id, err := s.resolve(sys, in)
	if problem.Is(err, problem.NotFound) || problem.Is(err, problem.Gone) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.open(ctx, in, id, jur, dl, SourcePlatform+platform, actor.ID)
}

// resolve finds the customer a staff request is about.
func (s *Service) resolve(ctx context.Context, in NewRequest) (string, error) {
	given := 0
	for _, v := range []string{in.CustomerID, in.Email, in.Phone} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return "", problem.InvalidField("customer_id", "give exactly one of customer_id, email or phone")
	}
	if in.CustomerID != "" {
		if _, err := s.vault.IndexedValues(ctx, in.CustomerID); err != nil {
			return "", err
		}
		return in.CustomerID, nil
	}
	field, raw := "email", in.Email
	if in.Phone != "" {
		field, raw = "phone", in.Phone
	}
	views, err := s.customers.Find(ctx, field, raw, "", 0)
	if err != nil {
		return "", err
	}
	switch len(views) {
	case 0:
		return "", problem.NotFoundf("no customer has this %s", field)
	case 1:
		return views[0].ID, nil
	}
	return "", problem.Conflictf("several customers have this %s: open the request by customer_id", field)
}

// contactLabel keys the hash of the address or number a request came with.
const contactLabel = "request contact"

// openedWith is the keyed hash of the e-mail address or phone number staff opened a request
// with (nil when they named the customer by id), so that the export of a completed access
// request can be sent to that address and no other. The value was normalised once already
// by the look-up that found the customer.
func (s *Service) openedWith(in NewRequest) []byte {
	field, raw := "email", in.Email
	if in.Phone != "" {
		field, raw = "phone", in.Phone
	}
	if raw == "" {
		return nil
	}
	norm, err := s.vault.Normalize(field, raw)
	if err != nil {
		return nil
	}
	return s.hasher.KeyedHash(contactLabel, norm)
}

// SelfRequest is what a customer gives on the privacy portal: the e-mail address or the phone
// number the confirmation link goes to, one of the two.
type SelfRequest struct {
	Type         string `json:"type"`
	Email        string `json:"email,omitempty"`
	Phone        string `json:"phone,omitempty"`
	Jurisdiction string `json:"jurisdiction,omitempty"`
}

// SelfRequestsPerContact is how many portal requests one e-mail address or phone number may
// open in SelfRequestWindow. Each sends one message, so this bounds how many a stranger can make
// Steward send to one inbox or phone: enough for a person who lost the first message and asks
// again, too few to use the portal to flood someone.
const SelfRequestsPerContact = 3

// SelfRequestWindow is the period SelfRequestsPerContact counts over.
const SelfRequestWindow = time.Hour

// CreateSelf opens a request made by the customer and sends a one-time verification link to
// the address given, by e-mail, or to the phone number given, by text message. It answers the
// same whether or not the address belongs to a customer, so the portal cannot be used to learn
// who is a customer; a request from an unknown address stays unverifiable and is rejected by
// the DPO ("no data held"). The customer is found through the blind index of the field given,
// as staff look-ups are.
//
// Once SelfRequestsPerContact requests for the same contact were opened within
// SelfRequestWindow, it stores and sends nothing and returns a nil request and no error: the
// portal answers exactly as it does when a message goes out, so the limit tells a caller
// nothing about the address. The count is kept in the database, as the keyed hash of the
// contact every request already carries, so all nodes agree on it; it covers addresses that
// belong to no customer as well, which is what keeps it from telling the two apart.
func (s *Service) CreateSelf(ctx context.Context, in SelfRequest) (*Request, error) {
	if err := checkType(in.Type); err != nil {
		return nil, err
	}
	jur, dl, err := s.jurisdiction(in.Jurisdiction)
	if err != nil {
		return nil, err
	}
	field, norm, err := s.selfContact(in)
	if err != nil {
		return nil, err
	}
	// The look-up runs as the privacy portal, which may read customers for privacy_requests.
	sys := authz.WithActor(ctx, authz.Actor{ID: "portal", Name: "privacy portal", Role: "dpo"})
	views, err := s.customers.Find(sys, field, string(norm), "", 0)
	if err != nil {
		return nil, err
	}
	token, tokenHash := newToken()
	now := s.now()
	st := s.settings
	r := &Request{ID: newID(), Type: in.Type, State: StateReceived, Jurisdiction: jur, Source: SourceCustomer,
		Version: 1, DueAt: dl.After(now), CreatedAt: now, UpdatedAt: now,
		ContactHash: s.hasher.KeyedHash(contactLabel, norm), TokenHash: tokenHash, TokenExpires: now.Add(st.LinkTTL)}
	if len(views) == 1 {
		r.CustomerID = views[0].ID
	}
	e := audit.New(sys, ActionRequestCreate, r.CustomerID, nil, "privacy_requests")
	e.Target = requestTarget(r.ID)
	created, err := s.store.CreateSelfRequest(ctx, r, []audit.Entry{e}, now.Add(-SelfRequestWindow), SelfRequestsPerContact)
	if err != nil {
		return nil, err
	}
	if !created {
		return nil, nil
	}
	link := s.link(ConfirmPath + "?token=" + token)
	within := inWords(st.LinkTTL)
	mail := "We received " + withArticle(TypeName(r.Type)) + " for the data we hold about you.\n\n" +
		"To confirm that you made it, open this link within " + within + ":\n\n" + link +
		"\n\nIf you did not make this request, ignore this message: nothing will happen without your confirmation.\n"
	text := "We received " + withArticle(TypeName(r.Type)) + " for your data. Confirm it within " + within + ": " + link +
		" If it was not you, ignore this message."
	if err := s.send(ctx, field, string(norm), "Confirm your privacy request", mail, text); err != nil {
		return nil, problem.Wrap(problem.Unavailable, err, "the confirmation message could not be sent; try again later")
	}
	return s.decorate(r), nil
}

// CreateVerified opens a request a customer makes on the privacy portal, already verified:
// the portal's session was opened with a link sent to the customer's own address. It needs
// requests.manage, which the portal acts with. Like a self-service request it has no staff
// opener, so the four-eyes rule lets any member of staff complete it.
func (s *Service) CreateVerified(ctx context.Context, customerID, typ string) (*Request, error) {
	if _, err := authz.Require(ctx, s.catalog, "requests.manage"); err != nil {
		return nil, err
	}
	if err := checkType(typ); err != nil {
		return nil, err
	}
	jur, dl, err := s.jurisdiction("")
	if err != nil {
		return nil, err
	}
	now := s.now()
	r := &Request{ID: newID(), Type: typ, State: StateVerified, CustomerID: customerID, Jurisdiction: jur, Source: SourceCustomer,
		Version: 1, DueAt: dl.After(now), CreatedAt: now, UpdatedAt: now, VerifiedAt: now, ContactHash: []byte{}}
	e := audit.New(ctx, ActionRequestCreate, customerID, nil, "privacy_requests")
	e.Target = requestTarget(r.ID)
	if err := s.store.CreateRequest(ctx, r, []audit.Entry{e}); err != nil {
		return nil, err
	}
	return s.decorate(r), nil
}

// ConfirmPath is the page a confirmation link opens (see Confirm).
const ConfirmPath = "/v1/privacy/confirm"

// selfContact checks the contact of a self-service request and says which field it is. A
// request can only be confirmed through a message to that contact, so a contact Steward
// cannot send to is refused here: by phone number without a text-message sender it is
// Invalid (the customer can use their e-mail address instead); without a mailer the whole
// portal is Unavailable.
func (s *Service) selfContact(in SelfRequest) (string, []byte, error) {
	field, raw := "email", in.Email
	switch {
	case in.Email != "" && in.Phone != "":
		return "", nil, problem.InvalidField("phone", "give email or phone, not both")
	case in.Phone != "":
		field, raw = "phone", in.Phone
	case in.Email == "":
		return "", nil, problem.InvalidField("email", "give the e-mail address (or phone number) the request is about")
	}
	norm, err := s.vault.Normalize(field, raw)
	if err != nil {
		return "", nil, err
	}
	if s.mailer == nil {
		return "", nil, problem.Off("no mailer is configured: self-service requests are off")
	}
	if field == "phone" && s.texter == nil {
		return "", nil, problem.InvalidField("phone", "requests by phone number cannot be confirmed here, because no "+
			"text-message sender is configured: make the request with your e-mail address")
	}
	return field, norm, nil
}

// send delivers a message to an e-mail address (mail) or a phone number (text).
func (s *Service) send(ctx context.Context, field, to, subject, mail, text string) error {
	if field == "phone" {
		if s.texter == nil {
			return errors.New("no text-message sender")
		}
		return s.texter.SendText(ctx, to, text)
	}
	if s.mailer == nil {
		return errors.New("no mailer")
	}
	return s.mailer.Send(ctx, to, subject, mail)
}

// link is an absolute link to path on the public URL, for messages to customers.
func (s *Service) link(path string) string {
	return strings.TrimRight(s.settings.PublicURL, "/") + path
}

// Confirm verifies a self-service request through its one-time link. An unknown, used or
// expired token is Gone, and changes nothing.
func (s *Service) Confirm(ctx context.Context, token string) (*Request, error) {
	if token == "" || len(token) > 100 {
		return nil, problem.InvalidField("token", "is required")
	}
	sum := sha256.Sum256([]byte(token))
	r, err := s.store.RequestByToken(ctx, sum[:])
	if problem.Is(err, problem.NotFound) {
		return nil, problem.Gonef("this link is not valid: it was used already or never issued")
	}
	if err != nil {
		return nil, err
	}
	if !s.now().Before(r.TokenExpires) {
		return nil, problem.Gonef("this link has expired: make the request again")
	}
	if r.State != StateReceived {
		return nil, problem.Gonef("this link was used already")
	}
	prev := r.Version
	r.State, r.VerifiedAt, r.TokenHash, r.TokenExpires = StateVerified, s.now(), nil, time.Time{}
	r.Version++
	r.UpdatedAt = r.VerifiedAt
	ctx = authz.WithActor(ctx, authz.Actor{ID: "portal", Name: "privacy portal", Role: "dpo"})
	e := audit.New(ctx, ActionRequestVerify, r.CustomerID, nil, "privacy_requests")
	e.Target = requestTarget(r.ID)
	if err := s.store.UpdateRequest(ctx, r, prev, []audit.Entry{e}); err != nil {
		return nil, err
	}
	return s.decorate(r), nil
}

// Get returns one request, audited as a read; NotFound for an unknown id.
func (s *Service) Get(ctx context.Context, id string) (*Request, error) {
	r, err := s.request(ctx, id)
	if err != nil {
		return nil, err
	}
	e := audit.New(ctx, ActionRequestRead, r.CustomerID, nil, "privacy_requests")
	e.Target = requestTarget(r.ID)
	return r, s.audit.AppendAudit(ctx, e)
}

// request returns a request for a step that changes it (verify, complete, reject), which
// audits the step itself rather than a read. Needs requests.manage.
func (s *Service) request(ctx context.Context, id string) (*Request, error) {
	if _, err := authz.Require(ctx, s.catalog, "requests.manage"); err != nil {
		return nil, err
	}
	if !ident.Valid(id) {
		return nil, problem.InvalidField("id", "is not a valid request id")
	}
	r, err := s.store.GetRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.decorate(r), nil
}

// List returns requests; due "overdue" or "soon" narrows to open requests past or near their
// due date.
func (s *Service) List(ctx context.Context, f RequestFilter, due string) ([]*Request, error) {
	if _, err := authz.Require(ctx, s.catalog, "requests.manage"); err != nil {
		return nil, err
	}
	if f.State != "" && !slices.Contains([]string{StateReceived, StateVerified, StateInProgress, StateCompleted, StateRejected}, f.State) {
		return nil, problem.InvalidField("state", "must be received, verified, in_progress, completed or rejected")
	}
	if f.Type != "" {
		if err := checkType(f.Type); err != nil {
			return nil, err
		}
	}
	switch due {
	case "":
	case "overdue":
		f.DueBefore = s.now()
	case "soon":
		f.DueBefore = s.now().Add(s.settings.DueSoon)
	default:
		return nil, problem.InvalidField("due", "must be overdue or soon")
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > 1000 {
		return nil, problem.InvalidField("limit", "must be at most 1000")
	}
	rs, err := s.store.ListRequests(ctx, f)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		s.decorate(r)
	}
	kinds := []string{}
	for _, k := range [...][2]string{{"state", f.State}, {"type", f.Type}, {"due", due}, {"customer_id", f.CustomerID}} {
		if k[1] != "" {
			kinds = append(kinds, k[0])
		}
	}
	e := audit.QueryEntry(ctx, ActionRequestList, "privacy_requests", kinds, len(rs))
	e.CustomerID = f.CustomerID
	return rs, s.audit.AppendAudit(ctx, e)
}

// Stats counts open, overdue and due-soon requests for metrics.
func (s *Service) Stats(ctx context.Context) (RequestStats, error) {
	now := s.now()
	return s.store.RequestCounts(ctx, now, now.Add(s.settings.DueSoon))
}

// Verify records that staff verified the requester's identity. With the four-eyes rule on
// (Settings.FourEyes), whoever opened a staff request may not verify it: Forbidden, naming the
// rule. A request the customer made on the portal has no staff opener, so any member of staff
// with requests.manage may verify it.
func (s *Service) Verify(ctx context.Context, id string) (*Request, error) {
	return s.transition(ctx, id, func(r *Request) (string, error) {
		if r.State != StateReceived {
			return "", problem.Conflictf("request is %s; only a received request can be verified", r.State)
		}
		if r.CustomerID == "" {
			return "", problem.Conflictf("request names no customer: reject it with a reason")
		}
		if err := s.checkFourEyes(ctx, r); err != nil {
			return "", err
		}
		r.State, r.VerifiedAt = StateVerified, s.now()
		return ActionRequestVerify, nil
	})
}

// checkFourEyes refuses the verification of r by the actor who opened it, when the rule is
// on. Requests opened before openers were recorded carry the opener found in their audit
// entry (migration 0011); one with none cannot be checked and is let through.
func (s *Service) checkFourEyes(ctx context.Context, r *Request) error {
	if !s.settings.FourEyes || r.OpenedBy == "" {
		return nil
	}
	a, _ := authz.ActorFrom(ctx)
	if a.ID != r.OpenedBy {
		return nil
	}
	return problem.Forbiddenf("four-eyes rule: the requester's identity must be verified by someone other than " +
		"the person who opened the request; ask another member of staff with requests.manage " +
		"(the rule is set by --request-four-eyes)")
}

// Reject closes a request with a reason (identity not verified, manifestly unfounded, no data
// held…). A closed request cannot be rejected.
func (s *Service) Reject(ctx context.Context, id, reason string) (*Request, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 1000 {
		return nil, problem.InvalidField("reason", "is required (at most 1000 characters)")
	}
	return s.transition(ctx, id, func(r *Request) (string, error) {
		if !r.Open() {
			return "", problem.Conflictf("request is already %s", r.State)
		}
		r.State, r.Reason, r.ClosedAt = StateRejected, reason, s.now()
		return ActionRequestReject, nil
	})
}

// transition loads, checks, changes and stores a request with its audit entry.
func (s *Service) transition(ctx context.Context, id string, fn func(r *Request) (string, error)) (*Request, error) {
	r, err := s.request(ctx, id)
	if err != nil {
		return nil, err
	}
	prev := r.Version
	action, err := fn(r)
	if err != nil {
		return nil, err
	}
	r.Version++
	r.UpdatedAt = s.now()
	e := audit.New(ctx, action, r.CustomerID, nil, "privacy_requests")
	e.Target = requestTarget(r.ID)
	if err := s.store.UpdateRequest(ctx, r, prev, []audit.Entry{e}); err != nil {
		return nil, err
	}
	return s.decorate(r), nil
}

func (s *Service) decorate(r *Request) *Request {
	if r.Open() {
		now := s.now()
		r.Overdue = !now.Before(r.DueAt)
		r.DueSoon = !r.Overdue && r.DueAt.Before(now.Add(s.settings.DueSoon))
	}
	return r
}

func (s *Service) jurisdiction(j string) (string, Deadline, error) {
	st := s.settings
	if j == "" {
		j = st.DefaultJurisdiction
	}
	j = strings.ToLower(j)
	dl, ok := st.Deadlines[j]
	if !ok {
		names := sortedNames(st.Deadlines)
		return "", Deadline{}, problem.InvalidField("jurisdiction", "must be one of %s", strings.Join(names, ", "))
	}
	return j, dl, nil
}

func checkType(t string) error {
	if !slices.Contains(Types, t) {
		return problem.InvalidField("type", "must be one of %s", strings.Join(Types, ", "))
	}
	return nil
}

func newID() string {
	return ident.New()
}

// newToken returns a random link token and the hash stored in its place, so a database reader
// cannot use a pending link.
func newToken() (string, []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	t := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(t))
	return t, sum[:]
}

var _ customer.ErasureLedger = Store(nil)
