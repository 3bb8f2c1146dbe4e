package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/httpapi"
	"github.com/stewardhq/steward/internal/staff"
)

// staffAdder creates staff accounts.
type staffAdder interface {
	Add(ctx context.Context, email, role, password string) (staff.Account, error)
}

func staffCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "staff", Short: "Staff accounts for the console"}
	var email, role, passwordFile string
	add := &cobra.Command{
		Use:   "add",
		Short: "Create a staff account with a role; they set up their second factor at first sign-in",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return addStaff(ctx, a.Staff, os.Stdin, e.stdout, email, role, passwordFile)
		}),
	}
	add.Flags().StringVar(&email, "email", "", "the person's e-mail address, which they sign in with")
	add.Flags().StringVar(&role, "role", "", "catalog role (owner, admin, support, marketer, analyst, dpo, auditor)")
	add.Flags().StringVar(&passwordFile, "password-file", "", "file holding the first password (- for standard input); at least 12 characters")
	var who string
	disable := &cobra.Command{
		Use:   "disable",
		Short: "Turn a person's access off at once: no more sign-ins, every session ended",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			acc, err := a.Staff.Disable(ctx, who)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Disabled %s (%s); their sessions have ended.\n", acc.Email, acc.ID)
			return nil
		}),
	}
	disable.Flags().StringVar(&who, "email", "", "the person's e-mail address")
	var invEmail, invRole string
	invite := &cobra.Command{
		Use:   "invite",
		Short: "Print a one-time link (72 hours) with which a person joins: they choose a password and set up a second factor",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			if a.Config.PublicURL == "" {
				return fmt.Errorf("--public-url is required: the link must name the console's address")
			}
			secret, inv, err := a.Staff.Invite(ctx, invEmail, invRole)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Invited %s as %s until %s. Send them this link, which works once:\n%s\n",
				inv.Email, inv.Role, inv.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST"), httpapi.InviteLink(a.Config.PublicURL, secret))
			return nil
		}),
	}
	invite.Flags().StringVar(&invEmail, "email", "", "the person's e-mail address, which they will sign in with")
	invite.Flags().StringVar(&invRole, "role", "", "catalog role (owner, admin, support, marketer, analyst, dpo, auditor)")
	cmd.AddCommand(add, disable, invite)
	return cmd
}

// addStaff reads the password from a file (never a flag, which other users of the machine can
// see in the process list) and creates the account.
func addStaff(ctx context.Context, svc staffAdder, stdin io.Reader, out io.Writer, email, role, passwordFile string) error {
	if passwordFile == "" {
		return fmt.Errorf("--password-file is required (- reads standard input)")
	}
	var b []byte
	var err error
	if passwordFile == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 1024))
	} else {
		b, err = os.ReadFile(passwordFile)
	}
	if err != nil {
		return fmt.Errorf("password: %w", err)
	}
	acc, err := svc.Add(ctx, email, role, strings.TrimRight(string(b), "\r\n"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Added %s (%s) as %s. They sign in at /console/login and set up their authenticator app then.\n", acc.Email, acc.ID, acc.Role)
	return nil
}
