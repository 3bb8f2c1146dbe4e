package cli

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
)

func serveCmd(s *settings, e env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the API server (SQLite in the data directory, or PostgreSQL with --db)",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			ctx, stop := signalContext(ctx)
			defer stop()
			return a.Serve(ctx, nil)
		}),
	}
}

// signalContext is the context a long-running command stops on.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}
