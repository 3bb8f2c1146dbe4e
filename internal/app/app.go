// Package app is the composition root: configuration → store → keys → services → jobs →
// HTTP. Nothing else constructs services, so every entry point (server, command line, tests)
// wires Steward the same way.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/acme/autocert"

	daily "github.com/stewardhq/steward/internal/activity"
	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/auth"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/banner"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/forms"
	"github.com/stewardhq/steward/internal/httpapi"
	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/keys"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/notice"
	"github.com/stewardhq/steward/internal/offer"
	"github.com/stewardhq/steward/internal/portal"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/retention"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/segment"
	"github.com/stewardhq/steward/internal/source"
	"github.com/stewardhq/steward/internal/staff"
	"github.com/stewardhq/steward/internal/store"
	"github.com/stewardhq/steward/internal/store/postgres"
	"github.com/stewardhq/steward/internal/store/sqlite"
	"github.com/stewardhq/steward/internal/vault"
)

// Version is set at build time with -ldflags "-X …app.Version=…".
var Version = "dev"

// CheckpointEvery is how many entries of a chain pass between signed audit checkpoints.
const CheckpointEvery = 256

// App is a wired Steward.
type App struct {
	Config  config.Config
	Log     *slog.Logger
	Clock   clock.Clock
	Store   *store.Engine
	Keys    *keys.Manager
	Catalog *catalog.Catalog
	// Customers is the audited customer service, all an adapter may hold; Vault the
	// privileged side, for the services that write their own audit entries.
	Customers *customer.Service
	Vault     *customer.Vault
	Quality   *quality.Validator
	Consents  *consent.Service
	Audit     *audit.Service
	APIKeys   *auth.Service
	Rotator   *keys.Rotator
	Runner    *job.Runner
	Ingest    *ingest.Service
	Imports   *importer.Service
	Rights    *rights.Service
	// Duplicates finds and merges duplicate customers; Monitor derives contact status and
	// the quality report.
	Duplicates *duplicate.Service
	Monitor    *quality.Monitor
	// Activity counts customers, events, consents and requests per day for the console.
	Activity  *daily.Service
	Retention *retention.Service
	// Jobs shows background jobs to the roles whose work they are.
	Jobs *job.Viewer
	// Notice writes the public privacy notice and the records of processing.
	Notice *notice.Service
	// Forms serves the hosted forms.
	Forms *forms.Service
	// Portal is the customer's privacy portal.
	Portal *portal.Service
	// Staff is staff accounts and their sign-in to the console.
	Staff *staff.Service
	// Sources receives the webhooks of connected platforms.
	Sources *source.Service
	// Segments is segments, trends, audience exports and destinations.
	Segments *segment.Service
	// identity is the SAML and LDAP sign-ins of staff (identity.go).
	identity httpapi.Identity
	// Loyalty is the loyalty programme; Offers the offer catalogue and its decisions.
	Loyalty *loyalty.Service
	Offers  *offer.Service
}

// Initialized reports whether cfg's data directory (or database) already holds a Steward.
func Initialized(ctx context.Context, cfg config.Config) bool {
	if cfg.Root == "local" {
		_, err := os.Stat(cfg.RootKeyPath())
		return err == nil
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return false
	}
	defer db.Close()
	_, _, err = db.Keysets().LoadKeyset(ctx)
	return err == nil
}

// Init creates the data directory, root key, database and keyset, and returns the first
// owner API key. It refuses to touch an existing installation.
func Init(ctx context.Context, cfg config.Config, log *slog.Logger) (string, error) {
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	// MkdirAll leaves an existing directory as it was; init makes it private.
	if _, err := privateDataDir(cfg.Data); err != nil {
		return "", err
	}
	if cfg.Root == "local" {
		if err := vault.CreateLocalRoot(cfg.RootKeyPath()); err != nil {
			return "", fmt.Errorf("create root key: %w", err)
		}
	}
	if _, err := loadCatalog(cfg); err != nil {
		return "", err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer db.Close()
	root, err := openRoot(cfg)
	if err != nil {
		return "", err
	}
	ctx = authz.WithActor(ctx, authz.System)
	km, err := keys.Init(ctx, root, db.Keysets(), cfg.IndexBits)
	if err != nil {
		if problem.Is(err, problem.Conflict) {
			return "", fmt.Errorf("this database is already initialised")
		}
		return "", err
	}
	// The keyset's own entry was linked before there was a key to seal its chain's head
	// with; seal it now, or the next append would find a head it cannot vouch for.
	db.SetAuditSealer(&audit.Sealer{Key: km.AuditSigningKey(), Every: CheckpointEvery})
	if err := db.SealHeads(ctx); err != nil {
		return "", err
	}
	a, err := Open(ctx, cfg, log)
	if err != nil {
		return "", err
	}
	defer a.Close()
	key, _, err := a.APIKeys.Create(ctx, "owner", "owner (created by init)")
	return key, err
}

func loadCatalog(cfg config.Config) (*catalog.Catalog, error) {
	if cfg.Catalog == "" {
		return catalog.Default(), nil
	}
	return catalog.Load(cfg.Catalog)
}

func openStore(ctx context.Context, cfg config.Config) (*store.Engine, error) {
	if cfg.DB != "" {
		db, err := postgres.Open(ctx, cfg.DB.Reveal(), postgres.Options{Bin: cfg.PGBin})
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, cfg.SQLitePath(), sqlite.Options{Synchronous: cfg.SQLiteSync})
	if err != nil {
		return nil, fmt.Errorf("open SQLite database: %w", err)
	}
	return db, nil
}

func openRoot(cfg config.Config) (vault.Root, error) {
	if cfg.Root == "vault-transit" {
		return vault.NewTransitRoot(vault.TransitConfig{Address: cfg.VaultAddr, Token: cfg.VaultToken.Reveal(), KeyName: cfg.VaultKey, Mount: cfg.VaultMount})
	}
	root, err := vault.OpenLocalRoot(cfg.RootKeyPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no root key in %s: run steward init --data %s first", cfg.Data, cfg.Data)
	}
	return root, err
}

// Options are what an embedder or a test may set beyond the configuration.
type Options struct {
	// Log receives operational messages (never personal data); nil logs to stderr.
	Log *slog.Logger
	// Clock is the one time source every service reads; nil is the system clock. Tests move
	// it to cross deadlines and retention periods instead of sleeping.
	Clock clock.Clock
	// restoring leaves a missing erasure ledger file missing: a restore must see the gap,
	// not an empty file made by opening the installation it is about to replace.
	restoring bool
}

// Open wires an initialised installation.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	return OpenWith(ctx, cfg, Options{Log: log})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cat, err := loadCatalog(cfg)
	if err != nil {
		return nil, err
	}
	// The root key is opened first: one readable by others is refused, not quietly
	// tightened, because it may already have been read (see vault.OpenLocalRoot).
	root, err := openRoot(cfg)
	if err != nil {
		return nil, err
	}
	// Every start tightens what an operator's copy or restore loosened since.
	if n, err := privateDataDir(cfg.Data); err != nil {
		return nil, err
	} else if n > 0 {
		opts.Log.Warn("made data directory entries private (directories 0700, files 0600)", "entries", n)
	}
	// Without --db a data directory with no database is not an installation on SQLite: it is
	// a node of one on PostgreSQL whose --db was forgotten, or a mistyped path. Opening it
	// would make an empty SQLite database there before finding no keyset in it.
	if cfg.DB == "" {
		if _, err := os.Stat(cfg.SQLitePath()); errors.Is(err, os.ErrNotExist) {
			// With a root key here, init would refuse: this is a node, or a machine to restore on.
			return nil, fmt.Errorf("not initialised: no database in %s (give --db for an installation on PostgreSQL, or restore a backup here)", cfg.Data)
		}
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	km, err := keys.Open(ctx, root, db.Keysets())
	if err != nil {
		db.Close()
		if problem.Is(err, problem.NotFound) {
			return nil, fmt.Errorf("not initialised: run steward init --data %s first", cfg.Data)
		}
		return nil, err
	}
	db.SetAuditSealer(&audit.Sealer{Key: km.AuditSigningKey(), Every: CheckpointEvery})
	if err := db.SealHeads(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := km.EnsureReceiptKey(ctx); err != nil {
		db.Close()
		return nil, err
	}
	a, err := wire(ctx, cfg, opts, db, km, cat)
	if err != nil {
		db.Close()
		return nil, err
	}
	// An installation that has erased no one gets its (empty) erasure ledger file now, so
	// that its disappearance is noticed by a later restore.
	if opts.restoring {
		return a, nil
	}
	if err := a.Rights.CreateLedger(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("erasure ledger: %w", err)
	}
	if err := a.queueReindex(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

// wire builds every service from its dependencies, in the order they depend on each other: the
// vault and the quality monitor first, then the consent ledger (which opens contacts through
// the vault), the audited customer service (which asks the ledger), and the services that
// use both. Nothing is assigned after construction; a constructor refuses what is missing.
func wire(ctx context.Context, cfg config.Config, opts Options, db *store.Engine, km *keys.Manager, cat *catalog.Catalog) (*App, error) {
	now := clock.Or(opts.Clock)
	a := &App{Config: cfg, Log: opts.Log, Store: db, Keys: km, Catalog: cat, Clock: now}
	var err error
	norm := &customer.Normalizer{Catalog: cat, DefaultRegion: cfg.DefaultRegion}
	if a.Vault, err = customer.NewVault(customer.VaultDeps{Store: db.Customers(), Keys: km, Catalog: cat, Norm: norm,
		Ledger: db.Rights(), Clock: now, Log: opts.Log}); err != nil {
		return nil, err
	}
	var mx *quality.MXChecker
	if cfg.EmailMXCheck {
		// The system resolver, behind the checker's cache and timeout; off unless asked for,
		// because a form check must not depend on DNS the operator did not opt in to.
		mx = quality.NewMXChecker(net.DefaultResolver, 0, 0)
	}
	a.Quality = &quality.Validator{DefaultRegion: cfg.DefaultRegion, MX: mx}
	if a.Monitor, err = quality.NewMonitor(db.Quality(), cfg.ContactInactiveAfter, now); err != nil {
		return nil, err
	}
	if a.Activity, err = daily.New(db.Activity(), cat, a.Clock); err != nil {
		return nil, err
	}
	var cache *consent.Cache
	if cfg.DecisionCache > 0 {
		cache = decisionCache(db, cfg.DecisionCache)
		db.SetDecisionWatcher(cache)
	}
	if a.Consents, err = consent.New(consent.Deps{Store: db.Consents(), Audit: db.Audit(), Catalog: cat, Keys: km,
		Contacts: a.Vault, DataKeys: a.Vault, Norm: norm, Clock: now, Cache: cache}); err != nil {
		return nil, err
	}
	// Evidence written in clear before it was sealed is sealed now, once; afterwards the scan
	// reads an empty partial index.
	sealed, skipped, err := a.Consents.SealStoredEvidence(ctx)
	if err != nil {
		return nil, fmt.Errorf("sealing stored consent evidence: %w", err)
	}
	if (sealed > 0 || skipped > 0) && opts.Log != nil {
		opts.Log.Info("sealed consent evidence stored in clear", "records", sealed, "left_unsealed", skipped)
	}
	if a.Customers, err = customer.New(customer.Deps{Vault: a.Vault, Audit: db.Audit(), Permissions: a.Consents,
		OptOuts: a.Consents, Statuses: a.Monitor, Forms: a.Quality}); err != nil {
		return nil, err
	}
	if a.Audit, err = audit.NewService(db.Audit(), cat, km.AuditPublicKey(), audit.HeadKey(km.AuditSigningKey()), CheckpointEvery); err != nil {
		return nil, err
	}
	if a.APIKeys, err = auth.New(db.APIKeys(), db.Audit(), cat, 0); err != nil {
		return nil, err
	}
	a.APIKeys.SetClock(a.Clock)
	if a.Rotator, err = keys.NewRotator(km, db.Jobs(), db.Customers(), cat); err != nil {
		return nil, err
	}
	if a.Ingest, err = a.openIngest(cfg); err != nil {
		return nil, err
	}
	if a.Rights, err = a.openRights(cfg); err != nil {
		return nil, err
	}
	if a.Sources, err = source.New(source.Deps{Store: db.Sources(), Ingest: a.Ingest, Requests: a.Rights, Keys: km, Audit: db.Audit(),
		Catalog: cat, Clock: now, GraphURL: a.Config.MetaGraphURL}); err != nil {
		return nil, err
	}
	if a.Duplicates, err = a.openDuplicates(cfg); err != nil {
		return nil, err
	}
	if a.Retention, err = retention.New(retention.Deps{Vault: a.Vault, Rights: a.Rights, Catalog: cat, Audit: db.Audit(), Clock: now},
		cfg.Inactivity()); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	owner, lease := host+"-"+hex.EncodeToString(nonce[:]), cfg.JobLease
	if a.Imports, err = importer.New(importer.Deps{Uploads: db.Imports(), Jobs: db.Jobs(), Writer: a.Ingest, Ledger: a.Consents,
		Norm: norm, Catalog: cat, Keys: km, Dir: cfg.ImportSpoolDir(), MaxBytes: cfg.ImportMaxBytes, Owner: owner, Lease: lease,
		Log: opts.Log, Audit: db.Audit()}); err != nil {
		return nil, err
	}
	if a.Segments, err = a.openSegments(); err != nil {
		return nil, err
	}
	if a.Runner, err = job.NewRunner(job.RunnerDeps{Store: db.Jobs(), Owner: owner, Lease: lease, Log: opts.Log,
		Steps: map[string]job.Step{keys.RewrapJob: a.Rotator.Step, duplicate.ScanJob: a.Duplicates.Step, importer.JobKind: a.Imports.Step,
			SearchReindexJob: a.reindexStep, segment.RefreshJob: a.Segments.RefreshStep, segment.ExportJob: a.Segments.ExportStep}}); err != nil {
		return nil, err
	}
	// A scan is seen by whoever may start one; rotations and imports by the key rotators,
	// as before the job viewer existed (imports have their own routes).
	if a.Jobs, err = job.NewViewer(db.Jobs(), cat, map[string][]string{duplicate.ScanJob: {catalog.PermCustomersWrite, catalog.PermCustomersRead}},
		"keys.rotate"); err != nil {
		return nil, err
	}
	if a.Forms, err = a.openForms(cfg); err != nil {
		return nil, err
	}
	if a.Portal, err = a.openPortal(cfg); err != nil {
		return nil, err
	}
	if err := a.openLoyalty(cfg); err != nil {
		return nil, err
	}
	wa, err := newWebAuthn(cfg)
	if err != nil {
		return nil, err
	}
	if a.Staff, err = staff.New(staff.Deps{Store: db.Staff(), Catalog: cat, Secret: km.KeyedHash(staffLabel, nil), Clock: a.Clock, WebAuthn: wa}); err != nil {
		return nil, err
	}
	if a.identity, err = a.openIdentity(cfg, cat); err != nil {
		return nil, err
	}
	roles, _ := cfg.OIDCRoleMap()
	casRoles, _ := cfg.CASRoleMap()
	for _, gr := range append(roles, casRoles...) {
		if _, ok := cat.Role(gr[1]); !ok || cat.BrowserSafe(gr[1]) || gr[1] == "ingest" {
			return nil, fmt.Errorf("oidc-roles, cas-roles: %q is not a catalog role for people", gr[1])
		}
	}
	a.Notice = notice.NewService(cat, a.Consents, a.Clock, notice.Input{
		PortalURL:  strings.TrimSuffix(cfg.PublicURL, "/") + "/portal",
		RequestURL: strings.TrimSuffix(cfg.PublicURL, "/") + "/v1/privacy/requests",
		Sources:    CollectionSources})
	if a.Sources != nil {
		a.Notice.AddSources(a.platformSources)
	}
	a.Notice.AddRecipients(a.destinationRecipients)
	return a, nil
}

// consentScript makes the consent banner from the catalog and the policies published now.
func (a *App) consentScript(ctx context.Context) ([]byte, error) {
	ps, err := a.Consents.Published(ctx)
	if err != nil {
		return nil, err
	}
	return banner.Script(banner.Build(a.Catalog, ps, a.Clock()))
}

// staffLabel keys the sealing of staff members' second-factor secrets.
const staffLabel = "staff secrets v1"

// platformKinds says, for the privacy notice, what each kind of connected platform is and
// what comes from it.
var platformKinds = map[string]notice.Source{
	"shopify":     {Name: "Our online shop (Shopify)", Description: "your orders, refunds and customer account"},
	"woocommerce": {Name: "Our online shop (WooCommerce)", Description: "your orders, refunds and customer account"},
	"stripe":      {Name: "Our payment provider (Stripe)", Description: "your payments and refunds, and your card's brand, last four digits and expiry — never its number"},
	"sendgrid":    {Name: "Our e-mail service (SendGrid)", Description: "whether our e-mails reached you, were opened or clicked, and your unsubscribes"},
	"mailgun":     {Name: "Our e-mail service (Mailgun)", Description: "whether our e-mails reached you and your complaints"},
	"twilio":      {Name: "Our text-message service (Twilio)", Description: "whether our messages reached you, and your STOP and START replies"},
	"meta_leads":  {Name: "Lead forms on Facebook and Instagram (Meta)", Description: "what you filled in on our lead forms there"},
	"trustpilot":  {Name: "Reviews (Trustpilot)", Description: "the reviews you left about us"},
	"zendesk":     {Name: "Our help desk (Zendesk)", Description: "the support tickets you opened"},
}

// platformSources are the connected platforms, for the privacy notice.
func (a *App) platformSources(ctx context.Context) ([]notice.Source, error) {
	kinds, err := a.Sources.Kinds(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]notice.Source, 0, len(kinds))
	for _, k := range kinds {
		if s, ok := platformKinds[k]; ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// CollectionSources are the channels every Steward collects through, as the privacy notice and
// the records of processing name them.
var CollectionSources = []notice.Source{
	{Name: "You", Description: "what you give us when you sign up, order, fill in a form or ask us something"},
	{Name: "Our website and apps", Description: "what you do on them — pages viewed, products looked at, carts and orders — through our own collection service, and the choices you make in our consent banner"},
	{Name: "Our shop systems", Description: "orders, returns and payments from our online shop, our tills and our payment provider"},
	{Name: "Lists we import", Description: "customer lists we held before, imported with the consent each person gave"},
}

// decisionCache sizes the single-check cache for the engine, which says how long an entry may
// be used without comparing it with the database (see store.Backend.DecisionTrust).
func decisionCache(db *store.Engine, size int) *consent.Cache {
	return &consent.Cache{Size: size, Trust: db.DecisionTrust()}
}

// Close releases the database, once the sources' counters are written.
func (a *App) Close() error {
	ctx := authz.WithActor(context.Background(), authz.System)
	if err := a.Sources.Flush(ctx); err != nil {
		a.Log.Warn("source counters not written", "err", err)
	}
	return a.Store.Close()
}

// HTTP builds the API handler.
func (a *App) HTTP() *httpapi.Server {
	return &httpapi.Server{Customers: a.Customers, Consents: a.Consents, Audit: a.Audit, APIKeys: a.APIKeys, Rotator: a.Rotator, Jobs: a.Jobs,
		Rights: a.Rights, Duplicates: a.Duplicates, Activity: a.Activity,
		Catalog: a.Catalog, Ready: a.Store.Ping, Log: a.Log, Version: Version, MaxBody: a.Config.MaxBody,
		Ingest: a.Ingest, TrackingSlots: a.Config.TrackingSlots, TrustedProxies: a.Config.Proxies(), Imports: a.Imports,
		PrivacyOrigins: a.Config.PrivacyOriginList(), CustomerStats: a.Vault.Stats(), Notice: a.Notice, Forms: a.Forms, Portal: a.Portal, Staff: a.Staff, OIDC: a.oidc(), OIDCRoles: a.oidcRoles(), CAS: a.cas(), CASRoles: a.casRoles(), Identity: a.identity,
		ConsentScript: a.consentScript,
		Sources:       a.Sources, PublicURL: a.Config.PublicURL, Segments: a.Segments, Loyalty: a.Loyalty, Offers: a.Offers}
}

// Serve runs the API and the job runner until ctx ends, then drains requests for up to
// 15 seconds. ready, if not nil, receives the listening address. With --acme-domain it serves
// HTTPS with certificates from the ACME CA, and with --acme-http-addr also the plain-HTTP
// listener that answers HTTP-01 challenges.
func (a *App) Serve(ctx context.Context, ready func(addr string)) error {
	PaceCollector()
	srv := &http.Server{
		Handler:           a.HTTP().Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	if err := a.EnsureSources(ctx); err != nil {
		return err
	}
	var certs *autocert.Manager
	if a.Config.ACME() {
		var err error
		if certs, err = a.acmeManager(); err != nil {
			return err
		}
		srv.TLSConfig = certs.TLSConfig()
	}
	ln, err := net.Listen("tcp", a.Config.Addr)
	if err != nil {
		return err
	}
	challenges, challengeLn, err := a.listenACMEChallenges(certs)
	if err != nil {
		ln.Close()
		return err
	}
	jobsCtx, stopJobs := context.WithCancel(ctx)
	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		wait := a.startMaintenance(jobsCtx)
		a.Runner.Loop(jobsCtx, 2*time.Second)
		wait()
	}()
	purgeDone := make(chan struct{})
	go func() {
		defer close(purgeDone)
		a.purgeLoop(jobsCtx, time.Minute)
	}()
	defer func() { <-purgeDone }()
	segmentsDone := make(chan struct{})
	go func() {
		defer close(segmentsDone)
		a.segmentLoop(jobsCtx, segmentEvery)
	}()
	defer func() { <-segmentsDone }()
	flushDone := make(chan struct{})
	go func() {
		defer close(flushDone)
		a.flushLoop(jobsCtx, 5*time.Second)
	}()
	defer func() { <-flushDone }()
	loyaltyDone := make(chan struct{})
	go func() {
		defer close(loyaltyDone)
		a.loyaltyLoop(jobsCtx, authz.WithActor(jobsCtx, authz.System))
	}()
	defer func() { <-loyaltyDone }()
	errc := make(chan error, 2)
	go func() {
		switch {
		case certs != nil:
			errc <- srv.ServeTLS(ln, "", "") // certificates come from srv.TLSConfig
		case a.Config.TLSCert != "":
			errc <- srv.ServeTLS(ln, a.Config.TLSCert, a.Config.TLSKey)
		default:
			errc <- srv.Serve(ln)
		}
	}()
	if challenges != nil {
		go func() { errc <- challenges.Serve(challengeLn) }()
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	attrs := []any{"addr", ln.Addr().String(), "tls", a.Config.TLSCert != "" || certs != nil, "engine", a.Store.Name(), "job_owner", a.Runner.Owner()}
	if certs != nil {
		attrs = append(attrs, "acme_domains", a.Config.ACMEHosts(), "acme_directory", a.Config.ACMEDirectory)
	}
	if challengeLn != nil {
		attrs = append(attrs, "acme_http_addr", challengeLn.Addr().String())
	}
	a.Log.Info("serving", attrs...)
	select {
	case err := <-errc:
		if challenges != nil {
			challenges.Close()
		}
		srv.Close()
		stopJobs()
		<-jobsDone
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if challenges != nil {
		_ = challenges.Shutdown(shutdownCtx)
	}
	err = srv.Shutdown(shutdownCtx)
	stopJobs()
	<-jobsDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
