package importer

import (
	"fmt"
	"strings"
)

// ConsentColumn says that a column holds the customers' choice for a consent purpose, as the
// list's source collected it: yes/no, true/false, 1/0, y/n. An empty cell records nothing,
// because a list that does not say is not a refusal.
type ConsentColumn struct {
	Column  int    `json:"-"`
	Name    string `json:"column"`
	Purpose string `json:"purpose"`
}

// ParseConsents reads COLUMN=PURPOSE pairs against a header. The purposes are checked by the
// consent ledger (see Ledger.CheckImport), which knows which purposes rest on consent.
func ParseConsents(pairs []string, header []string) ([]ConsentColumn, error) {
	col := columns(header)
	var out []ConsentColumn
	seen := map[string]bool{}
	for _, p := range pairs {
		c, purpose, i, err := columnPair("--consent", p, "PURPOSE", col, header)
		if err != nil {
			return nil, err
		}
		if seen[purpose] {
			return nil, fmt.Errorf("--consent %s=%s: purpose %q is given twice", c, purpose, purpose)
		}
		seen[purpose] = true
		out = append(out, ConsentColumn{Column: i, Name: c, Purpose: purpose})
	}
	return out, nil
}

// consentValue reads a consent cell: granted, and whether the cell says anything at all.
func consentValue(s string) (granted, present bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return false, false, nil
	case "yes", "y", "true", "1":
		return true, true, nil
	case "no", "n", "false", "0":
		return false, true, nil
	}
	return false, false, fmt.Errorf("must be yes or no (also y/n, true/false, 1/0) or empty")
}
