// Package banner is the consent banner a shop adds to its pages with one script tag
// (/consent.js): Accept, Reject and Customise equally easy, one choice per consent-manager
// category the catalog declares, the browser's Global Privacy Control signal honoured, each
// choice sent through a browser-safe (collect) key into the consent ledger under the policy
// version in force, and asked again when a new version materially changes what a category
// covers. The script is generated from the catalog and the published policies, so it offers
// exactly the choices the ledger can record, and it loads nothing from anywhere else.
package banner

import (
	_ "embed"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
)

//go:embed consent.js
var script string

// Config is what the script is given.
type Config struct {
	Categories []Category `json:"categories"`
	// Policy and PolicySeq are the version in force ("" and 0 before any); AskAfter is the
	// publication number of the newest version that materially changed a banner purpose: a
	// choice made before it is asked for again.
	Policy    string          `json:"policy"`
	PolicySeq int64           `json:"policySeq"`
	AskAfter  int64           `json:"askAfter"`
	Text      map[string]Text `json:"text"`
}

// Category is one choice.
type Category struct {
	Name        string            `json:"name"`
	Label       map[string]string `json:"label"`
	Description string            `json:"description"`
	Purposes    []string          `json:"purposes"`
	// GPC is true when a Global Privacy Control signal says no to it.
	GPC bool `json:"gpc"`
}

// Text is the banner's words in one language.
type Text struct {
	Title     string `json:"title"`
	Body      string `json:"body"`
	Accept    string `json:"accept"`
	Reject    string `json:"reject"`
	Customise string `json:"customise"`
	Save      string `json:"save"`
	Privacy   string `json:"privacy"`
	GPC       string `json:"gpc"`
}

var texts = map[string]Text{
	"en": {"Your choices", "We would like to use your data for the purposes below. Nothing of this happens unless you say yes, and you can change your mind at any time.",
		"Accept all", "Reject all", "Customise", "Save choices", "Our privacy notice", "Your browser's Global Privacy Control signal says no to sharing and personalisation; we honour it."},
	"de": {"Ihre Auswahl", "Wir möchten Ihre Daten für die folgenden Zwecke nutzen. Nichts davon geschieht ohne Ihr Ja, und Sie können Ihre Wahl jederzeit ändern.",
		"Alle akzeptieren", "Alle ablehnen", "Anpassen", "Auswahl speichern", "Unsere Datenschutzerklärung", "Das Global-Privacy-Control-Signal Ihres Browsers lehnt Weitergabe und Personalisierung ab; wir halten uns daran."},
	"fr": {"Vos choix", "Nous aimerions utiliser vos données pour les finalités ci-dessous. Rien de cela ne se fait sans votre accord, et vous pouvez changer d'avis à tout moment.",
		"Tout accepter", "Tout refuser", "Personnaliser", "Enregistrer mes choix", "Notre politique de confidentialité", "Le signal Global Privacy Control de votre navigateur refuse le partage et la personnalisation ; nous le respectons."},
	"es": {"Tus opciones", "Nos gustaría usar tus datos para los fines siguientes. Nada de esto ocurre sin tu sí, y puedes cambiar de opinión en cualquier momento.",
		"Aceptar todo", "Rechazar todo", "Personalizar", "Guardar opciones", "Nuestra política de privacidad", "La señal Global Privacy Control de tu navegador rechaza compartir y personalizar; la respetamos."},
}

var labels = map[string]map[string]string{
	"analytics":       {"en": "Analytics", "de": "Statistik", "fr": "Mesure d'audience", "es": "Analítica"},
	"personalization": {"en": "Personalisation", "de": "Personalisierung", "fr": "Personnalisation", "es": "Personalización"},
	"advertising":     {"en": "Advertising", "de": "Werbung", "fr": "Publicité", "es": "Publicidad"},
	"marketing":       {"en": "Marketing", "de": "Marketing", "fr": "Marketing", "es": "Marketing"},
}

// Build makes the banner's configuration. A category is offered when one of its purposes
// may be chosen in a browser: a consent or legitimate-interest purpose that reaches nobody by
// e-mail or text message (those need a confirmed address, see the hosted forms).
func Build(cat *catalog.Catalog, policies []consent.Policy, now time.Time) Config {
	c := Config{Text: texts, Categories: []Category{}}
	inForce, ok := consent.Policies(policies).InForce(now)
	if ok {
		c.Policy, c.PolicySeq = inForce.Version, inForce.Seq
	}
	var names []string
	for _, p := range cat.Purposes {
		for _, name := range p.ConsentCategories {
			if !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) }) {
				names = append(names, name)
			}
		}
	}
	for _, name := range names {
		k := Category{Name: name, Purposes: []string{}}
		var desc []string
		for _, p := range cat.CategoryPurposes(name) {
			if p.Channel != "" || (p.LegalBasis != catalog.Consent && p.LegalBasis != catalog.LegitimateInterest) {
				continue
			}
			k.Purposes = append(k.Purposes, p.Name)
			k.GPC = k.GPC || p.GPCOptOut
			desc = append(desc, p.Description)
		}
		if len(k.Purposes) == 0 {
			continue
		}
		k.Description = strings.Join(desc, " ")
		k.Label = labels[strings.ToLower(name)]
		if k.Label == nil {
			k.Label = map[string]string{"en": name}
		}
		c.Categories = append(c.Categories, k)
	}
	for _, p := range policies {
		if p.Seq > c.PolicySeq || p.Seq <= c.AskAfter {
			continue
		}
		for _, k := range c.Categories {
			if slices.ContainsFunc(k.Purposes, func(n string) bool { return slices.Contains(p.MaterialChange, n) }) {
				c.AskAfter = p.Seq
			}
		}
	}
	return c
}

// Script returns the banner's JavaScript with its configuration.
func Script(c Config) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(script)+len(b)+4)
	out = append(out, script...)
	out = append(out, '(')
	out = append(out, b...)
	return append(out, ");\n"...), nil
}
