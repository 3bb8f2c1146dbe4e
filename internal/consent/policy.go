package consent

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

// Policy is one published version of the privacy policy. Consent is given under a version, so a
// receipt can say exactly which text the customer saw; versions never change once published.
type Policy struct {
	Version string `json:"version"`
	// Seq is the publication order, 1 for the first version.
	Seq         int64     `json:"seq"`
	EffectiveAt time.Time `json:"effective_at"`
	// Text is the policy itself, when it is kept in Steward; URL points to it otherwise.
	// ContentHash ("sha256:" and 64 hex digits) pins the text either way.
	Text        string `json:"text,omitempty"`
	URL         string `json:"url,omitempty"`
	ContentHash string `json:"content_hash"`
	Language    string `json:"language,omitempty"`
	// Controller is who the policy says is responsible for the data; receipts name it.
	Controller Controller `json:"controller"`
	// Purposes are the purposes the policy covers; consent may be given only for these.
	Purposes []string `json:"purposes"`
	// MaterialChange lists the purposes whose earlier consents no longer count once this
	// version is in force: customers must consent again.
	MaterialChange []string  `json:"material_change"`
	PublishedAt    time.Time `json:"published_at"`
	PublishedBy    string    `json:"published_by"`
}

// Controller names the data controller as the policy states it.
type Controller struct {
	Name    string `json:"name,omitempty"`
	Contact string `json:"contact,omitempty"`
}

// PolicyInput is a request to publish a version.
type PolicyInput struct {
	Version        string     `json:"version"`
	EffectiveAt    *time.Time `json:"effective_at"`
	Text           string     `json:"text"`
	URL            string     `json:"url"`
	ContentHash    string     `json:"content_hash"`
	Language       string     `json:"language"`
	Controller     Controller `json:"controller"`
	Purposes       []string   `json:"purposes"`
	MaterialChange []string   `json:"material_change"`
}

// MaxPolicyText bounds a policy kept in Steward: real policies are tens of kilobytes.
const MaxPolicyText = 256 << 10

// backdateSlack is how far in the past effective_at may lie, to absorb clock skew between the
// caller and the server; anything earlier would let a policy claim to have been in force
// before anyone could read it.
const backdateSlack = 5 * time.Minute

var (
	versionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	hashPattern    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// ContentHash is the hash that pins a policy text.
func ContentHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// newPolicy validates in against the catalog and the policies already published (in
// publication order) and returns the policy to store. Errors are Invalid and name the field.
func newPolicy(cat *catalog.Catalog, in PolicyInput, published []Policy, now time.Time) (Policy, error) {
	p := Policy{Version: in.Version, Language: in.Language, PublishedAt: now}
	if !versionPattern.MatchString(in.Version) {
		return p, problem.InvalidField("version", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	for _, old := range published {
		if old.Version == in.Version {
			return p, problem.Conflictf("version: %q is already published; published versions never change, so publish a new version", in.Version)
		}
	}
	p.EffectiveAt = now
	if in.EffectiveAt != nil {
		p.EffectiveAt = in.EffectiveAt.UTC().Truncate(time.Microsecond)
		if p.EffectiveAt.Before(now.Add(-backdateSlack)) {
			return p, problem.InvalidField("effective_at", "must not be in the past; a policy takes effect when it is published or later")
		}
	}
	if n := len(published); n > 0 && p.EffectiveAt.Before(published[n-1].EffectiveAt) {
		return p, problem.InvalidField("effective_at", "must not be before %s, when version %q takes effect; versions take effect in the order they are published",
			published[n-1].EffectiveAt.Format(time.RFC3339), published[n-1].Version)
	}
	switch {
	case in.Text == "" && in.URL == "":
		return p, problem.InvalidField("text", "give the policy text, or its url and content_hash")
	case len(in.Text) > MaxPolicyText:
		return p, problem.InvalidField("text", "must be at most %d bytes", MaxPolicyText)
	case in.Text != "" && !utf8.ValidString(in.Text):
		return p, problem.InvalidField("text", "must be UTF-8 text")
	}
	if in.URL != "" {
		u, err := url.Parse(in.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(in.URL) > 2048 {
			return p, problem.InvalidField("url", "must be an absolute http or https URL of at most 2048 characters")
		}
		p.URL = in.URL
	}
	if in.ContentHash != "" && !hashPattern.MatchString(in.ContentHash) {
		return p, problem.InvalidField("content_hash", "must be \"sha256:\" followed by 64 lower-case hex digits")
	}
	if in.Text != "" {
		p.Text = in.Text
		p.ContentHash = ContentHash(in.Text)
		if in.ContentHash != "" && in.ContentHash != p.ContentHash {
			return p, problem.InvalidField("content_hash", "does not match the text")
		}
	} else {
		if in.ContentHash == "" {
			return p, problem.InvalidField("content_hash", "is required with url, so that receipts pin the text the customer saw")
		}
		p.ContentHash = in.ContentHash
	}
	if len(in.Language) > 35 || strings.ContainsFunc(in.Language, func(r rune) bool {
		return !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		return p, problem.InvalidField("language", "must be a BCP 47 language tag")
	}
	if err := checkText("controller.name", in.Controller.Name, 200); err != nil {
		return p, err
	}
	if err := checkText("controller.contact", in.Controller.Contact, 200); err != nil {
		return p, err
	}
	p.Controller = in.Controller
	if len(in.Purposes) == 0 {
		return p, problem.InvalidField("purposes", "must name at least one purpose the policy covers")
	}
	for i, name := range in.Purposes {
		if _, ok := cat.Purpose(name); !ok {
			return p, problem.InvalidField("purposes", "purposes[%d]: unknown purpose %q", i, name)
		}
		if slices.Index(in.Purposes, name) != i {
			return p, problem.InvalidField("purposes", "purpose %q is listed twice", name)
		}
	}
	p.Purposes = slices.Clone(in.Purposes)
	p.MaterialChange = []string{}
	for i, name := range in.MaterialChange {
		pp, ok := cat.Purpose(name)
		switch {
		case !ok:
			return p, problem.InvalidField("material_change", "material_change[%d]: unknown purpose %q", i, name)
		case !slices.Contains(in.Purposes, name):
			return p, problem.InvalidField("material_change", "purpose %q is not among the purposes this version covers", name)
		case pp.LegalBasis != catalog.Consent:
			return p, problem.InvalidField("material_change", "purpose %q rests on %s, not consent, so there is no consent to ask again", name, pp.LegalBasis)
		case slices.Index(in.MaterialChange, name) != i:
			return p, problem.InvalidField("material_change", "purpose %q is listed twice", name)
		}
		p.MaterialChange = append(p.MaterialChange, name)
	}
	p.Seq = int64(len(published)) + 1
	if n := len(published); n > 0 {
		p.Seq = published[n-1].Seq + 1
	}
	return p, nil
}

// checkText refuses text with control characters or beyond max characters.
func checkText(field, s string, max int) error {
	if utf8.RuneCountInString(s) > max || !utf8.ValidString(s) {
		return problem.InvalidField(field, "must be at most %d characters of UTF-8 text", max)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return problem.InvalidField(field, "must not contain control characters")
	}
	return nil
}

// Policies is the published versions in publication order (which is also the order in which
// they take effect), with the queries decisions need.
type Policies []Policy

// InForce returns the version in force at t: the newest one whose effective date has come.
func (ps Policies) InForce(t time.Time) (Policy, bool) {
	for i := len(ps) - 1; i >= 0; i-- {
		if !ps[i].EffectiveAt.After(t) {
			return ps[i], true
		}
	}
	return Policy{}, false
}

// Find returns the version called v and its position.
func (ps Policies) Find(v string) (Policy, int, bool) {
	for i, p := range ps {
		if p.Version == v {
			return p, i, true
		}
	}
	return Policy{}, -1, false
}

// Supersedes returns the first version after position i that is in force at t and marks
// purpose as a material change: consent given under version i no longer counts once it is.
func (ps Policies) Supersedes(i int, purpose string, t time.Time) (Policy, bool) {
	for _, p := range ps[i+1:] {
		if p.EffectiveAt.After(t) {
			break
		}
		if slices.Contains(p.MaterialChange, purpose) {
			return p, true
		}
	}
	return Policy{}, false
}
