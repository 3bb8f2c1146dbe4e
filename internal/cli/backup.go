package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/backup"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/retention"
)

// rightsFlags binds the settings of requests, retention and backups.
func rightsFlags(f *pflag.FlagSet, s *settings) {
	c := &s.cfg
	f.StringVar(&c.RequestDeadlines, "request-deadlines", c.RequestDeadlines, "answer deadlines by jurisdiction: name=Nm (calendar months) or name=Nd (days)")
	f.StringVar(&c.Jurisdiction, "jurisdiction", c.Jurisdiction, "jurisdiction of requests that name none")
	f.StringVar(&s.mail, "mail", "", "how verification links are sent: file:DIR (development) or smtp://user:password@host:port; empty turns self-service requests off")
	f.StringVar(&c.MailFrom, "mail-from", c.MailFrom, "sender address of verification e-mails")
	f.StringVar(&c.PublicURL, "public-url", c.PublicURL, "base URL of links sent to customers")
	f.StringVar(&c.PrivacyOrigins, "privacy-origins", c.PrivacyOrigins, "origins whose pages may call POST /v1/privacy/requests from a script (CORS), comma-separated, e.g. https://shop.example")
	f.StringVar(&c.OIDCIssuer, "oidc-issuer", "", "staff sign in through this OpenID Connect provider (its issuer URL); see docs/console.md")
	f.StringVar(&c.OIDCClientID, "oidc-client-id", "", "the console's client id at the provider")
	f.StringVar(&s.oidcSecret, "oidc-client-secret", "", "the console's client secret at the provider (prefer STEWARD_OIDC_CLIENT_SECRET_FILE)")
	f.StringVar(&c.OIDCRoles, "oidc-roles", "", "group=role,… in order: the first of a person's groups listed decides their role; no match, no access")
	f.StringVar(&c.OIDCClaim, "oidc-claim", c.OIDCClaim, "the ID-token claim listing the person's groups")
	f.StringVar(&c.CASURL, "cas-url", "", "staff sign in through this CAS 3.0 server (its base URL, e.g. https://cas.example.com/cas)")
	f.StringVar(&c.CASRoles, "cas-roles", "", "group=role,… in order, as --oidc-roles")
	f.StringVar(&c.CASGroups, "cas-groups", c.CASGroups, "the CAS attribute listing the person's groups")
	f.DurationVar(&c.ExportTTL, "export-ttl", c.ExportTTL, "how long an access export can be downloaded before it is deleted")
	f.BoolVar(&c.RequestFourEyes, "request-four-eyes", c.RequestFourEyes, "four-eyes rule: whoever opens a data-subject request for a customer may not also verify the requester's identity")
	f.StringVar(&c.InactiveAfter, "inactive-after", "", "erase customers inactive for this long (e.g. 3y); empty never does")
	f.DurationVar(&c.RetentionEvery, "retention-every", 0, "run the retention purge this often while serving (e.g. 24h); 0 off")
	f.StringVar(&c.BackupDir, "backup-dir", "", "write scheduled backups here while serving; empty off")
	f.DurationVar(&c.BackupEvery, "backup-every", c.BackupEvery, "interval of scheduled backups")
	f.IntVar(&c.BackupKeep, "backup-keep", c.BackupKeep, "scheduled backups kept; older ones are deleted")
	f.StringVar(&c.PGBin, "pg-bin", "", "directory of pg_dump and pg_restore (default: PATH, then /usr/lib/postgresql/*/bin)")
}

// backupWriter writes an encrypted, authenticated backup of the installation to a file.
type backupWriter interface {
	Backup(ctx context.Context, out string) (backup.Header, error)
}

func backupCmd(s *settings, e env) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Write an encrypted, authenticated backup (online: Steward may keep serving)",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return writeBackup(ctx, a, e.stdout, out)
		}),
	}
	cmd.Flags().StringVar(&out, "out", "", "backup file to write")
	cmd.AddCommand(&cobra.Command{
		Use:   "verify FILE",
		Short: "Check every byte of a backup with the root key; exit 0 if intact, 2 if not",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return verifyBackup(cmd.Context(), s.cfg, e.stdout, e.stderr, args[0])
		},
	})
	return cmd
}

// writeBackup refuses to guess a file name: a backup written somewhere unexpected is one
// nobody finds when it is needed.
func writeBackup(ctx context.Context, b backupWriter, stdout io.Writer, out string) error {
	if out == "" {
		return fmt.Errorf("--out: the backup file to write is required")
	}
	start := time.Now()
	h, err := b.Backup(ctx, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s (%s, %d files, key wrapped by the %s root, %s)\n", out, h.Engine, len(h.Files), h.Root, time.Since(start).Round(time.Millisecond))
	return nil
}

// verifyBackup needs only the configuration, for the root key: a backup can be checked
// without opening, or even having, the database it came from. A corrupt file exits 2.
func verifyBackup(ctx context.Context, cfg config.Config, stdout, stderr io.Writer, file string) error {
	h, err := app.VerifyBackup(ctx, cfg, file)
	if errors.Is(err, backup.ErrCorrupt) {
		fmt.Fprintln(stderr, "steward: "+err.Error())
		return exitCode(2)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup intact: %s, taken %s, files %v\n", h.Engine, h.CreatedAt.Format(time.RFC3339), h.Files)
	return nil
}

func restoreCmd(s *settings, e env) *cobra.Command {
	var opts app.RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a backup into the data directory (stop serving first) and replay the erasure ledger",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Accepting an incomplete ledger is a decision about one restore: a standing
			// setting in the environment or a config file would quietly turn the check off
			// for every later one.
			if opts.AcceptIncompleteLedger && !cmd.Flags().Changed("accept-incomplete-ledger") {
				return fmt.Errorf("--accept-incomplete-ledger is taken from the command line only, not from the environment or a config file")
			}
			return restoreBackup(cmd.Context(), s.cfg, s.logger(e), e.stdout, e.stderr, args[0], opts)
		},
	}
	cmd.Flags().StringVar(&opts.KeepPrevious, "keep-previous", "", "first write the database being replaced to this file as an encrypted backup (no copy is kept otherwise)")
	cmd.Flags().BoolVar(&opts.AcceptIncompleteLedger, "accept-incomplete-ledger", false,
		"restore even though the erasure ledger file is missing, cut short, damaged or behind the database, or the database cannot be read: replays what remains and rebuilds the file (customers erased since the backup may come back)")
	return cmd
}

// restoreBackup takes the configuration rather than an opened installation, because it
// replaces the database files an opened one would hold. A corrupt file exits 2 and changes
// nothing; an erasure ledger that cannot be trusted exits 3 and changes nothing.
func restoreBackup(ctx context.Context, cfg config.Config, log *slog.Logger, stdout, stderr io.Writer, file string, opts app.RestoreOptions) error {
	rep, err := app.RestoreWith(ctx, cfg, file, log, opts)
	if errors.Is(err, backup.ErrCorrupt) {
		fmt.Fprintln(stderr, "steward: "+err.Error()+"; nothing was changed")
		return exitCode(2)
	}
	if errors.Is(err, app.ErrLedgerUntrusted) {
		fmt.Fprintln(stderr, "steward: "+err.Error()+". Nothing was changed.")
		return exitCode(3)
	}
	if err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(stderr, "steward: warning: accepted an incomplete erasure ledger: "+w)
	}
	if rep.SetAside != "" {
		fmt.Fprintf(stderr, "steward: the untrusted erasure ledger file was moved to %s and rebuilt from the database's ledger\n", rep.SetAside)
	}
	if rep.Kept != "" {
		fmt.Fprintf(stdout, "the replaced database was written to %s as an encrypted backup\n", rep.Kept)
	}
	fmt.Fprintf(stdout, "restored backup taken %s; %d erasures replayed from the ledger; audit trail intact (%d entries)\n",
		rep.Header.CreatedAt.Format(time.RFC3339), rep.Replayed, rep.Entries)
	return nil
}

// retentionPurge is the retention service as the command sees it: a dry run and a real one,
// both reporting what they found in the same shape.
type retentionPurge interface {
	Plan(ctx context.Context) (retention.Plan, error)
	Run(ctx context.Context) (retention.Plan, error)
}

func retentionCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "retention", Short: "Enforce the catalog's retention periods"}
	show := func(run bool) func(*cobra.Command, []string) error {
		return s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return showRetention(ctx, a.Retention, e.stdout, run)
		})
	}
	cmd.AddCommand(&cobra.Command{Use: "plan", Short: "Show what the next purge would do, changing nothing", Args: cobra.NoArgs, RunE: show(false)},
		&cobra.Command{Use: "run", Short: "Purge expired fields and erase inactive customers now (audited with counts)", Args: cobra.NoArgs, RunE: show(true)})
	return cmd
}

// showRetention prints a plan and a run alike, counts only, so that an operator can compare
// what a plan promised with what the run did.
func showRetention(ctx context.Context, r retentionPurge, out io.Writer, run bool) error {
	p, err := r.Plan(ctx)
	if run {
		p, err = r.Run(ctx)
	}
	if err != nil {
		return err
	}
	verb := "would"
	if run {
		verb = "did"
	}
	fmt.Fprintf(out, "retention %s at %s: %d customers scanned, %d erased as inactive, %d skipped under legal hold\n",
		map[bool]string{false: "plan", true: "run"}[run], p.At.Format(time.RFC3339), p.Scanned, p.Erase, p.Held)
	for _, f := range sortedFieldCounts(p.Fields) {
		fmt.Fprintf(out, "  %s purge %s from %d customers\n", verb, f, p.Fields[f])
	}
	return nil
}

func sortedFieldCounts(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
