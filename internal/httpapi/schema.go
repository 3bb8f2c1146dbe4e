package httpapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
)

// The JSON Schemas of /openapi.json are generated from the Go types the handlers decode and
// encode, so the document cannot drift from what is served: a field added to a response type
// appears in its schema, and a field the schema does not declare fails the scenario tests
// (additionalProperties is false on every generated object).
//
// What reflection cannot see comes from struct tags on this package's own types and from the
// tables below for the domains' types, which this package must not decorate:
//
//	doc:"…"         the property's description
//	enum:"a,b,c"    the values a string property takes
//	required:"true" on request types: the property must be sent (response types derive
//	                required from the absence of omitempty and omitzero instead)

// schemaNames names the component schemas of the domains' types where the Go name alone would
// be ambiguous or would break a name clients already use.
var schemaNames = map[reflect.Type]string{}

// fieldDocs describe properties of the domains' types, keyed "Component.property".
var fieldDocs = map[string]string{}

// fieldEnums lists the values of enumerated properties of the domains' types, keyed
// "Component.property".
var fieldEnums = map[string][]string{}

// typeDocs describe whole component schemas.
var typeDocs = map[string]string{}

// customSchemas are the schemas of the few types that reflection cannot describe, keyed by
// the type: their JSON is parsed by hand rather than decoded into fields.
var customSchemas = map[reflect.Type]map[string]any{}

// schemaSet generates component schemas on demand and collects them for the document.
type schemaSet struct {
	components map[string]any
	byType     map[reflect.Type]string
}

func newSchemaSet() *schemaSet {
	return &schemaSet{components: map[string]any{}, byType: map[reflect.Type]string{}}
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	rawType     = reflect.TypeFor[json.RawMessage]()
	numberType  = reflect.TypeFor[json.Number]()
	marshalType = reflect.TypeFor[json.Marshaler]()
	textType    = reflect.TypeFor[encoding.TextMarshaler]()
)

// componentName is the name a named struct type is published under: an explicit name, else
// its Go name with the first letter upper-cased.
func componentName(t reflect.Type) string {
	if n, ok := schemaNames[t]; ok {
		return n
	}
	r := []rune(t.Name())
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// response returns the schema of t as a response body: named structs become components
// referenced by $ref.
func (g *schemaSet) response(t reflect.Type) map[string]any {
	return g.schema(t, false)
}

// request returns the schema of t as a request body: one inline schema, closed like the
// strict decoder, whose required properties are the ones tagged or listed so.
func (g *schemaSet) request(t reflect.Type) map[string]any {
	return g.schema(t, true)
}

func (g *schemaSet) schema(t reflect.Type, request bool) map[string]any {
	if s, ok := customSchemas[t]; ok {
		return s
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case rawType:
		return map[string]any{}
	case numberType:
		return map[string]any{"type": "number"}
	}
	if t.Kind() != reflect.Pointer && (t.Implements(textType) || reflect.PointerTo(t).Implements(textType)) {
		return map[string]any{"type": "string"} // map keys and values that write themselves as text
	}
	if t.Kind() != reflect.Pointer && t.Implements(marshalType) || reflect.PointerTo(t).Implements(marshalType) && t.Kind() == reflect.Struct {
		panic(fmt.Sprintf("httpapi: %s marshals itself; give it a customSchemas entry", t))
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Pointer:
		return g.schema(t.Elem(), request)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem(), request)}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			panic(fmt.Sprintf("httpapi: %s: JSON object keys must be strings", t))
		}
		s := map[string]any{"type": "object"}
		if el := g.schema(t.Elem(), request); len(el) > 0 {
			s["additionalProperties"] = el
		}
		return s
	case reflect.Struct:
		if request || t.Name() == "" {
			return g.object(t, request)
		}
		name := componentName(t)
		if _, taken := g.components[name]; taken && g.byType[t] != name {
			panic(fmt.Sprintf("httpapi: component %s names both %s and another type; add a schemaNames entry", name, t))
		}
		if _, ok := g.byType[t]; !ok {
			g.byType[t] = name
			g.components[name] = nil // a placeholder, so recursive types end
			g.components[name] = g.object(t, false)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	panic(fmt.Sprintf("httpapi: %s has no JSON schema", t))
}

// field is one JSON property of a struct, after Go's rules for tags and embedding.
type field struct {
	name      string
	typ       reflect.Type
	omitted   bool // omitempty or omitzero: may be left out
	asString  bool // the ,string option
	tag       reflect.StructTag
	canBeNull bool // a nil value is written as null
}

// fields lists t's JSON properties: tagged names, embedded structs flattened, shallower
// fields shadowing deeper ones as encoding/json does.
func fields(t reflect.Type) []field {
	var out []field
	seen := map[string]bool{}
	var deeper []reflect.Type
	walk := func(t reflect.Type) {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if sf.Anonymous && name == "" {
				et := sf.Type
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					deeper = append(deeper, et)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			o := strings.Split(opts, ",")
			f := field{name: name, typ: sf.Type, tag: sf.Tag, asString: slices.Contains(o, "string")}
			omitEmpty := slices.Contains(o, "omitempty") && emptiable(sf.Type)
			f.omitted = omitEmpty || slices.Contains(o, "omitzero")
			// A nil pointer, slice or map that is not left out is written as null.
			switch sf.Type.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
				f.canBeNull = !omitEmpty && sf.Type != rawType
			}
			out = append(out, f)
		}
	}
	walk(t)
	for len(deeper) > 0 {
		next := deeper
		deeper = nil
		for _, et := range next {
			walk(et)
		}
	}
	return out
}

// emptiable reports whether omitempty can leave a value of t out; it never leaves out a
// struct.
func emptiable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		return false
	case reflect.Array:
		return t.Len() == 0
	}
	return true
}

// requiredInputs lists the properties the domains' request types must be sent with, keyed
// by the Go type.
var requiredInputs = map[reflect.Type][]string{}

func (g *schemaSet) object(t reflect.Type, request bool) map[string]any {
	props := map[string]any{}
	var required []string
	name := ""
	if t.Name() != "" {
		name = componentName(t)
	}
	for _, f := range fields(t) {
		var s map[string]any
		if f.asString {
			s = map[string]any{"type": "string"}
		} else {
			s = g.schema(f.typ, request)
		}
		s = clone(s)
		doc := f.tag.Get("doc")
		if doc == "" {
			doc = fieldDocs[name+"."+f.name]
		}
		if doc != "" {
			if _, isRef := s["$ref"]; isRef {
				s = map[string]any{"allOf": []any{s}, "description": doc}
			} else {
				s["description"] = doc
			}
		}
		enum := fieldEnums[name+"."+f.name]
		if e := f.tag.Get("enum"); e != "" {
			enum = strings.Split(e, ",")
		}
		if enum != nil {
			values := make([]any, len(enum))
			for i, v := range enum {
				values[i] = v
			}
			if s["type"] == "array" {
				items := clone(s["items"].(map[string]any))
				items["enum"] = values
				s["items"] = items
			} else {
				s["enum"] = values
			}
		}
		if f.canBeNull && (!request || f.typ.Kind() == reflect.Pointer) {
			s = nullable(s)
		}
		props[f.name] = s
		switch {
		case request && (f.tag.Get("required") == "true" || slices.Contains(requiredInputs[t], f.name)):
			required = append(required, f.name)
		case !request && !f.omitted:
			required = append(required, f.name)
		}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if required != nil {
		s["required"] = required
	}
	if d := typeDocs[name]; d != "" {
		s["description"] = d
	}
	return s
}

// nullable lets a schema also accept null, through a type array where it has a type and
// anyOf where it is a reference.
func nullable(s map[string]any) map[string]any {
	switch typ := s["type"].(type) {
	case string:
		s["type"] = []any{typ, "null"}
		if e, ok := s["enum"].([]any); ok {
			s["enum"] = append(slices.Clone(e), nil)
		}
		return s
	case nil:
		if len(s) == 0 {
			return s // any value, null included
		}
		return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
	}
	return s
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
