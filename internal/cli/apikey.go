package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
)

func apikeyCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Short: "Create, list and revoke API keys"}
	var role, name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key for a role; prints only the key",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			key, _, err := a.APIKeys.Create(ctx, role, name)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, key)
			return nil
		}),
	}
	create.Flags().StringVar(&role, "role", "", "catalog role the key acts as (owner, admin, support, marketer, analyst, dpo, auditor, ingest)")
	create.Flags().StringVar(&name, "name", "", "what the key is for")
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			keys, err := a.APIKeys.List(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tHINT\tROLE\tNAME\tCREATED\tSTATUS")
			for _, k := range keys {
				status := "active"
				if k.RevokedAt != nil {
					status = "revoked " + k.RevokedAt.Format("2006-01-02")
				}
				fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Hint, k.Role, k.Name, k.CreatedAt.Format("2006-01-02 15:04"), status)
			}
			return tw.Flush()
		}),
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key, at once and for good",
		Args:  cobra.ExactArgs(1),
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			if err := a.APIKeys.Revoke(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked %s\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
