package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/keys"
	"github.com/stewardhq/steward/internal/store"
)

func versionCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(e.stdout, "steward", app.Version)
			return nil
		},
	}
}

func configCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the configuration in force, secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := s.cfg.Validate(); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, s.cfg.Dump())
			return nil
		},
	})
	return cmd
}

// migrations reports, for each database file, which schema migrations have been applied.
type migrations interface {
	MigrationStatus(ctx context.Context) ([]store.MigrationFileStatus, error)
	// Name is the database engine, printed so that the operator sees which one was opened.
	Name() string
}

func migrateCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Schema migrations (applied automatically at start)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "List the migrations and when each was applied",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return migrationStatus(ctx, a.Store, e.stdout)
		}),
	})
	return cmd
}

// migrationStatus lists every database file's migrations: on SQLite the main file and the
// access trail file next to it each have their own.
func migrationStatus(ctx context.Context, db migrations, out io.Writer) error {
	files, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ENGINE\t%s\n", db.Name())
	fmt.Fprintln(tw, "FILE\tVERSION\tNAME\tAPPLIED")
	for _, f := range files {
		for _, m := range f.Status {
			applied := "pending"
			if !m.Applied.IsZero() {
				applied = m.Applied.Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(tw, "%s\t%04d\t%s\t%s\n", f.File, m.Version, m.Name, applied)
		}
	}
	return tw.Flush()
}

// rotation is what a master-key rotation touches: the key manager that gains the new
// version, the rotator that queues the rewrap, the runner that runs it here and the job
// store that says how it ended.
type rotation struct {
	Keys    *keys.Manager
	Rotator *keys.Rotator
	Runner  *job.Runner
	Jobs    jobReader
}

// jobReader reads a job's stored state.
type jobReader interface {
	GetJob(ctx context.Context, id string) (job.Job, error)
}

func keysCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Key management"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Rotate the master key and rewrap every customer's data key (resumable)",
		Long: "Adds a new primary master key and runs the rewrap job to completion, printing progress. " +
			"If interrupted, run it again (or let a server run it): the job resumes from its last checkpoint.",
		Args: cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return rotateKeys(ctx, rotation{Keys: a.Keys, Rotator: a.Rotator, Runner: a.Runner, Jobs: a.Store.Jobs()}, e.stdout)
		}),
	})
	return cmd
}

// rotateKeys first finishes an unfinished rewrap from an interrupted run instead of rotating
// again, then rotates and runs the new rewrap to its end in this process.
func rotateKeys(ctx context.Context, r rotation, out io.Writer) error {
	ctx, stop := signalContext(ctx)
	defer stop()
	resumed, err := r.Runner.RunOne(ctx)
	if err != nil {
		return err
	}
	if resumed {
		fmt.Fprintln(out, "resumed and finished an interrupted rewrap")
	}
	j, err := r.Rotator.Start(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "master key rotated to v%d; rewrapping %d customer keys (job %s)\n", r.Keys.PrimaryVersion(), j.Total, j.ID)
	if _, err := r.Runner.RunOne(ctx); err != nil {
		return err
	}
	j, err = r.Jobs.GetJob(ctx, j.ID)
	if err != nil {
		return err
	}
	if j.State != job.Done {
		return fmt.Errorf("rewrap job %s is %s", j.ID, j.State)
	}
	fmt.Fprintf(out, "rewrapped: %d customer keys now under master key v%d\n", j.Done, r.Keys.PrimaryVersion())
	return nil
}
