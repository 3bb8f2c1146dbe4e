// Package portal is the customer's own way in: a one-time link by e-mail opens a short
// session in which the customer sees, in plain language, every piece of data held about them
// (by category, with its purposes, legal basis, retention and source), their consents with
// the policy versions and receipts, and their requests with deadlines; changes their
// consents; says "do not sell or share my personal information"; and asks for a copy, a
// correction or erasure. Everything is done through the services staff use, audited with the
// customer as the actor.
package portal

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/token"
)

// Token is a sign-in link or a session, stored by the hash of its secret.
type Token struct {
	Hash       []byte
	Kind       string // KindLink or KindSession
	CustomerID string
	CreatedAt  time.Time
	SeenAt     time.Time
	ExpiresAt  time.Time
	// CSRF is the session's form token (sessions only).
	CSRF string
}

// Token kinds.
const (
	KindLink    = "link"
	KindSession = "session"
)

// Store keeps links and sessions.
type Store interface {
	// AddLink stores a link unless max links were made for its customer since since;
	// it reports whether it stored it.
	AddLink(ctx context.Context, t Token, since time.Time, max int) (bool, error)
	// Take removes and returns the token of kind with hash: NotFound when there is none.
	Take(ctx context.Context, kind string, hash []byte) (Token, error)
	AddSession(ctx context.Context, t Token) error
	// Session returns a session: NotFound when there is none.
	Session(ctx context.Context, hash []byte) (Token, error)
	Touch(ctx context.Context, hash []byte, seen time.Time) error
}

// Mailer sends the sign-in links.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Limits and lifetimes.
const (
	LinkFor      = 15 * time.Minute
	IdleFor      = 30 * time.Minute
	SessionFor   = 12 * time.Hour
	LinksPerHour = 3
	EnterPath    = "/portal/enter"
	// TouchEvery is how often a session's last use is written: not on every page, which
	// would make each read a write, and often enough that IdleFor holds within a minute.
	TouchEvery    = time.Minute
	sessionPrefix = "ps_"
)

// Deps is what the portal is built from.
type Deps struct {
	Catalog   *catalog.Catalog
	Customers *customer.Service
	Consents  *consent.Service
	Rights    *rights.Service
	Store     Store
	Mailer    Mailer
	PublicURL string
	Clock     clock.Clock
}

// Service is the portal.
type Service struct{ d Deps }

// New builds the portal.
func New(d Deps) (*Service, error) {
	if d.Catalog == nil || d.Customers == nil || d.Consents == nil || d.Rights == nil || d.Store == nil {
		return nil, errors.New("portal: catalog, customers, consents, rights and store are required")
	}
	d.Clock = clock.Or(d.Clock)
	return &Service{d: d}, nil
}

// system is who looks an address up before anyone is signed in.
var system = authz.Actor{ID: "portal", Name: "privacy portal", Role: "dpo"}

// as is the customer acting on the portal: what they may do is bounded by this package; the
// role lets the services it calls open their own data for them.
func as(ctx context.Context, customerID string) context.Context {
	return authz.WithActor(ctx, authz.Actor{ID: "customer:" + customerID, Name: "the customer, on the privacy portal", Role: "dpo"})
}

// SendLink e-mails a sign-in link to the customer holding email. It answers the same whether
// or not the address belongs to a customer, and sends at most LinksPerHour links an hour to
// one customer, so the portal tells nobody who is a customer and floods no mailbox.
func (s *Service) SendLink(ctx context.Context, email string) error {
	if s.d.Mailer == nil {
		return problem.Off("the privacy portal needs a mailer (--mail) to send sign-in links")
	}
	email = strings.TrimSpace(email)
	if email == "" || len(email) > 254 || !strings.Contains(email, "@") {
		return problem.InvalidField("email", "is required: the address we know you by")
	}
	views, err := s.d.Customers.Find(authz.WithActor(ctx, system), "email", email, "", 2)
	if problem.Is(err, problem.Invalid) {
		return problem.InvalidField("email", "is not a valid e-mail address")
	}
	if err != nil || len(views) != 1 {
		return err
	}
	raw, hash, err := token.New()
	if err != nil {
		return err
	}
	now := s.d.Clock()
	ok, err := s.d.Store.AddLink(ctx, Token{Hash: hash, Kind: KindLink, CustomerID: views[0].ID, CreatedAt: now, SeenAt: now, ExpiresAt: now.Add(LinkFor)},
		now.Add(-time.Hour), LinksPerHour)
	if err != nil || !ok {
		return err
	}
	link := strings.TrimSuffix(s.d.PublicURL, "/") + EnterPath + "?token=" + raw
	body := "Open this link within 15 minutes to see and manage the data we hold about you:\n\n" + link +
		"\n\nIf you did not ask for it, ignore this message: nobody can sign in without it.\n"
	if err := s.d.Mailer.Send(ctx, email, "Your privacy portal link", body); err != nil {
		return problem.Wrap(problem.Unavailable, err, "the link could not be sent; try again later")
	}
	return nil
}

// Enter turns a sign-in link into a session: the session's secret (for the cookie) and its
// form token. A link works once and for LinkFor.
func (s *Service) Enter(ctx context.Context, link string) (session, csrf string, err error) {
	if link == "" || len(link) > 100 {
		return "", "", problem.InvalidField("token", "is required")
	}
	l, err := s.d.Store.Take(ctx, KindLink, token.Hash(link))
	if problem.Is(err, problem.NotFound) {
		return "", "", problem.Gonef("this link was used already or never sent: ask for a new one")
	}
	if err != nil {
		return "", "", err
	}
	now := s.d.Clock()
	if !now.Before(l.ExpiresAt) {
		return "", "", problem.Gonef("this link has expired: ask for a new one")
	}
	raw, hash, err := token.New()
	if err != nil {
		return "", "", err
	}
	csrf, _, err = token.New()
	if err != nil {
		return "", "", err
	}
	t := Token{Hash: hash, Kind: KindSession, CustomerID: l.CustomerID, CreatedAt: now, SeenAt: now, ExpiresAt: now.Add(SessionFor), CSRF: csrf}
	if err := s.d.Store.AddSession(ctx, t); err != nil {
		return "", "", err
	}
	return sessionPrefix + raw, csrf, nil
}

// Session is a signed-in customer.
type Session struct {
	CustomerID string
	CSRF       string
	hash       []byte
}

// Who returns the session of a cookie: Unauthenticated when there is none, it ended (after
// IdleFor without use, or SessionFor in all), or its customer is gone.
func (s *Service) Who(ctx context.Context, cookie string) (Session, error) {
	raw, ok := strings.CutPrefix(cookie, sessionPrefix)
	if !ok || len(raw) > 100 {
		return Session{}, problem.New(problem.Unauthenticated, "not signed in")
	}
	h := token.Hash(raw)
	t, err := s.d.Store.Session(ctx, h)
	if problem.Is(err, problem.NotFound) {
		return Session{}, problem.New(problem.Unauthenticated, "not signed in")
	}
	if err != nil {
		return Session{}, err
	}
	now := s.d.Clock()
	if !now.Before(t.ExpiresAt) || now.Sub(t.SeenAt) > IdleFor {
		_, _ = s.d.Store.Take(ctx, KindSession, h)
		return Session{}, problem.New(problem.Unauthenticated, "your session ended: ask for a new link")
	}
	if now.Sub(t.SeenAt) >= TouchEvery {
		if err := s.d.Store.Touch(ctx, h, now); err != nil {
			return Session{}, err
		}
	}
	return Session{CustomerID: t.CustomerID, CSRF: t.CSRF, hash: h}, nil
}

// SignOut ends a session.
func (s *Service) SignOut(ctx context.Context, sess Session) error {
	_, err := s.d.Store.Take(ctx, KindSession, sess.hash)
	if problem.Is(err, problem.NotFound) {
		return nil
	}
	return err
}

// Overview is everything the customer is shown.
type Overview struct {
	Fields   []customer.FieldRecord
	Choices  []Choice
	Records  []consent.Record
	Requests []*rights.Request
	// DoNotSell is true when the customer refused every purpose a "do not sell or share"
	// covers (withdrew, objected, or their browser's GPC signal did).
	DoNotSell bool
}

// Choice is one purpose the customer decides about, with the decision in force.
type Choice struct {
	Purpose     catalog.Purpose
	Decision    consent.Decision
	Objectable  bool // legitimate interest: the customer objects rather than withdraws
	Grantable   bool // the policy in force covers it, so a consent can be given
	SellOrShare bool // covered by "do not sell or share"
}

// Overview opens the customer's data for them: audited as their own export and reads.
func (s *Service) Overview(ctx context.Context, sess Session) (Overview, error) {
	ctx = as(ctx, sess.CustomerID)
	d, err := s.d.Customers.Dossier(ctx, sess.CustomerID)
	if err != nil {
		return Overview{}, err
	}
	h, err := s.d.Consents.History(ctx, sess.CustomerID)
	if err != nil {
		return Overview{}, err
	}
	reqs, err := s.d.Rights.List(ctx, rights.RequestFilter{CustomerID: sess.CustomerID, Limit: 100}, "")
	if err != nil {
		return Overview{}, err
	}
	inForce, _ := s.inForce(ctx)
	o := Overview{Fields: d.Fields, Records: h.History, Requests: reqs, DoNotSell: true}
	anySell := false
	for _, dec := range h.State {
		p, _ := s.d.Catalog.Purpose(dec.Purpose)
		if p.LegalBasis != catalog.Consent && p.LegalBasis != catalog.LegitimateInterest {
			continue
		}
		c := Choice{Purpose: p, Decision: dec, Objectable: p.LegalBasis == catalog.LegitimateInterest, SellOrShare: p.GPCOptOut,
			Grantable: p.LegalBasis == catalog.LegitimateInterest || contains(inForce.Purposes, p.Name)}
		if p.GPCOptOut {
			// Asked, not merely never allowed: each such purpose refused by a record.
			anySell = true
			o.DoNotSell = o.DoNotSell && (dec.Reason == consent.ReasonWithdrawn || dec.Reason == consent.ReasonGPCOptOut ||
				dec.Reason == consent.ReasonObjected || dec.Reason == consent.ReasonOptedOut)
		}
		o.Choices = append(o.Choices, c)
	}
	o.DoNotSell = o.DoNotSell && anySell
	return o, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Service) inForce(ctx context.Context) (consent.Policy, bool) {
	ps, err := s.d.Consents.Published(ctx)
	if err != nil {
		return consent.Policy{}, false
	}
	return consent.Policies(ps).InForce(s.d.Clock())
}

// Choose records the customer's choice for a purpose, with source portal: for a consent
// purpose a consent or its withdrawal under the version in force, for a legitimate-interest
// one an objection or its lifting.
func (s *Service) Choose(ctx context.Context, sess Session, purpose string, allow bool, ev consent.EvidenceInput) error {
	p, ok := s.d.Catalog.Purpose(purpose)
	if !ok || (p.LegalBasis != catalog.Consent && p.LegalBasis != catalog.LegitimateInterest) {
		return problem.InvalidField("purpose", "is not a choice you can make here")
	}
	in := consent.Input{Kind: consent.KindConsent, Purpose: purpose, Granted: &allow, Source: consent.SourcePortal, Evidence: ev}
	if p.LegalBasis == catalog.LegitimateInterest {
		in.Kind = consent.KindObjection
	}
	if pol, ok := s.inForce(ctx); ok {
		in.PolicyVersion = pol.Version
	}
	_, err := s.d.Consents.Record(as(ctx, sess.CustomerID), sess.CustomerID, in)
	return err
}

// DoNotSell withdraws every purpose a Global Privacy Control signal covers (the catalog's
// gpc_opt_out purposes: sharing with advertisers, personalisation), as the CCPA's "do not
// sell or share my personal information" asks.
func (s *Service) DoNotSell(ctx context.Context, sess Session, ev consent.EvidenceInput) error {
	for _, name := range s.d.Catalog.GPCPurposes() {
		if err := s.Choose(ctx, sess, name, false, ev); err != nil {
			return err
		}
	}
	return nil
}

// Ask opens a request of the customer's own: verified, since the link that opened the
// session went to their address.
func (s *Service) Ask(ctx context.Context, sess Session, typ string) (*rights.Request, error) {
	return s.d.Rights.CreateVerified(as(ctx, sess.CustomerID), sess.CustomerID, typ)
}

// Download returns the export package of one of the customer's own completed access or
// portability requests: the session stands for the download token the e-mail carries.
func (s *Service) Download(ctx context.Context, sess Session, requestID string) ([]byte, error) {
	return s.d.Rights.DownloadOwn(as(ctx, sess.CustomerID), sess.CustomerID, requestID)
}

// As is the context of the signed-in customer acting on a page the portal shows, for the
// services the page reads besides the portal's own (the loyalty member card).
func As(ctx context.Context, customerID string) context.Context { return as(ctx, customerID) }
