package notice

import (
	"encoding/csv"
	"io"
	"slices"
	"strings"

	"github.com/stewardhq/steward/internal/csvcell"
)

// Record is one record of processing activities (GDPR Article 30(1)): one per purpose the
// catalog declares data for, with what the Article lists — the controller, the purpose, the
// categories of data subjects and of personal data, the recipients, transfers, the time
// limits for erasure and the security measures.
type Record struct {
	Controller       string   `json:"controller"`
	Contact          string   `json:"contact"`
	Purpose          string   `json:"purpose"`
	Description      string   `json:"description"`
	LegalBasis       string   `json:"legal_basis"`
	DataSubjects     []string `json:"data_subjects"`
	DataCategories   []string `json:"data_categories"`
	Fields           []string `json:"fields"`
	Recipients       []string `json:"recipients"`
	Sources          []string `json:"sources"`
	Transfers        string   `json:"transfers"`
	Retention        []string `json:"retention"`
	SecurityMeasures []string `json:"security_measures"`
	PolicyVersion    string   `json:"policy_version,omitempty"`
}

// security are the measures every purpose's data gets; they are what the vault does, not a
// promise beside it (see docs/security.md).
var security = []string{
	"every personal field encrypted with AES-256-GCM under a key per customer, wrapped by rotated master keys",
	"look-ups through keyed, truncated blind indexes; no personal value in clear at rest, in logs or in metrics",
	"purpose-bound access per role, checked against the customer's consent and objections on every read",
	"a hash-chained, signed audit trail of every read and change",
	"erasure by destroying the customer's key (crypto-shredding), recorded in an erasure ledger that restores replay",
	"encrypted backups, retention enforced per field",
}

// Records makes the records of processing from the same facts as the notice.
func Records(in Input) []Record {
	n := Build(in)
	sources := make([]string, 0, len(n.Sources))
	for _, s := range n.Sources {
		sources = append(sources, s.Name)
	}
	var out []Record
	for _, p := range n.Purposes {
		r := Record{Controller: n.Controller.Name, Contact: n.Controller.Contact, Purpose: p.Name, Description: p.Description,
			LegalBasis: p.LegalBasis, DataSubjects: []string{"customers and prospective customers"}, Fields: p.Fields,
			Recipients: []string{}, Sources: sources, Transfers: "none outside the server Steward runs on",
			SecurityMeasures: security, DataCategories: []string{}, Retention: []string{}}
		if n.Policy != nil {
			r.PolicyVersion = n.Policy.Version
		}
		for _, rc := range n.Recipients {
			if slices.Contains(rc.Purposes, p.Name) {
				r.Recipients = append(r.Recipients, rc.Name)
			}
		}
		for _, c := range n.Categories {
			for _, f := range c.Fields {
				if !slices.Contains(f.Purposes, p.Name) {
					continue
				}
				if !slices.Contains(r.DataCategories, c.Name) {
					r.DataCategories = append(r.DataCategories, c.Name)
				}
				r.Retention = append(r.Retention, f.Name+": "+f.Retention)
			}
		}
		out = append(out, r)
	}
	return out
}

// WriteCSV writes records as CSV, one row per purpose, lists joined with "; ". Every cell
// comes from the catalog and the policy, which the operator wrote, but a spreadsheet would
// still run a cell that starts like a formula, so such cells are quoted as OWASP recommends.
func WriteCSV(w io.Writer, rs []Record) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"controller", "contact", "purpose", "description", "legal_basis", "data_subjects", "data_categories", "fields",
		"recipients", "sources", "transfers", "retention", "security_measures", "policy_version"})
	j := func(s []string) string { return strings.Join(s, "; ") }
	for _, r := range rs {
		row := []string{r.Controller, r.Contact, r.Purpose, r.Description, r.LegalBasis, j(r.DataSubjects), j(r.DataCategories), j(r.Fields),
			j(r.Recipients), j(r.Sources), r.Transfers, j(r.Retention), j(r.SecurityMeasures), r.PolicyVersion}
		for i, c := range row {
			row[i] = csvcell.Inert(c)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
