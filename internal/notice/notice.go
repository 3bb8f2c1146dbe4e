// Package notice writes what a business must tell people about their data, from the one
// place that already says it: the data catalog (what is collected, why, on which legal basis,
// for how long) and the published privacy-policy versions (who is responsible, since when,
// what changed). The public privacy notice (/privacy, /privacy.json) and the records of
// processing GDPR Article 30 asks of a controller (/v1/processing-records) are two views of
// the same facts, so neither can say something the vault does not do.
package notice

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/consent"
)

// Input is what a notice is made from.
type Input struct {
	Catalog  *catalog.Catalog
	Policies []consent.Policy // every published version, in publication order
	Now      time.Time
	// PortalURL and RequestURL are where people use their rights: the privacy portal and
	// the self-service request route. Empty leaves them out.
	PortalURL, RequestURL string
	// Sources are the ways data reaches the vault (channels, connected platforms), and
	// Recipients who else receives it; both as the operator configured them.
	Sources    []Source
	Recipients []Recipient
}

// Source is one way customer data is collected.
type Source struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Recipient is someone the data is disclosed to, and for which purposes.
type Recipient struct {
	Name     string   `json:"name"`
	Purposes []string `json:"purposes"`
}

// Notice is the public privacy notice.
type Notice struct {
	Controller consent.Controller `json:"controller"`
	// Policy is the version in force; nil before any is.
	Policy      *PolicyRef  `json:"policy,omitempty"`
	Purposes    []Purpose   `json:"purposes"`
	Categories  []Category  `json:"categories"`
	Sources     []Source    `json:"sources"`
	Recipients  []Recipient `json:"recipients"`
	Rights      []Right     `json:"rights"`
	Versions    []Version   `json:"versions"`
	GeneratedAt time.Time   `json:"generated_at"`
}

// PolicyRef names a published policy version.
type PolicyRef struct {
	Version     string    `json:"version"`
	EffectiveAt time.Time `json:"effective_at"`
	URL         string    `json:"url,omitempty"`
	ContentHash string    `json:"content_hash"`
	Language    string    `json:"language,omitempty"`
}

// Purpose is why data is processed.
type Purpose struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	LegalBasis  string `json:"legal_basis"`
	// Basis says the legal basis in words, and what it means for the person.
	Basis string `json:"basis"`
	// Fields are the data used for it.
	Fields []string `json:"fields"`
	// Optional is true where the person decides: consent they may withdraw, or a legitimate
	// interest they may object to.
	Optional bool `json:"optional"`
	// GPC is true when a Global Privacy Control signal is honoured as an opt-out of it.
	GPC bool `json:"gpc"`
	// Generalised is true when the purpose sees data only coarsened (age bands, regions).
	Generalised bool `json:"generalised"`
}

// Category is a kind of personal data and the fields of it that are kept.
type Category struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Fields      []Field `json:"fields"`
}

// Field is one kind of data kept, why and how long.
type Field struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Purposes    []string `json:"purposes"`
	Retention   string   `json:"retention"`
	// Kept says the retention in words ("2 years after your last activity").
	Kept string `json:"kept"`
}

// Right is a data-subject right and how to use it.
type Right struct {
	Name string `json:"name"`
	Text string `json:"text"`
	URL  string `json:"url,omitempty"`
}

// Version is one published policy version and what it changed from the one before.
type Version struct {
	Version        string    `json:"version"`
	EffectiveAt    time.Time `json:"effective_at"`
	Purposes       []string  `json:"purposes"`
	Added          []string  `json:"added"`
	Removed        []string  `json:"removed"`
	MaterialChange []string  `json:"material_change"`
	InForce        bool      `json:"in_force"`
}

// bases says each legal basis in words.
var bases = map[catalog.LegalBasis]string{
	catalog.Consent:            "Your consent. You may withdraw it at any time, as easily as you gave it; what was done before stays lawful.",
	catalog.Contract:           "Needed to provide what you asked for under your contract with us.",
	catalog.LegitimateInterest: "Our legitimate interest, weighed against yours. You may object at any time.",
	catalog.LegalObligation:    "Required by law.",
}

// Build makes the notice. Only purposes that some field is declared for, and fields that
// are personal data, are listed: the notice says what is done, not what could be.
func Build(in Input) Notice {
	cat := in.Catalog
	n := Notice{GeneratedAt: in.Now.UTC(), Sources: in.Sources, Recipients: in.Recipients}
	if n.Sources == nil {
		n.Sources = []Source{}
	}
	if n.Recipients == nil {
		n.Recipients = []Recipient{}
	}
	ps := consent.Policies(in.Policies)
	if p, ok := ps.InForce(in.Now); ok {
		n.Controller = p.Controller
		n.Policy = &PolicyRef{Version: p.Version, EffectiveAt: p.EffectiveAt, URL: p.URL, ContentHash: p.ContentHash, Language: p.Language}
	}
	for _, p := range cat.Purposes {
		fields := personalFields(cat, p.Name)
		if len(fields) == 0 {
			continue
		}
		n.Purposes = append(n.Purposes, Purpose{Name: p.Name, Description: p.Description, LegalBasis: string(p.LegalBasis),
			Basis: bases[p.LegalBasis], Fields: fields, GPC: p.GPCOptOut, Generalised: p.GeneralizedOnly,
			Optional: p.LegalBasis == catalog.Consent || p.LegalBasis == catalog.LegitimateInterest})
	}
	for _, c := range cat.Categories {
		var fs []Field
		for _, f := range cat.Fields {
			if f.Category != c.Name || !personal(f) {
				continue
			}
			fs = append(fs, Field{Name: f.Name, Description: f.Description, Purposes: slices.Clone(f.Purposes),
				Retention: f.Retention.String(), Kept: Kept(f.Retention)})
		}
		if len(fs) > 0 {
			n.Categories = append(n.Categories, Category{Name: c.Name, Description: c.Description, Fields: fs})
		}
	}
	n.Rights = rights(in)
	n.Versions = versions(in.Policies, n.Policy)
	return n
}

// personal reports whether a field holds personal data (everything but non_personal ones).
func personal(f catalog.Field) bool { return f.Sensitivity != catalog.NonPersonal }

func personalFields(cat *catalog.Catalog, purpose string) []string {
	var out []string
	for _, f := range cat.FieldsFor(purpose) {
		if personal(f) {
			out = append(out, f.Name)
		}
	}
	return out
}

// Kept says a retention in words.
func Kept(r catalog.Retention) string {
	switch {
	case r.UntilErasure:
		return "until your data is erased, at your request or when the account is closed"
	case r.IsZero():
		return "not declared"
	}
	unit := map[catalog.RetentionUnit]string{catalog.Days: "day", catalog.Months: "month", catalog.Years: "year"}[r.Unit]
	if r.Amount != 1 {
		unit += "s"
	}
	return strconv.Itoa(r.Amount) + " " + unit + " after your last activity"
}

func rights(in Input) []Right {
	use := "Ask through the privacy portal"
	url := in.PortalURL
	if url == "" {
		url = in.RequestURL
		use = "Ask us"
	}
	rs := []Right{
		{Name: "access", Text: "To know whether we hold data about you and to get a copy of it, with what we use it for, where it came from and how long we keep it. " + use + "; the copy is a download."},
		{Name: "portability", Text: "To receive the data you gave us in a common machine-readable format (JSON and CSV). " + use + "."},
		{Name: "rectification", Text: "To have wrong data corrected and incomplete data completed. " + use + "."},
		{Name: "erasure", Text: "To have your data erased. Erasure destroys the key your data is encrypted with, so no copy, backup or log can be read afterwards; we keep only what the law requires and a keyed hash of your contact details so that we never write to you again. " + use + "."},
		{Name: "restriction", Text: "To have us stop using your data, except to keep it, while a dispute about it is settled. " + use + "."},
		{Name: "objection", Text: "To object to what we do on the basis of our legitimate interest, and to direct marketing at any time, which then stops. " + use + "."},
		{Name: "withdraw_consent", Text: "To withdraw any consent you gave, as easily as you gave it, without affecting what was done before. Every e-mail has an unsubscribe link."},
		{Name: "opt_out_of_sale_or_sharing", Text: "To tell us not to sell or share your personal information. A Global Privacy Control signal from your browser is honoured as this request."},
		{Name: "complain", Text: "To complain to a data protection supervisory authority, in particular where you live or work."},
	}
	for i := range rs {
		if rs[i].Name != "withdraw_consent" && rs[i].Name != "complain" && rs[i].Name != "opt_out_of_sale_or_sharing" {
			rs[i].URL = url
		}
	}
	return rs
}

// versions lists the published versions, newest first, each with the purposes it added and
// removed against the one before it.
func versions(ps []consent.Policy, inForce *PolicyRef) []Version {
	sorted := slices.Clone(ps)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	out := make([]Version, 0, len(sorted))
	var prev []string
	for _, p := range sorted {
		v := Version{Version: p.Version, EffectiveAt: p.EffectiveAt, Purposes: nonNil(p.Purposes), MaterialChange: nonNil(p.MaterialChange),
			Added: diff(p.Purposes, prev), Removed: diff(prev, p.Purposes), InForce: inForce != nil && inForce.Version == p.Version}
		prev = p.Purposes
		out = append(out, v)
	}
	slices.Reverse(out)
	return out
}

// diff is what a holds and b does not.
func diff(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Policies is where the published versions come from.
type Policies interface {
	// Published returns every published version in publication order: they are public
	// documents, so no permission is needed.
	Published(ctx context.Context) ([]consent.Policy, error)
}

// Service answers for the notice and the records.
type Service struct {
	catalog  *catalog.Catalog
	policies Policies
	clock    clock.Clock
	base     Input
	// more, when set, adds the sources connected now (the platforms that deliver data).
	more func(ctx context.Context) ([]Source, error)
	// recipients, when set, adds the recipients configured now (the destinations data is
	// sent to).
	recipients func(ctx context.Context) ([]Recipient, error)
}

// AddSources makes the notice also name what more returns, on every request.
func (s *Service) AddSources(more func(ctx context.Context) ([]Source, error)) { s.more = more }

// AddRecipients makes the notice and the records also name the recipients more returns, on
// every request: a destination added at run time is named from the moment it exists.
func (s *Service) AddRecipients(more func(ctx context.Context) ([]Recipient, error)) {
	s.recipients = more
}

// NewService builds the service; base holds the links, sources and recipients the operator
// configured (its Catalog, Policies and Now are ignored).
func NewService(cat *catalog.Catalog, ps Policies, clk clock.Clock, base Input) *Service {
	return &Service{catalog: cat, policies: ps, clock: clock.Or(clk), base: base}
}

func (s *Service) input(ctx context.Context) (Input, error) {
	ps, err := s.policies.Published(ctx)
	if err != nil {
		return Input{}, err
	}
	in := s.base
	in.Catalog, in.Policies, in.Now = s.catalog, ps, s.clock()
	if s.more != nil {
		extra, err := s.more(ctx)
		if err != nil {
			return Input{}, err
		}
		in.Sources = append(append([]Source{}, in.Sources...), extra...)
	}
	if s.recipients != nil {
		extra, err := s.recipients(ctx)
		if err != nil {
			return Input{}, err
		}
		in.Recipients = append(append([]Recipient{}, in.Recipients...), extra...)
	}
	return in, nil
}

// Notice returns the public notice; anyone may read it.
func (s *Service) Notice(ctx context.Context) (Notice, error) {
	in, err := s.input(ctx)
	if err != nil {
		return Notice{}, err
	}
	return Build(in), nil
}

// Records returns the records of processing. Needs catalog.read: they hold nothing personal,
// but they are the controller's own file, for staff and the supervisory authority.
func (s *Service) Records(ctx context.Context) ([]Record, error) {
	if _, err := authz.Require(ctx, s.catalog, catalog.PermCatalogRead); err != nil {
		return nil, err
	}
	in, err := s.input(ctx)
	if err != nil {
		return nil, err
	}
	return Records(in), nil
}
