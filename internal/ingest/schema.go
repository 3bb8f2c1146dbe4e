package ingest

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stewardhq/steward/internal/catalog"
)

//go:embed events.yaml
var defaultSchemaYAML []byte

// Schema says which events Steward keeps, how long, for which purposes, and which of their
// properties. It is to events what the catalog is to profile fields: what it does not
// declare is dropped.
type Schema struct {
	Default    EventKind
	types      map[string]EventKind
	events     map[string]EventKind
	properties map[string]Property
}

// EventKind is how one kind of event is kept.
type EventKind struct {
	Name      string            `yaml:"name"`
	Category  string            `yaml:"category"`
	Retention string            `yaml:"retention"`
	Purposes  []string          `yaml:"purposes"`
	retention catalog.Retention `yaml:"-"`
}

// Property is one declared event property.
type Property struct {
	Name     string   `yaml:"name"`
	Personal bool     `yaml:"personal"`
	Items    []string `yaml:"items"`
}

type schemaFile struct {
	Version    int         `yaml:"version"`
	Default    EventKind   `yaml:"default"`
	Types      []EventKind `yaml:"types"`
	Events     []EventKind `yaml:"events"`
	Properties []Property  `yaml:"properties"`
}

// DefaultSchema returns the built-in schema checked against cat.
func DefaultSchema(cat *catalog.Catalog) (*Schema, error) {
	return ParseSchema("events.yaml", defaultSchemaYAML, cat)
}

// LoadSchema reads an owner's schema file.
func LoadSchema(path string, cat *catalog.Catalog) (*Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("event schema: %w", err)
	}
	return ParseSchema(path, b, cat)
}

// ParseSchema parses and checks a schema: every category and purpose must be in the catalog
// and every retention must parse, so a typo stops Steward at start rather than keeping data
// for the wrong time.
func ParseSchema(source string, b []byte, cat *catalog.Catalog) (*Schema, error) {
	var f schemaFile
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%s: version must be 1", source)
	}
	s := &Schema{types: map[string]EventKind{}, events: map[string]EventKind{}, properties: map[string]Property{}}
	check := func(where string, k *EventKind) error {
		if _, ok := cat.Category(k.Category); !ok {
			return fmt.Errorf("%s: %s: category %q is not in the catalog", source, where, k.Category)
		}
		for _, p := range k.Purposes {
			if _, ok := cat.Purpose(p); !ok {
				return fmt.Errorf("%s: %s: purpose %q is not in the catalog", source, where, p)
			}
		}
		r, err := catalog.ParseRetention(k.Retention)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", source, where, err)
		}
		k.retention = r
		return nil
	}
	if err := check("default", &f.Default); err != nil {
		return nil, err
	}
	s.Default = f.Default
	for _, t := range f.Types {
		if !knownType(t.Name) || t.Name == TypeTrack {
			return nil, fmt.Errorf("%s: types: %q is not a message type other than track", source, t.Name)
		}
		if err := check("type "+t.Name, &t); err != nil {
			return nil, err
		}
		s.types[t.Name] = t
	}
	for _, e := range f.Events {
		if e.Name == "" {
			return nil, fmt.Errorf("%s: events: an event needs a name", source)
		}
		if _, dup := s.events[e.Name]; dup {
			return nil, fmt.Errorf("%s: events: %q is declared twice", source, e.Name)
		}
		if err := check("event "+e.Name, &e); err != nil {
			return nil, err
		}
		s.events[e.Name] = e
	}
	for _, p := range f.Properties {
		if p.Name == "" {
			return nil, fmt.Errorf("%s: properties: a property needs a name", source)
		}
		if _, dup := s.properties[p.Name]; dup {
			return nil, fmt.Errorf("%s: properties: %q is declared twice", source, p.Name)
		}
		s.properties[p.Name] = p
	}
	for _, p := range f.Properties {
		for _, it := range p.Items {
			if _, ok := s.properties[it]; !ok {
				return nil, fmt.Errorf("%s: property %s: item %q is not a declared property", source, p.Name, it)
			}
		}
	}
	return s, nil
}

// Kind returns how an event of type typ called name is kept.
func (s *Schema) Kind(typ, name string) EventKind {
	if typ == TypeTrack {
		if k, ok := s.events[name]; ok {
			return k
		}
		return s.Default
	}
	if k, ok := s.types[typ]; ok {
		return k
	}
	return s.Default
}

// Property returns the declaration of a property name.
func (s *Schema) Property(name string) (Property, bool) {
	p, ok := s.properties[name]
	return p, ok
}

// Expires returns when an event of this kind received at t must be purged; zero when it is
// kept until the customer is erased.
func (k EventKind) Expires(t time.Time) time.Time {
	if k.retention.UntilErasure {
		return time.Time{}
	}
	return t.Add(k.retention.Duration())
}

// AllowsPurpose reports whether the event's properties may be revealed for purpose.
func (k EventKind) AllowsPurpose(purpose string) bool {
	for _, p := range k.Purposes {
		if p == purpose {
			return true
		}
	}
	return false
}
