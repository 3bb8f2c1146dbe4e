package catalog

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultSource is the name under which the embedded default catalog reports problems and
// identifies itself in Catalog.Source.
const DefaultSource = "default.yaml"

// MaxFileSize bounds a catalog file. Real catalogs are tens of kilobytes; the bound keeps a
// mistaken path (a log file, a database dump) from being read whole into memory.
const MaxFileSize = 1 << 20

// Catalog is a parsed, validated catalog. It is only ever built by Parse (or Default and Load),
// so every name it mentions is known and every reference resolves. Callers must treat it and
// the slices it holds as read-only: many goroutines share one catalog.
type Catalog struct {
	// Source names the file the catalog came from (DefaultSource for the built-in one).
	Source     string     `json:"source"`
	Version    int        `json:"version"`
	Purposes   []Purpose  `json:"purposes"`
	Categories []Category `json:"categories"`
	Fields     []Field    `json:"fields"`
	Roles      []Role     `json:"roles"`

	purposeIdx  map[string]int
	categoryIdx map[string]int
	fieldIdx    map[string]int
	roleIdx     map[string]int
}

// Purpose is a reason for processing personal data. Every use of a field is made for a
// purpose, and the purpose's legal basis decides whether consent is needed.
type Purpose struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	LegalBasis  LegalBasis `json:"legal_basis"`
	// GPCOptOut is true when a Global Privacy Control signal counts as an opt-out of this
	// purpose (CCPA/CPRA "sale or share"). Only consent purposes may set it.
	GPCOptOut bool `json:"gpc_opt_out"`
	// GeneralizedOnly is true when the purpose may see fields only in their generalised
	// form (see Field.Generalize), as analytics under legitimate interest should.
	GeneralizedOnly bool `json:"generalized_only"`
	// Marketing is true for direct marketing. The suppression list blocks it for anyone whose
	// email or phone is on the list, even after erasure and re-import, and an objection to it
	// is absolute (GDPR Article 21(3)). Only consent and legitimate-interest purposes may set it.
	Marketing bool `json:"marketing"`
	// ConsentCategories are the consent-manager categories (Segment's
	// context.consent.categoryPreferences keys, such as "Advertising") whose choice a
	// tracking call carries for this purpose: false withdraws consent (objects, for a
	// legitimate-interest purpose), true gives it. Matched without regard to case. Only
	// consent and legitimate-interest purposes may declare them, because only their
	// processing is the customer's to refuse.
	ConsentCategories []string `json:"consent_categories,omitempty"`
	// Channel is how the purpose reaches the customer (email, sms, phone, post, push), when
	// it reaches them at all: an unsubscribe or spam complaint that arrives through a channel
	// withdraws the purposes of that channel, and a hard bounce makes the e-mail purposes
	// undeliverable. Only consent and legitimate-interest purposes may declare one.
	Channel string `json:"channel,omitempty"`
}

// Category groups fields by the kind of data they hold, as privacy notices and records of
// processing (GDPR Article 30) describe data.
type Category struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Field is one attribute of a customer profile and everything the vault needs to protect it.
type Field struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Type        string   `json:"type"`
	Values      []string `json:"values,omitempty"` // the allowed values of an enum field
	Category    string   `json:"category"`
	// Sensitivity decides whether the field is encrypted and how it may be masked.
	Sensitivity Sensitivity `json:"sensitivity"`
	// Purposes are the only purposes the field may be used for.
	Purposes  []string  `json:"purposes"`
	Retention Retention `json:"retention"`
	// Index is IndexExact when the vault keeps a blind index to find customers by value.
	Index string `json:"index"`
	// Mask says how the value is shown without customers.reveal.
	Mask string `json:"mask"`
	// Generalize says how the value is coarsened for generalized_only purposes.
	Generalize string `json:"generalize"`
	// MaxLength bounds text values in characters; it is 0 for types that are not text.
	MaxLength int `json:"max_length,omitempty"`
}

// Role is a set of purposes a caller may act for and permissions it holds. API keys and users
// are given roles, never raw permissions, so that access is reviewable in one file.
type Role struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Purposes    []string `json:"purposes"`
	Permissions []string `json:"permissions"`
}

// Default returns the built-in catalog. It parses the embedded file on every call so that each
// caller owns its copy; the embedded file is checked by a test, so a panic here means the
// binary was built from a broken tree.
func Default() *Catalog {
	c, err := Parse(DefaultSource, defaultYAML)
	if err != nil {
		panic("catalog: embedded default catalog is invalid: " + err.Error())
	}
	return c
}

// DefaultYAML returns the embedded default catalog file, so that an owner can start their own
// catalog from a copy of it instead of from a blank page.
func DefaultYAML() []byte {
	return slices.Clone(defaultYAML)
}

// Load reads and parses the catalog file at path, which also names the file in problems.
func Load(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read catalog %s: %w", path, err)
	}
	return Parse(path, data)
}

// index builds the lookup maps. Parse has already rejected duplicates, so each name maps to
// exactly one entry.
func (c *Catalog) index() {
	c.purposeIdx = make(map[string]int, len(c.Purposes))
	for i, p := range c.Purposes {
		c.purposeIdx[p.Name] = i
	}
	c.categoryIdx = make(map[string]int, len(c.Categories))
	for i, p := range c.Categories {
		c.categoryIdx[p.Name] = i
	}
	c.fieldIdx = make(map[string]int, len(c.Fields))
	for i, f := range c.Fields {
		c.fieldIdx[f.Name] = i
	}
	c.roleIdx = make(map[string]int, len(c.Roles))
	for i, r := range c.Roles {
		c.roleIdx[r.Name] = i
	}
}

// lookup finds name through idx, or by a linear scan when the catalog was not built by Parse
// (a literal in a test, or one decoded from JSON), so lookups never silently miss.
func lookup[T any](idx map[string]int, list []T, name string, nameOf func(T) string) (T, bool) {
	if idx != nil {
		if i, ok := idx[name]; ok {
			return list[i], true
		}
		var zero T
		return zero, false
	}
	for _, v := range list {
		if nameOf(v) == name {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// Field returns the field called name.
func (c *Catalog) Field(name string) (Field, bool) {
	return lookup(c.fieldIdx, c.Fields, name, func(f Field) string { return f.Name })
}

// Purpose returns the purpose called name.
func (c *Catalog) Purpose(name string) (Purpose, bool) {
	return lookup(c.purposeIdx, c.Purposes, name, func(p Purpose) string { return p.Name })
}

// Category returns the category called name.
func (c *Catalog) Category(name string) (Category, bool) {
	return lookup(c.categoryIdx, c.Categories, name, func(p Category) string { return p.Name })
}

// Role returns the role called name.
func (c *Catalog) Role(name string) (Role, bool) {
	return lookup(c.roleIdx, c.Roles, name, func(r Role) string { return r.Name })
}

// RoleMayActFor reports whether role may process data for purpose. An unknown role or purpose
// is never allowed, so a typo fails closed.
func (c *Catalog) RoleMayActFor(role, purpose string) bool {
	r, ok := c.Role(role)
	if !ok {
		return false
	}
	if _, ok := c.Purpose(purpose); !ok {
		return false
	}
	return slices.Contains(r.Purposes, purpose)
}

// RoleHas reports whether role holds permission. An unknown role or permission is never held,
// so a typo fails closed.
func (c *Catalog) RoleHas(role, permission string) bool {
	r, ok := c.Role(role)
	if !ok || !IsPermission(permission) {
		return false
	}
	return slices.Contains(r.Permissions, permission)
}

// BrowserSafe reports whether role is a browser-safe write role (collect): it holds
// events.write and no other permission. Keys of such a role are the only ones accepted from
// web pages and apps, where anyone can read them, so what they may do is limited by what the
// role lacks rather than by a list of exceptions: no customers.write means no overwrite and
// no merge of known customers, no read permission means no REST route.
func (c *Catalog) BrowserSafe(role string) bool {
	r, ok := c.Role(role)
	return ok && len(r.Permissions) == 1 && r.Permissions[0] == PermEventsWrite
}

// GPCPurposes returns the names of the purposes a Global Privacy Control signal opts the
// customer out of, in catalog order.
func (c *Catalog) GPCPurposes() []string {
	var out []string
	for _, p := range c.Purposes {
		if p.GPCOptOut {
			out = append(out, p.Name)
		}
	}
	return out
}

// CategoryPurposes returns the purposes that answer to a consent-manager category, in
// catalog order; none for a category no purpose declares, whose choice is then only kept as
// evidence on the event that carried it.
func (c *Catalog) CategoryPurposes(category string) []Purpose {
	var out []Purpose
	for _, p := range c.Purposes {
		for _, cc := range p.ConsentCategories {
			if strings.EqualFold(cc, category) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// ChannelPurposes returns the purposes that reach the customer through channel, in catalog
// order: the ones an opt-out arriving through that channel (an unsubscribe, a spam
// complaint) withdraws.
func (c *Catalog) ChannelPurposes(channel string) []Purpose {
	var out []Purpose
	for _, p := range c.Purposes {
		if p.Channel != "" && p.Channel == channel {
			out = append(out, p)
		}
	}
	return out
}

// MarketingPurposes returns the names of the direct-marketing purposes, in catalog order:
// the ones a suppression list entry blocks by default.
func (c *Catalog) MarketingPurposes() []string {
	var out []string
	for _, p := range c.Purposes {
		if p.Marketing {
			out = append(out, p.Name)
		}
	}
	return out
}

// FieldsFor returns the fields that may be used for purpose, in catalog order, so that a
// caller can build the view a purpose is entitled to without scanning every field itself.
func (c *Catalog) FieldsFor(purpose string) []Field {
	var out []Field
	for _, f := range c.Fields {
		if f.AllowsPurpose(purpose) {
			out = append(out, f)
		}
	}
	return out
}

// AllowsPurpose reports whether the field may be used for purpose.
func (f Field) AllowsPurpose(purpose string) bool {
	return slices.Contains(f.Purposes, purpose)
}

// Encrypted reports whether the vault stores the field encrypted: every field except
// non-personal ones, because anything about a person is worth protecting at rest.
func (f Field) Encrypted() bool {
	return f.Sensitivity != NonPersonal
}

// Indexed reports whether the vault keeps an exact blind index of the field.
func (f Field) Indexed() bool {
	return f.Index == IndexExact
}
