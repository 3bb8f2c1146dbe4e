package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/audit"
)

// chainVerifier checks the audit trail's hash chains and signed checkpoints.
type chainVerifier interface {
	// Verify returns a *audit.Break naming the first entry that does not check out.
	Verify(ctx context.Context) (audit.Report, error)
}

func auditCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Work with the audit trail"}
	cmd.AddCommand(&cobra.Command{
		Use:   "verify",
		Short: "Verify the hash chain and signed checkpoints; exit 0 if intact, 2 naming the first bad entry",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return verifyAudit(ctx, a.Audit, e.stdout, e.stderr)
		}),
	})
	return cmd
}

// verifyAudit exits 2 for a broken trail, apart from 1 for a failure to check it, so that a
// monitoring script can tell tampering from an outage.
func verifyAudit(ctx context.Context, trail chainVerifier, stdout, stderr io.Writer) error {
	rep, err := trail.Verify(ctx)
	var b *audit.Break
	if errors.As(err, &b) {
		fmt.Fprintln(stderr, "steward: "+b.Error())
		return exitCode(2)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit trail intact: %d entries in %d chains, %d signed checkpoints\n", rep.Entries, rep.Chains, rep.Checkpoints)
	return nil
}
