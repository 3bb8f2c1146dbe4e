package importer

import (
	"fmt"
	"strings"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
)

// Mapping says which columns fill which catalog field, in the order the columns are joined.
type Mapping struct {
	Field   string
	Columns []int
	names   []string
}

// ParseMappings reads COLUMN=FIELD pairs against a header. Several pairs naming one field
// join their columns with a space, in the order given (first_name and last_name columns into
// full_name, say).
func ParseMappings(pairs []string, header []string, cat *catalog.Catalog) ([]Mapping, error) {
	if len(pairs) == 0 {
		return nil, fmt.Errorf("no --map COLUMN=FIELD given")
	}
	col := columns(header)
	var out []Mapping
	at := map[string]int{}
	for _, p := range pairs {
		c, f, i, err := columnPair("--map", p, "FIELD", col, header)
		if err != nil {
			return nil, err
		}
		if _, ok := cat.Field(f); !ok {
			return nil, fmt.Errorf("--map %s=%s: %q is not a field of the data catalog", c, f, f)
		}
		if k, ok := at[f]; ok {
			out[k].Columns = append(out[k].Columns, i)
			out[k].names = append(out[k].names, c)
			continue
		}
		at[f] = len(out)
		out = append(out, Mapping{Field: f, Columns: []int{i}, names: []string{c}})
	}
	return out, nil
}

// columns maps header names to their column; a repeated name means its first column.
func columns(header []string) map[string]int {
	col := map[string]int{}
	for i, h := range header {
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	return col
}

// columnPair reads one COLUMN=TARGET pair of flag and finds the column; a column the file
// lacks is named with the columns it has, so the fix is in sight.
func columnPair(flag, pair, target string, col map[string]int, header []string) (column, value string, i int, err error) {
	column, value, ok := strings.Cut(pair, "=")
	column, value = strings.TrimSpace(column), strings.TrimSpace(value)
	if !ok || column == "" || value == "" {
		return "", "", 0, fmt.Errorf("%s %q: want COLUMN=%s", flag, pair, target)
	}
	if i, ok = col[column]; !ok {
		return "", "", 0, fmt.Errorf("%s %s=%s: the file has no column %q (columns: %s)", flag, column, value, column, strings.Join(header, ", "))
	}
	return column, value, i, nil
}

// Row turns a record into normalised catalog values. Empty cells are skipped; a field whose
// columns are all empty is absent. The error is the first invalid field, named with its
// columns but without its value.
func Row(rec []string, ms []Mapping, norm *customer.Normalizer) (map[string]any, error) {
	out := make(map[string]any, len(ms))
	for _, m := range ms {
		var parts []string
		for _, c := range m.Columns {
			if v := strings.TrimSpace(rec[c]); v != "" {
				parts = append(parts, v)
			}
		}
		if len(parts) == 0 {
			continue
		}
		v, _, err := norm.Value(m.Field, convert(norm, m.Field, strings.Join(parts, " ")))
		if err != nil {
			return nil, fmt.Errorf("column %s: %s", strings.Join(m.names, "+"), problem.Detail(err))
		}
		out[m.Field] = v
	}
	if err := norm.Address(out); err != nil {
		return nil, fmt.Errorf("%s", problem.Detail(err))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no mapped column has a value")
	}
	return out, nil
}

// convert gives numbers and booleans their types: a spreadsheet cell is always text.
func convert(norm *customer.Normalizer, field, s string) any {
	f, _ := norm.Catalog.Field(field)
	switch f.Type {
	case catalog.TypeInteger, catalog.TypeNumber:
		return jsonNumber(s)
	case catalog.TypeBoolean:
		switch strings.ToLower(s) {
		case "true", "yes", "y", "1":
			return true
		case "false", "no", "n", "0":
			return false
		}
	}
	return s
}
