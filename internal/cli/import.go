package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/problem"
)

// importOptions are the flags of steward import.
type importOptions struct {
	maps, consents []string
	policyVersion  string
	rejectsPath    string
	resume         bool
	batch          int
}

// importServices are what an import touches: the import service that spools, checks and
// records the job, and the runner that runs it here instead of waiting for a server's.
type importServices struct {
	Imports *importer.Service
	Runner  *job.Runner
}

func importCmd(s *settings, e env) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import FILE.csv --map COLUMN=FIELD …",
		Short: "Import customers from a CSV file as an import job (rejected rows go to a rejects file with row number and reason)",
		Args:  cobra.ExactArgs(1),
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return importFile(ctx, importServices{Imports: a.Imports, Runner: a.Runner}, e, args[0], *o)
		}),
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.maps, "map", nil, "COLUMN=FIELD (repeatable; several columns for one field are joined with a space, in order)")
	f.StringVar(&o.rejectsPath, "rejects", "", "rejects file (default FILE.csv.rejects.csv): row number and reason per rejected row")
	f.StringArrayVar(&o.consents, "consent", nil, "COLUMN=PURPOSE (repeatable): the column holds each customer's yes/no for a consent purpose; empty cells record nothing")
	f.StringVar(&o.policyVersion, "policy-version", "", "the privacy-policy version the list's consents were collected under (required with --consent)")
	f.BoolVar(&o.resume, "resume", false, "continue the interrupted import of this file (same size and choices) after its last committed row")
	f.IntVar(&o.batch, "batch", importer.MaxBatch, "rows per transaction (at most 5000)")
	return cmd
}

// importFile imports the CSV file at path as an import job and runs it here until it ends or
// the command is interrupted; either way it writes the rejects file and the summary.
func importFile(ctx context.Context, d importServices, e env, path string, o importOptions) error {
	if len(o.maps) == 0 {
		return fmt.Errorf("--map COLUMN=FIELD is required, once per mapped column")
	}
	if o.policyVersion != "" && len(o.consents) == 0 {
		return fmt.Errorf("--policy-version is only meaningful with --consent COLUMN=PURPOSE")
	}
	spec := importer.Spec{Map: o.maps, Consent: o.consents, PolicyVersion: o.policyVersion, Batch: o.batch}
	rejectsPath := o.rejectsPath
	if rejectsPath == "" {
		rejectsPath = path + ".rejects.csv"
	}
	ctx, stop := signalContext(ctx)
	defer stop()
	st, err := startImport(ctx, d.Imports, e, path, spec, o.resume)
	if err != nil {
		return err
	}
	return runImport(ctx, d, e, st, rejectsPath)
}

// startImport creates the file's import job as an upload to POST /v1/imports does — spooled,
// checked through to its last row, audited — or, with --resume, finds the interrupted job
// this file started, whose spooled copy and cursor say where to continue.
func startImport(ctx context.Context, imports *importer.Service, e env, path string, spec importer.Spec, resume bool) (importer.Status, error) {
	f, err := os.Open(path)
	if err != nil {
		return importer.Status{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return importer.Status{}, err
	}
	if resume {
		st, ok, err := interruptedImport(ctx, imports, spec, info.Size())
		if err != nil {
			return importer.Status{}, err
		}
		if ok {
			fmt.Fprintf(e.stderr, "resuming import %s after row %d\n", st.ID, st.ResumeAfter)
			return st, nil
		}
		fmt.Fprintf(e.stderr, "no interrupted import of %s with these choices; starting a new one\n", path)
	}
	st, err := imports.Start(ctx, spec, f)
	if err != nil {
		var fe *importer.FileError
		if errors.As(err, &fe) {
			return st, fmt.Errorf("%s: %s", path, strings.TrimPrefix(problem.Detail(err), "body: "))
		}
		return st, err
	}
	fmt.Fprintf(e.stderr, "import %s: %d rows\n", st.ID, st.RowsTotal)
	return st, nil
}

// interruptedImport finds the newest import job left running (its process stopped) whose
// file had this size and whose choices were these: the one --resume continues.
func interruptedImport(ctx context.Context, imports *importer.Service, spec importer.Spec, size int64) (importer.Status, bool, error) {
	sts, err := imports.List(ctx, importer.MaxList)
	if err != nil {
		return importer.Status{}, false, err
	}
	for _, st := range sts {
		if st.State == job.Running && st.Bytes == size && slices.Equal(st.Map, spec.Map) && slices.Equal(st.Consent, spec.Consent) &&
			st.PolicyVersion == spec.PolicyVersion {
			return st, true, nil
		}
	}
	return importer.Status{}, false, nil
}

// runImport runs the import job here, to its end, drawing a progress bar on a terminal, then
// writes the rejects file and the summary from the job's own record, so that what the command
// line reports is what GET /v1/imports/{id} shows.
func runImport(ctx context.Context, d importServices, e env, st importer.Status, rejectsPath string) error {
	tty := e.terminal(e.stderr)
	began := time.Now()
	runCtx := importer.WithProgress(ctx, func(p importer.Status) {
		if tty && p.RowsTotal > 0 {
			pct := min(100, float64(p.RowsRead)/float64(p.RowsTotal)*100)
			fmt.Fprintf(e.stderr, "\r[%-40s] %5.1f%% %d rows", bar(pct), pct, p.RowsRead)
		}
	})
	runErr := d.Runner.RunJob(runCtx, st.ID)
	if tty {
		fmt.Fprintln(e.stderr)
	}
	took := time.Since(began)
	interrupted := ctx.Err() != nil
	// Interrupted or not, the report is written: what is committed is stored.
	ctx = context.WithoutCancel(ctx)
	end, err := d.Imports.Status(ctx, st.ID)
	if err != nil {
		return err
	}
	if err := writeRejects(ctx, d.Imports, st.ID, rejectsPath); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "rows %d, created %d, updated %d, unchanged %d, rejected %d (%s), consents recorded %d in %s\n",
		end.RowsRead, end.Created, end.Updated, end.Unchanged, end.Rejected, rejectsPath, end.Consents, took.Round(time.Millisecond))
	switch {
	case runErr == nil:
		return nil
	case interrupted:
		fmt.Fprintf(e.stderr, "steward: import %s interrupted: rows up to %d are stored; run the same command with --resume to continue after row %d\n",
			st.ID, end.ResumeAfter, end.ResumeAfter)
	default:
		// The job's own failure reasons are public (rows and rules, never values).
		msg := runErr.Error()
		if _, ok := errors.AsType[*problem.Error](runErr); ok {
			msg = problem.Detail(runErr)
		}
		fmt.Fprintf(e.stderr, "steward: import %s stopped: %s\n", st.ID, msg)
	}
	return exitCode(1)
}

// rejectReader pages through an import's rejected rows.
type rejectReader interface {
	Rejects(ctx context.Context, id string, afterRow, limit int) ([]importer.Reject, error)
}

// writeRejects writes the import's rejected rows, all of them (a resumed import's earlier
// runs too), as the rejects file: row number and reason, never a value.
func writeRejects(ctx context.Context, imports rejectReader, id, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("rejects file: %w", err)
	}
	defer f.Close()
	w := importer.CSVRejects(f)
	after := 0
	for {
		rs, err := imports.Rejects(ctx, id, after, 10000)
		if err != nil {
			return err
		}
		for _, r := range rs {
			w.Reject(r.Row, r.Reason)
		}
		if len(rs) < 10000 {
			break
		}
		after = rs[len(rs)-1].Row
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("rejects file: %w", err)
	}
	return f.Close()
}

func bar(pct float64) string {
	n := int(pct / 2.5)
	out := make([]byte, 40)
	for i := range out {
		out[i] = ' '
		if i < n {
			out[i] = '='
		}
	}
	return string(out)
}

// terminal reports whether w is a terminal, where a progress bar makes sense.
func (e env) terminal(w io.Writer) bool {
	if e.isTerminal != nil {
		return e.isTerminal(w)
	}
	return isTerminal(w)
}

// isTerminal reports whether w is a character device.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
