package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/ingest"
)

// figureDeriver recomputes every customer's derived figures from what is stored.
type figureDeriver interface {
	Derive(ctx context.Context) (ingest.DeriveResult, error)
}

// deriveCmd rebuilds the derived profile figures (order_count, lifetime_value, …): after an
// upgrade that added one, after a catalog change that declared one, or to check that the
// figures kept current as events arrive are what the events say. It is safe to run at any
// time and as often as wanted: a second run changes nothing.
func deriveCmd(s *settings, e env) *cobra.Command {
	return &cobra.Command{
		Use:   "derive",
		Short: "Recompute every customer's derived figures (order count, lifetime value, returns, reviews, complaints, social interactions) from the stored orders and events",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return derive(ctx, a.Ingest, e.stdout)
		}),
	}
}

func derive(ctx context.Context, d figureDeriver, stdout io.Writer) error {
	res, err := d.Derive(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "derived figures of %d customers: %d changed\n", res.Customers, res.Changed)
	return nil
}
