package rights

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/csvcell"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
)

// Export is a stored export package: a zip sealed under the customer's data key.
type Export struct {
	ID         string
	RequestID  string
	CustomerID string
	TokenHash  []byte
	Blob       []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// exportTable is bound into the export ciphertext's associated data.
const exportTable = "exports"

// Package is the machine-readable content of an access or portability export.
type Package struct {
	Format      string            `json:"format"`
	GeneratedAt time.Time         `json:"generated_at"`
	RequestID   string            `json:"request_id"`
	Customer    customer.Dossier  `json:"customer"`
	Sections    []Section         `json:"sections"`
	Rights      map[string]string `json:"your_rights"`
}

// Collect gathers everything Steward holds about a customer: the profile with each field's
// category, purposes, legal basis, source and retention, and every registered table's
// section. It is audited as customer.export by the customer service.
func (s *Service) Collect(ctx context.Context, customerID, requestID string) (Package, error) {
	d, err := s.customers.Dossier(ctx, customerID)
	if err != nil {
		return Package{}, err
	}
	p := Package{Format: "steward-export-v1", GeneratedAt: s.now(), RequestID: requestID, Customer: d,
		Rights: map[string]string{
			"access":        "You may ask what we hold about you (this package).",
			"rectification": "You may ask us to correct anything wrong.",
			"erasure":       "You may ask us to erase your data, except what the law obliges us to keep.",
			"restriction":   "You may ask us to stop using your data while keeping it.",
			"objection":     "You may object to uses based on legitimate interest and to direct marketing.",
			"portability":   "You may receive your data in a machine-readable form (JSON and CSV).",
		}}
	for _, part := range s.parts {
		sec, err := part.Export(ctx, customerID)
		if err != nil {
			return Package{}, fmt.Errorf("export %s: %w", part.Table(), err)
		}
		if sec.Title == "" {
			continue // the profile itself, already in Customer
		}
		sec.Table = part.Table()
		if sec.Items == nil {
			sec.Items = []map[string]any{}
		}
		p.Sections = append(p.Sections, sec)
	}
	sort.Slice(p.Sections, func(i, j int) bool { return p.Sections[i].Table < p.Sections[j].Table })
	return p, nil
}

// Build renders a package as a zip: export.json always, report.html (a readable report), and
// for portability one CSV per section plus profile.csv.
func Build(p Package, withCSV bool) ([]byte, error) {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	add := func(name string, b []byte) error {
		w, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: p.GeneratedAt})
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	// The JSON and the report each walk every item; for a customer with many events they
	// are most of an export's time, so they are made side by side.
	var html bytes.Buffer
	htmlDone := make(chan error, 1)
	go func() { htmlDone <- reportHTML.Execute(&html, p) }()
	js, err := json.MarshalIndent(p, "", "  ")
	if herr := <-htmlDone; err == nil {
		err = herr
	}
	if err != nil {
		return nil, err
	}
	if err := add("export.json", js); err != nil {
		return nil, err
	}
	if err := add("report.html", html.Bytes()); err != nil {
		return nil, err
	}
	if withCSV {
		rows := [][]string{{"field", "value", "category", "purposes", "legal_bases", "retention", "source"}}
		for _, f := range p.Customer.Fields {
			var ps, bs []string
			for _, pb := range f.Purposes {
				ps, bs = append(ps, pb.Purpose), append(bs, string(pb.LegalBasis))
			}
			rows = append(rows, []string{f.Field, text(f.Value), f.Category, join(ps), join(bs), f.Retention, f.Source})
		}
		if err := addCSV(add, "profile.csv", rows); err != nil {
			return nil, err
		}
		for _, sec := range p.Sections {
			if err := addCSV(add, sec.Table+".csv", sectionRows(sec)); err != nil {
				return nil, err
			}
		}
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sectionRows(sec Section) [][]string {
	cols := map[string]bool{}
	for _, it := range sec.Items {
		for k := range it {
			cols[k] = true
		}
	}
	names := sortedNames(cols)
	rows := [][]string{names}
	for _, it := range sec.Items {
		row := make([]string, len(names))
		for i, n := range names {
			row[i] = text(it[n])
		}
		rows = append(rows, row)
	}
	return rows
}

func addCSV(add func(string, []byte) error, name string, rows [][]string) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	for _, row := range rows {
		for i, cell := range row {
			row[i] = csvcell.Inert(cell)
		}
	}
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	return add(name, b.Bytes())
}

func text(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case time.Time:
		return t.Format(time.RFC3339Nano)
	case int64:
		return strconv.FormatInt(t, 10)
	case int:
		return strconv.Itoa(t)
	case bool:
		return strconv.FormatBool(t)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ";"
		}
		out += s
	}
	return out
}

var reportHTML = template.Must(template.New("report").Funcs(template.FuncMap{"text": text, "itemsTable": itemsTable}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your data</title>
<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%;margin-bottom:2rem}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}</style>
</head><body>
<h1>The data we hold about you</h1>
<p>Generated {{.GeneratedAt.Format "2 January 2006 15:04 MST"}} for request {{.RequestID}}. Customer record created {{.Customer.CreatedAt.Format "2 January 2006"}}, last changed {{.Customer.UpdatedAt.Format "2 January 2006"}}.</p>
<h2>Your profile</h2>
<table><tr><th>Field</th><th>Value</th><th>Category</th><th>Used for (legal basis)</th><th>Kept</th><th>Source</th></tr>
{{range .Customer.Fields}}<tr><td>{{.Field}}</td><td>{{text .Value}}</td><td>{{.Category}}</td><td>{{range $i, $p := .Purposes}}{{if $i}}, {{end}}{{$p.Purpose}} ({{$p.LegalBasis}}){{end}}</td><td>{{if eq .Retention "until_erasure"}}until you ask us to erase it{{else}}{{.Retention}} after your last activity{{end}}</td><td>{{.Source}}</td></tr>
{{end}}</table>
{{range .Sections}}<h2>{{.Title}}</h2>{{if .Note}}<p>{{.Note}}</p>{{end}}
{{if .Items}}{{itemsTable .Items}}{{else}}<p>Nothing held.</p>{{end}}
{{end}}
<h2>Your rights</h2><ul>{{range $k, $v := .Rights}}<li><b>{{$k}}</b>: {{$v}}</li>{{end}}</ul>
</body></html>
`))

// itemsTable renders a section's items as an HTML table, one row per item and one cell per
// member in name order. It writes the escaped markup itself rather than through a nested
// template range: a customer with ten thousand events has a hundred thousand cells, and the
// template's reflection made the report most of an export's time.
func itemsTable(items []map[string]any) template.HTML {
	var b strings.Builder
	b.WriteString("<table>")
	var names []string
	for _, it := range items {
		names = names[:0]
		for k := range it {
			names = append(names, k)
		}
		sort.Strings(names)
		b.WriteString("<tr>")
		for _, k := range names {
			b.WriteString("<td><b>")
			template.HTMLEscape(&b, []byte(k))
			b.WriteString("</b>: ")
			template.HTMLEscape(&b, []byte(text(it[k])))
			b.WriteString("</td>")
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>")
	return template.HTML(b.String())
}

// makeExport collects, builds and stores an export for a request and returns the stored
// export with the download token, which is shown once.
func (s *Service) makeExport(ctx context.Context, r *Request) (Export, string, error) {
	p, err := s.Collect(ctx, r.CustomerID, r.ID)
	if err != nil {
		return Export{}, "", err
	}
	zipped, err := Build(p, r.Type == TypePortability)
	if err != nil {
		return Export{}, "", problem.Wrap(problem.Internal, err, "export could not be built")
	}
	x := Export{ID: newID(), RequestID: r.ID, CustomerID: r.CustomerID, CreatedAt: s.now()}
	x.ExpiresAt = x.CreatedAt.Add(s.settings.ExportTTL)
	if x.Blob, err = s.vault.SealFor(ctx, r.CustomerID, exportTable, x.ID, zipped); err != nil {
		return Export{}, "", err
	}
	token, hash := newToken()
	x.TokenHash = hash
	e := audit.New(ctx, ActionExportCreate, r.CustomerID, nil, "privacy_requests")
	e.Target = "export:" + x.ID
	if err := s.store.SaveExport(ctx, x, []audit.Entry{e}); err != nil {
		return Export{}, "", err
	}
	return x, token, nil
}

// Download returns the export package of a request as a zip. Staff with requests.manage who
// may reveal for privacy_requests (see mayHandOver) need no token; anyone else must present
// the download token. An expired package is deleted and
// answers Gone; a wrong token is Forbidden; an erased customer's package answers Gone.
func (s *Service) Download(ctx context.Context, requestID, token string, staff bool) ([]byte, error) {
	if staff {
		if _, err := authz.Require(ctx, s.catalog, "requests.manage"); err != nil {
			return nil, err
		}
		if err := s.mayHandOver(ctx); err != nil {
			return nil, err
		}
	} else if token == "" {
		return nil, problem.New(problem.Unauthenticated, "a download token or a bearer API key is required")
	}
	r, err := s.store.GetRequest(ctx, requestID)
	if err != nil {
		return nil, err
	}
	return s.fetchExport(ctx, r, func(x Export) (context.Context, error) {
		if staff {
			return ctx, nil
		}
		sum := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(sum[:], x.TokenHash) != 1 {
			return ctx, problem.Forbiddenf("the download token does not match this export")
		}
		return authz.WithActor(ctx, authz.Actor{ID: "portal", Name: "privacy portal", Role: "dpo"}), nil
	})
}

// DownloadOwn returns the export package of a request of customerID's own, for the customer
// signed in on the privacy portal (ctx carries them as the actor): the session stands for
// the download token. NotFound for a request of someone else's.
func (s *Service) DownloadOwn(ctx context.Context, customerID, requestID string) ([]byte, error) {
	r, err := s.store.GetRequest(ctx, requestID)
	if err != nil {
		return nil, err
	}
	if r.CustomerID != customerID {
		return nil, problem.NotFoundf("request not found")
	}
	return s.fetchExport(ctx, r, func(Export) (context.Context, error) { return ctx, nil })
}

// fetchExport opens the export package of r once allow has agreed, audited as a download.
func (s *Service) fetchExport(ctx context.Context, r *Request, allow func(Export) (context.Context, error)) ([]byte, error) {
	var res struct {
		ExportID string `json:"export_id"`
	}
	_ = json.Unmarshal(r.Result, &res)
	if res.ExportID == "" {
		return nil, problem.NotFoundf("this request has no export package")
	}
	x, err := s.store.GetExport(ctx, res.ExportID)
	if problem.Is(err, problem.NotFound) {
		return nil, problem.Gonef("the export package has expired and was deleted")
	}
	if err != nil {
		return nil, err
	}
	if ctx, err = allow(x); err != nil {
		return nil, err
	}
	if !s.now().Before(x.ExpiresAt) {
		if _, err := s.store.DeleteExpiredExports(ctx, s.now()); err != nil {
			return nil, err
		}
		return nil, problem.Gonef("the export package has expired and was deleted")
	}
	b, err := s.vault.OpenFor(ctx, x.CustomerID, exportTable, x.ID, x.Blob)
	if err != nil {
		return nil, err
	}
	e := audit.New(ctx, ActionExportFetch, x.CustomerID, nil, "privacy_requests")
	e.Target = "export:" + x.ID
	if err := s.audit.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return b, nil
}

// PurgeExports deletes expired export packages.
func (s *Service) PurgeExports(ctx context.Context) (int64, error) {
	return s.store.DeleteExpiredExports(ctx, s.now())
}
