package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/rights"
)

// ledgerChecker is the rights service as the ledger commands see it.
type ledgerChecker interface {
	CheckLedger(ctx context.Context) (rights.LedgerCheck, error)
	RebuildLedger(ctx context.Context) (string, error)
}

func ledgerCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "ledger", Short: "Check or rebuild the erasure ledger file that every restore replays"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Compare the erasure ledger file with the database's ledger; exit 0 if the file can be trusted, 3 if not",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return checkLedger(ctx, a.Rights, e.stdout, e.stderr, a.Config.DB != "")
		}),
	}, &cobra.Command{
		Use:   "rebuild",
		Short: "Set the erasure ledger file aside and write it anew from the database's ledger (audited)",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return rebuildLedger(ctx, a.Rights, e.stdout)
		}),
	})
	return cmd
}

// checkLedger applies the rules a restore applies, so an operator learns before a restore
// whether it would be refused. With PostgreSQL, erasures made on other nodes are expected
// to be missing from this node's file.
func checkLedger(ctx context.Context, l ledgerChecker, stdout, stderr io.Writer, shared bool) error {
	c, err := l.CheckLedger(ctx)
	if err != nil {
		return err
	}
	switch {
	case c.FileErr != nil:
		fmt.Fprintf(stderr, "steward: %v; the database records %d erasures\n", c.FileErr, len(c.Database))
		return exitCode(3)
	case c.Missing > 0 && !shared:
		fmt.Fprintf(stderr, "steward: the erasure ledger file lacks %d of the %d erasures the database records (it was cut short or replaced by an older copy)\n", c.Missing, len(c.Database))
		return exitCode(3)
	}
	fmt.Fprintf(stdout, "erasure ledger intact: %d entries in the file, %d in the database, %d only in the database\n", len(c.File), len(c.Database), c.Missing)
	return nil
}

func rebuildLedger(ctx context.Context, l ledgerChecker, stdout io.Writer) error {
	moved, err := l.RebuildLedger(ctx)
	if err != nil {
		return err
	}
	if moved != "" {
		fmt.Fprintf(stdout, "the previous erasure ledger file was moved to %s\n", moved)
	}
	fmt.Fprintln(stdout, "erasure ledger file rebuilt from the database's ledger")
	return nil
}
