package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// The catalog is decoded from yaml.v3 nodes by hand rather than with struct tags: only nodes
// carry line numbers, and strict decoding of nodes (unknown keys, wrong kinds) is not offered
// by yaml.v3 itself. Walking the tree also lets one pass collect every problem instead of
// stopping at the first.

// maxCollected bounds how many problems a parse gathers before they are sorted and cut to
// MaxProblems, so a hostile file cannot make the parser allocate (or compute typo hints)
// without limit.
const maxCollected = 200

// maxHintCandidates bounds the names a typo hint compares against; past it a hint costs more
// than it helps.
const maxHintCandidates = 100

// CurrentVersion is the catalog file format version this package reads.
const CurrentVersion = 1

// namePattern is the shape of every purpose, category, field and role name: these names end up
// in URLs, JSON keys, SQL identifiers and log lines, where anything else would need escaping.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// yamlLine extracts the line from yaml.v3's error text, which is its only way of reporting it.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

var (
	topKeys      = []string{"version", "purposes", "categories", "fields", "roles"}
	topRequired  = []string{"purposes", "categories", "fields", "roles"}
	purposeKeys  = []string{"name", "description", "legal_basis", "gpc_opt_out", "generalized_only", "marketing", "consent_categories", "channel"}
	purposeReq   = []string{"name", "description", "legal_basis"}
	categoryKeys = []string{"name", "description"}
	categoryReq  = []string{"name", "description"}
	fieldKeys    = []string{"name", "description", "type", "values", "category", "sensitivity", "purposes",
		"retention", "index", "mask", "generalize", "max_length"}
	fieldReq = []string{"name", "description", "type", "category", "sensitivity", "purposes", "retention"}
	roleKeys = []string{"name", "description", "purposes", "permissions"}
	roleReq  = []string{"name", "description", "purposes", "permissions"}
)

// Parse parses and validates a catalog file. source names the file in problems and becomes
// Catalog.Source. Any problem makes the whole catalog invalid: a half-loaded privacy policy
// is worse than none, because it would be enforced as if it were complete. The error is a
// *ValidationError.
func Parse(source string, data []byte) (*Catalog, error) {
	p := &parser{source: source}
	if len(data) > MaxFileSize {
		p.addf(0, "file is larger than %d bytes", MaxFileSize)
		return nil, p.err()
	}
	root := p.decode(data)
	if root == nil {
		return nil, p.err()
	}
	c := p.catalog(root)
	if err := p.err(); err != nil {
		return nil, err
	}
	c.index()
	return c, nil
}

// parser accumulates problems while walking one file.
type parser struct {
	source   string
	problems []Problem

	// lines remember where each name was first defined, both to report duplicates and to
	// resolve references; a name is recorded even if its entry has other problems, so that
	// one mistake does not echo as "unknown" everywhere it is used.
	purposes   map[string]int
	categories map[string]int
	roles      map[string]int
	fields     map[string]int
	// generalizedOnly records which purposes may see only generalised data.
	generalizedOnly map[string]bool
}

func (p *parser) addf(line int, format string, args ...any) {
	if p.full() {
		return
	}
	p.problems = append(p.problems, Problem{Source: p.source, Line: line, Message: fmt.Sprintf(format, args...)})
}

// full reports whether no more problems will be kept, so callers can skip building messages.
func (p *parser) full() bool {
	return len(p.problems) >= maxCollected
}

// err returns the collected problems in line order, cut to MaxProblems, or nil.
func (p *parser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	probs := slices.Clone(p.problems)
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
	if len(probs) > MaxProblems {
		msg := fmt.Sprintf("and %d more problems not shown", len(probs)-MaxProblems)
		if p.full() {
			msg = fmt.Sprintf("and at least %d more problems not shown", len(probs)-MaxProblems)
		}
		probs = append(probs[:MaxProblems:MaxProblems], Problem{Source: p.source, Message: msg})
	}
	return &ValidationError{Problems: probs}
}

// decode parses the YAML text into its single document's root node. yaml.v3 is a large
// third-party parser fed owner-supplied text, so a panic inside it is turned into a problem:
// a bad catalog must stop startup with a message, never with a stack trace.
func (p *parser) decode(data []byte) (root *yaml.Node) {
	defer func() {
		if r := recover(); r != nil {
			p.addf(0, "invalid YAML")
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.addf(0, "file is empty")
		} else {
			p.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			p.yamlError(err)
		} else {
			p.addf(extra.Line, "more than one YAML document (a catalog is a single document)")
		}
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		p.addf(doc.Line, "file is empty")
		return nil
	}
	return doc.Content[0]
}

// yamlError turns a yaml.v3 syntax error into a located problem.
func (p *parser) yamlError(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			p.addf(line, "invalid YAML: %s", m[2])
			return
		}
	}
	p.addf(0, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// catalog walks the root mapping. Sections are read in dependency order (purposes and
// categories before the fields and roles that name them), whatever order the file uses.
func (p *parser) catalog(root *yaml.Node) *Catalog {
	c := &Catalog{Source: p.source, Version: CurrentVersion}
	if root.Kind != yaml.MappingNode {
		p.addf(root.Line, "the top level must be a mapping with purposes, categories, fields and roles")
		return c
	}
	top := p.keys(root, "catalog", topKeys, topRequired)
	if n := top["version"]; n != nil {
		if v, ok := p.integer(n, "catalog", "version"); ok && v != CurrentVersion {
			p.addf(n.Line, "unsupported version %d (this Steward reads version %d)", v, CurrentVersion)
		}
	}
	p.purposes = map[string]int{}
	p.categories = map[string]int{}
	p.roles = map[string]int{}
	p.fields = map[string]int{}
	p.generalizedOnly = map[string]bool{}

	for i, n := range p.list(top["purposes"], "purposes") {
		if v, ok := p.purpose(n, i); ok {
			c.Purposes = append(c.Purposes, v)
		}
	}
	for i, n := range p.list(top["categories"], "categories") {
		if v, ok := p.category(n, i); ok {
			c.Categories = append(c.Categories, v)
		}
	}
	for i, n := range p.list(top["fields"], "fields") {
		if v, ok := p.field(n, i); ok {
			c.Fields = append(c.Fields, v)
		}
	}
	for i, n := range p.list(top["roles"], "roles") {
		if v, ok := p.role(n, i); ok {
			c.Roles = append(c.Roles, v)
		}
	}
	if n := top["roles"]; n != nil && n.Kind == yaml.SequenceNode {
		p.checkOwner(c, n)
	}
	return c
}

// checkOwner insists on an owner role holding every permission, so that no edit of the
// catalog can leave the vault with nobody able to administer it.
func (p *parser) checkOwner(c *Catalog, rolesNode *yaml.Node) {
	line, ok := p.roles[OwnerRole]
	if !ok {
		p.addf(rolesNode.Line, "roles: missing the %q role, which must hold every permission", OwnerRole)
		return
	}
	for _, r := range c.Roles {
		if r.Name != OwnerRole {
			continue
		}
		for _, perm := range permissions {
			if !slices.Contains(r.Permissions, perm) {
				p.addf(line, "role %q: must hold every permission; missing %q", OwnerRole, perm)
			}
		}
	}
}

// list returns the items of a top-level section, which must be a YAML sequence.
func (p *parser) list(n *yaml.Node, section string) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		p.addf(n.Line, "%s: anchors and aliases are not supported", section)
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.addf(n.Line, "%s: expected a list", section)
		return nil
	}
	return n.Content
}

// entry starts reading one list item: it checks the item is a mapping, reads and checks its
// name, and returns a label for messages ("field \"email\"", or "field #3" when it has no
// usable name) together with its keys.
func (p *parser) entry(n *yaml.Node, kind string, i int, known, required []string) (name, label string, kv map[string]*yaml.Node, ok bool) {
	label = fmt.Sprintf("%s #%d", kind, i+1)
	if n.Kind == yaml.AliasNode {
		p.addf(n.Line, "%s: anchors and aliases are not supported", label)
		return "", label, nil, false
	}
	if n.Kind != yaml.MappingNode {
		p.addf(n.Line, "%s: expected a mapping with keys %s", label, strings.Join(required, ", "))
		return "", label, nil, false
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		if k.Kind == yaml.ScalarNode && k.Value == "name" && v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" && v.Value != "" {
			name = v.Value
			label = fmt.Sprintf("%s %q", kind, name)
			break
		}
	}
	kv = p.keys(n, label, known, required)
	if name == "" {
		if v := kv["name"]; v != nil {
			p.str(v, label, "name") // reports why the name is unusable
		}
		return "", label, kv, false
	}
	if !namePattern.MatchString(name) {
		p.addf(kv["name"].Line, "%s: name must be lower-case letters, digits and underscores, start with a letter and be at most 64 characters", label)
		return name, label, kv, false
	}
	return name, label, kv, true
}

// keys reads a mapping's keys, reporting unknown, repeated and missing ones.
func (p *parser) keys(n *yaml.Node, label string, known, required []string) map[string]*yaml.Node {
	kv := map[string]*yaml.Node{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		if k.Kind != yaml.ScalarNode {
			p.addf(k.Line, "%s: keys must be plain words", label)
			continue
		}
		if !slices.Contains(known, k.Value) {
			if p.full() {
				continue
			}
			p.addf(k.Line, "%s: unknown key %q%s", label, k.Value, hint(k.Value, known, true))
			continue
		}
		if prev, dup := kv[k.Value]; dup {
			p.addf(k.Line, "%s: key %q repeated (first at line %d)", label, k.Value, prev.Line)
			continue
		}
		kv[k.Value] = v
	}
	for _, req := range required {
		if _, ok := kv[req]; !ok {
			p.addf(n.Line, "%s: missing required key %q", label, req)
		}
	}
	return kv
}

// str reads a non-empty scalar. Any scalar counts (yaml "yes" or "42" become their text), since
// the closed vocabularies and the name pattern catch the values that matter.
func (p *parser) str(n *yaml.Node, label, key string) (string, bool) {
	if n == nil {
		return "", false
	}
	switch {
	case n.Kind == yaml.AliasNode:
		p.addf(n.Line, "%s: %s: anchors and aliases are not supported", label, key)
	case n.Kind != yaml.ScalarNode:
		p.addf(n.Line, "%s: %s must be a single value", label, key)
	case n.ShortTag() == "!!null" || strings.TrimSpace(n.Value) == "":
		p.addf(n.Line, "%s: %s is empty", label, key)
	default:
		return n.Value, true
	}
	return "", false
}

// boolean reads true or false.
func (p *parser) boolean(n *yaml.Node, label, key string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.addf(n.Line, "%s: %s must be true or false", label, key)
		return false, false
	}
	return b, true
}

// integer reads a whole number.
func (p *parser) integer(n *yaml.Node, label, key string) (int, bool) {
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		p.addf(n.Line, "%s: %s must be a whole number", label, key)
		return 0, false
	}
	return v, true
}

// ref is a name read from a list, with its line so that a bad reference can be pointed at.
type ref struct {
	name string
	line int
}

// strList reads a list of distinct non-empty values; what names one item in messages.
func (p *parser) strList(n *yaml.Node, label, key, what string) ([]ref, bool) {
	if n == nil {
		return nil, false
	}
	if n.Kind == yaml.AliasNode {
		p.addf(n.Line, "%s: %s: anchors and aliases are not supported", label, key)
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		p.addf(n.Line, "%s: %s must be a list", label, key)
		return nil, false
	}
	out := make([]ref, 0, len(n.Content))
	seen := map[string]int{}
	ok := true
	for _, item := range n.Content {
		v, good := p.str(item, label, key)
		if !good {
			ok = false
			continue
		}
		if first, dup := seen[v]; dup {
			p.addf(item.Line, "%s: %s %q listed twice (first at line %d)", label, what, v, first)
			ok = false
			continue
		}
		seen[v] = item.Line
		out = append(out, ref{v, item.Line})
	}
	return out, ok
}

// oneOf checks a value against a closed vocabulary and reports it otherwise, listing the
// allowed words (the vocabularies are short, and the list is the quickest fix).
func (p *parser) oneOf(n *yaml.Node, label, key, value string, allowed []string) bool {
	if slices.Contains(allowed, value) {
		return true
	}
	if p.full() {
		return false
	}
	p.addf(n.Line, "%s: unknown %s %q%s", label, key, value, hint(value, allowed, true))
	return false
}

// define records a name, reporting a duplicate; it returns false for a duplicate.
func (p *parser) define(names map[string]int, kind, label, name string, line int) bool {
	if first, dup := names[name]; dup {
		p.addf(line, "%s: duplicate %s name (first defined at line %d)", label, kind, first)
		return false
	}
	names[name] = line
	return true
}

func (p *parser) purpose(n *yaml.Node, i int) (Purpose, bool) {
	name, label, kv, ok := p.entry(n, "purpose", i, purposeKeys, purposeReq)
	if kv == nil {
		return Purpose{}, false
	}
	if ok {
		ok = p.define(p.purposes, "purpose", label, name, kv["name"].Line)
	}
	v := Purpose{Name: name}
	v.Description, _ = p.str(kv["description"], label, "description")
	if lb, good := p.str(kv["legal_basis"], label, "legal_basis"); good && p.oneOf(kv["legal_basis"], label, "legal_basis", lb, legalBases) {
		v.LegalBasis = LegalBasis(lb)
	}
	if g := kv["gpc_opt_out"]; g != nil {
		v.GPCOptOut, _ = p.boolean(g, label, "gpc_opt_out")
		if v.LegalBasis != "" && v.LegalBasis != Consent {
			p.addf(g.Line, "%s: gpc_opt_out is only allowed on consent purposes (this one is %s)", label, v.LegalBasis)
		}
	}
	if g := kv["generalized_only"]; g != nil {
		v.GeneralizedOnly, _ = p.boolean(g, label, "generalized_only")
	}
	if m := kv["marketing"]; m != nil {
		v.Marketing, _ = p.boolean(m, label, "marketing")
		if v.Marketing && v.LegalBasis != "" && v.LegalBasis != Consent && v.LegalBasis != LegitimateInterest {
			p.addf(m.Line, "%s: marketing is only allowed on consent and legitimate_interest purposes (this one is %s)", label, v.LegalBasis)
		}
	}
	if cc := kv["consent_categories"]; cc != nil {
		v.ConsentCategories = p.consentCategories(cc, label, v.LegalBasis)
	}
	if c := kv["channel"]; c != nil {
		if ch, good := p.str(c, label, "channel"); good && p.oneOf(c, label, "channel", ch, channels) {
			v.Channel = ch
		}
		if v.LegalBasis != "" && v.LegalBasis != Consent && v.LegalBasis != LegitimateInterest {
			p.addf(c.Line, "%s: channel is only allowed on consent and legitimate_interest purposes (this one is %s)", label, v.LegalBasis)
		}
	}
	if ok {
		p.generalizedOnly[name] = v.GeneralizedOnly
	}
	return v, ok
}

// maxConsentCategory bounds a consent-manager category name: the names consent tools send
// are short words or codes ("Advertising", "C0004").
const maxConsentCategory = 64

// consentCategories reads a purpose's consent_categories. A choice in a consent manager is
// the customer's refusal or grant, so only purposes the customer may refuse (consent and
// legitimate interest) may answer to one; names differing only in case are the same
// category, because they are matched without regard to case.
func (p *parser) consentCategories(n *yaml.Node, label string, basis LegalBasis) []string {
	refs, _ := p.strList(n, label, "consent_categories", "consent category")
	if basis != "" && basis != Consent && basis != LegitimateInterest {
		p.addf(n.Line, "%s: consent_categories are only allowed on consent and legitimate_interest purposes (this one is %s)", label, basis)
		return nil
	}
	var out []string
	seen := map[string]int{}
	for _, r := range refs {
		low := strings.ToLower(r.name)
		if first, dup := seen[low]; dup {
			p.addf(r.line, "%s: consent category %q listed twice (first at line %d; categories match without regard to case)", label, r.name, first)
			continue
		}
		if len(r.name) > maxConsentCategory || strings.ContainsFunc(r.name, unicode.IsControl) {
			p.addf(r.line, "%s: consent category %q must be at most %d characters without control characters", label, r.name, maxConsentCategory)
			continue
		}
		seen[low] = r.line
		out = append(out, r.name)
	}
	return out
}

func (p *parser) category(n *yaml.Node, i int) (Category, bool) {
	name, label, kv, ok := p.entry(n, "category", i, categoryKeys, categoryReq)
	if kv == nil {
		return Category{}, false
	}
	if ok {
		ok = p.define(p.categories, "category", label, name, kv["name"].Line)
	}
	v := Category{Name: name}
	v.Description, _ = p.str(kv["description"], label, "description")
	return v, ok
}

func (p *parser) role(n *yaml.Node, i int) (Role, bool) {
	name, label, kv, ok := p.entry(n, "role", i, roleKeys, roleReq)
	if kv == nil {
		return Role{}, false
	}
	if ok {
		ok = p.define(p.roles, "role", label, name, kv["name"].Line)
	}
	v := Role{Name: name, Purposes: []string{}, Permissions: []string{}}
	v.Description, _ = p.str(kv["description"], label, "description")
	purposes, _ := p.strList(kv["purposes"], label, "purposes", "purpose")
	for _, r := range purposes {
		if p.known(p.purposes, label, "purpose", r) {
			v.Purposes = append(v.Purposes, r.name)
		}
	}
	perms, _ := p.strList(kv["permissions"], label, "permissions", "permission")
	for _, r := range perms {
		if slices.Contains(permissions, r.name) {
			v.Permissions = append(v.Permissions, r.name)
		} else if !p.full() {
			p.addf(r.line, "%s: unknown permission %q%s", label, r.name, hint(r.name, permissions, true))
		}
	}
	return v, ok
}

// known checks a reference to a defined name and reports it otherwise.
func (p *parser) known(names map[string]int, label, kind string, r ref) bool {
	if _, ok := names[r.name]; ok {
		return true
	}
	if p.full() {
		return false
	}
	if len(names) > maxHintCandidates {
		p.addf(r.line, "%s: unknown %s %q", label, kind, r.name)
		return false
	}
	p.addf(r.line, "%s: unknown %s %q%s", label, kind, r.name, hint(r.name, mapKeys(names), false))
	return false
}

func (p *parser) field(n *yaml.Node, i int) (Field, bool) {
	name, label, kv, ok := p.entry(n, "field", i, fieldKeys, fieldReq)
	if kv == nil {
		return Field{}, false
	}
	if ok {
		ok = p.define(p.fields, "field", label, name, kv["name"].Line)
		if slices.Contains(forbiddenFields, name) {
			p.addf(kv["name"].Line, "%s: Steward never stores card numbers, card security codes or passwords", label)
		}
	}
	f := Field{Name: name, Index: IndexNone, Generalize: GeneralizeNone}
	f.Description, _ = p.str(kv["description"], label, "description")

	typ, typeOK := p.str(kv["type"], label, "type")
	typeOK = typeOK && p.oneOf(kv["type"], label, "type", typ, types)
	if typeOK {
		f.Type = typ
	}

	values, valuesOK := p.strList(kv["values"], label, "values", "value")
	switch {
	case kv["values"] != nil && typeOK && typ != TypeEnum:
		p.addf(kv["values"].Line, "%s: values are only allowed on enum fields", label)
	case typeOK && typ == TypeEnum && kv["values"] == nil:
		p.addf(n.Line, "%s: enum field needs values", label)
	case typeOK && typ == TypeEnum && valuesOK && len(values) == 0:
		p.addf(kv["values"].Line, "%s: enum field needs values", label)
	}
	for _, v := range values {
		if len(v.name) > 64 {
			p.addf(v.line, "%s: enum value longer than 64 characters", label)
		}
		f.Values = append(f.Values, v.name)
	}

	if cat, good := p.str(kv["category"], label, "category"); good {
		if p.known(p.categories, label, "category", ref{cat, kv["category"].Line}) {
			f.Category = cat
		}
	}

	sens, sensOK := p.str(kv["sensitivity"], label, "sensitivity")
	sensOK = sensOK && p.oneOf(kv["sensitivity"], label, "sensitivity", sens, sensitivities)
	if sensOK {
		f.Sensitivity = Sensitivity(sens)
	}

	purposes, purposesOK := p.strList(kv["purposes"], label, "purposes", "purpose")
	if purposesOK && len(purposes) == 0 {
		p.addf(kv["purposes"].Line, "%s: needs at least one purpose; data kept for no purpose may not be kept at all", label)
	}
	for _, r := range purposes {
		if p.known(p.purposes, label, "purpose", r) {
			f.Purposes = append(f.Purposes, r.name)
		}
	}

	if s, good := p.str(kv["retention"], label, "retention"); good {
		r, err := ParseRetention(s)
		if err != nil {
			p.addf(kv["retention"].Line, "%s: %v", label, err)
		}
		f.Retention = r
	}

	if x := kv["index"]; x != nil {
		if s, good := p.str(x, label, "index"); good && p.oneOf(x, label, "index", s, indexes) {
			f.Index = s
			if s == IndexExact && typeOK && !slices.Contains(indexableTypes, typ) {
				p.addf(x.Line, "%s: index exact is not supported for type %q (only %s)", label, typ, strings.Join(indexableTypes, ", "))
			}
		}
	}

	// An undeclared mask fails safe: personal data is hidden entirely.
	f.Mask = MaskFull
	if sensOK && f.Sensitivity == NonPersonal {
		f.Mask = MaskNone
	}
	if x := kv["mask"]; x != nil {
		if s, good := p.str(x, label, "mask"); good && p.oneOf(x, label, "mask", s, masks) {
			f.Mask = s
			if allowed, limited := maskTypes[s]; limited && typeOK && !slices.Contains(allowed, typ) {
				p.addf(x.Line, "%s: mask %q does not apply to type %q (only %s)", label, s, typ, strings.Join(allowed, ", "))
			}
			if s == MaskNone && f.Sensitivity == Sensitive {
				p.addf(x.Line, "%s: a sensitive field must be masked", label)
			}
		}
	}

	if x := kv["generalize"]; x != nil {
		if s, good := p.str(x, label, "generalize"); good && p.oneOf(x, label, "generalize", s, generalizers) {
			f.Generalize = s
			if allowed, limited := generalizerTypes[s]; limited && typeOK && !slices.Contains(allowed, typ) {
				p.addf(x.Line, "%s: generalize %q does not apply to type %q (only %s)", label, s, typ, strings.Join(allowed, ", "))
			}
		}
	}

	// A purpose that sees only generalised data must not receive a direct identifier as it
	// is; the field has to say how it is coarsened.
	if sensOK && (f.Sensitivity == Identifier || f.Sensitivity == Sensitive) && f.Generalize == GeneralizeNone {
		for _, r := range purposes {
			if p.generalizedOnly[r.name] {
				p.addf(r.line, "%s: purpose %q sees only generalised data, but this %s field has generalize none", label, r.name, f.Sensitivity)
			}
		}
	}

	if typeOK && slices.Contains(textTypes, typ) {
		f.MaxLength = DefaultMaxLength
	}
	if x := kv["max_length"]; x != nil {
		if v, good := p.integer(x, label, "max_length"); good {
			switch {
			case typeOK && !slices.Contains(textTypes, typ):
				p.addf(x.Line, "%s: max_length only applies to %s fields", label, strings.Join(textTypes, ", "))
			case v < 1 || v > maxMaxLength:
				p.addf(x.Line, "%s: max_length must be between 1 and %d", label, maxMaxLength)
			default:
				f.MaxLength = v
			}
		}
	}
	return f, ok
}

// hint suggests the nearest allowed word for a likely typo; for closed vocabularies with no
// close match it lists the allowed words instead.
func hint(value string, allowed []string, closed bool) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		d := distance(value, a)
		if d < bestDist && d <= len(value)/2 {
			best, bestDist = a, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	if closed {
		return " (want one of " + strings.Join(allowed, ", ") + ")"
	}
	return ""
}

// distance is the optimal-string-alignment edit distance, so that a swapped pair of letters
// ("emial") counts as one mistake.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // not a typo worth suggesting, and keeps the cost bounded
	}
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

func mapKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
