// Package forms is the hosted forms a business puts on its site instead of building its own:
// sign-up, newsletter and preference forms declared in configuration, rendered by Steward,
// validated by the quality rules, writing the one profile and the consent ledger the lawful
// way — one unticked box per purpose, each tick recorded under the policy version shown, and
// e-mail marketing only once the address's holder confirms it (double opt-in).
//
// A form is public: anyone can submit anything in it, naming anyone. So a submission never
// overwrites what a customer said before (it fills what their profile lacks), and a consent
// for a purpose marked double_opt_in — and any consent for an address that already belongs to
// a customer — takes effect only when the link sent to that address is followed.
package forms

import (
	_ "embed"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stewardhq/steward/internal/catalog"
)

//go:embed default.yaml
var defaultYAML []byte

// Languages are the languages forms are written in.
var Languages = []string{"en", "de", "fr", "es"}

// Config is a forms file: the brand the pages wear and the forms.
type Config struct {
	Brand Brand  `yaml:"brand"`
	Forms []Form `yaml:"forms"`
	// EmbedOrigins are the shop's origins (scheme://host[:port]) whose pages may show the forms
	// in an iframe (Content-Security-Policy frame-ancestors); none means no framing at all.
	EmbedOrigins []string `yaml:"embed_origins"`
}

// Brand is how the pages look. Nothing in it may load from another host.
type Brand struct {
	Name   string `yaml:"name"`
	Logo   string `yaml:"logo"`
	Colors Colors `yaml:"colors"`
	Font   string `yaml:"font"`
}

// Colors are the three colours a page uses.
type Colors struct {
	Primary    string `yaml:"primary"`
	Background string `yaml:"background"`
	Text       string `yaml:"text"`
}

// Form is one hosted form.
type Form struct {
	Name      string            `yaml:"name"`
	Title     map[string]string `yaml:"title"`
	Fields    []FormField       `yaml:"fields"`
	Purposes  []FormPurpose     `yaml:"purposes"`
	Thanks    map[string]string `yaml:"thanks"`
	Redirect  string            `yaml:"redirect"`
	Languages []string          `yaml:"languages"`
	// MinFill is the fewest seconds between showing the form and a submission a person
	// could take; faster ones are refused as automated.
	MinFill int `yaml:"min_fill_seconds"`
	// ProofOfWork, when above 0, asks the page to find a number whose SHA-256 together with
	// the form's stamp starts with that many zero bits before it is sent: a second or so for
	// a person's browser, a real cost for a script sending thousands. It needs JavaScript.
	ProofOfWork int `yaml:"proof_of_work"`
}

// FormField is one input: a catalog field.
type FormField struct {
	Field    string `yaml:"field"`
	Required bool   `yaml:"required"`
}

// FormPurpose is one consent checkbox.
type FormPurpose struct {
	Purpose     string            `yaml:"purpose"`
	DoubleOptIn bool              `yaml:"double_opt_in"`
	Label       map[string]string `yaml:"label"`
}

// Default returns the built-in forms, checked against cat.
func Default(cat *catalog.Catalog) (*Config, error) { return Parse(defaultYAML, cat) }

var (
	namePattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	fontPattern  = regexp.MustCompile(`^[A-Za-z0-9 ,'-]{1,100}$`)
)

// fieldInputs are the catalog fields a form can ask for, with the input type they take.
// Others (derived figures, identifiers Steward assigns, special categories) are not for a
// public form to set.
var fieldInputs = map[string]string{
	"first_name": "text", "last_name": "text", "email": "email", "phone": "tel", "birth_date": "date",
	"address_line1": "text", "address_line2": "text", "city": "text", "region": "text", "postal_code": "text",
	"country": "text", "language": "text", "company": "text", "job_title": "text",
}

// Parse reads and checks a forms file against the catalog, naming every problem.
func Parse(b []byte, cat *catalog.Catalog) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("forms: %w", err)
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	c.Brand.check(bad)
	for i, o := range c.EmbedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || strings.ContainsAny(o, " ;,'*") {
			bad("embed_origins[%d]: must be an origin such as https://shop.example", i)
		}
	}
	seen := map[string]bool{}
	for i := range c.Forms {
		f := &c.Forms[i]
		at := fmt.Sprintf("forms[%d]", i)
		if !namePattern.MatchString(f.Name) || f.Name == "confirm" {
			bad("%s.name: must be lower-case letters, digits and dashes (not confirm)", at)
		}
		if seen[f.Name] {
			bad("%s.name: %q is declared twice", at, f.Name)
		}
		seen[f.Name] = true
		f.check(at, cat, bad)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("forms: %s", strings.Join(errs, "; "))
	}
	return &c, nil
}

func (b *Brand) check(bad func(string, ...any)) {
	if b.Name == "" {
		b.Name = "Our shop"
	}
	for name, c := range map[string]*string{"primary": &b.Colors.Primary, "background": &b.Colors.Background, "text": &b.Colors.Text} {
		def := map[string]string{"primary": "#0b57d0", "background": "#ffffff", "text": "#1a1a1a"}[name]
		if *c == "" {
			*c = def
		}
		if !colorPattern.MatchString(*c) {
			bad("brand.colors.%s: must be #rrggbb", name)
		}
	}
	if b.Font == "" {
		b.Font = "system-ui, sans-serif"
	}
	if !fontPattern.MatchString(b.Font) {
		bad("brand.font: family names only (letters, digits, spaces, commas)")
	}
	if b.Logo != "" && !strings.HasPrefix(b.Logo, "data:image/") && !(strings.HasPrefix(b.Logo, "/") && !strings.HasPrefix(b.Logo, "//")) {
		bad("brand.logo: must be a data:image/ URI or a path on this host; pages load nothing from other hosts")
	}
}

func (f *Form) check(at string, cat *catalog.Catalog, bad func(string, ...any)) {
	if len(f.Languages) == 0 {
		f.Languages = []string{"en"}
	}
	for _, l := range f.Languages {
		if !slices.Contains(Languages, l) {
			bad("%s.languages: %q is not one of %s", at, l, strings.Join(Languages, ", "))
		}
	}
	if f.MinFill == 0 {
		f.MinFill = 3
	}
	if f.MinFill < 0 || f.MinFill > 600 {
		bad("%s.min_fill_seconds: must be 0 to 600", at)
	}
	if f.ProofOfWork < 0 || f.ProofOfWork > 24 {
		bad("%s.proof_of_work: must be 0 (off) to 24 bits", at)
	}
	hasEmail := false
	for j, ff := range f.Fields {
		if _, ok := cat.Field(ff.Field); !ok {
			bad("%s.fields[%d]: %q is not a field of the catalog", at, j, ff.Field)
		} else if _, ok := fieldInputs[ff.Field]; !ok {
			bad("%s.fields[%d]: %q cannot be asked for in a public form", at, j, ff.Field)
		}
		hasEmail = hasEmail || ff.Field == "email" && ff.Required
	}
	if !hasEmail {
		bad("%s.fields: a required email field is needed (it identifies the customer and receives confirmations)", at)
	}
	for j, fp := range f.Purposes {
		p, ok := cat.Purpose(fp.Purpose)
		switch {
		case !ok:
			bad("%s.purposes[%d]: %q is not a purpose of the catalog", at, j, fp.Purpose)
		case p.LegalBasis != catalog.Consent:
			bad("%s.purposes[%d]: %q rests on %s, not consent; a checkbox would suggest a choice the customer does not have", at, j, fp.Purpose, p.LegalBasis)
		}
	}
	if f.Redirect != "" {
		u, err := url.Parse(f.Redirect)
		if err != nil || !(u.Scheme == "https" && u.Host != "" || u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/")) {
			bad("%s.redirect: must be a path on this host or an https URL", at)
		}
	}
}

// Find returns the form named name.
func (c *Config) Find(name string) (*Form, bool) {
	for i := range c.Forms {
		if c.Forms[i].Name == name {
			return &c.Forms[i], true
		}
	}
	return nil, false
}

// InputType is the HTML input type of a form field.
func InputType(field string) string { return fieldInputs[field] }

// Language picks the form's language: the one asked for when the form has it, else the
// first of accept (an Accept-Language header) it has, else its first.
func (f *Form) Language(asked, accept string) string {
	if slices.Contains(f.Languages, asked) {
		return asked
	}
	for _, part := range strings.Split(accept, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if slices.Contains(f.Languages, base) {
			return base
		}
	}
	return f.Languages[0]
}
