package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/importer"
)

// importState is the resume point of an import, kept in the data directory per file so
// that --resume continues after the last committed row.
type importState struct {
	File      string `json:"file"`
	Committed int    `json:"committed"`
}

func importCmd(s *settings, e env) *cobra.Command {
	var maps, consents []string
	var policyVersion string
	var rejectsPath string
	var resume bool
	var batch int
	cmd := &cobra.Command{
		Use:   "import FILE.csv --map COLUMN=FIELD …",
		Short: "Import customers from a CSV file (rejected rows go to a rejects file with row number and reason)",
		Args:  cobra.ExactArgs(1),
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			path := args[0]
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("open %s: %w", path, err)
			}
			defer f.Close()
			info, err := f.Stat()
			if err != nil {
				return err
			}
			r, err := importer.NewReader(f)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			ms, err := importer.ParseMappings(maps, r.Header, a.Catalog)
			if err != nil {
				return err
			}
			cs, err := importer.ParseConsents(consents, r.Header)
			if err != nil {
				return err
			}
			if len(cs) > 0 || policyVersion != "" {
				purposes := make([]string, len(cs))
				for i, c := range cs {
					purposes[i] = c.Purpose
				}
				if len(cs) == 0 {
					return fmt.Errorf("--policy-version is only meaningful with --consent COLUMN=PURPOSE")
				}
				if err := a.Consents.CheckImport(ctx, purposes, policyVersion); err != nil {
					return err
				}
			}
			if rejectsPath == "" {
				rejectsPath = path + ".rejects.csv"
			}
			rej, err := os.OpenFile(rejectsPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("rejects file: %w", err)
			}
			defer rej.Close()
			statePath := importStatePath(s.cfg.Data, path)
			start := 0
			if resume {
				if b, err := os.ReadFile(statePath); err == nil {
					var st importState
					if json.Unmarshal(b, &st) == nil {
						start = st.Committed
						fmt.Fprintf(e.stderr, "resuming after row %d\n", start)
					}
				}
			}
			tty := isTerminal(e.stderr)
			began := time.Now()
			stats, runErr := importer.Run(ctx, r, ms, a.Customers.Norm, a.Ingest, importer.CSVRejects(rej), importer.Options{KeyID: "cli", BatchSize: batch, StartAfter: start,
				Consents: cs, PolicyVersion: policyVersion, Ledger: a.Consents,
				Progress: func(row int, st importer.Stats) error {
					_ = writeImportState(statePath, importState{File: path, Committed: row})
					if tty && info.Size() > 0 {
						pct := float64(r.Offset()) / float64(info.Size()) * 100
						fmt.Fprintf(e.stderr, "\r[%-40s] %5.1f%% %d rows", bar(pct), pct, row)
					}
					return nil
				}})
			if tty {
				fmt.Fprintln(e.stderr)
			}
			took := time.Since(began)
			fmt.Fprintf(e.stdout, "rows %d, created %d, updated %d, unchanged %d, rejected %d (%s), consents recorded %d in %s\n",
				stats.Rows, stats.Created, stats.Updated, stats.Unchanged, stats.Rejected, rejectsPath, stats.Consents, took.Round(time.Millisecond))
			if runErr != nil {
				fmt.Fprintf(e.stderr, "steward: import stopped: %v\nrows up to %d are stored; run again with --resume to continue after row %d\n", runErr, stats.Committed, stats.Committed)
				return exitCode(1)
			}
			_ = os.Remove(statePath)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringArrayVar(&maps, "map", nil, "COLUMN=FIELD (repeatable; several columns for one field are joined with a space, in order)")
	f.StringVar(&rejectsPath, "rejects", "", "rejects file (default FILE.csv.rejects.csv): row number and reason per rejected row")
	f.StringArrayVar(&consents, "consent", nil, "COLUMN=PURPOSE (repeatable): the column holds each customer's yes/no for a consent purpose; empty cells record nothing")
	f.StringVar(&policyVersion, "policy-version", "", "the privacy-policy version the list's consents were collected under (required with --consent)")
	f.BoolVar(&resume, "resume", false, "continue after the last row a previous run committed")
	f.IntVar(&batch, "batch", 5000, "rows per transaction (at most 5000)")
	return cmd
}

func importStatePath(data, file string) string {
	abs, _ := filepath.Abs(file)
	h := sha256.Sum256([]byte(abs))
	return filepath.Join(data, "imports", hex.EncodeToString(h[:8])+".json")
}

func writeImportState(path string, st importState) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(st)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
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

// isTerminal reports whether w is a character device, where a progress bar makes sense.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
