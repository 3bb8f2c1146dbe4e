package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/job"
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

func migrateCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Schema migrations (applied automatically at start)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "List the migrations and when each was applied",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			// Each database file has its own migrations: on SQLite the main file and the access
			// trail file next to it.
			files, err := a.Store.MigrationStatus(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "ENGINE\t%s\n", a.Store.Name())
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
		}),
	})
	return cmd
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
			ctx, stop := signalContext(ctx)
			defer stop()
			// An unfinished rewrap from an interrupted run is resumed instead of rotating again.
			resumed, err := a.Runner.RunOne(ctx)
			if err != nil {
				return err
			}
			if resumed {
				fmt.Fprintln(e.stdout, "resumed and finished an interrupted rewrap")
			}
			j, err := a.Rotator.Start(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "master key rotated to v%d; rewrapping %d customer keys (job %s)\n", a.Keys.PrimaryVersion(), j.Total, j.ID)
			if _, err := a.Runner.RunOne(ctx); err != nil {
				return err
			}
			j, err = a.Store.Jobs().GetJob(ctx, j.ID)
			if err != nil {
				return err
			}
			if j.State != job.Done {
				return fmt.Errorf("rewrap job %s is %s", j.ID, j.State)
			}
			fmt.Fprintf(e.stdout, "rewrapped: %d customer keys now under master key v%d\n", j.Done, a.Keys.PrimaryVersion())
			return nil
		}),
	})
	return cmd
}
