package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/quality"
)

// qualityFlags bind the duplicate-detection and contact-status settings.
func qualityFlags(f *pflag.FlagSet, s *settings) {
	c := &s.cfg
	f.Float64Var(&c.DuplicateReviewThreshold, "duplicate-review-threshold", c.DuplicateReviewThreshold, "match probability from which a pair of customers is queued for review")
	f.Float64Var(&c.DuplicateMergeThreshold, "duplicate-merge-threshold", c.DuplicateMergeThreshold, "match probability from which a scan merges a pair without review (1 never does)")
	f.DurationVar(&c.DuplicateScanEvery, "duplicate-scan-every", c.DuplicateScanEvery, "scan for duplicates this often while serving; 0 off")
	f.StringVar(&c.Survivorship, "survivorship", "", "survivorship rules over the defaults: field=most_recent|most_complete|source_priority|winner,… (address for address groups)")
	f.StringVar(&c.SourcePriority, "source-priority", c.SourcePriority, "roles that create customers, best source first, for source_priority")
	f.DurationVar(&c.ContactInactiveAfter, "contact-inactive-after", c.ContactInactiveAfter, "a contact with no engagement for this long is inactive")
}

func qualityCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "quality", Short: "Data quality of the customer base"}
	var asJSON bool
	report := &cobra.Command{
		Use:   "report",
		Short: "Completeness per field, customers by contact status, duplicates pending, stale contacts (counts only)",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return qualityReport(ctx, a.Duplicates, e.stdout, asJSON)
		}),
	}
	report.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON, as GET /v1/quality returns it")
	cmd.AddCommand(report)
	return cmd
}

// qualityReporter reports the quality of the customer base in counts, never values.
type qualityReporter interface {
	QualityReport(ctx context.Context) (quality.BaseReport, error)
}

// qualityReport prints a table for a person or, with asJSON, the body GET /v1/quality
// returns, so that a script can switch between the two without translating.
func qualityReport(ctx context.Context, r qualityReporter, out io.Writer, asJSON bool) error {
	rep, err := r.QualityReport(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printReport(out, rep)
}

func printReport(out io.Writer, rep quality.BaseReport) error {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "customers\t%d\n", rep.Customers)
	fmt.Fprintf(tw, "duplicates pending\t%d\n", rep.DuplicatesPending)
	fmt.Fprintf(tw, "stale contacts (no engagement for %d days)\t%d\n", rep.InactiveDays, rep.StaleContacts)
	fmt.Fprintf(tw, "not yet checked by a duplicate scan\t%d\n", rep.Unchecked)
	fmt.Fprintln(tw, "\nCONTACT STATUS\tCUSTOMERS")
	for _, st := range quality.Statuses() {
		fmt.Fprintf(tw, "%s\t%d\n", st, rep.ContactStatus[st])
	}
	fmt.Fprintln(tw, "\nFIELD\tFILLED\tSHARE")
	for _, f := range rep.Completeness {
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\n", f.Field, f.Filled, f.Share*100)
	}
	return tw.Flush()
}

func duplicatesCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "duplicates", Short: "Duplicate customers inside the installation (for CSV files see steward match)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "scan",
		Short: "Refresh blocking keys, score candidate pairs, queue them for review and merge those above the merge threshold",
		Args:  cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return scanDuplicates(ctx, a.Duplicates, e.stdout)
		}),
	})
	return cmd
}

// duplicateScanner finds duplicate customers, queues them for review and merges those
// above the merge threshold.
type duplicateScanner interface {
	Scan(ctx context.Context) (duplicate.Result, error)
}

// scanDuplicates prints the scan's counts on one line, for a cron job's log.
func scanDuplicates(ctx context.Context, d duplicateScanner, out io.Writer) error {
	res, err := d.Scan(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "refreshed %d, candidates %d, pairs %d (new %d, skipped %d), pending %d, merged automatically %d\n",
		res.Refreshed, res.Candidates, res.Pairs, res.New, res.Skipped, res.Pending, res.AutoMerged)
	return nil
}
