package rights

import (
	"context"
	"sort"
)

// Part is one table's share of what Steward holds about a person. Every domain that stores rows
// about a customer provides a Part for each such table, so that erasure removes them and an
// access export shows them; tables added later plug in by adding their Part to the registry.
type Part interface {
	// Table names the table the Part covers.
	Table() string
	// Erase removes or anonymises the customer's rows and says what it deleted, what it kept
	// and why. It must be idempotent: a resumed erasure runs it again.
	Erase(ctx context.Context, customerID string) (Outcome, error)
	// Export returns what the table holds about the customer, in readable form.
	Export(ctx context.Context, customerID string) (Section, error)
}

// Outcome is what erasure did to one table.
type Outcome struct {
	Table      string `json:"table"`
	Deleted    int64  `json:"deleted"`
	Anonymised int64  `json:"anonymised,omitempty"`
	Kept       int64  `json:"kept"`
	Why        string `json:"why,omitempty"`
}

// Section is one table's contribution to an access export.
type Section struct {
	Table string `json:"table"`
	Title string `json:"title"`
	// Note explains the section to the person reading it, e.g. why index tokens are not shown.
	Note  string           `json:"note,omitempty"`
	Items []map[string]any `json:"items"`
}

// Report is the erasure report: every table's outcome, in table order.
type Report struct {
	CustomerID  string    `json:"customer_id"`
	Tables      []Outcome `json:"tables"`
	KeyShredded bool      `json:"key_shredded"`
	Complete    bool      `json:"complete"`
	// Merged are the customers merged into this one (by stitching or a duplicate review, at
	// any depth) that were erased with it, each with what erasure did to it. A merge says
	// the records are one person, and the merged-in record keeps its own profile, events and
	// identifiers under its own key: erasing the person erases them all.
	Merged []MergedReport `json:"merged,omitempty"`
	// ErasedWith names the customer whose erasure this one was part of, for a customer that
	// had been merged into it.
	ErasedWith string `json:"erased_with,omitempty"`
}

// MergedReport is what erasure did to one customer erased with the one it was merged into.
// Its own ledger entry holds the same report, so a restore replays it on its own.
type MergedReport struct {
	CustomerID  string    `json:"customer_id"`
	Tables      []Outcome `json:"tables"`
	KeyShredded bool      `json:"key_shredded"`
	Complete    bool      `json:"complete"`
}

// has reports whether the report already holds table's outcome: a resumed erasure skips it.
func (r *Report) has(table string) bool {
	for _, o := range r.Tables {
		if o.Table == table {
			return true
		}
	}
	return false
}

func (r *Report) add(o Outcome) {
	r.Tables = append(r.Tables, o)
	sort.Slice(r.Tables, func(i, j int) bool { return r.Tables[i].Table < r.Tables[j].Table })
}

// Registry is the set of Parts, one per table.
type Registry []Part

// Tables lists the covered tables, sorted.
func (g Registry) Tables() []string {
	out := make([]string, 0, len(g))
	for _, p := range g {
		out = append(out, p.Table())
	}
	sort.Strings(out)
	return out
}
