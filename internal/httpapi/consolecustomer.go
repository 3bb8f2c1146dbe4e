package httpapi

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/rights"
)

// The customer page's sections besides the masked profile and the reveal (console.go), and
// the edit form. Each section is read through its service as the person, audited so; a
// section their role may not read is left out rather than failing the page.

// customerExtras are the sections of a customer's page besides the profile.
type customerExtras struct {
	Groups   []fieldGroup
	Consents *consent.History
	Events   []ingest.EventView
	Reviews  []ingest.EventView
	Orders   []ingest.Order
	Requests []*rights.Request
	Audit    []audit.Entry
	Status   *quality.Status
	CanEdit  bool
}

// fieldGroup is the fields a profile holds in one category of the catalog (identity,
// contact, loyalty…), in catalog order.
type fieldGroup struct {
	Category string
	Fields   []fieldRow
}

// reviewEvent is the Segment e-commerce event a product review arrives as.
const reviewEvent = "Product Reviewed"

// customerSections fills the page's other sections for c, read for purpose (empty: masked).
func (s *Server) customerSections(ctx context.Context, c *customer.View, purpose string, x *customerExtras) error {
	x.Groups = s.fieldGroups(c.Fields)
	if a, ok := authz.ActorFrom(ctx); ok {
		x.CanEdit = s.Catalog.RoleHas(a.Role, catalog.PermCustomersWrite)
	}
	allowed := func(err error) error {
		if problem.Is(err, problem.Forbidden) {
			return nil
		}
		return err
	}
	if h, err := s.Consents.History(ctx, c.ID); err == nil {
		x.Consents = &h
	} else if err = allowed(err); err != nil {
		return err
	}
	var err error
	if s.Ingest != nil {
		if x.Events, _, err = s.Ingest.Events(ctx, c.ID, purpose, ingest.EventFilter{Limit: 30}); allowed(err) != nil {
			return err
		}
		for _, e := range x.Events {
			if e.Name == reviewEvent {
				x.Reviews = append(x.Reviews, e)
			}
		}
		if x.Orders, err = s.Ingest.Orders(ctx, c.ID, 20); allowed(err) != nil {
			return err
		}
	}
	reqs, err := s.Rights.List(ctx, rights.RequestFilter{CustomerID: c.ID, Limit: 20}, "")
	if allowed(err) != nil {
		return err
	}
	for _, q := range reqs {
		if q.State != rights.StateCompleted && q.State != rights.StateRejected {
			x.Requests = append(x.Requests, q)
		}
	}
	if x.Audit, err = s.Audit.List(ctx, audit.Filter{CustomerID: c.ID, Limit: 20}); allowed(err) != nil {
		return err
	}
	return nil
}

// fieldGroups sorts a profile's values into the catalog's categories, in catalog order.
func (s *Server) fieldGroups(values map[string]any) []fieldGroup {
	var out []fieldGroup
	at := map[string]int{}
	for _, f := range s.Catalog.Fields {
		v, ok := values[f.Name]
		if !ok {
			continue
		}
		i, seen := at[f.Category]
		if !seen {
			i = len(out)
			at[f.Category] = i
			out = append(out, fieldGroup{Category: f.Category})
		}
		text := valueText(v)
		if t, err := time.Parse(time.RFC3339Nano, text); err == nil && f.Type == "datetime" {
			text = t.UTC().Format("2 Jan 2006 15:04 UTC") // a time, not a raw timestamp
		}
		out[i].Fields = append(out[i].Fields, fieldRow{Name: f.Name, Value: text})
	}
	return out
}

// The sections' template, part of the console's own (its customer page calls it).
var _ = template.Must(consoleTemplate.New("customer-fields").Parse(pagesStyle + `{{range .Groups}}<h2>{{heading .Category}}</h2>
<table class="fields"><thead><tr><th scope="col">Field</th><th scope="col">Value</th></tr></thead><tbody>
{{range .Fields}}<tr><td>{{words .Name}}</td><td>{{.Value}}</td></tr>{{end}}</tbody></table>{{end}}
{{if .CanEdit}}<p><a href="/console/customers/{{.Customer.ID}}/edit">Correct this customer's data</a></p>{{end}}`))

var _ = template.Must(consoleTemplate.New("customer-more").Parse(`{{with .Status}}<h2>Contact status and quality flags</h2>
<p>{{words .Status}} (contact data {{words .Validation}}){{with .LastEngagementAt}}; last engaged {{date .}}{{end}}.</p>
{{if .Reasons}}<ul>{{range .Reasons}}<li>{{words .}}</li>{{end}}</ul>{{end}}{{end}}
{{with .Consents}}<h2>Consents</h2><table><caption class="sr">Consent now, per purpose</caption><thead><tr><th scope="col">Purpose</th><th scope="col">Now</th><th scope="col">Policy version</th></tr></thead><tbody>
{{range .State}}<tr><td>{{words .Purpose}}</td><td>{{if .Allowed}}allowed{{else}}not allowed{{end}} ({{words .Reason}})</td><td>{{.PolicyVersion}}</td></tr>{{end}}</tbody></table>
{{if .History}}<h3>The consent ledger</h3><table><caption class="sr">Every consent choice, oldest first</caption><thead><tr><th scope="col">When</th><th scope="col">Choice</th><th scope="col">Policy version</th><th scope="col">Source</th><th scope="col">Receipt</th></tr></thead><tbody>
{{range .History}}<tr><td>{{when .At}}</td><td>{{words .Kind}}{{with .Purpose}} {{words .}}{{end}}: {{if .Granted}}given{{else}}withdrawn{{end}}</td><td>{{.PolicyVersion}}</td><td>{{words .Source}}</td>
<td>{{if .Receipt}}<details><summary>Signed receipt<span class="sr"> {{.ID}}</span></summary><code>{{.Receipt}}</code><p>Anyone can check it at <code>POST /v1/consent-receipts/verify</code>.</p></details>{{else}}none{{end}}</td></tr>{{end}}</tbody></table>{{end}}{{end}}
<h2>Orders, refunds and reviews</h2>
{{if .Orders}}<table><caption class="sr">Orders</caption><thead><tr><th scope="col">Order</th><th scope="col">Placed</th><th scope="col">Status</th><th scope="col">Total</th><th scope="col">Refunded</th></tr></thead><tbody>
{{range .Orders}}<tr><td>{{.OrderID}}</td><td>{{date .PlacedAt}}</td><td>{{words .Status}}</td><td>{{printf "%.2f" .Total}} {{.Currency}}</td><td>{{printf "%.2f" .Refunded}}{{range .Refunds}}<br>{{words .Kind}} {{printf "%.2f" .Amount}} on {{date .At}}{{end}}</td></tr>{{end}}</tbody></table>{{else}}<p>No orders.</p>{{end}}
{{if .Reviews}}<ul>{{range .Reviews}}<li>{{when .Timestamp}}: a product review{{with index .Properties "rating"}}, rated {{.}}{{end}}</li>{{end}}</ul>{{else}}<p>No reviews among the latest events.</p>{{end}}
<h2>Event timeline</h2>{{if .Events}}<ol reversed>{{range .Events}}<li>{{when .Timestamp}} — {{.Type}}{{with .Name}}: {{.}}{{end}}{{if not .Revealed}} <span class="hint">(details masked)</span>{{end}}</li>{{end}}</ol>{{else}}<p>No events.</p>{{end}}
<h2>Open requests</h2>{{if .Requests}}<ul>{{range .Requests}}<li>{{words .Type}}: {{words .State}}, due {{date .DueAt}}{{if .Overdue}} <strong>(overdue)</strong>{{end}}</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
{{if .Audit}}<h2>Who processed this customer's data</h2><table><caption class="sr">This customer's audit trail, newest first</caption><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Purpose</th></tr></thead><tbody>
{{range .Audit}}<tr><td>{{when .Time}}</td><td>{{.ActorID}} ({{.ActorRole}})</td><td>{{.Action}}</td><td>{{.Purpose}}</td></tr>{{end}}</tbody></table>{{end}}`))

// editCategories are the categories staff correct by hand; the rest comes from systems
// (orders, devices, engagement) or is derived, and is corrected at its source.
var editCategories = []string{"identity", "contact", "demographic", "loyalty"}

// editableFields are the catalog's fields the edit form offers, in catalog order.
func (s *Server) editableFields() []catalog.Field {
	var out []catalog.Field
	for _, f := range s.Catalog.Fields {
		if slices.Contains(editCategories, f.Category) && !slices.Contains(ingest.FigureFields, f.Name) {
			out = append(out, f)
		}
	}
	return out
}

// editRow is one field of the edit form: its current value as the person may see it
// (masked), what they typed, and the server's message about it.
type editRow struct {
	Name, Type, Now, Typed, Message string
	Values                          []string
	Remove                          bool
}

type editData struct {
	ID   string
	Rows []editRow
}

func (s *Server) consoleEditPage(w http.ResponseWriter, r *http.Request) error {
	v, _, r, ok, err := s.staffPage(w, r, "Correct a customer", catalog.PermCustomersWrite)
	if !ok {
		return err
	}
	c, err := s.Customers.Get(r.Context(), r.PathValue("id"), "")
	if err != nil {
		return err
	}
	v.Data = editData{ID: c.ID, Rows: s.editRows(c, nil, nil)}
	return s.renderPage(w, http.StatusOK, editTemplate, v)
}

func (s *Server) editRows(c customer.View, vals map[string]string, msgs map[string]string) []editRow {
	var rows []editRow
	for _, f := range s.editableFields() {
		row := editRow{Name: f.Name, Type: f.Type, Values: f.Values, Typed: vals["f."+f.Name], Remove: vals["x."+f.Name] != "", Message: msgs[f.Name]}
		if now, ok := c.Fields[f.Name]; ok {
			row.Now = valueText(now)
		}
		rows = append(rows, row)
	}
	return rows
}

// formChanges turns the edit form into a change for Patch: a typed value sets the field
// (numbers and booleans as the JSON API would carry them, for the same validation), a ticked
// "remove" clears it, an empty box leaves it alone.
func (s *Server) formChanges(vals map[string]string) map[string]any {
	changes := map[string]any{}
	for _, f := range s.editableFields() {
		typed := strings.TrimSpace(vals["f."+f.Name])
		switch {
		case vals["x."+f.Name] != "":
			changes[f.Name] = nil
		case typed == "":
		case f.Type == "integer" || f.Type == "number":
			changes[f.Name] = json.Number(typed)
		case f.Type == "boolean" && (typed == "true" || typed == "false"):
			changes[f.Name] = typed == "true"
		default:
			changes[f.Name] = typed
		}
	}
	return changes
}

// consoleEdit corrects a customer through the same validation as PATCH /v1/customers/{id}:
// every bad value is named next to its field and nothing is written; a good change is
// written whole, audited as the person, and they are sent back to the customer.
func (s *Server) consoleEdit(w http.ResponseWriter, r *http.Request) error {
	v, _, r, vals, ok, err := s.staffForm(w, r, "Correct a customer", catalog.PermCustomersWrite)
	if !ok {
		return err
	}
	id := r.PathValue("id")
	c, err := s.Customers.Get(r.Context(), id, "")
	if err != nil {
		return err
	}
	changes := s.formChanges(vals)
	msgs := map[string]string{}
	if len(changes) == 0 {
		v.Error = "Type a new value, or tick remove, for at least one field."
	} else {
		bad, err := s.Customers.CheckFields(r.Context(), changes)
		if err != nil {
			return err
		}
		if len(bad) == 0 {
			_, err := s.Customers.Patch(r.Context(), id, changes)
			switch {
			case err == nil:
				return seeOther(w, "/console/customers/"+id)
			case problem.FieldOf(err) == "" || !problem.Is(err, problem.Invalid) && !problem.Is(err, problem.Conflict):
				return err
			}
			bad = append(bad, err)
		}
		for _, e := range bad {
			// "loyalty_points: must be an integer" reads "loyalty points must be an integer".
			f, detail := problem.FieldOf(e), problem.Detail(e)
			if rest, ok := strings.CutPrefix(detail, f+": "); ok {
				detail = rest
				if !strings.HasPrefix(rest, words(f)) {
					detail = words(f) + " " + rest
				}
			}
			msgs[f] = detail
		}
		v.Error = "Nothing was changed: correct the fields marked below."
	}
	d := editData{ID: c.ID, Rows: s.editRows(c, vals, msgs)}
	for _, row := range d.Rows {
		delete(msgs, row.Name)
	}
	for _, m := range msgs { // about a field the form does not show (the address as a whole)
		v.Error += " " + m
	}
	v.Data = d
	return s.renderPage(w, http.StatusUnprocessableEntity, editTemplate, v)
}

var editTemplate = consolePageTemplate("edit", `{{with .Data}}<p>Customer <code>{{.ID}}</code>. Type a new value only where one is wrong; empty boxes stay as they are. Every change is checked as the API checks it, and written to the audit trail in your name.</p>
<form method="post" action="/console/customers/{{.ID}}/edit" novalidate><input type="hidden" name="csrf" value="{{$.CSRF}}"><div class="editgrid">
{{range .Rows}}<div class="field{{if .Message}} bad{{end}}"><label for="f-{{.Name}}">{{words .Name}}</label>
<p class="hint" id="h-{{.Name}}">{{if .Now}}Now: {{.Now}}{{else}}Not set.{{end}}</p>
{{if .Values}}<select id="f-{{.Name}}" name="f.{{.Name}}" aria-describedby="h-{{.Name}}{{if .Message}} m-{{.Name}}{{end}}"><option value="">(unchanged)</option>{{$t := .Typed}}{{range .Values}}<option value="{{.}}"{{if eq . $t}} selected{{end}}>{{words .}}</option>{{end}}</select>
{{else}}<input id="f-{{.Name}}" name="f.{{.Name}}" type="text" value="{{.Typed}}" aria-describedby="h-{{.Name}}{{if .Message}} m-{{.Name}}{{end}}"{{if .Message}} aria-invalid="true"{{end}}>{{end}}
{{if .Message}}<p class="message" id="m-{{.Name}}">{{.Message}}</p>{{end}}
{{if .Now}}<label class="check"><input type="checkbox" name="x.{{.Name}}" value="1"{{if .Remove}} checked{{end}}> Remove {{words .Name}}</label>{{end}}</div>
{{end}}</div><button type="submit">Save the corrections</button></form>
<p><a href="/console/customers/{{.ID}}">Back to the customer</a></p>{{end}}`)
