package cli

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func serveCmd(s *settings, e env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the API server (SQLite in the data directory, or PostgreSQL with --db)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, _, err := s.open(cmd.Context(), e)
			if err != nil {
				return err
			}
			defer a.Close()
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return a.Serve(ctx, nil)
		},
	}
}

// signalContext is the context a long-running command stops on.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}
