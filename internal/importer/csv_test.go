package importer

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
)

func TestDelimiterAndBOM(t *testing.T) {
	for _, tt := range []struct {
		in    string
		delim rune
		cols  int
	}{
		{"a,b,c\n1,2,3\n", ',', 3},
		{"\xef\xbb\xbfa;b\n1;2\n", ';', 2},
		{"a\tb\tc\td\n1\t2\t3\t4\n", '\t', 4},
		{"\"x,y\";b\n1;2\n", ';', 2},
		{"single\nv\n", ',', 1},
	} {
		r, err := NewReader(strings.NewReader(tt.in))
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if r.Delimiter != tt.delim || len(r.Header) != tt.cols || strings.HasPrefix(r.Header[0], "\ufeff") {
			t.Errorf("%q: got delimiter %q, header %q; want %q and %d columns", tt.in, r.Delimiter, r.Header, tt.delim, tt.cols)
		}
	}
	if _, err := NewReader(strings.NewReader("")); err == nil {
		t.Error("empty file accepted")
	}
	if _, err := NewReader(strings.NewReader("\xff\xfea\x00")); err == nil || !strings.Contains(err.Error(), "UTF-16") {
		t.Errorf("UTF-16: got %v", err)
	}
}

func TestBadEncodingRowIsRejected(t *testing.T) {
	r, err := NewReader(strings.NewReader("email,name\na@example.com,\xe9t\xe9\nb@example.com,ok\n"))
	if err != nil {
		t.Fatal(err)
	}
	row, _, err := r.Next()
	var re *RowError
	if !errors.As(err, &re) || row != 2 || !strings.Contains(re.Reason, "UTF-8") {
		t.Fatalf("got row %d %v, want a UTF-8 row error", row, err)
	}
	if _, rec, err := r.Next(); err != nil || rec[1] != "ok" {
		t.Fatalf("reading went on badly: %v %v", rec, err)
	}
	if _, _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want EOF", err)
	}
}

func FuzzCSVRow(f *testing.F) {
	cat := catalog.Default()
	norm := &customer.Normalizer{Catalog: cat, DefaultRegion: "GB"}
	for _, s := range []string{"email;name\na@example.com;Ann\n", "\xef\xbb\xbfa,b\n\"x\"\"y\",2\n", "email\n\"unterminated\n", "a\tb\n1\t\xff\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := NewReader(strings.NewReader(in))
		if err != nil {
			return
		}
		ms, err := ParseMappings([]string{r.Header[0] + "=email"}, r.Header, cat)
		if err != nil {
			return
		}
		for i := 0; i < 100; i++ {
			_, rec, err := r.Next()
			if err != nil {
				var re *RowError
				if errors.As(err, &re) {
					continue
				}
				return
			}
			fields, err := Row(rec, ms, norm)
			if err == nil && fields["email"] == nil {
				t.Fatalf("accepted row without its field: %q", rec)
			}
		}
	})
}

// TestLenientReader: the reader steward match uses takes ", " separators, stray quotes and
// 8-bit values that an import refuses, with the same row numbers and reasons otherwise.
func TestLenientReader(t *testing.T) {
	in := "id, name, street\n" +
		"c1, Kayla, \"Maltby Circuit, Coolaroo\"\n" +
		"c2, Jos\xe9, 7 \"Giblin\" St\n" +
		"c3, Too, many, fields\n"
	r, err := NewLenientReader(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		row    int
		fields string
		reason string
	}{
		{2, "c1|Kayla|Maltby Circuit, Coolaroo", ""},
		{3, "c2|Jos\xe9|7 \"Giblin\" St", ""},
		{4, "", "has 4 columns, the header has 3"},
	}
	for _, w := range want {
		row, rec, err := r.Next()
		var re *RowError
		switch {
		case w.reason != "" && (!errors.As(err, &re) || re.Reason != w.reason || row != w.row):
			t.Errorf("row %d: got %d %v, want %q", w.row, row, err, w.reason)
		case w.reason == "" && (err != nil || row != w.row || strings.Join(rec, "|") != w.fields):
			t.Errorf("row %d: got %d %q %v, want %q", w.row, row, rec, err, w.fields)
		}
	}
	if _, _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("got %v, want EOF", err)
	}
	// An import refuses the same file's stray quote.
	strict, _ := NewReader(strings.NewReader(in))
	_, _, _ = strict.Next()
	if _, _, err := strict.Next(); err == nil {
		t.Error("strict reader accepted a stray quote and an 8-bit value")
	}
}
