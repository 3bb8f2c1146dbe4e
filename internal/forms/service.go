package forms

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/token"
)

// Confirmation is a consent waiting for the address's holder to follow the e-mailed link.
// It holds ids, purposes and times, never the address.
type Confirmation struct {
	TokenHash     []byte
	CustomerID    string
	Form          string
	Purposes      []string
	PolicyVersion string
	RequestedAt   time.Time
	ExpiresAt     time.Time
}

// Store keeps confirmations until they are used.
type Store interface {
	AddConfirmation(ctx context.Context, c Confirmation) error
	// TakeConfirmation removes and returns the confirmation with tokenHash: NotFound when
	// there is none (never issued, or used already), so a link works once.
	TakeConfirmation(ctx context.Context, tokenHash []byte) (Confirmation, error)
}

// Mailer sends the confirmation e-mails.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// ConfirmFor is how long a confirmation link works.
const ConfirmFor = 7 * 24 * time.Hour

// Honeypot is the name of the field people never see and bots fill in.
const Honeypot = "website"

// Deps is what the service is built from; Mailer may be nil, and then a form whose consents
// need confirming cannot record them (its submissions say so).
type Deps struct {
	Config    *Config
	Catalog   *catalog.Catalog
	Customers *customer.Service
	Consents  *consent.Service
	Validator *quality.Validator
	Store     Store
	Mailer    Mailer
	// Secret keys the fill-time stamps; PublicURL is where confirmation links point.
	Secret    []byte
	PublicURL string
	Clock     clock.Clock
}

// Service renders and submits hosted forms.
type Service struct{ d Deps }

// New builds the service.
func New(d Deps) (*Service, error) {
	if d.Config == nil || d.Catalog == nil || d.Customers == nil || d.Consents == nil || d.Validator == nil || d.Store == nil || len(d.Secret) < 16 {
		return nil, errors.New("forms: config, catalog, customers, consents, validator, store and a secret are required")
	}
	d.Clock = clock.Or(d.Clock)
	return &Service{d: d}, nil
}

// Config returns the forms and brand in force.
func (s *Service) Config() *Config { return s.d.Config }

// actor is who a form acts as in the audit trail: the form itself, with the owner's role so
// that it may create customers and record consents; what it may do is bounded by this code.
func actor(f *Form) authz.Actor {
	return authz.Actor{ID: "form:" + f.Name, Name: "hosted form " + f.Name, Role: catalog.OwnerRole}
}

// View is what a form page shows.
type View struct {
	Form   *Form
	Brand  Brand
	Lang   string
	Text   Text
	Title  string
	Fields []ViewField
	Boxes  []Box
	// Stamp is the signed time the form was shown (the minimum fill time starts there).
	Stamp         string
	PolicyVersion string
	Errors        []string
	// Suggest is an e-mail address the person probably meant, shown with a box to keep
	// theirs.
	Suggest string
}

// ViewField is one input.
type ViewField struct {
	Name, Label, Type, Value string
	Required                 bool
	Error                    string
}

// Box is one consent checkbox.
type Box struct {
	Purpose, Label string
	Checked        bool
}

// Show returns the view of a form in lang (see Form.Language), filled with values when the
// form is shown again after a refused submission.
func (s *Service) Show(ctx context.Context, f *Form, lang string, values map[string]string) (View, error) {
	t := TextFor(lang)
	v := View{Form: f, Brand: s.d.Config.Brand, Lang: lang, Text: t, Title: f.Title[lang], Stamp: s.stamp()}
	if v.Title == "" {
		v.Title = f.Title["en"]
	}
	if v.Title == "" {
		v.Title = f.Name
	}
	ps, err := s.d.Consents.Published(ctx)
	if err != nil {
		return View{}, err
	}
	inForce, ok := consent.Policies(ps).InForce(s.d.Clock())
	if ok {
		v.PolicyVersion = inForce.Version
	}
	for _, ff := range f.Fields {
		v.Fields = append(v.Fields, ViewField{Name: ff.Field, Label: t.Label(ff.Field), Type: InputType(ff.Field), Required: ff.Required, Value: values[ff.Field]})
	}
	for _, fp := range f.Purposes {
		// A purpose the policy in force does not cover cannot be consented to: no box.
		if !ok || !slices.Contains(inForce.Purposes, fp.Purpose) {
			continue
		}
		p, _ := s.d.Catalog.Purpose(fp.Purpose)
		label := fp.Label[lang]
		if label == "" {
			label = p.Description
		}
		v.Boxes = append(v.Boxes, Box{Purpose: fp.Purpose, Label: label, Checked: values["consent_"+fp.Purpose] == "yes"})
	}
	return v, nil
}

// stamp signs the current time: "unix.mac".
func (s *Service) stamp() string {
	t := strconv.FormatInt(s.d.Clock().Unix(), 10)
	return t + "." + s.mac(t)
}

func (s *Service) mac(t string) string {
	m := hmac.New(sha256.New, s.d.Secret)
	m.Write([]byte("form stamp " + t))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// filledIn reports whether stamp was issued by this server between min and a day ago.
func (s *Service) filledIn(stamp string, min time.Duration) bool {
	t, mac, ok := strings.Cut(stamp, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.mac(t))) {
		return false
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return false
	}
	age := s.d.Clock().Sub(time.Unix(n, 0))
	return age >= min && age <= 24*time.Hour
}

// Submission is one form post.
type Submission struct {
	Values    map[string]string
	Lang      string
	UserAgent string
	IP        string
}

// Outcome says what a submission did. With Errors nothing was stored and the form is shown
// again; Spam was answered as a success and stored nothing.
type Outcome struct {
	View      *View
	Spam      bool
	Confirm   bool // a confirmation e-mail was sent
	Recorded  []string
	Redirect  string
	Customer  string
	ThanksMsg string
}

// Submit validates a submission and stores it: the customer (created, or filled in where
// their profile lacks a value), each ticked purpose's consent under the version shown, or a
// confirmation e-mail for those that must wait for one.
func (s *Service) Submit(ctx context.Context, f *Form, sub Submission) (Outcome, error) {
	t := TextFor(sub.Lang)
	if strings.TrimSpace(sub.Values[Honeypot]) != "" {
		return Outcome{Spam: true, Redirect: f.Redirect, ThanksMsg: t.Thanks}, nil
	}
	values := map[string]string{}
	for _, ff := range f.Fields {
		values[ff.Field] = strings.TrimSpace(sub.Values[ff.Field])
	}
	for _, fp := range f.Purposes {
		if sub.Values["consent_"+fp.Purpose] == "yes" {
			values["consent_"+fp.Purpose] = "yes"
		}
	}
	again := func(msgs []string, suggest string) (Outcome, error) {
		v, err := s.Show(ctx, f, sub.Lang, values)
		if err != nil {
			return Outcome{}, err
		}
		v.Errors, v.Suggest = msgs, suggest
		return Outcome{View: &v}, nil
	}
	if !s.filledIn(sub.Values["stamp"], time.Duration(f.MinFill)*time.Second) || !Worked(sub.Values["stamp"], sub.Values["pow"], f.ProofOfWork) {
		return again([]string{t.TooFast}, "")
	}
	var msgs []string
	for _, ff := range f.Fields {
		if ff.Required && values[ff.Field] == "" {
			msgs = append(msgs, fmt.Sprintf(t.MissingField, t.Label(ff.Field)))
		}
	}
	if len(msgs) > 0 {
		return again(msgs, "")
	}
	fields, msgs, suggest, err := s.check(ctx, values, t, sub.Values["keep_email"] == "yes")
	if err != nil {
		return Outcome{}, err
	}
	if len(msgs) > 0 {
		return again(msgs, suggest)
	}
	var ticked []string
	for _, fp := range f.Purposes {
		if values["consent_"+fp.Purpose] == "yes" {
			ticked = append(ticked, fp.Purpose)
		}
	}
	version := sub.Values["policy_version"]
	if len(ticked) > 0 {
		ps, err := s.d.Consents.Published(ctx)
		if err != nil {
			return Outcome{}, err
		}
		inForce, ok := consent.Policies(ps).InForce(s.d.Clock())
		if !ok || inForce.Version != version {
			// The person read another version than the one in force now: they must see it.
			return again([]string{t.PolicyChanged}, "")
		}
	}
	ctx = authz.WithActor(ctx, actor(f))
	id, existing, err := s.store(ctx, fields)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Customer: id, Redirect: f.Redirect, ThanksMsg: t.Thanks}
	var wait []string
	for _, fp := range f.Purposes {
		if !slices.Contains(ticked, fp.Purpose) {
			continue // an unticked box records nothing
		}
		if fp.DoubleOptIn || existing {
			wait = append(wait, fp.Purpose)
			continue
		}
		if err := s.record(ctx, f, id, fp.Purpose, version, sub, nil); err != nil {
			return Outcome{}, err
		}
		out.Recorded = append(out.Recorded, fp.Purpose)
	}
	if len(wait) > 0 {
		if err := s.askConfirmation(ctx, f, id, fields["email"].(string), wait, version, t); err != nil {
			return Outcome{}, err
		}
		out.Confirm, out.ThanksMsg = true, t.ThanksConfirm
	}
	return out, nil
}

// check runs the quality rules over the contact fields and returns the values to store, or
// messages naming what is wrong (never repeating a value) and an address the person
// probably meant.
func (s *Service) check(ctx context.Context, values map[string]string, t Text, keepEmail bool) (map[string]any, []string, string, error) {
	var qf quality.Form
	ptr := func(field string) *string {
		if v, ok := values[field]; ok && v != "" {
			return &v
		}
		return nil
	}
	qf.Email, qf.Phone, qf.FirstName, qf.LastName = ptr("email"), ptr("phone"), ptr("first_name"), ptr("last_name")
	rep, err := s.d.Validator.Validate(ctx, qf)
	if err != nil && !errors.Is(err, quality.ErrEmptyForm) {
		return nil, nil, "", err
	}
	var msgs []string
	suggest := ""
	fields := map[string]any{}
	for field, v := range values {
		if v == "" || strings.HasPrefix(field, "consent_") {
			continue
		}
		fields[field] = v
		r, ok := rep.Fields[field]
		if !ok {
			continue
		}
		switch {
		case !r.Valid:
			msgs = append(msgs, fmt.Sprintf(t.Invalid, t.Label(field), strings.Join(r.Reasons, "; ")))
		case field == "email" && slices.Contains(r.Flags, quality.FlagDisposable):
			msgs = append(msgs, t.Disposable)
		case field == "email" && r.Suggestion != "" && !keepEmail:
			msgs = append(msgs, fmt.Sprintf(t.DidYouMean, r.Suggestion))
			suggest = r.Suggestion
		}
		if r.Normalized != "" {
			fields[field] = r.Normalized
		}
	}
	return fields, msgs, suggest, nil
}

// store creates the customer, or fills in what an existing one's profile lacks: a public form
// cannot prove it speaks for the person whose address it names, so it never changes what they
// said before. existing reports the latter.
func (s *Service) store(ctx context.Context, fields map[string]any) (id string, existing bool, err error) {
	v, err := s.d.Customers.Create(ctx, fields)
	if err == nil {
		return v.ID, false, nil
	}
	id = problem.ExistingIDOf(err)
	if id == "" {
		return "", false, err
	}
	if _, err := s.d.Customers.Fill(ctx, id, fields); err != nil && problem.ExistingIDOf(err) == "" {
		return "", false, err
	}
	return id, true, nil
}

func (s *Service) record(ctx context.Context, f *Form, id, purpose, version string, sub Submission, requested *time.Time) error {
	yes := true
	_, err := s.d.Consents.Record(ctx, id, consent.Input{Purpose: purpose, Granted: &yes, PolicyVersion: version, Source: consent.SourceSignupForm,
		Evidence: consent.EvidenceInput{FormID: "form:" + f.Name, UserAgent: clip(sub.UserAgent, 512), IP: sub.IP, RequestedAt: requested}})
	return err
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// askConfirmation stores a confirmation and mails its link to the address.
func (s *Service) askConfirmation(ctx context.Context, f *Form, id, email string, purposes []string, version string, t Text) error {
	if s.d.Mailer == nil {
		return problem.Off("this form needs to send a confirmation e-mail and no mailer is configured (--mail)")
	}
	secret, hash, err := token.New()
	if err != nil {
		return err
	}
	now := s.d.Clock()
	c := Confirmation{TokenHash: hash, CustomerID: id, Form: f.Name, Purposes: purposes, PolicyVersion: version, RequestedAt: now, ExpiresAt: now.Add(ConfirmFor)}
	if err := s.d.Store.AddConfirmation(ctx, c); err != nil {
		return err
	}
	var lines []string
	for _, p := range purposes {
		cp, _ := s.d.Catalog.Purpose(p)
		lines = append(lines, "- "+cp.Description)
	}
	link := strings.TrimSuffix(s.d.PublicURL, "/") + "/forms/confirm?token=" + secret
	return s.d.Mailer.Send(ctx, email, t.ConfirmSubject, fmt.Sprintf(t.ConfirmBody, strings.Join(lines, "\n"), link))
}

// Confirm records the consents a confirmation link stands for, under the version the form
// showed, with both moments: the record's time is now, its evidence keeps when the form was
// sent. A link works once and for ConfirmFor.
func (s *Service) Confirm(ctx context.Context, code string, sub Submission) ([]string, error) {
	t := TextFor(sub.Lang)
	if code == "" || len(code) > 100 {
		return nil, problem.InvalidField("token", "is required")
	}
	c, err := s.d.Store.TakeConfirmation(ctx, token.Hash(code))
	if problem.Is(err, problem.NotFound) {
		return nil, problem.Gonef("%s", t.LinkUsed)
	}
	if err != nil {
		return nil, err
	}
	if !s.d.Clock().Before(c.ExpiresAt) {
		return nil, problem.Gonef("%s", t.LinkExpired)
	}
	f, ok := s.d.Config.Find(c.Form)
	if !ok {
		f = &Form{Name: c.Form}
	}
	ctx = authz.WithActor(ctx, actor(f))
	requested := c.RequestedAt
	for _, p := range c.Purposes {
		if err := s.record(ctx, f, c.CustomerID, p, c.PolicyVersion, sub, &requested); err != nil {
			return nil, err
		}
	}
	return c.Purposes, nil
}

// FieldCheck is the verdict on one field as the person types it.
type FieldCheck struct {
	Valid      bool   `json:"valid"`
	Message    string `json:"message,omitempty"`
	Suggestion string `json:"suggestion,omitempty"`
}

// Check judges one field of a form by the rules a submission is judged by, storing nothing,
// for the page's as-you-type hints. Only the form's own fields may be checked.
func (s *Service) Check(ctx context.Context, f *Form, field, value, lang string) (FieldCheck, error) {
	declared := false
	for _, ff := range f.Fields {
		declared = declared || ff.Field == field
	}
	if !declared {
		return FieldCheck{}, problem.InvalidField("field", "is not a field of this form")
	}
	if len(value) > 512 {
		return FieldCheck{}, problem.InvalidField("value", "must be at most 512 characters")
	}
	t := TextFor(lang)
	value = strings.TrimSpace(value)
	if value == "" {
		return FieldCheck{Valid: true}, nil
	}
	_, msgs, suggest, err := s.check(ctx, map[string]string{field: value}, t, false)
	if err != nil || len(msgs) == 0 {
		return FieldCheck{Valid: true}, err
	}
	return FieldCheck{Valid: suggest != "", Message: msgs[0], Suggestion: suggest}, nil
}

// Worked reports whether nonce proves bits of work on stamp: SHA-256 of stamp, ":" and nonce
// starts with bits zero bits. No work is asked for at 0.
func Worked(stamp, nonce string, bits int) bool {
	if bits <= 0 {
		return true
	}
	if nonce == "" || len(nonce) > 32 {
		return false
	}
	sum := sha256.Sum256([]byte(stamp + ":" + nonce))
	for i := 0; i < bits; i++ {
		if sum[i/8]&(0x80>>(i%8)) != 0 {
			return false
		}
	}
	return true
}
