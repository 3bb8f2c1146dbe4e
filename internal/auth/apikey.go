package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/problem"
)

// Prefix marks every Steward API key so secret scanners and people recognise one on sight.
const Prefix = "stw_"

// Key describes an API key; it never holds the secret.
type Key struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Hint      string     `json:"hint"` // the key's first characters, to tell keys apart in a list
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Owner is who made the key (staff:<id>, key:<id> or system): a person's keys go when
	// their access does.
	Owner string `json:"owner,omitempty"`
	// ExpiresAt, when set, is when the key stops working by itself.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Store persists keys.
type Store interface {
	// CreateAPIKey stores k with the hash of its secret and the audit entries.
	CreateAPIKey(ctx context.Context, k Key, hash []byte, entries []audit.Entry) error
	// APIKeyByHash returns NotFound for an unknown hash.
	APIKeyByHash(ctx context.Context, hash []byte) (Key, error)
	// ListAPIKeys returns every key, revoked ones included, oldest first.
	ListAPIKeys(ctx context.Context) ([]Key, error)
	// RevokeAPIKey marks the key revoked. Returns NotFound for an unknown or already revoked id.
	RevokeAPIKey(ctx context.Context, id string, at time.Time, entries []audit.Entry) error
}

// Service manages API keys.
type Service struct {
	store    Store
	audit    audit.Store
	catalog  *catalog.Catalog
	cacheFor time.Duration
	clock    clock.Clock

	mu    sync.Mutex
	known map[string]cachedKey // hash of the presented key -> its actor
	gen   uint64               // bumped by every revocation
}

// New builds the key service. cacheFor is how long an authenticated key is remembered, so
// that busy clients do not cost a database read per request. Revoking through this service
// forgets every key at once; another Steward process sharing the database (PostgreSQL) stops
// accepting a revoked key within cacheFor. Zero means DefaultKeyCache; negative turns the
// cache off.
func New(store Store, auditStore audit.Store, cat *catalog.Catalog, cacheFor time.Duration) (*Service, error) {
	if store == nil || auditStore == nil || cat == nil {
		return nil, errors.New("api key service: a store, an audit store and the catalog are required")
	}
	return &Service{store: store, audit: auditStore, catalog: cat, cacheFor: cacheFor, clock: clock.System}, nil
}

// SetClock sets the clock key expiry and creation times are read from (the system clock by
// default), so that tests cross an expiry without waiting.
func (s *Service) SetClock(c clock.Clock) { s.clock = clock.Or(c) }

// DefaultKeyCache is how long an authenticated key is remembered unless configured.
const DefaultKeyCache = time.Second

// maxCachedKeys bounds the cache; when it is full it starts again empty.
const maxCachedKeys = 4096

type cachedKey struct {
	actor authz.Actor
	until time.Time
}

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Create makes a key for role and returns its secret, which is never retrievable again.
func (s *Service) Create(ctx context.Context, role, name string) (string, Key, error) {
	return s.CreateExpiring(ctx, role, name, nil)
}

// CreateExpiring is Create with an expiry: the key stops authenticating at expires (in the
// future, at most ten years on).
func (s *Service) CreateExpiring(ctx context.Context, role, name string, expires *time.Time) (string, Key, error) {
	issuer, err := authz.Require(ctx, s.catalog, "apikeys.manage")
	if err != nil {
		return "", Key{}, err
	}
	if _, ok := s.catalog.Role(role); !ok {
		return "", Key{}, problem.InvalidField("role", "unknown role %q", role)
	}
	if err := s.covers(issuer, role, "issue"); err != nil {
		return "", Key{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", Key{}, problem.InvalidField("name", "must be 1 to 100 characters")
	}
	if now := s.clock(); expires != nil && (!expires.After(now) || expires.After(now.AddDate(10, 0, 0))) {
		return "", Key{}, problem.InvalidField("expires_at", "must be in the future, at most ten years on")
	}
	var idb [5]byte
	var secret [20]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", Key{}, problem.Wrap(problem.Internal, err, "random source failed")
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", Key{}, problem.Wrap(problem.Internal, err, "random source failed")
	}
	id := encoding.EncodeToString(idb[:])
	plain := Prefix + id + "_" + encoding.EncodeToString(secret[:])
	k := Key{ID: id, Name: name, Role: role, Hint: plain[:len(Prefix)+len(id)], CreatedAt: s.clock(), Owner: issuer.ID, ExpiresAt: expires}
	entry := audit.New(ctx, audit.ActionAPIKeyCreate, "", nil, "")
	entry.Target = "apikey:" + id + " role:" + role
	if err := s.store.CreateAPIKey(ctx, k, hash(plain), []audit.Entry{entry}); err != nil {
		return "", Key{}, err
	}
	return plain, k, nil
}

// Authenticate returns the actor for a presented key. Every failure is the same
// Unauthenticated error so a caller cannot tell an unknown key from a revoked one.
func (s *Service) Authenticate(ctx context.Context, presented string) (authz.Actor, error) {
	if !strings.HasPrefix(presented, Prefix) || len(presented) > 100 {
		return authz.Actor{}, problem.New(problem.Unauthenticated, "invalid API key")
	}
	h := hash(presented)
	now := s.clock()
	a, gen, ok := s.cached(h, now)
	if ok {
		return a, nil
	}
	k, err := s.store.APIKeyByHash(ctx, h)
	if problem.Is(err, problem.NotFound) || (err == nil && (k.RevokedAt != nil || k.ExpiresAt != nil && !now.Before(*k.ExpiresAt))) {
		return authz.Actor{}, problem.New(problem.Unauthenticated, "invalid API key")
	}
	if err != nil {
		return authz.Actor{}, err
	}
	a = authz.Actor{ID: "key:" + k.ID, Name: k.Name, Role: k.Role}
	s.remember(h, a, now, gen)
	return a, nil
}

func (s *Service) ttl() time.Duration {
	if s.cacheFor == 0 {
		return DefaultKeyCache
	}
	return s.cacheFor
}

// cached returns the actor of a key authenticated less than ttl ago, or else the revocation
// generation to hand to remember. Only keys that authenticated are remembered: unknown and
// revoked ones are looked up every time.
func (s *Service) cached(h []byte, now time.Time) (authz.Actor, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.known[string(h)]
	if !ok || !now.Before(c.until) {
		return authz.Actor{}, s.gen, false
	}
	return c.actor, s.gen, true
}

// remember keeps an actor read from the store while no revocation happened since gen was
// read: a look-up that raced a revocation may have read the key before it was revoked.
func (s *Service) remember(h []byte, a authz.Actor, now time.Time, gen uint64) {
	ttl := s.ttl()
	if ttl < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		return
	}
	if s.known == nil || len(s.known) >= maxCachedKeys {
		s.known = make(map[string]cachedKey)
	}
	s.known[string(h)] = cachedKey{a, now.Add(ttl)}
}

// forget drops every remembered key, so a revocation takes effect on the next request, and
// stops look-ups already under way from remembering what they read.
func (s *Service) forget() {
	s.mu.Lock()
	s.known = nil
	s.gen++
	s.mu.Unlock()
}

// Bearer authenticates a key presented to the REST API. A browser-safe (collect) key is
// refused there whatever the route: it lives in web pages where anyone can copy it, so it
// must reach nothing but the tracking routes, and refusing it here keeps that true for
// routes added later.
func (s *Service) Bearer(ctx context.Context, presented string) (authz.Actor, error) {
	a, err := s.Authenticate(ctx, presented)
	if err != nil {
		return a, err
	}
	if s.catalog.BrowserSafe(a.Role) {
		return authz.Actor{}, problem.Forbiddenf("a %s key is browser-safe and only sends tracking messages (/v1/track, /v1/batch and the like); use a server-side key for the REST API", a.Role)
	}
	return a, nil
}

// WriteKey authenticates the write key of a tracking request. browser says the request came
// the way web pages and apps send (a short path such as /v1/t, writeKey in the body, an
// Origin header): such a request takes only a browser-safe key, because a key a page carries
// is readable by everyone who opens the page, and a trusted server-side key there would let
// anyone overwrite and merge known customers.
func (s *Service) WriteKey(ctx context.Context, presented string, browser bool) (authz.Actor, error) {
	a, err := s.Authenticate(ctx, presented)
	if err != nil {
		return a, err
	}
	if !s.catalog.RoleHas(a.Role, catalog.PermEventsWrite) {
		return authz.Actor{}, problem.Forbiddenf("role %q lacks permission %q", a.Role, catalog.PermEventsWrite)
	}
	if browser && !s.catalog.BrowserSafe(a.Role) {
		return authz.Actor{}, serverKeyInBrowser(a.Role)
	}
	return a, nil
}

// SettingsKey authenticates a write key named in a browser-facing URL (the settings
// analytics.js asks for): NotFound, the same for every refusal, unless it is a live key
// whose role may write events, so the route tells an unknown key from a reading key to
// nobody; Forbidden, as for any browser-style request, when that key is not browser-safe.
func (s *Service) SettingsKey(ctx context.Context, presented string) (authz.Actor, error) {
	a, err := s.Authenticate(ctx, presented)
	if err != nil || !s.catalog.RoleHas(a.Role, catalog.PermEventsWrite) {
		return authz.Actor{}, problem.NotFoundf("unknown write key")
	}
	if !s.catalog.BrowserSafe(a.Role) {
		return authz.Actor{}, serverKeyInBrowser(a.Role)
	}
	return a, nil
}

func serverKeyInBrowser(role string) error {
	return problem.Forbiddenf("this write key's role %q is for servers; requests from web pages and apps (short paths such as /v1/t, writeKey in the body, an Origin header) take a collect key", role)
}

// List returns every key, without secrets.
func (s *Service) List(ctx context.Context) ([]Key, error) {
	if _, err := authz.Require(ctx, s.catalog, "apikeys.manage"); err != nil {
		return nil, err
	}
	keys, err := s.store.ListAPIKeys(ctx)
	if err != nil {
		return nil, err
	}
	return keys, s.audit.AppendAudit(ctx, audit.New(ctx, audit.ActionAPIKeyList, "", nil, ""))
}

// Revoke stops a key from authenticating, at once and for good.
func (s *Service) Revoke(ctx context.Context, id string) error {
	revoker, err := authz.Require(ctx, s.catalog, "apikeys.manage")
	if err != nil {
		return err
	}
	if len(id) != 8 {
		return problem.InvalidField("id", "is not a valid key id")
	}
	keys, err := s.store.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(keys, func(k Key) bool { return k.ID == id && k.RevokedAt == nil })
	if i < 0 {
		return problem.NotFoundf("no active key with this id")
	}
	if err := s.covers(revoker, keys[i].Role, "revoke"); err != nil {
		return err
	}
	entry := audit.New(ctx, audit.ActionAPIKeyRevoke, "", nil, "")
	entry.Target = "apikey:" + id
	err = s.store.RevokeAPIKey(ctx, id, clock.System(), []audit.Entry{entry})
	s.forget()
	return err
}

// covers refuses, naming what is missing, when the actor's role holds less than role: a key
// may not be issued with, nor revoked from, rights its issuer lacks, or an admin could mint an
// owner key or cut the owner, the DPO and the auditor off.
func (s *Service) covers(actor authz.Actor, role, verb string) error {
	target, _ := s.catalog.Role(role)
	for _, p := range target.Permissions {
		if !s.catalog.RoleHas(actor.Role, p) {
			return problem.Forbiddenf("role %q may not %s a key with permission %q", actor.Role, verb, p)
		}
	}
	for _, p := range target.Purposes {
		if !s.catalog.RoleMayActFor(actor.Role, p) {
			return problem.Forbiddenf("role %q may not %s a key for purpose %q", actor.Role, verb, p)
		}
	}
	return nil
}

func hash(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}
