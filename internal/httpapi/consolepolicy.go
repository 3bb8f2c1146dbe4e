package httpapi

import (
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/stewardhq/steward/internal/activity"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/problem"
)

// The consent and policy page: the published privacy-policy versions, what changed from one
// to the next (the text line by line, the purposes added and dropped, the purposes changed
// materially, whose earlier consents lapse), a form to publish the next version through
// the same service as POST /v1/policies, and the consent rate of each consent purpose over
// the last weeks.

// diffLine is one line of a comparison: Op is " " (in both), "-" (only in the older) or
// "+" (only in the newer).
type diffLine struct {
	Op   string
	Text string
}

// maxDiffCells bounds the comparison table (lines of one text times lines of the other,
// after the common beginning and end are set aside); longer rewrites are shown as the old
// lines removed and the new ones added.
const maxDiffCells = 4_000_000

// lineDiff compares two texts line by line (a longest common subsequence), so a reader sees
// which sentences a new policy version changed.
func lineDiff(older, newer string) []diffLine {
	a, b := strings.Split(older, "\n"), strings.Split(newer, "\n")
	if older == "" {
		a = nil
	}
	if newer == "" {
		b = nil
	}
	var out []diffLine
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		out = append(out, diffLine{" ", a[pre]})
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	if len(ma)*len(mb) > maxDiffCells {
		for _, l := range ma {
			out = append(out, diffLine{"-", l})
		}
		for _, l := range mb {
			out = append(out, diffLine{"+", l})
		}
	} else {
		// lcs[i][j] is the longest common subsequence of ma[i:] and mb[j:].
		lcs := make([][]int32, len(ma)+1)
		for i := range lcs {
			lcs[i] = make([]int32, len(mb)+1)
		}
		for i := len(ma) - 1; i >= 0; i-- {
			for j := len(mb) - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(ma) || j < len(mb) {
			switch {
			case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
				out = append(out, diffLine{" ", ma[i]})
				i, j = i+1, j+1
			case j < len(mb) && (i == len(ma) || lcs[i][j+1] >= lcs[i+1][j]):
				out = append(out, diffLine{"+", mb[j]})
				j++
			default:
				out = append(out, diffLine{"-", ma[i]})
				i++
			}
		}
	}
	for _, l := range a[len(a)-suf:] {
		out = append(out, diffLine{" ", l})
	}
	return out
}

// policyChange is a version beside the one before it.
type policyChange struct {
	Older, Newer     *consent.Policy
	Lines            []diffLine
	Added, Dropped   []string // purposes
	Material         []string
	SameText, NoText bool
}

func comparePolicies(older *consent.Policy, newer consent.Policy) policyChange {
	c := policyChange{Older: older, Newer: &newer, Material: newer.MaterialChange}
	var before []string
	if older != nil {
		before = older.Purposes
		c.SameText = older.ContentHash == newer.ContentHash
		c.NoText = older.Text == "" && older.URL != "" || newer.Text == "" && newer.URL != ""
		if !c.NoText && !c.SameText {
			c.Lines = lineDiff(older.Text, newer.Text)
		}
	}
	for _, p := range newer.Purposes {
		if !slices.Contains(before, p) {
			c.Added = append(c.Added, p)
		}
	}
	for _, p := range before {
		if !slices.Contains(newer.Purposes, p) {
			c.Dropped = append(c.Dropped, p)
		}
	}
	return c
}

// rateWeeks is how many weeks the consent-rate chart covers.
const rateWeeks = 12

type policyData struct {
	List      consent.PolicyList
	Change    *policyChange
	MayWrite  bool
	Purposes  []purposeBox
	Draft     consent.PolicyInput
	Rates     []activity.PurposeRates
	RatesSVG  template.HTML
	WeekStart []string
}

// purposeBox is one purpose of the publish form, with its two boxes' states.
type purposeBox struct {
	Name, Basis       string
	Covered, Material bool
}

func (s *Server) consolePolicies(w http.ResponseWriter, r *http.Request) error {
	v, a, r, ok, err := s.staffPage(w, r, "Consent", catalog.PermCatalogRead)
	if !ok {
		return err
	}
	d, err := s.policyPage(r, a.Role, r.URL.Query().Get("version"), consent.PolicyInput{}, nil)
	if err != nil {
		return err
	}
	v.Data, v.Done = d, r.URL.Query().Get("published")
	return s.renderPage(w, http.StatusOK, policyTemplate, v)
}

// policyPage gathers the page: the versions, the chosen one against its predecessor, the
// publish form (the draft, or the newest version's values to start from) and the rates.
func (s *Server) policyPage(r *http.Request, role, version string, draft consent.PolicyInput, checked map[string]string) (policyData, error) {
	ctx := r.Context()
	list, err := s.Consents.Policies(ctx)
	if err != nil {
		return policyData{}, err
	}
	d := policyData{List: list, MayWrite: s.Catalog.RoleHas(role, catalog.PermPoliciesWrite)}
	if n := len(list.Data); n > 0 {
		i := n - 1
		if version != "" {
			if i = slices.IndexFunc(list.Data, func(p consent.Policy) bool { return p.Version == version }); i < 0 {
				return policyData{}, problem.NotFoundf("no policy version %q", version)
			}
		}
		newer, err := s.Consents.Policy(ctx, list.Data[i].Version)
		if err != nil {
			return policyData{}, err
		}
		var older *consent.Policy
		if i > 0 {
			p, err := s.Consents.Policy(ctx, list.Data[i-1].Version)
			if err != nil {
				return policyData{}, err
			}
			older = &p
		}
		c := comparePolicies(older, newer)
		d.Change = &c
		if checked == nil && i == n-1 {
			draft = consent.PolicyInput{Text: newer.Text, URL: newer.URL, Purposes: newer.Purposes, Controller: newer.Controller, Language: newer.Language}
		}
	}
	d.Draft = draft
	for _, p := range s.Catalog.Purposes {
		d.Purposes = append(d.Purposes, purposeBox{Name: p.Name, Basis: string(p.LegalBasis),
			Covered: slices.Contains(draft.Purposes, p.Name), Material: slices.Contains(draft.MaterialChange, p.Name)})
	}
	if s.Activity != nil && s.Catalog.RoleHas(role, catalog.PermCustomersRead) {
		if d.Rates, err = s.Activity.ConsentRates(ctx, rateWeeks, 7); err != nil {
			return policyData{}, err
		}
		var series []chartSeries
		for _, pr := range d.Rates {
			sr := chartSeries{Name: pr.Purpose}
			for _, rt := range pr.Rates {
				share := math.NaN()
				if rt.Total > 0 {
					share = rt.Share()
				}
				sr.Values = append(sr.Values, share)
			}
			series = append(series, sr)
		}
		if len(d.Rates) > 0 {
			for _, rt := range d.Rates[0].Rates {
				d.WeekStart = append(d.WeekStart, rt.Start.Format("2 Jan"))
			}
		}
		d.RatesSVG = lineChart("chart-rates", "Consent rate per purpose, by week",
			"Lines, one per consent purpose, of the share of consent choices recorded each week that gave consent, over the last "+
				strconv.Itoa(rateWeeks)+" weeks; a week with no choices has no point.", d.WeekStart, series, 1, percent)
	}
	return d, nil
}

// consolePublish publishes the next policy version from the form, through the service the
// API uses; a refused version is shown again with the reason and nothing published.
func (s *Server) consolePublish(w http.ResponseWriter, r *http.Request) error {
	v, a, r, vals, ok, err := s.staffForm(w, r, "Consent", catalog.PermPoliciesWrite)
	if !ok {
		return err
	}
	in := consent.PolicyInput{Version: strings.TrimSpace(vals["version"]), Text: strings.ReplaceAll(vals["text"], "\r\n", "\n"),
		URL: strings.TrimSpace(vals["url"]), Language: strings.TrimSpace(vals["language"]),
		Controller: consent.Controller{Name: strings.TrimSpace(vals["controller_name"]), Contact: strings.TrimSpace(vals["controller_contact"])}}
	for _, p := range s.Catalog.Purposes {
		if vals["p."+p.Name] != "" {
			in.Purposes = append(in.Purposes, p.Name)
		}
		if vals["m."+p.Name] != "" {
			in.MaterialChange = append(in.MaterialChange, p.Name)
		}
	}
	p, err := s.Consents.PublishPolicy(r.Context(), in)
	if err == nil {
		return seeOther(w, "/console/policies?published="+p.Version)
	}
	if !problem.Is(err, problem.Invalid) && !problem.Is(err, problem.Conflict) {
		return err
	}
	d, derr := s.policyPage(r, a.Role, "", in, vals)
	if derr != nil {
		return derr
	}
	v.Error = "Not published: " + problem.Detail(err)
	v.Data = d
	return s.renderPage(w, http.StatusUnprocessableEntity, policyTemplate, v)
}

var policyTemplate = consolePageTemplate("policies", `{{if .Done}}<p role="status">Published version {{.Done}}.</p>{{end}}
{{with .Data}}<h2>Published versions</h2>
{{if .List.Data}}<table><caption class="sr">Privacy-policy versions, oldest first</caption><thead><tr><th scope="col">Version</th><th scope="col">In force from</th><th scope="col">Purposes</th><th scope="col">Changed materially</th><th scope="col">Compare</th></tr></thead><tbody>
{{range .List.Data}}<tr><td>{{.Version}}{{if eq .Version $.Data.List.InForce}} <strong>(in force)</strong>{{end}}</td><td>{{date .EffectiveAt}}</td><td>{{range $i, $p := .Purposes}}{{if $i}}, {{end}}{{words $p}}{{end}}</td>
<td>{{range $i, $p := .MaterialChange}}{{if $i}}, {{end}}{{words $p}}{{else}}none{{end}}</td><td><a href="/console/policies?version={{.Version}}">Changes in {{.Version}}</a></td></tr>{{end}}</tbody></table>
{{else}}<p>No policy has been published yet: consent can be recorded only under a published version.</p>{{end}}
{{with .Change}}<h2>What version {{.Newer.Version}} changed{{with .Older}} from {{.Version}}{{end}}</h2>
{{if .Material}}<p class="material"><strong>Material change</strong> for {{range $i, $p := .Material}}{{if $i}}, {{end}}{{words $p}}{{end}}: consents given under earlier versions no longer count for these purposes; customers are asked again.</p>{{else}}<p>No material change: consents given under earlier versions still count.</p>{{end}}
{{if .Added}}<p>Purposes added: {{range $i, $p := .Added}}{{if $i}}, {{end}}{{words $p}}{{end}}.</p>{{end}}
{{if .Dropped}}<p>Purposes dropped: {{range $i, $p := .Dropped}}{{if $i}}, {{end}}{{words $p}}{{end}}.</p>{{end}}
{{if not .Older}}<p>The first version: nothing to compare it with.</p>{{else if .SameText}}<p>The text is unchanged.</p>{{else if .NoText}}<p>One of the texts is kept elsewhere (by address): the content hash changed from <code>{{.Older.ContentHash}}</code> to <code>{{.Newer.ContentHash}}</code>.</p>
{{else}}<div class="diff" role="region" aria-label="Changes to the text" tabindex="0"><pre>{{range .Lines}}{{if eq .Op "+"}}<ins><span class="sr">added: </span>+ {{.Text}}</ins>{{else if eq .Op "-"}}<del><span class="sr">removed: </span>- {{.Text}}</del>{{else}}<span>  {{.Text}}</span>{{end}}{{end}}</pre></div>{{end}}{{end}}
{{if .RatesSVG}}<h2>Consent rates</h2>{{.RatesSVG}}
<details><summary>The numbers<span class="sr"> of the consent rates</span></summary><table><caption class="sr">Consent choices per purpose and week</caption><thead><tr><th scope="col">Purpose</th>{{range .WeekStart}}<th scope="col">{{.}}</th>{{end}}</tr></thead><tbody>
{{range .Rates}}<tr><th scope="row">{{words .Purpose}}</th>{{range .Rates}}<td>{{if .Total}}{{pct .Share}} of {{.Total}}{{else}}none{{end}}</td>{{end}}</tr>{{end}}</tbody></table></details>{{end}}
{{if .MayWrite}}<h2>Publish the next version</h2>
<form method="post" action="/console/policies"><input type="hidden" name="csrf" value="{{$.CSRF}}">
<label for="p-version">Version</label><input id="p-version" name="version" type="text" value="{{.Draft.Version}}" required>
<label for="p-text">Text</label><textarea id="p-text" name="text" rows="12">{{.Draft.Text}}</textarea>
<label for="p-url">Or the address where it is published</label><input id="p-url" name="url" type="text" value="{{.Draft.URL}}">
<label for="p-lang">Language</label><input id="p-lang" name="language" type="text" value="{{.Draft.Language}}">
<label for="p-cname">Controller</label><input id="p-cname" name="controller_name" type="text" value="{{.Draft.Controller.Name}}">
<label for="p-ccontact">Controller's contact</label><input id="p-ccontact" name="controller_contact" type="text" value="{{.Draft.Controller.Contact}}">
<table><caption>Purposes this version covers</caption><thead><tr><th scope="col">Purpose</th><th scope="col">Legal basis</th><th scope="col">Covered</th><th scope="col">Changed materially</th></tr></thead><tbody>
{{range .Purposes}}<tr><th scope="row">{{words .Name}}</th><td>{{words .Basis}}</td><td><input type="checkbox" name="p.{{.Name}}" value="1" aria-label="{{words .Name}}: covered"{{if .Covered}} checked{{end}}></td>
<td><input type="checkbox" name="m.{{.Name}}" value="1" aria-label="{{words .Name}}: changed materially"{{if .Material}} checked{{end}}></td></tr>{{end}}</tbody></table>
<button type="submit">Publish</button></form>{{end}}{{end}}`)
