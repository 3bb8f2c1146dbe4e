package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/demo"
	"github.com/stewardhq/steward/internal/problem"
)

func demoCmd(s *settings, e env) *cobra.Command {
	var n int
	var seed uint64
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Initialise (if needed), load realistic synthetic customers, and serve; prints the URL, a key and curl commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The demo's forms and portal send their links to a mail drop in the data
			// directory unless a mailer is given, so they can be tried without a mail server.
			if s.mail == "" {
				s.mail = "file:"
			}
			if !app.Initialized(cmd.Context(), s.cfg) {
				if _, err := app.Init(cmd.Context(), s.cfg, s.logger(e)); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "Initialised a new Steward in %s.\n", s.cfg.Data)
			}
			return s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
				key, err := loadDemo(ctx, demoServices{Customers: a.Customers, Consents: a.Consents, Records: a.Store.Customers(),
					Duplicates: a.Duplicates, APIKeys: a.APIKeys}, e.stdout, n, seed)
				if err != nil {
					return err
				}
				person, err := demoStaff(ctx, a.Staff)
				if err != nil {
					return err
				}
				sigctx, stop := signalContext(cmd.Context())
				defer stop()
				return serveDemo(sigctx, a, e.stdout, key, person)
			})(cmd, args)
		},
	}
	cmd.Flags().IntVar(&n, "customers", 3000, "how many synthetic customers to load into an empty installation")
	cmd.Flags().Uint64Var(&seed, "seed", 42, "seed for the synthetic data")
	return cmd
}

// demoServices are what filling a demo installation touches: the customer and consent
// services it writes through (validated, encrypted and audited like any client's writes), the
// stored customers it counts and lists, the duplicate scan and the key service for the
// owner key it prints.
type demoServices struct {
	Customers  *customer.Service
	Consents   *consent.Service
	Records    customerRecords
	Duplicates duplicateScanner
	APIKeys    keyCreator
}

// customerRecords counts the stored customers and pages through their ids without
// decrypting anything.
type customerRecords interface {
	CountCustomers(ctx context.Context) (int64, error)
	CustomerKeys(ctx context.Context, after string, limit int) ([]customer.WrappedKey, error)
}

// loadDemo fills an empty installation with n synthetic customers (some typed twice, for the
// duplicate scan to find), gives it a privacy policy and consent histories if it has none,
// and returns a new owner key. An installation that already holds customers keeps them.
func loadDemo(ctx context.Context, d demoServices, out io.Writer, n int, seed uint64) (string, error) {
	count, err := d.Records.CountCustomers(ctx)
	if err != nil {
		return "", err
	}
	if count == 0 {
		fmt.Fprintf(out, "Loading %d synthetic customers…\n", n)
		loaded, err := demo.Load(ctx, d.Customers, n, seed, nil)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(out, "Loaded %d customers (every value validated, encrypted and audited).\n", loaded)
		twins, err := demo.Twins(ctx, d.Customers, n, seed, 300)
		if err != nil {
			return "", err
		}
		res, err := d.Duplicates.Scan(ctx)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(out, "Typed %d of them twice; a duplicate scan found %d pairs (%d merged automatically, %d waiting for review).\n",
			twins, res.Pairs, res.AutoMerged, res.Pending)
	}
	if err := demoConsents(ctx, d, seed, out); err != nil {
		return "", err
	}
	key, _, err := d.APIKeys.Create(ctx, "owner", "demo owner")
	return key, err
}

// serveDemo serves until ctx ends and, once listening, prints the address, the key and curl
// commands to try against it.
func serveDemo(ctx context.Context, srv server, out io.Writer, key, person string) error {
	return srv.Serve(ctx, func(addr string) {
		url := "http://" + addr
		fmt.Fprintf(out, "\nSteward is serving at %s\nAPI key (owner): %s\n\nTry:\n", url, key)
		for _, c := range demoCurls(url, key) {
			fmt.Fprintln(out, "  "+c)
		}
		fmt.Fprintf(out, "\nThe staff console: %s/console/login — %s\n", url, person)
		fmt.Fprintf(out, "\nIn a browser: %[1]s/forms/signup (a hosted form), %[1]s/privacy (the privacy notice), %[1]s/portal (the customer's privacy portal; its links land as files in the data directory's mail folder).\n", url)
		fmt.Fprintln(out, "\nPress Ctrl-C to stop.")
	})
}

// demoConsents gives a demo installation without a privacy policy a policy and its
// customers consent histories.
func demoConsents(ctx context.Context, d demoServices, seed uint64, out io.Writer) error {
	var ids []string
	for after := ""; ; {
		page, err := d.Records.CustomerKeys(ctx, after, 1000)
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
	n, err := demo.Consents(ctx, d.Consents, ids, seed)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(out, "Published privacy policy %q and recorded %d consent choices (with signed receipts).\n", demo.DemoPolicy, n)
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

// demoEmail is the demo's staff account.
const demoEmail = "owner@demo.example"

// demoStaff creates the demo's staff account with a fresh password the first time, and says
// how to sign in.
func demoStaff(ctx context.Context, svc staffAdder) (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	pw := base64.RawURLEncoding.EncodeToString(b[:])
	_, err := svc.Add(ctx, demoEmail, "owner", pw)
	if problem.Is(err, problem.Conflict) {
		return "sign in as " + demoEmail + " with the password printed when the demo first ran", nil
	}
	if err != nil {
		return "", err
	}
	return "sign in as " + demoEmail + " with password " + pw + ", then set up an authenticator app (any TOTP app)", nil
}
