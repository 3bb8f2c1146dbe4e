package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
)

func initCmd(s *settings, e env) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the data directory, root key (mode 0600), database and keyset; print a one-time owner API key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := app.Init(cmd.Context(), s.cfg, s.logger(e))
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Initialised Steward in %s.\n", s.cfg.Data)
			fmt.Fprintln(e.stdout, "The owner API key follows. It is shown only once: store it in a password manager.")
			fmt.Fprintln(e.stdout, key)
			return nil
		},
	}
}
