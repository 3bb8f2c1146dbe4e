package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Document is a parsed OpenAPI document, ready to check answers against.
type Document struct {
	schemas map[string]any
	paths   map[string]any
	mux     *http.ServeMux // routes a request to its documented path, as the server does
}

// Parse reads an OpenAPI document.
func Parse(b []byte) (*Document, error) {
	var raw struct {
		Paths      map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&raw); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	doc := &Document{schemas: raw.Components.Schemas, paths: raw.Paths, mux: http.NewServeMux()}
	for path, item := range raw.Paths {
		ops, _ := item.(map[string]any)
		for method := range ops {
			doc.mux.HandleFunc(strings.ToUpper(method)+" "+path, func(http.ResponseWriter, *http.Request) {})
		}
	}
	return doc, nil
}

// operation finds the documented operation a request was routed to, or nil.
func (d *Document) operation(method, target string) map[string]any {
	r, err := http.NewRequest(method, target, nil)
	if err != nil {
		return nil
	}
	_, pattern := d.mux.Handler(r)
	m, path, ok := strings.Cut(pattern, " ")
	if !ok || m != method {
		return nil
	}
	item, _ := d.paths[path].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	return op
}

// Check holds one answer to the document: method and target (path and query) of the
// request, then the answer's status, Content-Type and body.
func (d *Document) Check(method, target string, status int, contentType string, body []byte) error {
	op := d.operation(method, target)
	if op == nil {
		// No route: only the catch-all's problems may answer.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s %s is not documented and answered %d", method, target, status)
		}
		return d.checkBody(map[string]any{"$ref": "#/components/schemas/Problem"}, body)
	}
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(status)].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s answered %d, which its documentation does not list", method, target, status)
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 {
			return fmt.Errorf("%s %s answered %d with a body where none is documented", method, target, status)
		}
		return nil
	}
	media, _, _ := strings.Cut(contentType, ";")
	media = strings.TrimSpace(media)
	mt, ok := content[media].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s answered %d as %q; documented: %v", method, target, status, media, keys(content))
	}
	if media != "application/json" && media != "application/problem+json" {
		return nil // CSV, zip, HTML and text are documented as strings
	}
	return d.checkBody(mt["schema"], body)
}

func (d *Document) checkBody(schema any, body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	return d.Validate(schema, v)
}

// Validate checks a decoded JSON value (numbers as json.Number) against a schema of the
// document.
func (d *Document) Validate(schema, v any) error {
	return d.validate(schema, v, "$")
}

func (d *Document) validate(schema, v any, at string) error {
	s, ok := schema.(map[string]any)
	if !ok {
		if b, isBool := schema.(bool); isBool && !b {
			return fmt.Errorf("%s: not allowed", at)
		}
		return nil
	}
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		target, ok := d.schemas[name]
		if !ok {
			return fmt.Errorf("%s: unresolved $ref %s", at, ref)
		}
		return d.validate(target, v, at)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			if err := d.validate(sub, v, at); err != nil {
				return err
			}
		}
	}
	if anyOf, ok := s["anyOf"].([]any); ok {
		var first error
		for _, sub := range anyOf {
			err := d.validate(sub, v, at)
			if err == nil {
				first = nil
				break
			}
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return first
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, fmt.Sprint(x))
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return isType(v, t) }) {
			return fmt.Errorf("%s: got %s, want %s", at, typeOf(v), strings.Join(types, " or "))
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) && (e == nil) == (v == nil) }) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	if s["format"] == "date-time" {
		if str, ok := v.(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", at, str)
			}
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, name := range req {
				if _, ok := v[name.(string)]; !ok {
					return fmt.Errorf("%s: required property %q is missing", at, name)
				}
			}
		}
		for _, name := range sortedKeys(v) {
			sub, declared := props[name]
			if !declared {
				extra, has := s["additionalProperties"]
				if !has {
					continue
				}
				if b, isBool := extra.(bool); isBool {
					if !b {
						return fmt.Errorf("%s: property %q is not declared", at, name)
					}
					continue
				}
				sub = extra
			}
			if err := d.validate(sub, v[name], at+"."+name); err != nil {
				return err
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, x := range v {
				if err := d.validate(items, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func isType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

func typeOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	}
	return "object"
}

func keys(m map[string]any) []string { return sortedKeys(m) }

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
