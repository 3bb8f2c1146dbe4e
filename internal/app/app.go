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
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/auth"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/httpapi"
	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/keys"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/rights"
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
	Config    config.Config
	Log       *slog.Logger
	Store     *store.Engine
	Keys      *keys.Manager
	Catalog   *catalog.Catalog
	Customers *customer.Service
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
	ctx = audit.WithActor(ctx, audit.System)
	if _, err := keys.Init(ctx, root, db.Keysets(), cfg.IndexBits); err != nil {
		if problem.Is(err, problem.Conflict) {
			return "", fmt.Errorf("this database is already initialised")
		}
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

// Open wires an initialised installation.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cat, err := loadCatalog(cfg)
	if err != nil {
		return nil, err
	}
	root, err := openRoot(cfg)
	if err != nil {
		return nil, err
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
	if err := km.EnsureReceiptKey(ctx); err != nil {
		db.Close()
		return nil, err
	}
	a := &App{Config: cfg, Log: log, Store: db, Keys: km, Catalog: cat}
	a.Customers = &customer.Service{Store: db.Customers(), Audit: db.Audit(), Keys: km, Catalog: cat,
		Norm: &customer.Normalizer{Catalog: cat, DefaultRegion: cfg.DefaultRegion}}
	a.Quality = &quality.Validator{DefaultRegion: cfg.DefaultRegion}
	if cfg.EmailMXCheck {
		// The system resolver, behind the checker's cache and timeout; off unless asked for,
		// because a form check must not depend on DNS the operator did not opt in to.
		a.Quality.MX = quality.NewMXChecker(net.DefaultResolver, 0, 0)
	}
	a.Consents = &consent.Service{Store: db.Consents(), Audit: db.Audit(), Catalog: cat, Keys: km, Contacts: a.Customers, Norm: a.Customers.Norm}
	if cfg.DecisionCache > 0 {
		a.Consents.Cache = decisionCache(db, cfg.DecisionCache)
		db.SetDecisionWatcher(a.Consents.Cache)
	}
	a.Customers.Permissions = a.Consents
	a.Audit = &audit.Service{Store: db.Audit(), Catalog: cat, PublicKey: km.AuditPublicKey(), CheckpointEvery: CheckpointEvery}
	a.APIKeys = &auth.Service{Store: db.APIKeys(), Audit: db.Audit(), Catalog: cat}
	a.Rotator = &keys.Rotator{Manager: km, Jobs: db.Jobs(), KeyStore: db.Customers(), Catalog: cat}
	if a.Ingest, err = openIngest(cfg, a); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.wireRights(cfg); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.wireQuality(cfg); err != nil {
		db.Close()
		return nil, err
	}
	host, _ := os.Hostname()
	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	a.Runner = &job.Runner{Store: db.Jobs(), Owner: host + "-" + hex.EncodeToString(nonce[:]), Lease: time.Minute, Log: log,
		Steps: map[string]job.Step{keys.RewrapJob: a.Rotator.Step, duplicate.ScanJob: a.Duplicates.Step}}
	a.Imports = &importer.Service{Uploads: db.Imports(), Jobs: db.Jobs(), Writer: a.Ingest, Ledger: a.Consents, Norm: a.Customers.Norm, Catalog: cat, Keys: km,
		Dir: cfg.ImportSpoolDir(), MaxBytes: cfg.ImportMaxBytes, Owner: a.Runner.Owner, Lease: a.Runner.Lease, Log: log}
	a.Runner.Steps[importer.JobKind] = a.Imports.Step
	return a, nil
}

// decisionCache sizes the single-check cache for the engine, which says how long an entry may
// be used without comparing it with the database (see store.Backend.DecisionTrust).
func decisionCache(db *store.Engine, size int) *consent.Cache {
	return &consent.Cache{Size: size, Trust: db.DecisionTrust()}
}

// Close releases the database.
func (a *App) Close() error { return a.Store.Close() }

// HTTP builds the API handler.
func (a *App) HTTP() *httpapi.Server {
	return &httpapi.Server{Customers: a.Customers, Consents: a.Consents, Audit: a.Audit, APIKeys: a.APIKeys, Rotator: a.Rotator, Jobs: a.Store.Jobs(),
		Quality: a.Quality, Rights: a.Rights, Duplicates: a.Duplicates, QualityReport: a.QualityReport,
		Catalog: a.Catalog, Ready: a.Store.Ping, Log: a.Log, Version: Version, MaxBody: a.Config.MaxBody,
		Ingest: a.Ingest, TrackingSlots: a.Config.TrackingSlots, Imports: a.Imports}
}

// Serve runs the API and the job runner until ctx ends, then drains requests for up to
// 15 seconds. ready, if not nil, receives the listening address.
func (a *App) Serve(ctx context.Context, ready func(addr string)) error {
	srv := &http.Server{
		Handler:           a.HTTP().Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ln, err := net.Listen("tcp", a.Config.Addr)
	if err != nil {
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
	errc := make(chan error, 1)
	go func() {
		if a.Config.TLSCert != "" {
			errc <- srv.ServeTLS(ln, a.Config.TLSCert, a.Config.TLSKey)
			return
		}
		errc <- srv.Serve(ln)
	}()
	if ready != nil {
		ready(ln.Addr().String())
	}
	a.Log.Info("serving", "addr", ln.Addr().String(), "tls", a.Config.TLSCert != "", "engine", a.Store.Name())
	select {
	case err := <-errc:
		stopJobs()
		<-jobsDone
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopJobs()
	<-jobsDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
