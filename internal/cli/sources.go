package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/source"
)

// replayer re-feeds exported vendor events through a source.
type replayer interface {
	Replay(ctx context.Context, id string, line []byte, topic string) (source.Result, error)
}

// sourceLister lists sources with their counters.
type sourceLister interface {
	List(ctx context.Context) ([]source.Source, error)
}

// maxReplayLine bounds one line of a replay file: the largest webhook body a vendor sends.
const maxReplayLine = 4 << 20

func sourcesCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "sources", Short: "Connected platforms: list them, replay a vendor's export of past events"}
	var id, file, topic string
	replay := &cobra.Command{
		Use:   "replay",
		Short: "Re-feed a vendor's export of past events (one JSON body per line) through a source; events already stored are skipped",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			return replayFile(ctx, a.Sources, f, e.stdout, e.stderr, id, topic)
		}),
	}
	replay.Flags().StringVar(&id, "source", "", "the source's id (steward sources list)")
	replay.Flags().StringVar(&file, "file", "", "JSON lines: each a webhook body, or {\"topic\", \"id\", \"payload\"}")
	replay.Flags().StringVar(&topic, "topic", "", "the topic of lines that name none (Shopify orders/create, WooCommerce order.updated …)")
	_ = replay.MarkFlagRequired("source")
	_ = replay.MarkFlagRequired("file")
	list := &cobra.Command{
		Use:   "list",
		Short: "List sources with their delivery counters (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return listSources(ctx, a.Sources, e.stdout)
		}),
	}
	var kind, name, secretFile, pageTokenFile, role string
	add := &cobra.Command{
		Use:   "add",
		Short: "Connect a platform; prints its id, the endpoint to paste into the vendor's console and any secret made for it",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			in := source.Input{Kind: kind, Name: name, Role: role}
			for _, f := range []struct {
				path string
				to   *string
			}{{secretFile, &in.Secret}, {pageTokenFile, &in.PageToken}} {
				if f.path == "" {
					continue
				}
				b, err := os.ReadFile(f.path)
				if err != nil {
					return err
				}
				*f.to = strings.TrimSpace(string(b))
			}
			c, err := a.Sources.Create(ctx, in)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "id: %s\nendpoint: %s%s\n", c.ID, strings.TrimRight(s.cfg.PublicURL, "/"), c.Endpoint)
			if c.Secret != "" {
				fmt.Fprintf(e.stdout, "secret (shown once): %s\n", c.Secret)
			}
			if c.VerifyToken != "" {
				fmt.Fprintf(e.stdout, "verify token (shown once): %s\n", c.VerifyToken)
			}
			return nil
		}),
	}
	add.Flags().StringVar(&kind, "kind", "", strings.Join(source.Kinds, ", "))
	add.Flags().StringVar(&name, "name", "", "what the source is, for people")
	add.Flags().StringVar(&secretFile, "secret-file", "", "file holding the vendor's signing secret (not a flag, so it stays out of shell history)")
	add.Flags().StringVar(&pageTokenFile, "page-token-file", "", "meta_leads: file holding the Page's access token, which reads each lead's answers from the Graph API")
	add.Flags().StringVar(&role, "role", "", "write role deliveries act with (default ingest)")
	_ = add.MarkFlagRequired("kind")
	_ = add.MarkFlagRequired("name")
	cmd.AddCommand(add, replay, list)
	return cmd
}

// replayFile replays every line, going on past lines that fail so that one bad line does not
// hold back a year of history; each failure is reported with its line number (never its
// content, which holds personal data), and the command fails if any did. Running it again is
// harmless: what was stored is a duplicate.
func replayFile(ctx context.Context, src replayer, in io.Reader, out, errOut io.Writer, id, topic string) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxReplayLine)
	var lines, stored, dups, ignored, failed int
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		lines++
		r, err := src.Replay(ctx, id, sc.Bytes(), topic)
		if problem.Is(err, problem.NotFound) && stored+dups+ignored+failed == 0 {
			return err // the source itself is unknown
		}
		if err != nil {
			failed++
			fmt.Fprintf(errOut, "line %d: %s\n", n, problem.Detail(err))
			continue
		}
		stored += r.Stored
		dups += r.Duplicates
		ignored += r.Ignored
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the file: %w", err)
	}
	fmt.Fprintf(out, "%d lines: %d messages stored, %d already stored, %d events ignored, %d lines failed\n", lines, stored, dups, ignored, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d lines failed", failed, lines)
	}
	return nil
}

func listSources(ctx context.Context, src sourceLister, out io.Writer) error {
	list, err := src.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tNAME\tRECEIVED\tSTORED\tREFUSED\tDUPLICATES\tIGNORED\tLAST ERROR")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", s.ID, s.Kind, s.Name, s.Received, s.Stored, s.Refused, s.Duplicates, s.Ignored, s.LastError)
	}
	return tw.Flush()
}
