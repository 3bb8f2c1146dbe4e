// Package csvcell keeps a spreadsheet from running a CSV cell as a formula (CSV injection),
// for every CSV Steward writes: exports, reports, records.
package csvcell

import (
	"strconv"
	"strings"
)

// Inert returns s so that a spreadsheet shows it as text: a cell beginning with =, +, -, @,
// a tab or a carriage return gets a leading apostrophe, as OWASP recommends. Numbers are left
// alone (a negative amount is not a formula), so figures still add up in the spreadsheet.
func Inert(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	return "'" + s
}
