package importer

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"

	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
)

func jsonNumber(s string) json.Number { return json.Number(s) }

// Store is what an import writes through: ingest.Service. PrepareImport runs in the workers,
// ahead of the writer; ImportRows is the writer's transaction.
type Store interface {
	PrepareImport(ctx context.Context, fields map[string]any) (*ingest.ImportRow, error)
	ImportRows(ctx context.Context, keyID string, rows []*ingest.ImportRow) (ingest.ImportResult, error)
}

// Ledger records the consent columns of imported rows: consent.Service.
type Ledger interface {
	// CheckImport refuses, before anything is written, purposes that are unknown or do not
	// rest on consent and a policy version that is unknown, not yet in force or does not
	// cover them.
	CheckImport(ctx context.Context, purposes []string, policyVersion string) error
	// RecordImported appends the choices not recorded by an earlier run of the same list and
	// returns how many it appended.
	RecordImported(ctx context.Context, policyVersion string, choices []consent.ImportChoice) (int, error)
}

// Rejects receives rejected rows. Flush is called once the rows before a resume point are
// committed, so a rejects report never runs ahead of what a resumed run will skip.
type Rejects interface {
	Reject(row int, reason string)
	Flush() error
}

// CSVRejects writes rejected rows as CSV (row, reason), the rejects file of the command line.
func CSVRejects(w io.Writer) Rejects {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"row", "reason"})
	return csvRejects{cw}
}

type csvRejects struct{ w *csv.Writer }

func (c csvRejects) Reject(row int, reason string) {
	_ = c.w.Write([]string{strconv.Itoa(row), reason})
}
func (c csvRejects) Flush() error { c.w.Flush(); return c.w.Error() }

// Options tune a run.
type Options struct {
	KeyID     string // who imports, for the audit trail and counters
	BatchSize int    // rows per transaction (default 1000)
	// StartAfter skips rows up to and including this number (spreadsheet numbering, the
	// header being row 1): the resume point of an earlier run that failed.
	StartAfter int
	// Progress, if set, is called after each committed batch with the last row committed.
	// An error from it stops the run (the job lost its lease, say).
	Progress func(row int, s Stats) error
	// Consents are the consent columns, recorded through Ledger under PolicyVersion.
	Consents      []ConsentColumn
	PolicyVersion string
	Ledger        Ledger
	// Workers normalise rows ahead of the writer (default: one per processor but one, which
	// is left to the writer: it is what bounds an import, and workers preparing on every core
	// took turns with it).
	Workers int
}

// Stats counts a run.
type Stats struct {
	Rows      int `json:"rows"`
	Rejected  int `json:"rejected"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// Consents is how many consent records the run appended to the ledger.
	Consents int `json:"consents"`
	// Committed is the last data row whose batch is committed: where a new run resumes.
	Committed int `json:"committed"`
}

// item is one row read and normalised, in file order.
type item struct {
	row     int
	prep    *ingest.ImportRow
	choices []choice
	reject  string
	err     error // fatal: the file cannot be read past this row
}

type choice struct {
	purpose string
	granted bool
}

// chunkRows is how many rows go to a worker at once: enough to amortise the hand-off,
// few enough that the writer never waits long for the first chunk.
const chunkRows = 256

// minBatch is the fewest rows written early, when the next rows are not ready yet.
const minBatch = 2 * chunkRows

type chunk struct {
	items []item
	recs  [][]string
	done  chan struct{}
}

// Run imports every row of r. Rejected rows go to rejects. A failure stops the run with
// Stats.Committed as the resume point; rows up to it are stored.
//
// Reading, validation and preparation run ahead of the writer: one goroutine reads the file,
// workers normalise chunks of rows in parallel and prepare them (Store.PrepareImport: hashed
// identifiers, a sealed profile in case the row is a new customer), and the writer takes the
// chunks in file order, so a batch's transaction overlaps the preparation of the next ones.
// Rows are still committed in order, so the resume point means what it says.
func Run(ctx context.Context, r *Reader, ms []Mapping, norm *customer.Normalizer, st Store, rejects Rejects, o Options) (Stats, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.Workers <= 0 {
		o.Workers = max(1, runtime.GOMAXPROCS(0)-1)
	}
	var s Stats
	s.Committed = o.StartAfter
	ctx, cancel := context.WithCancel(ctx)
	chunks, wait := read(ctx, r, ms, norm, st, o)
	defer func() { cancel(); wait() }()

	batch := make([]*ingest.ImportRow, 0, o.BatchSize)
	var batchChoices [][]choice
	last := o.StartAfter
	flush := func() error {
		if len(batch) > 0 {
			res, err := st.ImportRows(ctx, o.KeyID, batch)
			if err != nil {
				return err
			}
			s.Created += res.Created
			s.Updated += res.Updated
			s.Unchanged += res.Unchanged
			if n, err := recordConsents(ctx, o, res.IDs, batchChoices); err != nil {
				return err
			} else {
				s.Consents += n
			}
			batch = batch[:0]
			batchChoices = batchChoices[:0]
		}
		if err := rejects.Flush(); err != nil {
			return err
		}
		s.Committed = last
		if o.Progress != nil {
			return o.Progress(last, s)
		}
		return nil
	}
	for c := range chunks {
		select {
		case <-c.done:
		default:
			// The next rows are still being prepared: rather than wait with a batch in hand,
			// the writer writes it. At the start of a file this keeps the writer from idling
			// through the preparation of a whole first batch; when the writer is what bounds
			// the import, the next rows are always ready and batches fill up.
			if len(batch) >= minBatch {
				if err := flush(); err != nil {
					return s, err
				}
			}
			select {
			case <-c.done:
			case <-ctx.Done():
				return s, ctx.Err()
			}
		}
		for _, it := range c.items {
			if it.err != nil {
				// Row boundaries are lost: what is committed stays, and the error says where.
				if ferr := flush(); ferr != nil {
					return s, ferr
				}
				return s, it.err
			}
			s.Rows++
			last = it.row
			if it.reject != "" {
				s.Rejected++
				rejects.Reject(it.row, it.reject)
				continue
			}
			batch = append(batch, it.prep)
			batchChoices = append(batchChoices, it.choices)
			if len(batch) >= o.BatchSize {
				if err := flush(); err != nil {
					return s, err
				}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return s, err
	}
	return s, flush()
}

// read starts the reader and the workers and returns the chunks in file order; each chunk's
// done channel closes when its rows are normalised. wait returns once the reader and the
// workers have stopped, which they do at the end of the file or when ctx ends.
func read(ctx context.Context, r *Reader, ms []Mapping, norm *customer.Normalizer, st Store, o Options) (chunks <-chan *chunk, wait func()) {
	// The workers run up to a batch ahead of the writer, so that when a batch commits the
	// next one is (nearly) ready rather than starting from a few chunks; memory stays bounded
	// by a batch of prepared rows.
	ordered := make(chan *chunk, o.BatchSize/chunkRows+2*o.Workers)
	stopped := make(chan struct{})
	work := make(chan *chunk, 2*o.Workers)
	var wg sync.WaitGroup
	for i := 0; i < o.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				for i := range c.items {
					if c.recs[i] != nil {
						normalise(ctx, &c.items[i], c.recs[i], ms, o.Consents, norm, st)
					}
				}
				c.recs = nil
				close(c.done)
			}
		}()
	}
	go func() {
		defer close(stopped)
		defer close(ordered)
		defer func() { close(work); wg.Wait() }()
		c := &chunk{done: make(chan struct{})}
		send := func() bool {
			if len(c.items) == 0 {
				return true
			}
			select {
			case work <- c:
			case <-ctx.Done():
				return false
			}
			select {
			case ordered <- c:
			case <-ctx.Done():
				return false
			}
			c = &chunk{done: make(chan struct{})}
			return true
		}
		for {
			if ctx.Err() != nil {
				return
			}
			row, rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				send()
				return
			}
			if row <= o.StartAfter {
				continue
			}
			var re *RowError
			switch {
			case errors.As(err, &re):
				c.items = append(c.items, item{row: re.Row, reject: re.Reason})
				c.recs = append(c.recs, nil)
			case err != nil:
				c.items = append(c.items, item{row: row, err: err})
				c.recs = append(c.recs, nil)
				send()
				return
			default:
				c.items = append(c.items, item{row: row})
				c.recs = append(c.recs, rec)
			}
			if len(c.items) >= chunkRows && !send() {
				return
			}
		}
	}()
	return ordered, func() { <-stopped }
}

// normalise turns one record into a prepared row and consent choices, or a reject reason.
func normalise(ctx context.Context, it *item, rec []string, ms []Mapping, cs []ConsentColumn, norm *customer.Normalizer, st Store) {
	for _, c := range cs {
		granted, present, err := consentValue(rec[c.Column])
		if err != nil {
			it.reject = fmt.Sprintf("column %s: %s: %s", c.Name, c.Purpose, err)
			return
		}
		if present {
			it.choices = append(it.choices, choice{purpose: c.Purpose, granted: granted})
		}
	}
	fields, err := Row(rec, ms, norm)
	if err != nil {
		it.reject = err.Error()
		return
	}
	if _, ok := fields["email"]; !ok {
		if _, ok := fields["phone"]; !ok {
			if _, ok := fields["customer_number"]; !ok {
				it.reject = "needs an identifier: map a column to email, phone or customer_number"
				return
			}
		}
	}
	prep, err := st.PrepareImport(ctx, fields)
	if err != nil {
		if problem.KindOf(err) == problem.Invalid {
			it.reject = problem.Detail(err)
			return
		}
		it.err = err
		return
	}
	it.prep = prep
}

// recordConsents hands a committed batch's consent choices to the ledger, with the customer
// each row was stored as.
func recordConsents(ctx context.Context, o Options, ids []string, rows [][]choice) (int, error) {
	if o.Ledger == nil || len(o.Consents) == 0 {
		return 0, nil
	}
	var cs []consent.ImportChoice
	for i, row := range rows {
		if i >= len(ids) {
			break
		}
		for _, c := range row {
			cs = append(cs, consent.ImportChoice{CustomerID: ids[i], Purpose: c.purpose, Granted: c.granted})
		}
	}
	if len(cs) == 0 {
		return 0, nil
	}
	return o.Ledger.RecordImported(ctx, o.PolicyVersion, cs)
}
