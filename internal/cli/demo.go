package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/demo"
)

func demoCmd(s *settings, e env) *cobra.Command {
	var n int
	var seed uint64
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Initialise (if needed), load realistic synthetic customers, and serve; prints the URL, a key and curl commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !app.Initialized(cmd.Context(), s.cfg) {
				if _, err := app.Init(cmd.Context(), s.cfg, s.logger(e)); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "Initialised a new Steward in %s.\n", s.cfg.Data)
			}
			a, ctx, err := s.open(cmd.Context(), e)
			if err != nil {
				return err
			}
			defer a.Close()
			count, err := a.Store.Customers().CountCustomers(ctx)
			if err != nil {
				return err
			}
			if count == 0 {
				fmt.Fprintf(e.stdout, "Loading %d synthetic customers…\n", n)
				loaded, err := demo.Load(ctx, a.Customers, n, seed, nil)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "Loaded %d customers (every value validated, encrypted and audited).\n", loaded)
				twins, err := demo.Twins(ctx, a.Customers, n, seed, 300)
				if err != nil {
					return err
				}
				res, err := a.Duplicates.Scan(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "Typed %d of them twice; a duplicate scan found %d pairs (%d merged automatically, %d waiting for review).\n",
					twins, res.Pairs, res.AutoMerged, res.Pending)
			}
			if err := demoConsents(ctx, a, seed, e); err != nil {
				return err
			}
			key, _, err := a.APIKeys.Create(ctx, "owner", "demo owner")
			if err != nil {
				return err
			}
			sigctx, stop := signalContext(cmd.Context())
			defer stop()
			return a.Serve(sigctx, func(addr string) {
				url := "http://" + addr
				fmt.Fprintf(e.stdout, "\nSteward is serving at %s\nAPI key (owner): %s\n\nTry:\n", url, key)
				for _, c := range demoCurls(url, key) {
					fmt.Fprintln(e.stdout, "  "+c)
				}
				fmt.Fprintln(e.stdout, "\nPress Ctrl-C to stop.")
			})
		},
	}
	cmd.Flags().IntVar(&n, "customers", 3000, "how many synthetic customers to load into an empty installation")
	cmd.Flags().Uint64Var(&seed, "seed", 42, "seed for the synthetic data")
	return cmd
}

// demoConsents gives a demo installation without a privacy policy a policy and its
// customers consent histories.
func demoConsents(ctx context.Context, a *app.App, seed uint64, e env) error {
	var ids []string
	for after := ""; ; {
		page, err := a.Store.Customers().CustomerKeys(ctx, after, 1000)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, k := range page {
			ids = append(ids, k.CustomerID)
		}
		after = page[len(page)-1].CustomerID
	}
	n, err := demo.Consents(ctx, a.Consents, ids, seed)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(e.stdout, "Published privacy policy %q and recorded %d consent choices (with signed receipts).\n", demo.DemoPolicy, n)
	}
	return nil
}

func demoCurls(url, key string) []string {
	auth := `-H "Authorization: Bearer ` + key + `"`
	return []string{
		strings.Join([]string{"curl -s", auth, url + "/v1/customers?limit=3"}, " "),
		strings.Join([]string{"curl -s", auth, `-H "Content-Type: application/json"`, `-d '{"fields":{"email":"Ada.Lovelace@Example.com","first_name":"Ada","phone":"+44 20 7946 0958"}}'`, url + "/v1/customers"}, " "),
		strings.Join([]string{"curl -s", auth, `-H "Steward-Purpose: support"`, `"` + url + `/v1/customers?email=ada.lovelace@example.com"`}, " "),
		strings.Join([]string{"curl -s", auth, url + "/v1/policies"}, " "),
		strings.Join([]string{"curl -s", auth, url + "/v1/duplicates"}, " "),
		strings.Join([]string{"curl -s", auth, url + "/v1/quality"}, " "),
	}
}
