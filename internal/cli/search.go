package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/job"
)

func searchCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "search", Short: "Customer search index"}
	cmd.AddCommand(&cobra.Command{
		Use:   "reindex",
		Short: "Rebuild every customer's search tokens from their stored values (resumable)",
		Long: "Runs the search reindex job to completion here, printing what it did: it opens each customer, " +
			"derives the search tokens again and replaces the stored ones. A server queues the same job by itself when " +
			"it starts on a database whose index is incomplete (after the upgrade that brought search). If interrupted, " +
			"run it again (or let a server run it): the job resumes from its last checkpoint.",
		Args: cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			ctx, stop := signalContext(ctx)
			defer stop()
			start := time.Now()
			j, err := a.StartReindex(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "reindexing search tokens of %d customers (job %s)\n", j.Total, j.ID)
			if err := a.Runner.RunJob(ctx, j.ID); err != nil {
				return err
			}
			if j, err = a.Store.Jobs().GetJob(ctx, j.ID); err != nil {
				return err
			}
			if j.State != job.Done {
				return fmt.Errorf("reindex job %s is %s", j.ID, j.State)
			}
			fmt.Fprintf(e.stdout, "reindexed %d customers in %s\n", j.Done, time.Since(start).Round(time.Millisecond))
			return nil
		}),
	})
	return cmd
}
