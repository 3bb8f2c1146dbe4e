package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/auth"
)

// keyCreator issues API keys. The command takes only this, not the whole installation, so
// that what it can touch is plain from its signature and a test can hand it a key service
// on its own.
type keyCreator interface {
	// Create returns the key's one-time secret and its stored record; it refuses a role the
	// catalog does not know.
	Create(ctx context.Context, role, name string) (string, auth.Key, error)
}

// keyLister lists API keys, never their secrets.
type keyLister interface {
	List(ctx context.Context) ([]auth.Key, error)
}

// keyRevoker revokes an API key at once.
type keyRevoker interface {
	Revoke(ctx context.Context, id string) error
}

func apikeyCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Short: "Create, list and revoke API keys"}
	var role, name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key for a role; prints only the key",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return createKey(ctx, a.APIKeys, e.stdout, role, name)
		}),
	}
	create.Flags().StringVar(&role, "role", "", "catalog role the key acts as (owner, admin, support, marketer, analyst, dpo, auditor, ingest, collect)")
	create.Flags().StringVar(&name, "name", "", "what the key is for")
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return listKeys(ctx, a.APIKeys, e.stdout)
		}),
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key, at once and for good",
		Args:  cobra.ExactArgs(1),
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return revokeKey(ctx, a.APIKeys, e.stdout, args[0])
		}),
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// createKey prints only the new key, so that a script can capture it with nothing to strip.
func createKey(ctx context.Context, keys keyCreator, out io.Writer, role, name string) error {
	key, _, err := keys.Create(ctx, role, name)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, key)
	return nil
}

// listKeys prints a table of the keys by their hints: enough to tell them apart, never
// enough to use one.
func listKeys(ctx context.Context, keys keyLister, out io.Writer) error {
	list, err := keys.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHINT\tROLE\tNAME\tCREATED\tSTATUS")
	for _, k := range list {
		status := "active"
		if k.RevokedAt != nil {
			status = "revoked " + k.RevokedAt.Format("2006-01-02")
		}
		fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Hint, k.Role, k.Name, k.CreatedAt.Format("2006-01-02 15:04"), status)
	}
	return tw.Flush()
}

// revokeKey revokes the key and confirms it by id.
func revokeKey(ctx context.Context, keys keyRevoker, out io.Writer, id string) error {
	if err := keys.Revoke(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(out, "revoked %s\n", id)
	return nil
}
