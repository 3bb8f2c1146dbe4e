package source

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/vault"
)

// Kinds of source, one per vendor whose payloads and signature scheme Steward follows.
const (
	Shopify     = "shopify"
	WooCommerce = "woocommerce"
	Stripe      = "stripe"
	SendGrid    = "sendgrid"
	Mailgun     = "mailgun"
	Twilio      = "twilio"
	MetaLeads   = "meta_leads"
	Trustpilot  = "trustpilot"
	Zendesk     = "zendesk"
)

// Kinds lists every kind, in the order the documentation presents them.
var Kinds = []string{Shopify, WooCommerce, Stripe, SendGrid, Mailgun, Twilio, MetaLeads, Trustpilot, Zendesk}

// chosenSecret are the kinds whose signing secret the business chooses and pastes into the
// vendor's console: Steward makes one when none is given. The others' secrets (or, for
// SendGrid, the public key) are issued by the vendor and must be given.
var chosenSecret = map[string]bool{WooCommerce: true, Trustpilot: true}

// Audit actions written by sources.
const (
	ActionCreate  = "source.create"
	ActionRefused = "source.refused"
)

// Table and field names bound into the associated data of a source's sealed secret.
const (
	secretTable = "sources"
	secretField = "secret"
)

// MaxNameLength bounds a source's name.
const MaxNameLength = 100

// Source is a connected platform as shown to staff: never its secret.
type Source struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind" enum:"shopify,woocommerce,stripe,sendgrid,mailgun,twilio,meta_leads,trustpilot,zendesk"`
	Name      string    `json:"name"`
	Role      string    `json:"role" doc:"The write role deliveries act with (ingest unless chosen)."`
	Endpoint  string    `json:"endpoint" doc:"The path the vendor delivers to, under the server's public URL."`
	CreatedAt time.Time `json:"created_at"`
	Counts
	LastError   string    `json:"last_error,omitempty" doc:"Why the latest refused or failed delivery was not stored."`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Counts are a source's delivery counters, kept across restarts and nodes.
type Counts struct {
	// Received counts deliveries that reached the endpoint, whatever became of them.
	Received int64 `json:"received"`
	// Stored counts deliveries that stored at least one new event.
	Stored int64 `json:"stored"`
	// Refused counts deliveries refused: a signature that did not verify, a stale timestamp,
	// an unreadable or oversized body.
	Refused int64 `json:"refused"`
	// Duplicates counts deliveries of events already stored (retries, replays).
	Duplicates int64 `json:"duplicates"`
	// Ignored counts verified deliveries of events Steward does not map (a topic not listed
	// in docs/sources.md, a ping) or that name nobody it could attribute them to.
	Ignored int64 `json:"ignored"`
}

func (c *Counts) add(d Counts) {
	c.Received += d.Received
	c.Stored += d.Stored
	c.Refused += d.Refused
	c.Duplicates += d.Duplicates
	c.Ignored += d.Ignored
}

// Record is a source as stored: the view plus its sealed secret.
type Record struct {
	Source
	MasterVersion int
	// Key is the source's own data key, wrapped by the master key; Secret the sealed JSON of
	// its secrets.
	Key    []byte
	Secret []byte
}

// secrets are what a source verifies deliveries with.
type secrets struct {
	Secret string `json:"secret"`
	// VerifyToken answers Meta's subscription handshake.
	VerifyToken string `json:"verify_token,omitempty"`
	// PageToken is Meta's page access token, which reads a lead's answers from the Graph API.
	PageToken string `json:"page_token,omitempty"`
}

// Store keeps sources and their counters.
type Store interface {
	// CreateSource stores a new source and its audit entries in one transaction.
	CreateSource(ctx context.Context, r Record, entries []audit.Entry) error
	// GetSource returns NotFound for an unknown id.
	GetSource(ctx context.Context, id string) (Record, error)
	// ListSources returns every source, oldest first.
	ListSources(ctx context.Context) ([]Record, error)
	// AddSourceCounts adds to a source's counters and, when lastError is not empty, sets its
	// last error and its time.
	AddSourceCounts(ctx context.Context, id string, c Counts, lastError string, at time.Time) error
}

// Ingester is the part of the ingest service a source writes through.
type Ingester interface {
	Ingest(ctx context.Context, b ingest.Batch) (ingest.Result, error)
	// IngestAll stores several sources' batches in one transaction, each attributed to the
	// actor of its own context.
	IngestAll(ctx context.Context, parts []ingest.Part) ([]ingest.Result, error)
	OrderCustomer(ctx context.Context, orderID string) (string, error)
}

// Requests opens the data-subject requests platforms relay.
type Requests interface {
	Relay(ctx context.Context, in rights.NewRequest, platform string) (*rights.Request, error)
}

// Keys makes and opens a source's own data key.
type Keys interface {
	NewDataKey(id string) (*vault.DataKey, vault.WrappedKey, error)
	OpenDataKey(ctx context.Context, id string, w vault.WrappedKey) (*vault.DataKey, error)
}

// Deps is what the service is built from; every field but Clock is required.
type Deps struct {
	Store    Store
	Ingest   Ingester
	Requests Requests
	Keys     Keys
	Audit    audit.Store
	Catalog  *catalog.Catalog
	Clock    clock.Clock
	// GraphURL is where Meta's Graph API is reached, version included (DefaultGraphURL when
	// empty); tests point it at a server of their own.
	GraphURL string
}

// Service configures sources and receives their deliveries.
type Service struct {
	store    Store
	ingest   Ingester
	requests Requests
	keys     Keys
	audit    audit.Store
	catalog  *catalog.Catalog
	clock    clock.Clock
	// Tolerance is how far a signed timestamp (Stripe, SendGrid, Mailgun, Zendesk) may be
	// from now; older deliveries are refused as replays.
	Tolerance time.Duration

	mu sync.Mutex
	// pending are counters not yet added to the store, keyed by source id: a delivery
	// counts in memory and Flush writes the sums, so that counting costs no write per
	// delivery. lastErr holds each source's newest error since the last flush.
	pending map[string]*Counts
	lastErr map[string]errorAt
	// cache holds opened sources, so a delivery costs no read and no unwrap.
	cache map[string]*opened
	// merger stores concurrent deliveries to one source together (see batch.go).
	merger merger
	// tokens remembers which event each Mailgun signature token signed (see bindToken).
	tokens map[string]string
	// graph reads Meta leads' answers (see lead.go).
	graph graphClient
}

type errorAt struct {
	msg string
	at  time.Time
}

// opened is a source ready to verify deliveries.
type opened struct {
	Source
	secrets
}

// DefaultTolerance is the window Stripe's own libraries use for signed timestamps.
const DefaultTolerance = 5 * time.Minute

// New builds the service.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Ingest == nil || d.Requests == nil || d.Keys == nil || d.Audit == nil || d.Catalog == nil {
		return nil, errors.New("source service: store, ingest, requests, keys, audit and catalog are required")
	}
	return &Service{store: d.Store, ingest: d.Ingest, requests: d.Requests, keys: d.Keys, audit: d.Audit, catalog: d.Catalog,
		clock: clock.Or(d.Clock), Tolerance: DefaultTolerance, pending: map[string]*Counts{}, lastErr: map[string]errorAt{},
		cache: map[string]*opened{}, graph: newGraphClient(d.GraphURL)}, nil
}

// Input configures a new source.
type Input struct {
	Kind string `json:"kind" enum:"shopify,woocommerce,stripe,sendgrid,mailgun,twilio,meta_leads,trustpilot,zendesk"`
	Name string `json:"name" maxLength:"100"`
	// Secret is the signing secret the vendor issued (for SendGrid, the verification public
	// key); left out for WooCommerce and Trustpilot, Steward makes one to paste there.
	Secret string `json:"secret,omitempty" doc:"The vendor's signing secret (Shopify: the app's client secret or the notifications signing key; Stripe: whsec_…; SendGrid: the verification public key; Mailgun: the HTTP webhook signing key; Twilio: the auth token; Meta: the app secret; Zendesk: the webhook signing secret). Left out for WooCommerce and Trustpilot, one is made and shown once."`
	Role   string `json:"role,omitempty" doc:"The write role deliveries act with: ingest (the default, trusted server-side) or collect."`
	// VerifyToken is Meta's verify token when the business chose one (a source in the
	// configuration file); left out, Steward makes one.
	VerifyToken string `json:"verify_token,omitempty" doc:"Meta lead ads: the verify token to answer Meta's handshake with; left out, one is made and shown once."`
	// PageToken is Meta's page access token (leads_retrieval): with it, each lead's answers
	// are read from the Graph API when its webhook arrives.
	PageToken string `json:"page_token,omitempty" doc:"Meta lead ads: a page access token with leads_retrieval, which reads each lead's answers from the Graph API; stored sealed, never shown. Left out, a lead is stored with its id only."`
}

// Created is a new source with the secrets to paste into the vendor's console, shown once.
type Created struct {
	Source
	Secret      string `json:"secret,omitempty" doc:"The signing secret Steward made, when none was given: paste it into the vendor's console now, it is never shown again."`
	VerifyToken string `json:"verify_token,omitempty" doc:"Meta lead ads: the verify token to paste into the app's webhook subscription, shown once."`
}

// Create configures a source. Needs apikeys.manage, as a source is a write credential.
func (s *Service) Create(ctx context.Context, in Input) (*Created, error) {
	if _, err := authz.Require(ctx, s.catalog, "apikeys.manage"); err != nil {
		return nil, err
	}
	in.Kind = strings.TrimSpace(strings.ToLower(in.Kind))
	if !slices.Contains(Kinds, in.Kind) {
		return nil, problem.InvalidField("kind", "must be one of %s", strings.Join(Kinds, ", "))
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > MaxNameLength {
		return nil, problem.InvalidField("name", "is required, at most %d characters", MaxNameLength)
	}
	if in.Role == "" {
		in.Role = "ingest"
	}
	if _, ok := s.catalog.Role(in.Role); !ok || !s.catalog.RoleHas(in.Role, "events.write") || s.catalog.RoleHas(in.Role, "customers.read") {
		return nil, problem.InvalidField("role", "must be a write-only role holding events.write (ingest or collect)")
	}
	sec := secrets{Secret: strings.TrimSpace(in.Secret)}
	out := &Created{}
	switch {
	case sec.Secret == "" && chosenSecret[in.Kind]:
		sec.Secret = randomToken("whsec_")
		out.Secret = sec.Secret
	case sec.Secret == "":
		return nil, problem.InvalidField("secret", "is required for %s: paste the signing secret its console shows (see docs/sources.md)", in.Kind)
	case len(sec.Secret) > 4096:
		return nil, problem.InvalidField("secret", "is too long")
	}
	if in.Kind == SendGrid {
		if _, err := parseECKey(sec.Secret); err != nil {
			return nil, problem.InvalidField("secret", "must be SendGrid's verification key (base64 of the public key): %v", err)
		}
	}
	if in.PageToken = strings.TrimSpace(in.PageToken); in.PageToken != "" && in.Kind != MetaLeads {
		return nil, problem.InvalidField("page_token", "is only for meta_leads sources")
	} else if len(in.PageToken) > 4096 {
		return nil, problem.InvalidField("page_token", "is too long")
	}
	if in.Kind == MetaLeads {
		sec.PageToken = in.PageToken
		sec.VerifyToken = strings.TrimSpace(in.VerifyToken)
		if sec.VerifyToken == "" {
			sec.VerifyToken = randomToken("")
			out.VerifyToken = sec.VerifyToken
		}
	}
	now := s.now()
	r := Record{Source: Source{ID: ident.New(), Kind: in.Kind, Name: in.Name, Role: in.Role, CreatedAt: now}}
	r.Endpoint = Endpoint(r.ID)
	dk, wk, err := s.keys.NewDataKey(subject(r.ID))
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(sec)
	if err != nil {
		return nil, err
	}
	if r.Secret, err = dk.Seal(secretTable, secretField, subject(r.ID), plain); err != nil {
		return nil, err
	}
	r.MasterVersion, r.Key = wk.MasterVersion, wk.Blob
	e := audit.New(ctx, ActionCreate, "", nil, "")
	e.Target = "source:" + r.ID
	if err := s.store.CreateSource(ctx, r, []audit.Entry{e}); err != nil {
		return nil, err
	}
	out.Source = r.Source
	return out, nil
}

// Ensure creates the source in unless one of the same kind and name exists, which it returns
// as it is (its secret unchanged): the configuration file's sources are created on the first
// start and left alone on every later one.
func (s *Service) Ensure(ctx context.Context, in Input) (Source, bool, error) {
	list, err := s.List(ctx)
	if err != nil {
		return Source{}, false, err
	}
	for _, src := range list {
		if src.Kind == strings.TrimSpace(strings.ToLower(in.Kind)) && src.Name == strings.TrimSpace(in.Name) {
			return src, false, nil
		}
	}
	c, err := s.Create(ctx, in)
	if err != nil {
		return Source{}, false, err
	}
	return c.Source, true, nil
}

// Endpoint is the path a source's vendor delivers to.
func Endpoint(id string) string { return "/v1/sources/" + id + "/webhook" }

// subject is what a source's data key and sealed secret are bound to.
func subject(id string) string { return "source:" + id }

// List returns every source with its counters. Needs apikeys.manage.
func (s *Service) List(ctx context.Context) ([]Source, error) {
	if _, err := authz.Require(ctx, s.catalog, "apikeys.manage"); err != nil {
		return nil, err
	}
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	rs, err := s.store.ListSources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Source, len(rs))
	for i, r := range rs {
		out[i] = r.Source
	}
	return out, nil
}

// Kinds returns the kinds of platform connected, each once, in the order they were added.
// They are what the public privacy notice must name as where data comes from, so no
// permission is needed; names, ids and counters stay private.
func (s *Service) Kinds(ctx context.Context) ([]string, error) {
	rs, err := s.store.ListSources(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rs {
		if !slices.Contains(out, r.Kind) {
			out = append(out, r.Kind)
		}
	}
	return out, nil
}

// Get returns one source with its counters. Needs apikeys.manage; NotFound for an unknown id.
func (s *Service) Get(ctx context.Context, id string) (Source, error) {
	if _, err := authz.Require(ctx, s.catalog, "apikeys.manage"); err != nil {
		return Source{}, err
	}
	if err := s.Flush(ctx); err != nil {
		return Source{}, err
	}
	r, err := s.store.GetSource(ctx, id)
	return r.Source, err
}

// Flush adds the counters counted since the last flush to the store. The server calls it
// every few seconds and before it stops; listings call it first, so they are never behind
// this node.
func (s *Service) Flush(ctx context.Context) error {
	s.mu.Lock()
	pending, lastErr := s.pending, s.lastErr
	s.pending, s.lastErr = map[string]*Counts{}, map[string]errorAt{}
	s.mu.Unlock()
	var failed error
	for id, c := range pending {
		le := lastErr[id]
		if err := s.store.AddSourceCounts(ctx, id, *c, le.msg, le.at); err != nil {
			failed = err
			// Put them back: a counter is never lost to a failed write.
			s.count(id, *c, le.msg, le.at)
		}
	}
	return failed
}

// count adds to a source's pending counters.
func (s *Service) count(id string, c Counts, errMsg string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending[id]
	if p == nil {
		p = &Counts{}
		s.pending[id] = p
	}
	p.add(c)
	if errMsg != "" {
		if cur, ok := s.lastErr[id]; !ok || !at.Before(cur.at) {
			s.lastErr[id] = errorAt{errMsg, at}
		}
	}
}

// open returns a source ready to verify deliveries, from the cache or the store.
func (s *Service) open(ctx context.Context, id string) (*opened, error) {
	s.mu.Lock()
	o := s.cache[id]
	s.mu.Unlock()
	if o != nil {
		return o, nil
	}
	r, err := s.store.GetSource(ctx, id)
	if err != nil {
		return nil, err
	}
	dk, err := s.keys.OpenDataKey(ctx, subject(id), vault.WrappedKey{MasterVersion: r.MasterVersion, Blob: r.Key})
	if err != nil {
		return nil, err
	}
	plain, err := dk.Open(secretTable, secretField, subject(id), r.Secret)
	if err != nil {
		return nil, err
	}
	o = &opened{Source: r.Source}
	if err := json.Unmarshal(plain, &o.secrets); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cache[id] = o
	s.mu.Unlock()
	return o, nil
}

func (s *Service) now() time.Time { return s.clock().UTC() }

// Delivery is one request a vendor made to a source's endpoint.
type Delivery struct {
	Method string
	// URL is the address the vendor called, under the server's public URL: Twilio signs it.
	URL    string
	Header textproto.MIMEHeader
	Query  url.Values
	Body   []byte
	// TooLarge says the body was cut off at the server's limit: the delivery is refused and
	// counted, nothing of it read.
	TooLarge bool
}

// Result says what became of a delivery.
type Result struct {
	Events     int `json:"events" doc:"Events the delivery carried."`
	Stored     int `json:"stored" doc:"Messages stored now (an event may become a profile update and an event)."`
	Duplicates int `json:"duplicates" doc:"Messages already stored by an earlier delivery."`
	Ignored    int `json:"ignored" doc:"Events not mapped or naming nobody."`
	Requests   int `json:"requests,omitempty" doc:"Data-subject requests opened (Shopify customers/redact)."`
	// Challenge is the text a subscription handshake answers with (Meta), served as text/plain.
	Challenge string `json:"-"`
}

// Deliver verifies and stores one delivery. Returns NotFound for an unknown source,
// Unauthenticated for a signature that does not verify (counted and audited, nothing stored),
// Invalid or TooLarge for a body that cannot be read (nothing stored), Conflict for a refund
// of an order not recorded yet (the vendor retries it later).
func (s *Service) Deliver(ctx context.Context, id string, d Delivery) (Result, error) {
	src, err := s.open(ctx, id)
	if err != nil {
		return Result{}, err
	}
	now := s.now()
	if d.TooLarge {
		err := problem.New(problem.TooLarge, "the body is larger than the server accepts (--max-body)")
		s.count(id, Counts{Received: 1, Refused: 1}, problem.Detail(err), now)
		return Result{}, err
	}
	err = verify(src, d, now, s.Tolerance)
	if err == nil && src.Kind == Mailgun {
		err = s.bindToken(src.ID, d.Body)
	}
	var challenge string
	if err == nil && d.Method == "GET" {
		challenge, err = handshake(src, d)
	}
	if err != nil {
		var pe *problem.Error
		if !errors.As(err, &pe) {
			pe = problem.New(problem.Unauthenticated, "%s", err.Error())
		}
		s.count(id, Counts{Received: 1, Refused: 1}, pe.Detail, now)
		e := audit.New(authz.WithActor(ctx, s.actor(src)), ActionRefused, "", nil, "")
		e.Target, e.Outcome, e.Time = "source:"+id, audit.OutcomeDenied, now.Truncate(time.Microsecond)
		if aerr := s.audit.AppendAudit(ctx, e); aerr != nil {
			return Result{}, aerr
		}
		return Result{}, pe
	}
	if d.Method == "GET" {
		return Result{Challenge: challenge}, nil
	}
	res, err := s.storeBody(ctx, src, d.Header, d.Body, now)
	s.account(id, res, err, now)
	return res, err
}

// maxTokens bounds the Mailgun tokens remembered; past it the memory starts afresh.
const maxTokens = 100_000

// bindToken holds Mailgun's signature to one event. Mailgun signs a timestamp and a random
// token, not the body, so a signature seen once could carry any other event: a token is
// accepted again only with the event it first came with (Mailgun's retry of the same event).
// The memory is this node's: behind several nodes, a replay reaching another node is still
// only an event signed for a token that node has not seen.
func (s *Service) bindToken(sourceID string, body []byte) error {
	var b struct {
		Signature struct {
			Token string `json:"token"`
		} `json:"signature"`
		Event struct {
			ID string `json:"id"`
		} `json:"event-data"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return errf("the body is not Mailgun's JSON")
	}
	key := sourceID + "\x00" + b.Signature.Token
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil || len(s.tokens) >= maxTokens {
		s.tokens = map[string]string{}
	}
	if prev, ok := s.tokens[key]; ok && prev != b.Event.ID {
		return errf("the signature's token was already used for another event (a replayed signature)")
	}
	s.tokens[key] = b.Event.ID
	return nil
}

// account counts what became of a delivery.
func (s *Service) account(id string, res Result, err error, now time.Time) {
	c := Counts{Received: 1}
	msg := ""
	switch {
	case err != nil && (problem.Is(err, problem.Invalid) || problem.Is(err, problem.TooLarge)):
		c.Refused = 1
		msg = problem.Detail(err)
	case err != nil:
		// Only the public detail: the cause of an internal error is for the logs.
		msg = problem.Detail(err)
		if problem.KindOf(err) == problem.Internal {
			msg = "the delivery could not be stored; the vendor will retry it"
		}
	case res.Stored > 0 || res.Requests > 0:
		c.Stored = 1
	case res.Duplicates > 0:
		c.Duplicates = 1
	default:
		c.Ignored = 1
	}
	s.count(id, c, msg, now)
}

// actor is who a source's deliveries act as: the source itself, in its write role.
func (s *Service) actor(src *opened) authz.Actor {
	return authz.Actor{ID: "source:" + src.ID, Name: src.Kind + " source " + src.Name, Role: src.Role}
}

// storeBody translates a verified body and stores what it carries.
func (s *Service) storeBody(ctx context.Context, src *opened, h textproto.MIMEHeader, body []byte, now time.Time) (Result, error) {
	ctx = authz.WithActor(ctx, s.actor(src))
	evs, err := translate(src.Kind, h, body)
	if err != nil {
		return Result{}, err
	}
	if err := s.fetchLeads(ctx, src, evs); err != nil {
		return Result{}, err
	}
	res := Result{Events: len(evs)}
	var msgs []ingest.Message
	for i := range evs {
		ev := &evs[i]
		if ev.redact != nil {
			r, err := s.requests.Relay(ctx, *ev.redact, src.Kind)
			if err != nil {
				return res, err
			}
			if r != nil {
				res.Requests++
			}
			continue
		}
		if ev.orderOf != "" {
			cust, err := s.ingest.OrderCustomer(ctx, ev.orderOf)
			for _, kind := range []string{Shopify, WooCommerce} {
				if ev.orderOptional && problem.Is(err, problem.NotFound) && !strings.Contains(ev.orderOf, ":") {
					// A reference as the shop shows it: the order id without its platform.
					cust, err = s.ingest.OrderCustomer(ctx, orderID(kind, ev.orderOf))
				}
			}
			if problem.Is(err, problem.NotFound) && ev.orderOptional {
				// A reference the business gave the platform that names no order: the
				// event is kept only if it names its customer otherwise.
				if !ev.named {
					res.Ignored++
					continue
				}
				err, cust = nil, ""
			}
			if problem.Is(err, problem.NotFound) {
				return res, problem.Conflictf("the order %s this event names is not recorded yet; the vendor's retry will store it", clip(ev.orderOf))
			}
			if err != nil {
				return res, err
			}
			for j := range ev.msgs {
				if cust != "" {
					ev.msgs[j].CustomerID = cust
				}
			}
		}
		if len(ev.msgs) == 0 {
			res.Ignored++
			continue
		}
		for j := range ev.msgs {
			m := &ev.msgs[j]
			m.Platform = src.Kind
			if m.Timestamp.IsZero() || m.Timestamp.After(now) {
				m.Timestamp = now
			}
		}
		msgs = append(msgs, ev.msgs...)
	}
	if len(msgs) == 0 {
		return res, nil
	}
	for start := 0; start < len(msgs); start += ingest.MaxBatchEvents {
		part := msgs[start:min(len(msgs), start+ingest.MaxBatchEvents)]
		r, err := s.ingestMerged(ctx, subject(src.ID), part, now)
		if err != nil {
			return res, err
		}
		res.Stored += r.Stored
		res.Duplicates += r.Duplicates
	}
	return res, nil
}

// Replay re-feeds one line of a vendor's export of past events through the path deliveries
// take, without a signature: the caller is the operator on the command line, who holds the
// installation. A line is the body a webhook delivers (a JSON object; for SendGrid one event
// or an array of them), or an envelope {"topic", "id", "payload"} that also carries what the
// vendor sends in headers: the topic (Shopify, WooCommerce) and the event id; a payload given
// as a string is the raw body (Twilio's form). topic is the default for lines without one.
// Events already stored, by a delivery or an earlier replay, are duplicates.
func (s *Service) Replay(ctx context.Context, id string, line []byte, topic string) (Result, error) {
	if _, err := authz.Require(ctx, s.catalog, "apikeys.manage"); err != nil {
		return Result{}, err
	}
	src, err := s.open(ctx, id)
	if err != nil {
		return Result{}, err
	}
	h := textproto.MIMEHeader{}
	body := bytes.TrimSpace(line)
	var env struct {
		Topic   string          `json:"topic"`
		ID      string          `json:"id"`
		Payload json.RawMessage `json:"payload"`
	}
	if len(body) > 0 && body[0] == '{' && json.Unmarshal(body, &env) == nil && len(env.Payload) > 0 {
		body = env.Payload
		var raw string
		if json.Unmarshal(env.Payload, &raw) == nil {
			body = []byte(raw)
		}
		if env.Topic != "" {
			topic = env.Topic
		}
		if env.ID != "" && eventIDHeader[src.Kind] != "" {
			h.Set(eventIDHeader[src.Kind], env.ID)
		}
	}
	if topic != "" && topicHeader[src.Kind] != "" {
		h.Set(topicHeader[src.Kind], topic)
	}
	if src.Kind == SendGrid && len(body) > 0 && body[0] == '{' {
		body = append(append([]byte{'['}, body...), ']')
	}
	now := s.now()
	res, err := s.storeBody(ctx, src, h, body, now)
	s.account(id, res, err, now)
	return res, err
}

// eventIDHeader is the header a kind's vendor names the event's id in, where it is not in the
// body.
var eventIDHeader = map[string]string{Shopify: "X-Shopify-Event-Id", WooCommerce: "X-Wc-Webhook-Delivery-Id"}

// topicHeader is the header a kind's vendor names the event type in, where it is not in the
// body.
var topicHeader = map[string]string{Shopify: "X-Shopify-Topic", WooCommerce: "X-Wc-Webhook-Topic"}

func randomToken(prefix string) string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// errf is a verification failure: what the vendor's delivery lacked, never a secret.
func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }
