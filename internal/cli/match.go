package cli

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/match"
)

// matchOptions are the flags of steward match.
type matchOptions struct {
	input, idColumn, out string
	maps                 []string
	threshold            float64
	mergeThreshold       float64
	explain              bool
}

func matchCmd(s *settings, e env) *cobra.Command {
	def := match.DefaultConfig()
	o := &matchOptions{}
	cmd := &cobra.Command{
		Use:   "match --input FILE.csv --id-column COL --map COLUMN=FIELD … --out PAIRS.csv",
		Short: "Find records of the same person in a CSV file, without a server",
		Long: `Reads people from a CSV file, finds the pairs that are the same person with the same
matcher the server uses, and writes them as id_a,id_b,score (a match probability; id_a sorts
before id_b). No data directory or server is needed and nothing is stored.

Map every column to compare with --map COLUMN=FIELD. Several columns may map to one field;
their values are joined with a space in the order given (street_number=address_line1
address_1=address_line1). Fields: ` + strings.Join(match.FieldNames(), ", ") + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMatch(cmd, o, s, e)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.input, "input", "", "CSV file with a header row")
	f.StringVar(&o.idColumn, "id-column", "", "column that identifies each record")
	f.StringArrayVar(&o.maps, "map", nil, "COLUMN=FIELD, repeated for every column to compare")
	f.StringVar(&o.out, "out", "", "file to write the pairs to (- for standard output)")
	f.Float64Var(&o.threshold, "threshold", def.ReviewThreshold, "lowest match probability written")
	f.Float64Var(&o.mergeThreshold, "merge-threshold", def.MergeThreshold, "match probability from which a pair may be merged without review")
	f.BoolVar(&o.explain, "explain", false, "add decision and per-field evidence columns")
	return cmd
}

func runMatch(cmd *cobra.Command, o *matchOptions, s *settings, e env) error {
	for _, req := range []struct{ flag, value string }{{"input", o.input}, {"id-column", o.idColumn}, {"out", o.out}} {
		if req.value == "" {
			return fmt.Errorf("--%s is required", req.flag)
		}
	}
	if len(o.maps) == 0 {
		return fmt.Errorf("--map is required: name at least one COLUMN=FIELD")
	}
	cfg := match.DefaultConfig()
	cfg.ReviewThreshold = o.threshold
	cfg.MergeThreshold = o.mergeThreshold
	cfg.DefaultRegion = s.cfg.DefaultRegion
	if !(o.threshold > 0 && o.threshold < 1) {
		return fmt.Errorf("--threshold must be a probability between 0 and 1 (exclusive)")
	}
	if !(o.mergeThreshold > 0 && o.mergeThreshold < 1) {
		return fmt.Errorf("--merge-threshold must be a probability between 0 and 1 (exclusive)")
	}
	mapping, err := parseMaps(o.maps)
	if err != nil {
		return err
	}

	f, err := os.Open(o.input)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	defer f.Close()
	recs, rep, err := readMatchCSV(f, o.idColumn, mapping)
	if err != nil {
		return fmt.Errorf("input %s: %w", filepath.Base(o.input), err)
	}
	rep.print(e.stderr)
	if len(recs) < 2 {
		return fmt.Errorf("input %s: fewer than two usable records", filepath.Base(o.input))
	}

	// Without a limit the Go runtime lets the heap grow to twice what is live before it
	// collects, which at a million records is past the 2 GiB a run may take. A soft
	// limit makes it collect sooner instead; GOMEMLIMIT, when set, wins.
	if debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(matchMemoryLimit)
	}
	res, err := match.Run(cmd.Context(), recs, cfg)
	if err != nil {
		return err
	}
	merge := 0
	for _, p := range res.Pairs {
		if p.Decision == match.Merge {
			merge++
		}
	}
	if err := writePairs(o.out, e.stdout, recs, res.Pairs, o.explain); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "records %d, candidate pairs %d, pairs written %d (merge %d, review %d)\n",
		len(recs), res.Stats.CandidatePairs, len(res.Pairs), merge, len(res.Pairs)-merge)
	return nil
}

// matchMemoryLimit is the soft memory limit of a match run unless GOMEMLIMIT sets one.
const matchMemoryLimit = 1536 << 20

// columnMap is one --map flag: a column and the field it feeds.
type columnMap struct {
	column string
	field  match.Field
}

func parseMaps(maps []string) ([]columnMap, error) {
	var out []columnMap
	for _, m := range maps {
		i := strings.LastIndexByte(m, '=')
		if i <= 0 || i == len(m)-1 {
			return nil, fmt.Errorf("--map %q: want COLUMN=FIELD", m)
		}
		col := strings.TrimSpace(m[:i])
		f, err := match.ParseField(m[i+1:])
		if err != nil {
			return nil, fmt.Errorf("--map %q: %w", m, err)
		}
		for _, prev := range out {
			if prev.column == col {
				return nil, fmt.Errorf("--map %q: column %q is mapped twice", m, col)
			}
		}
		out = append(out, columnMap{column: col, field: f})
	}
	return out, nil
}

// maxRejectNotes bounds how many skipped rows are described one by one.
const maxRejectNotes = 5

// readReport counts the rows that could not be used. It names rows by number and the
// problem in words, never by their values: the file holds personal data.
type readReport struct {
	rows     int
	rejected int
	notes    []string
}

func (r *readReport) reject(row int, why string) {
	r.rejected++
	if len(r.notes) < maxRejectNotes {
		r.notes = append(r.notes, fmt.Sprintf("row %d: %s", row, why))
	}
}

func (r *readReport) print(w io.Writer) {
	if r.rejected == 0 {
		return
	}
	more := ""
	if r.rejected > len(r.notes) {
		more = "; …"
	}
	fmt.Fprintf(w, "skipped %d of %d rows (%s%s)\n", r.rejected, r.rows, strings.Join(r.notes, "; "), more)
}

// readMatchCSV reads the records. Blanks around headers and values are trimmed (some
// exports, Febrl's among them, separate fields with ", "). A row that cannot be used is
// skipped and reported; only a file that cannot be read as CSV at all, or lacks a named
// column, is an error.
func readMatchCSV(r io.Reader, idColumn string, mapping []columnMap) ([]match.Record, *readReport, error) {
	cr, err := importer.NewLenientReader(r)
	if err != nil {
		return nil, nil, err
	}
	header := cr.Header
	cols := map[string]int{}
	for i, h := range header {
		if _, dup := cols[h]; dup && h != "" {
			cols[h] = -1 // ambiguous: an error only if a flag names it
			continue
		}
		cols[h] = i
	}
	column := func(flag, name string) (int, error) {
		i, ok := cols[strings.TrimSpace(name)]
		switch {
		case !ok:
			return 0, fmt.Errorf("%s: no column %q in the header", flag, name)
		case i < 0:
			return 0, fmt.Errorf("%s: the header has more than one column %q", flag, name)
		}
		return i, nil
	}
	idCol, err := column("--id-column", idColumn)
	if err != nil {
		return nil, nil, err
	}
	type source struct {
		col   int
		field match.Field
	}
	sources := make([]source, len(mapping))
	for k, m := range mapping {
		i, err := column("--map", m.column)
		if err != nil {
			return nil, nil, err
		}
		sources[k] = source{i, m.field}
	}

	rep := &readReport{}
	seen := map[string]bool{}
	var recs []match.Record
	for {
		row, fields, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		rep.rows++
		var re *importer.RowError
		if errors.As(err, &re) {
			rep.reject(row, re.Reason)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		id := strings.TrimSpace(fields[idCol])
		switch {
		case id == "":
			rep.reject(row, "empty "+header[idCol])
			continue
		case seen[id]:
			rep.reject(row, "repeats an earlier "+header[idCol])
			continue
		}
		seen[id] = true
		rec := match.Record{ID: id}
		for _, src := range sources {
			v := strings.TrimSpace(fields[src.col])
			if v == "" {
				continue
			}
			if prev := rec.Fields[src.field]; prev != "" {
				v = prev + " " + v
			}
			rec.Set(src.field, v)
		}
		recs = append(recs, rec)
	}
	return recs, rep, nil
}

// writePairs writes the pairs, id_a before id_b and rows in id order, through a temporary
// file renamed into place so that a failed run never leaves half a file behind.
func writePairs(out string, stdout io.Writer, recs []match.Record, pairs []match.Pair, explain bool) (err error) {
	type row struct {
		a, b string
		p    *match.Pair
	}
	rows := make([]row, len(pairs))
	for i := range pairs {
		a, b := recs[pairs[i].A].ID, recs[pairs[i].B].ID
		if b < a {
			a, b = b, a
		}
		rows[i] = row{a, b, &pairs[i]}
	}
	slices.SortFunc(rows, func(x, y row) int {
		if c := strings.Compare(x.a, y.a); c != 0 {
			return c
		}
		return strings.Compare(x.b, y.b)
	})

	var w io.Writer = stdout
	var tmp *os.File
	if out != "-" {
		tmp, err = os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
		if err != nil {
			return fmt.Errorf("out: %w", err)
		}
		defer func() {
			if err != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w = tmp
	}
	cw := csv.NewWriter(w)
	header := []string{"id_a", "id_b", "score"}
	if explain {
		header = append(header, "decision", "evidence")
	}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("out: %w", err)
	}
	for _, r := range rows {
		line := []string{r.a, r.b, strconv.FormatFloat(r.p.Probability, 'f', 6, 64)}
		if explain {
			line = append(line, string(r.p.Decision), evidenceText(r.p))
		}
		if err := cw.Write(line); err != nil {
			return fmt.Errorf("out: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("out: %w", err)
	}
	if tmp == nil {
		return nil
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("out: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("out: %w", err)
	}
	return nil
}

// evidenceText lists the comparisons that had something to say, with their weights in
// bits, so a reviewer sees at a glance why a pair was reported.
func evidenceText(p *match.Pair) string {
	var b strings.Builder
	if p.FromCluster {
		b.WriteString("found through its cluster; ")
	}
	for _, ev := range p.Evidence {
		if ev.Level == "missing" {
			continue
		}
		if ev.TermFrequency != 0 {
			// How much of the weight comes from how common the agreed value is.
			fmt.Fprintf(&b, "%s=%s(%+.1f, term frequency %+.1f) ", ev.Comparison, ev.Level, ev.Weight, ev.TermFrequency)
			continue
		}
		fmt.Fprintf(&b, "%s=%s(%+.1f) ", ev.Comparison, ev.Level, ev.Weight)
	}
	return strings.TrimSpace(b.String())
}
