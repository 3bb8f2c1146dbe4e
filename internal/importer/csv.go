package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// Reader reads the rows of one CSV file. It is the one CSV reader of the command line and
// the API: imports use it, and so does steward match, so a file that one accepts the other
// reads the same way (byte-order mark, delimiter, header, row numbers, reasons).
type Reader struct {
	Header    []string
	Delimiter rune
	r         *csv.Reader
	// row is the number of the last row read as a spreadsheet shows it: the header is row 1,
	// so people find a rejected row where the rejects file says it is.
	row int
	// lenient passes fields that are not valid UTF-8 through as they are (see
	// NewLenientReader).
	lenient bool
}

// sniffBytes is how much of the file delimiter detection looks at.
const sniffBytes = 64 << 10

// NewReader detects the byte-order mark and the delimiter and reads the header row.
func NewReader(in io.Reader) (*Reader, error) { return newReader(in, false) }

// NewLenientReader is NewReader for the looser files research and legacy exports are (Febrl's
// among them): a quote inside an unquoted field is kept as text, and blanks after a
// delimiter are dropped, so that `, "a, b"` is one quoted field, and a value in a legacy
// 8-bit encoding is passed through rather than rejecting its row. Imports stay strict,
// because a stray quote there usually means rows have run together.
func NewLenientReader(in io.Reader) (*Reader, error) { return newReader(in, true) }

func newReader(in io.Reader, lenient bool) (*Reader, error) {
	br := bufio.NewReaderSize(in, sniffBytes)
	head, err := br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("read: %w", err)
	}
	if bytes.HasPrefix(head, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
		head = head[3:]
	}
	if bytes.HasPrefix(head, []byte{0xff, 0xfe}) || bytes.HasPrefix(head, []byte{0xfe, 0xff}) {
		return nil, errors.New("file is UTF-16: save it as UTF-8")
	}
	delim := detectDelimiter(head)
	r := csv.NewReader(br)
	r.Comma = delim
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	r.LazyQuotes, r.TrimLeadingSpace = lenient, lenient
	hdr, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("file is empty: a header row is required")
	}
	if err != nil {
		return nil, fmt.Errorf("header row: %w", csvError(err))
	}
	for i, h := range hdr {
		if !utf8.ValidString(h) {
			return nil, fmt.Errorf("header row: column %d is not valid UTF-8: save the file as UTF-8", i+1)
		}
		hdr[i] = strings.TrimSpace(h)
	}
	return &Reader{Header: hdr, Delimiter: delim, r: r, row: 1, lenient: lenient}, nil
}

// detectDelimiter picks the most frequent of comma, semicolon and tab in the first line,
// counting outside quotes; comma when none appears.
func detectDelimiter(head []byte) rune {
	counts := map[rune]int{',': 0, ';': 0, '\t': 0}
	quoted := false
	for _, c := range string(head) {
		if c == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		if c == '\n' {
			break
		}
		if _, ok := counts[c]; ok {
			counts[c]++
		}
	}
	best := ','
	cands := []rune{',', ';', '\t'}
	sort.SliceStable(cands, func(i, j int) bool { return counts[cands[i]] > counts[cands[j]] })
	if counts[cands[0]] > 0 {
		best = cands[0]
	}
	return best
}

// RowError is a problem with one row that does not stop the file.
type RowError struct {
	Row    int
	Reason string
}

func (e *RowError) Error() string { return fmt.Sprintf("row %d: %s", e.Row, e.Reason) }

// Next returns the next data row and its number. A row that cannot be read as text (bad
// encoding, wrong number of columns) is a *RowError, after which reading goes on; broken
// quoting that loses the row boundaries ends the file with an error naming the line.
func (r *Reader) Next() (int, []string, error) {
	rec, err := r.r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
			r.row++
			return r.row, nil, &RowError{Row: r.row, Reason: "wrong number of columns"}
		}
		r.row++
		return r.row, nil, fmt.Errorf("row %d: %w", r.row, csvError(err))
	}
	r.row++
	for i, f := range rec {
		if !r.lenient && !utf8.ValidString(f) {
			return r.row, nil, &RowError{Row: r.row, Reason: fmt.Sprintf("column %q is not valid UTF-8", r.column(i))}
		}
	}
	if len(rec) != len(r.Header) {
		return r.row, nil, &RowError{Row: r.row, Reason: fmt.Sprintf("has %d columns, the header has %d", len(rec), len(r.Header))}
	}
	return r.row, rec, nil
}

// Offset is the byte offset after the last row read, for resume points.
func (r *Reader) Offset() int64 { return r.r.InputOffset() }

func (r *Reader) column(i int) string {
	if i < len(r.Header) {
		return r.Header[i]
	}
	return fmt.Sprint(i + 1)
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, csv.ErrBareQuote), errors.Is(pe.Err, csv.ErrQuote):
			return fmt.Errorf("broken quoting at line %d, column %d: a quote inside a field must be doubled (\"\") and a quoted field closed", pe.Line, pe.Column)
		}
		return fmt.Errorf("line %d: %v", pe.Line, pe.Err)
	}
	return err
}
