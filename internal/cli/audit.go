package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"

	"github.com/stewardhq/steward/internal/audit"
)

func auditCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Work with the audit trail"}
	cmd.AddCommand(&cobra.Command{
		Use:   "verify",
		Short: "Verify the hash chain and signed checkpoints; exit 0 if intact, 2 naming the first bad entry",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			rep, err := a.Audit.Verify(ctx)
			var b *audit.Break
			if errors.As(err, &b) {
				fmt.Fprintln(e.stderr, "steward: "+b.Error())
				return exitCode(2)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "audit trail intact: %d entries in %d chains, %d signed checkpoints\n", rep.Entries, rep.Chains, rep.Checkpoints)
			return nil
		}),
	})
	return cmd
}
