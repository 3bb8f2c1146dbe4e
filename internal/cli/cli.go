// Package cli is Steward's command line: one file per subcommand, all wired through the app
// package so that data commands go through the same services (and the same audit trail) as
// the API.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/source"
)

// env is how the command line reads the environment; tests replace it.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// isTerminal, if set, replaces the check for a terminal (where progress bars are drawn).
	isTerminal func(io.Writer) bool
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, env{stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

func run(ctx context.Context, args []string, e env) int {
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	msg := err.Error()
	var pe *problem.Error
	if errors.As(err, &pe) {
		msg = problem.Detail(err)
	}
	var exit exitCode
	if errors.As(err, &exit) {
		return int(exit) // the command has said why
	}
	fmt.Fprintln(e.stderr, "steward:", msg)
	return 1
}

type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit %d", int(c)) }

// settings are the flags every command shares; they bind to a Config.
type settings struct {
	configFile string
	cfg        config.Config
	db         string
	vaultToken string
	mail       string
	oidcSecret string
	ldapSecret string
}

func newRoot(e env) *cobra.Command {
	root, _ := newRootSettings(e)
	return root
}

// newRootSettings is newRoot that also returns the settings its flags bind to, so that a test
// can see the configuration a command line loads.
func newRootSettings(e env) (*cobra.Command, *settings) {
	s := &settings{cfg: config.Default()}
	root := &cobra.Command{
		Use:           "steward",
		Short:         "Steward: a self-hosted customer data vault and customer data platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringVar(&s.configFile, "config", "", "YAML config file whose keys are flag names")
	f.StringVar(&s.cfg.Data, "data", s.cfg.Data, "data directory (SQLite database and root key)")
	f.StringVar(&s.cfg.Addr, "addr", s.cfg.Addr, "listen address")
	f.StringVar(&s.db, "db", "", "PostgreSQL URL (postgres://…); empty uses SQLite in the data directory")
	f.StringVar(&s.cfg.Catalog, "catalog", "", "data catalog file overriding the built-in one")
	f.StringVar(&s.cfg.DefaultRegion, "default-region", s.cfg.DefaultRegion, "region for phone numbers written without a country code")
	f.BoolVar(&s.cfg.EmailMXCheck, "email-mx-check", false, "let POST /v1/validate look up each e-mail domain's mail servers in DNS (cached, 3 s timeout)")
	f.StringVar(&s.cfg.SQLiteSync, "sqlite-sync", s.cfg.SQLiteSync, "SQLite durability: NORMAL (survives crashes of Steward) or FULL (also power loss)")
	f.StringVar(&s.cfg.Root, "root", s.cfg.Root, "root key: local (key file in the data directory) or vault-transit")
	f.StringVar(&s.cfg.VaultAddr, "vault-addr", "", "HashiCorp Vault address for the vault-transit root")
	f.StringVar(&s.vaultToken, "vault-token", "", "HashiCorp Vault token (prefer STEWARD_VAULT_TOKEN_FILE)")
	f.StringVar(&s.cfg.VaultKey, "vault-key", "", "Vault transit key name")
	f.StringVar(&s.cfg.VaultMount, "vault-mount", s.cfg.VaultMount, "Vault transit mount path")
	f.IntVar(&s.cfg.IndexBits, "index-bits", 0, "blind-index width chosen at init (8–32; 0 plans it)")
	f.Int64Var(&s.cfg.MaxBody, "max-body", s.cfg.MaxBody, "largest accepted request body in bytes")
	f.StringVar(&s.cfg.TLSCert, "tls-cert", "", "TLS certificate file")
	f.StringVar(&s.cfg.TLSKey, "tls-key", "", "TLS private key file")
	f.StringSliceVar(&s.cfg.ACMEDomains, "acme-domain", nil, "obtain and renew certificates for this DNS name from an ACME CA (repeat or comma-separate; replaces tls-cert and tls-key)")
	f.StringVar(&s.cfg.ACMEDirectory, "acme-directory", s.cfg.ACMEDirectory, "directory URL of the ACME server")
	f.StringVar(&s.cfg.ACMEEmail, "acme-email", "", "e-mail address the ACME CA writes to about expiring certificates")
	f.StringVar(&s.cfg.ACMEHTTPAddr, "acme-http-addr", "", "plain-HTTP listener (such as :80) answering HTTP-01 challenges and redirecting the rest to HTTPS; empty uses TLS-ALPN-01 on addr only")
	f.StringVar(&s.cfg.ACMECARoot, "acme-ca-root", "", "PEM file of the CA a private ACME server's certificate comes from")
	f.StringVar(&s.cfg.LogLevel, "log-level", s.cfg.LogLevel, "debug, info, warn or error")
	f.DurationVar(&s.cfg.DedupWindow, "dedup-window", s.cfg.DedupWindow, "how long a tracking messageId is remembered per write key")
	f.StringVar(&s.cfg.PIIMode, "pii-in-properties", s.cfg.PIIMode, "e-mail, phone or card numbers found in event properties: drop or encrypt")
	f.StringVar(&s.cfg.IPMode, "ip-mode", s.cfg.IPMode, "context.ip of events: sealed, prefix (/24, /48 in clear) or drop")
	f.StringVar(&s.cfg.EventSchema, "event-schema", "", "event schema file overriding the built-in one")
	f.StringVar(&s.cfg.Forms, "forms", "", "hosted forms file (brand and forms served at /forms/{name}) overriding the built-in sign-up, newsletter and preferences forms")
	f.IntVar(&s.cfg.TrackingSlots, "tracking-slots", s.cfg.TrackingSlots, "tracking requests processed at once; more wait, then get 429")
	f.StringVar(&s.cfg.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs of load balancers whose X-Forwarded-For names the client (per-client limits)")
	f.DurationVar(&s.cfg.CartAbandonAfter, "cart-abandon-after", s.cfg.CartAbandonAfter, "a checkout with no order after this long is an abandoned cart")
	f.DurationVar(&s.cfg.JobLease, "job-lease", s.cfg.JobLease, "how long a node holds a background job between checkpoints; another node takes over a job whose lease ran out")
	f.IntVar(&s.cfg.DecisionCache, "decision-cache", s.cfg.DecisionCache, "customers whose permission-decision inputs are kept in memory (about 600 bytes each); 0 turns the cache off")
	f.Int64Var(&s.cfg.ImportMaxBytes, "import-max-bytes", s.cfg.ImportMaxBytes, "largest CSV file POST /v1/imports accepts, in bytes")
	f.StringVar(&s.cfg.SourcesFile, "sources-file", "", "YAML file of connected platforms (kind, name, secret_file, role); serve creates those missing (docs/sources.md)")
	f.StringVar(&s.cfg.MetaGraphURL, "meta-graph-url", source.DefaultGraphURL, "Meta's Graph API (with its version), where Meta lead ads sources with a page token read each lead's answers")
	f.StringVar(&s.cfg.Loyalty, "loyalty", "", "loyalty programme file (earning rules, tiers, expiry, redemption; docs/loyalty.md) overriding the built-in programme")
	rightsFlags(f, s)
	identityFlags(f, s)
	qualityFlags(f, s)
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error { return s.load(cmd, e) }

	root.AddCommand(initCmd(s, e), serveCmd(s, e), demoCmd(s, e), apikeyCmd(s, e), auditCmd(s, e),
		migrateCmd(s, e), keysCmd(s, e), configCmd(s, e), versionCmd(e), importCmd(s, e),
		backupCmd(s, e), restoreCmd(s, e), ledgerCmd(s, e), retentionCmd(s, e))
	root.AddCommand(matchCmd(s, e), qualityCmd(s, e), duplicatesCmd(s, e))
	root.AddCommand(policyCmd(s, e), deriveCmd(s, e), staffCmd(s, e), searchCmd(s, e), sourcesCmd(s, e))
	return root, s
}

// load layers the config file and the environment under the flags given on the command line.
func (s *settings) load(cmd *cobra.Command, e env) error {
	flags := cmd.Flags()
	file := s.configFile
	if file == "" {
		file = e.getenv("STEWARD_CONFIG")
	}
	fromFile := map[string]any{}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if err := yaml.Unmarshal(b, &fromFile); err != nil {
			return fmt.Errorf("config file %s: %w", file, err)
		}
		for k := range fromFile {
			if flags.Lookup(k) == nil {
				return fmt.Errorf("config file %s: unknown setting %q", file, k)
			}
		}
	}
	var err error
	flags.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		name := "STEWARD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := e.getenv(name); v != "" {
			err = setFlag(f, v, name)
			return
		}
		if p := e.getenv(name + "_FILE"); p != "" {
			b, rerr := os.ReadFile(p)
			if rerr != nil {
				err = fmt.Errorf("%s_FILE: %w", name, rerr)
				return
			}
			err = setFlag(f, strings.TrimSpace(string(b)), name+"_FILE")
			return
		}
		if v, ok := fromFile[f.Name]; ok && !unset(v) {
			if v == config.Redacted {
				err = fmt.Errorf("config file %s: %s is %q, as config print writes a secret: put the secret there, or remove the line and give it with %s_FILE",
					file, f.Name, config.Redacted, name)
				return
			}
			err = setFlag(f, fileValue(v), "config file")
		}
	})
	if err != nil {
		return err
	}
	s.cfg.DB = config.Secret(s.db)
	s.cfg.VaultToken = config.Secret(s.vaultToken)
	s.cfg.Mail = config.Secret(s.mail)
	s.cfg.OIDCClientSecret = config.Secret(s.oidcSecret)
	s.cfg.LDAPBindPassword = config.Secret(s.ldapSecret)
	return nil
}

// unset reports a config file value that sets nothing: an empty value or list, as config
// print writes a list setting that is not set.
func unset(v any) bool {
	list, ok := v.([]any)
	return v == nil || ok && len(list) == 0
}

// fileValue is a config file value as the flag takes it: a YAML list, as config print writes
// acme-domain, becomes the comma-separated form a list flag reads.
func fileValue(v any) string {
	list, ok := v.([]any)
	if !ok {
		return fmt.Sprint(v)
	}
	parts := make([]string, len(list))
	for i, x := range list {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ",")
}

func setFlag(f *pflag.Flag, v, from string) error {
	if err := f.Value.Set(v); err != nil {
		if f.Value.Type() == "duration" {
			return fmt.Errorf("%s: invalid value for %s: want a duration with its unit, such as 90s, 15m or 24h", from, f.Name)
		}
		return fmt.Errorf("%s: invalid value for %s", from, f.Name)
	}
	return nil
}

func (s *settings) logger(e env) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(s.cfg.LogLevel))
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
}

// withApp makes a command body that runs against the opened installation as the local
// operator, and closes it afterwards. fn is glue only: it picks off the App the few services
// the command's own function takes, so that each command's signature says what it can touch
// and the command can be tested with just those.
func (s *settings) withApp(e env, fn func(ctx context.Context, a *app.App, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a, ctx, err := s.open(cmd.Context(), e)
		if err != nil {
			return err
		}
		defer a.Close()
		return fn(ctx, a, args)
	}
}

// open wires the installation for a command, acting as the local operator.
func (s *settings) open(ctx context.Context, e env) (*app.App, context.Context, error) {
	app.PaceCollector()
	a, err := app.Open(ctx, s.cfg, s.logger(e))
	if err != nil {
		return nil, ctx, err
	}
	return a, authz.WithActor(ctx, authz.System), nil
}
