package cli

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
)

// server runs the API and the background jobs until ctx ends; ready, if not nil, receives
// the listening address.
type server interface {
	Serve(ctx context.Context, ready func(addr string)) error
}

func serveCmd(s *settings, e env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the API server (SQLite in the data directory, or PostgreSQL with --db)",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return serve(ctx, a)
		}),
	}
}

// serve runs srv until an interrupt or termination signal, which drains it instead of
// killing it mid-request.
func serve(ctx context.Context, srv server) error {
	ctx, stop := signalContext(ctx)
	defer stop()
	return srv.Serve(ctx, nil)
}

// signalContext is the context a long-running command stops on.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}
