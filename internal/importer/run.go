package importer

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ingest"
)

func jsonNumber(s string) json.Number { return json.Number(s) }

// Store is what an import writes through: ingest.Service.Import.
type Store interface {
	Import(ctx context.Context, keyID string, rows []map[string]any) (ingest.ImportResult, error)
}

// Options tune a run.
type Options struct {
	KeyID     string // who imports, for the audit trail and counters
	BatchSize int    // rows per transaction (default 1000)
	// StartAfter skips rows up to and including this number (spreadsheet numbering, the
	// header being row 1): the resume point of an earlier run that failed.
	StartAfter int
	// Progress, if set, is called after each committed batch with the last row committed.
	Progress func(row int, s Stats)
}

// Stats counts a run.
type Stats struct {
	Rows      int `json:"rows"`
	Rejected  int `json:"rejected"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// Committed is the last data row whose batch is committed: where a new run resumes.
	Committed int `json:"committed"`
}

// Run imports every row of r. Rejected rows go to rejects as CSV (row, reason). A failure
// stops the run with Stats.Committed as the resume point; rows up to it are stored.
func Run(ctx context.Context, r *Reader, ms []Mapping, norm *customer.Normalizer, st Store, rejects io.Writer, o Options) (Stats, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	rw := csv.NewWriter(rejects)
	_ = rw.Write([]string{"row", "reason"})
	var s Stats
	s.Committed = o.StartAfter
	batch := make([]map[string]any, 0, o.BatchSize)
	last := o.StartAfter
	flush := func() error {
		if len(batch) > 0 {
			res, err := st.Import(ctx, o.KeyID, batch)
			if err != nil {
				return err
			}
			s.Created += res.Created
			s.Updated += res.Updated
			s.Unchanged += res.Unchanged
			batch = batch[:0]
		}
		s.Committed = last
		rw.Flush()
		if o.Progress != nil {
			o.Progress(last, s)
		}
		return rw.Error()
	}
	reject := func(row int, reason string) {
		s.Rejected++
		_ = rw.Write([]string{strconv.Itoa(row), reason})
	}
	for {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		row, rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if row <= o.StartAfter {
			continue
		}
		var re *RowError
		if errors.As(err, &re) {
			s.Rows++
			reject(re.Row, re.Reason)
			last = row
			continue
		}
		if err != nil {
			// Row boundaries are lost: what is committed stays, and the error says where.
			if ferr := flush(); ferr != nil {
				return s, ferr
			}
			return s, err
		}
		s.Rows++
		fields, err := Row(rec, ms, norm)
		if err != nil {
			reject(row, err.Error())
			last = row
			continue
		}
		if _, ok := fields["email"]; !ok {
			if _, ok := fields["phone"]; !ok {
				if _, ok := fields["customer_number"]; !ok {
					reject(row, "needs an identifier: map a column to email, phone or customer_number")
					last = row
					continue
				}
			}
		}
		batch = append(batch, fields)
		last = row
		if len(batch) >= o.BatchSize {
			if err := flush(); err != nil {
				return s, err
			}
		}
	}
	return s, flush()
}
