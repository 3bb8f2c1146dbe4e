package httpapi

import (
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/auth"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/staff"
)

// The console's pages for auditors and administrators: the audit trail with its filters and
// its verification, the quality of the customer base, and administration (staff, identity
// providers, API keys, the catalog in force).

var auditPageQuery = []param{
	{Name: "actor", Type: "string", Description: "Only entries by this actor: an id (staff:…, key:…, system) or a member of staff's e-mail address."},
	{Name: "customer", Type: "string", Description: "Only entries about this customer id."},
	{Name: "action", Type: "string", Description: "Only entries with this action (customer.read, staff.sign_in, …)."},
	{Name: "since", Type: "string", Description: "Only entries from this day on (YYYY-MM-DD, UTC)."},
	{Name: "until", Type: "string", Description: "Only entries before the end of this day (YYYY-MM-DD, UTC)."},
}

// auditPageSize is how many entries the audit page lists.
const auditPageSize = 100

type auditData struct {
	Actor, Customer, Action, Since, Until string
	Entries                               []audit.Entry
	Verified                              *audit.Report
	Break                                 *audit.Break
}

// auditFilter reads the audit page's filters; a bad one is Invalid, naming it.
func auditFilter(r *http.Request) (audit.Filter, auditData, error) {
	q := r.URL.Query()
	d := auditData{Actor: strings.TrimSpace(q.Get("actor")), Customer: strings.TrimSpace(q.Get("customer")), Action: strings.TrimSpace(q.Get("action")),
		Since: strings.TrimSpace(q.Get("since")), Until: strings.TrimSpace(q.Get("until"))}
	f := audit.Filter{ActorID: d.Actor, CustomerID: d.Customer, Action: d.Action, Limit: auditPageSize}
	if d.Customer != "" && !ident.Valid(d.Customer) {
		return f, d, problem.InvalidField("customer", "is not a valid customer id")
	}
	for _, day := range []struct {
		name, value string
		to          *time.Time
		plus        time.Duration
	}{{"since", d.Since, &f.Since, 0}, {"until", d.Until, &f.Until, 24*time.Hour - time.Microsecond}} {
		if day.value == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", day.value)
		if err != nil {
			return f, d, problem.InvalidField(day.name, "must be a day written YYYY-MM-DD")
		}
		*day.to = t.Add(day.plus)
	}
	return f, d, nil
}

func (s *Server) consoleAudit(w http.ResponseWriter, r *http.Request) error {
	v, _, r, ok, err := s.staffPage(w, r, "Audit", catalog.PermAuditRead)
	if !ok {
		return err
	}
	f, d, err := auditFilter(r)
	if err == nil && strings.Contains(f.ActorID, "@") {
		f.ActorID, err = s.Staff.ActorID(r.Context(), f.ActorID)
		if problem.Is(err, problem.NotFound) || problem.Is(err, problem.Invalid) {
			err = problem.InvalidField("actor", "no member of staff has this e-mail address")
		}
	}
	if err == nil {
		d.Entries, err = s.Audit.List(r.Context(), f)
	}
	status := http.StatusOK
	if problem.Is(err, problem.Invalid) {
		v.Error, status = problem.Detail(err), http.StatusUnprocessableEntity
	} else if err != nil {
		return err
	}
	v.Data = d
	return s.renderPage(w, status, auditTemplate, v)
}

// consoleAuditVerify walks the whole trail, as `steward audit verify` does, and shows the
// result: how much was checked, or the first entry that does not fit.
func (s *Server) consoleAuditVerify(w http.ResponseWriter, r *http.Request) error {
	v, _, r, ok, err := s.staffPage(w, r, "Audit", catalog.PermAuditRead)
	if !ok {
		return err
	}
	var d auditData
	rep, err := s.Audit.Check(r.Context())
	if b, isBreak := err.(*audit.Break); isBreak {
		d.Break = b
	} else if err != nil {
		return err
	} else {
		d.Verified = &rep
	}
	v.Data = d
	return s.renderPage(w, http.StatusOK, auditTemplate, v)
}

var auditTemplate = consolePageTemplate("audit", `{{with .Data}}
{{with .Verified}}<p role="status" class="ok"><strong>The trail is intact:</strong> {{.Entries}} entries in {{.Chains}} chains checked, against {{.Checkpoints}} signed checkpoints.</p>{{end}}
{{with .Break}}<p role="alert" class="error"><strong>The trail is broken</strong> at chain {{.Chain}}, entry {{.Seq}}: {{.Reason}}. Restore the database from a backup taken before, and keep this one for investigation.</p>{{end}}
<form method="get" action="/console/audit/verify"><button type="submit">Verify the whole trail</button></form>
<h2>Find entries</h2><form method="get" action="/console/audit" class="filters">
<div><label for="a-actor">Person (e-mail) or key (actor id)</label><input id="a-actor" name="actor" type="text" value="{{.Actor}}" placeholder="alex@shop.example"></div>
<div><label for="a-customer">Customer id</label><input id="a-customer" name="customer" type="text" value="{{.Customer}}"></div>
<div><label for="a-action">Action</label><input id="a-action" name="action" type="text" value="{{.Action}}" placeholder="customer.read"></div>
<div><label for="a-since">From (day)</label><input id="a-since" name="since" type="date" value="{{.Since}}"></div>
<div><label for="a-until">To (day)</label><input id="a-until" name="until" type="date" value="{{.Until}}"></div>
<div><button type="submit">Filter</button></div></form>
{{if .Entries}}<table><caption class="sr">Audit entries, newest first</caption><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Customer</th><th scope="col">Purpose</th><th scope="col">Outcome</th></tr></thead><tbody>
{{range .Entries}}<tr><td>{{when .Time}}</td><td><a href="/console/audit?actor={{.ActorID}}">{{.ActorID}}</a> ({{.ActorRole}})</td><td><a href="/console/audit?action={{.Action}}">{{.Action}}</a>{{with .Target}} <span class="hint">{{.}}</span>{{end}}</td>
<td>{{with .CustomerID}}<a href="/console/audit?customer={{.}}">{{.}}</a>{{end}}</td><td>{{words .Purpose}}</td><td>{{words .Outcome}}</td></tr>{{end}}</tbody></table>
{{else if not (or .Verified .Break)}}<p>No entries match.</p>{{end}}{{end}}`)

// qualityData is the quality page: the report and its charts.
type qualityData struct {
	Report                     quality.BaseReport
	Completeness, ContactChart template.HTML
	Statuses                   []chartPoint
}

func (s *Server) consoleQuality(w http.ResponseWriter, r *http.Request) error {
	v, _, r, ok, err := s.staffPage(w, r, "Quality", catalog.PermCustomersRead)
	if !ok {
		return err
	}
	rep, err := s.Duplicates.QualityReport(r.Context())
	if err != nil {
		return err
	}
	d := qualityData{Report: rep}
	var filled []chartPoint
	for _, c := range rep.Completeness {
		if c.Filled > 0 {
			filled = append(filled, chartPoint{Label: words(c.Field), Value: c.Share})
		}
	}
	d.Completeness = hbarChart("chart-complete", "Completeness per field",
		"Bars, one per field that any customer holds, of the share of the "+strconv.FormatInt(rep.Customers, 10)+" customers holding it.", filled, 1, percent)
	for _, st := range quality.Statuses() {
		d.Statuses = append(d.Statuses, chartPoint{Label: words(st), Value: float64(rep.ContactStatus[st])})
	}
	d.ContactChart = hbarChart("chart-status", "Customers by contact status",
		"Bars, one per contact status, of how many customers have it.", d.Statuses, 0, number)
	v.Data = d
	return s.renderPage(w, http.StatusOK, qualityTemplate, v)
}

var qualityTemplate = consolePageTemplate("quality", `{{with .Data}}{{with .Report}}
<dl class="figures"><div><dt>Customers</dt><dd>{{.Customers}}</dd></div><div><dt>Duplicates waiting for review</dt><dd><a href="/console/duplicates">{{.DuplicatesPending}}</a></dd></div>
<div><dt>Stale contacts (no engagement for {{.InactiveDays}} days)</dt><dd>{{.StaleContacts}}</dd></div><div><dt>Not yet checked by a scan</dt><dd>{{.Unchecked}}</dd></div></dl>
<p class="hint">Counted {{when .GeneratedAt}} (UTC).</p>{{end}}
<h2>Contact status</h2>{{.ContactChart}}
<details><summary>The numbers<span class="sr"> of contact status</span></summary><table><caption class="sr">Customers by contact status</caption><thead><tr><th scope="col">Status</th><th scope="col">Customers</th></tr></thead><tbody>
{{range .Statuses}}<tr><td>{{.Label}}</td><td>{{.Value}}</td></tr>{{end}}</tbody></table></details>
<h2>Completeness</h2>{{.Completeness}}
<details><summary>The numbers<span class="sr"> of completeness</span></summary><table><caption class="sr">Completeness per field</caption><thead><tr><th scope="col">Field</th><th scope="col">Customers holding it</th><th scope="col">Share</th></tr></thead><tbody>
{{range .Report.Completeness}}<tr><td>{{words .Field}}</td><td>{{.Filled}}</td><td>{{pct .Share}}</td></tr>{{end}}</tbody></table></details>{{end}}`)

// identityProvider is one way staff may sign in, as configured.
type identityProvider struct {
	Name, How string
	On        bool
	Groups    [][2]string
}

// identityProviders lists the sign-in methods and how each maps groups to roles; the
// configuration itself (flags, files, secrets) stays where it is.
func (s *Server) identityProviders() []identityProvider {
	return []identityProvider{
		{Name: "Password and a second factor (authenticator code or passkey)", How: "local accounts (steward staff add or invite)", On: true},
		{Name: "OpenID Connect", How: "--oidc-issuer and --oidc-client-id", On: s.OIDC != nil, Groups: s.OIDCRoles},
		{Name: "SAML 2.0", How: "--saml-idp-metadata", On: s.Identity.SAML != nil, Groups: s.Identity.SAMLRoles},
		{Name: "LDAP", How: "--ldap-url", On: s.Identity.LDAP != nil, Groups: s.Identity.LDAPRoles},
		{Name: "CAS 3.0", How: "--cas-url", On: s.CAS != nil, Groups: s.CASRoles},
	}
}

type adminData struct {
	Staff     []staff.Summary
	Keys      []auth.Key
	Providers []identityProvider
	Roles     []catalog.Role
	Catalog   *catalog.Catalog
	Owners    map[string]string // actor id → the person's e-mail address
	NewKey    string
	KeyName   string
	KeyRole   string
	KeyExpiry string
}

func (s *Server) consoleAdmin(w http.ResponseWriter, r *http.Request) error {
	v, _, r, ok, err := s.staffPage(w, r, "Administration", catalog.PermAPIKeysManage)
	if !ok {
		return err
	}
	d, err := s.adminPage(r)
	if err != nil {
		return err
	}
	v.Data, v.Done = d, r.URL.Query().Get("done")
	return s.renderPage(w, http.StatusOK, adminTemplate, v)
}

func (s *Server) adminPage(r *http.Request) (adminData, error) {
	d := adminData{Providers: s.identityProviders(), Catalog: s.Catalog}
	var err error
	if d.Staff, err = s.Staff.List(r.Context()); err != nil {
		return d, err
	}
	d.Owners = map[string]string{}
	for _, p := range d.Staff {
		d.Owners["staff:"+p.ID] = p.Email
	}
	if d.Keys, err = s.APIKeys.List(r.Context()); err != nil {
		return d, err
	}
	sort.SliceStable(d.Keys, func(i, j int) bool { return d.Keys[i].CreatedAt.After(d.Keys[j].CreatedAt) })
	d.Roles = s.Catalog.Roles
	return d, nil
}

// consoleDisableStaff turns a person's access off: their sessions and the keys they made
// stop working at once (staff.Service.Disable).
func (s *Server) consoleDisableStaff(w http.ResponseWriter, r *http.Request) error {
	_, a, r, vals, ok, err := s.staffForm(w, r, "Administration", catalog.PermAPIKeysManage)
	if !ok {
		return err
	}
	// Turning one's own access off from here would lock the person out mid-task; another
	// administrator, or steward staff disable on the server, does it.
	if strings.EqualFold(strings.TrimSpace(vals["email"]), a.Email) {
		return problem.InvalidField("email", "is your own account: ask another administrator to disable it")
	}
	if _, err := s.Staff.Disable(r.Context(), vals["email"]); err != nil {
		return err
	}
	return seeOther(w, "/console/admin?done=disabled")
}

// consoleCreateKey makes an API key and shows it once, on the page the form answers with;
// it is stored hashed and never shown again.
func (s *Server) consoleCreateKey(w http.ResponseWriter, r *http.Request) error {
	v, _, r, vals, ok, err := s.staffForm(w, r, "Administration", catalog.PermAPIKeysManage)
	if !ok {
		return err
	}
	var expires *time.Time
	if day := strings.TrimSpace(vals["expires"]); day != "" {
		t, err := time.Parse("2006-01-02", day)
		if err != nil {
			return problem.InvalidField("expires", "must be a day written YYYY-MM-DD")
		}
		expires = &t
	}
	secret, k, err := s.APIKeys.CreateExpiring(r.Context(), vals["role"], vals["name"], expires)
	status := http.StatusOK
	if problem.Is(err, problem.Invalid) || problem.Is(err, problem.Forbidden) {
		v.Error, status = "No key was made: "+problem.Detail(err), http.StatusUnprocessableEntity
	} else if err != nil {
		return err
	}
	d, err := s.adminPage(r)
	if err != nil {
		return err
	}
	if secret != "" {
		d.NewKey, v.Done = secret, "key "+k.Hint+" made"
	} else {
		d.KeyName, d.KeyRole, d.KeyExpiry = vals["name"], vals["role"], vals["expires"]
	}
	v.Data = d
	return s.renderPage(w, status, adminTemplate, v)
}

func (s *Server) consoleRevokeKey(w http.ResponseWriter, r *http.Request) error {
	_, _, r, _, ok, err := s.staffForm(w, r, "Administration", catalog.PermAPIKeysManage)
	if !ok {
		return err
	}
	if err := s.APIKeys.Revoke(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return seeOther(w, "/console/admin?done=revoked")
}

var adminTemplate = consolePageTemplate("admin", `{{if .Done}}<p role="status">Done: {{words .Done}}.</p>{{end}}{{with .Data}}
{{with .NewKey}}<div class="newkey" role="region" aria-label="The new key"><p><strong>Copy the new key now:</strong> it is shown this once and stored only as a hash.</p><p><code>{{.}}</code></p></div>{{end}}
<h2>Staff</h2><table><caption class="sr">Staff accounts</caption><thead><tr><th scope="col">Person</th><th scope="col">Role</th><th scope="col">Second factor</th><th scope="col">Since</th><th scope="col">Access</th></tr></thead><tbody>
{{range .Staff}}<tr><td>{{.Email}}</td><td>{{.Role}}</td><td>{{if .SecondFactor}}set up{{else}}set up at first sign-in, or by the identity provider{{end}}{{if not .LockedUntil.IsZero}}; locked until {{when .LockedUntil}}{{end}}</td><td>{{date .CreatedAt}}</td>
<td>{{if .Disabled}}disabled{{else if eq .Email $.Email}}you{{else}}<form method="post" action="/console/admin/staff/disable"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="email" value="{{.Email}}"><button type="submit">Disable<span class="sr"> {{.Email}}</span></button></form>{{end}}</td></tr>
{{else}}<tr><td colspan="5">No staff accounts yet: add one with steward staff add.</td></tr>{{end}}</tbody></table>
<h2>Identity providers</h2><table><caption class="sr">Ways to sign in</caption><thead><tr><th scope="col">Provider</th><th scope="col">State</th><th scope="col">Groups and the roles they give</th></tr></thead><tbody>
{{range .Providers}}<tr><td>{{.Name}}</td><td>{{if .On}}configured{{else}}not configured ({{.How}}){{end}}</td><td>{{range .Groups}}{{index . 0}} → {{index . 1}}<br>{{else}}—{{end}}</td></tr>{{end}}</tbody></table>
<p class="hint">Providers are configured with flags or the configuration file; this page only shows them.</p>
<h2>API keys</h2><table><caption class="sr">API keys, newest first</caption><thead><tr><th scope="col">Key</th><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Made by</th><th scope="col">Expires</th><th scope="col">State</th></tr></thead><tbody>
{{range .Keys}}<tr><td><code>{{.Hint}}…</code></td><td>{{.Name}}</td><td>{{.Role}}</td><td>{{or (index $.Data.Owners .Owner) .Owner}}</td><td>{{with .ExpiresAt}}{{date .}}{{else}}never{{end}}</td>
<td>{{if .RevokedAt}}revoked {{date .RevokedAt}}{{else}}<form method="post" action="/console/admin/keys/{{.ID}}/revoke"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button type="submit">Revoke<span class="sr"> {{.Hint}}</span></button></form>{{end}}</td></tr>
{{else}}<tr><td colspan="6">No keys.</td></tr>{{end}}</tbody></table>
<h3>Make a key</h3><form method="post" action="/console/admin/keys"><input type="hidden" name="csrf" value="{{$.CSRF}}">
<label for="k-name">Name (what uses it)</label><input id="k-name" name="name" type="text" value="{{.KeyName}}" required>
<label for="k-role">Role</label><select id="k-role" name="role">{{$r := .KeyRole}}{{range .Roles}}<option value="{{.Name}}"{{if eq .Name $r}} selected{{end}}>{{.Name}}</option>{{end}}</select>
<label for="k-expires">Expires on (optional)</label><input id="k-expires" name="expires" type="date" value="{{.KeyExpiry}}">
<button type="submit">Make the key</button></form>
<h2>The catalog in force</h2><p>{{len .Catalog.Fields}} fields, {{len .Catalog.Purposes}} purposes, {{len .Catalog.Roles}} roles. <code>GET /v1/catalog</code> gives it whole.</p>
<h3>Purposes</h3><table><caption class="sr">Purposes</caption><thead><tr><th scope="col">Purpose</th><th scope="col">Legal basis</th><th scope="col">Description</th></tr></thead><tbody>
{{range .Catalog.Purposes}}<tr><td>{{words .Name}}</td><td>{{words (print .LegalBasis)}}</td><td>{{.Description}}</td></tr>{{end}}</tbody></table>
<h3>Roles</h3><table><caption class="sr">Roles</caption><thead><tr><th scope="col">Role</th><th scope="col">May act for</th><th scope="col">Permissions</th></tr></thead><tbody>
{{range .Roles}}<tr><td>{{.Name}}</td><td>{{range $i, $p := .Purposes}}{{if $i}}, {{end}}{{words $p}}{{end}}</td><td>{{range $i, $p := .Permissions}}{{if $i}}, {{end}}{{$p}}{{end}}</td></tr>{{end}}</tbody></table>
<details><summary>Fields ({{len .Catalog.Fields}})</summary><table><caption class="sr">Fields</caption><thead><tr><th scope="col">Field</th><th scope="col">Category</th><th scope="col">Sensitivity</th><th scope="col">Retention</th></tr></thead><tbody>
{{range .Catalog.Fields}}<tr><td>{{words .Name}}</td><td>{{words .Category}}</td><td>{{words (print .Sensitivity)}}</td><td>{{words (print .Retention)}}</td></tr>{{end}}</tbody></table></details>{{end}}`)
