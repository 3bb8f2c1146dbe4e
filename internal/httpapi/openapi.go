package httpapi

import (
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

var pathParam = regexp.MustCompile(`\{([a-zA-Z_]+)\}`)

// OpenAPI builds the OpenAPI 3.1 document from the route table; the schemas of its bodies
// are generated from the Go types the route table names (schema.go).
func (s *Server) OpenAPI() map[string]any {
	g := newSchemaSet()
	problemRef := g.response(reflect.TypeFor[Problem]())
	paths := map[string]any{}
	for _, rt := range s.routes() {
		op := map[string]any{"summary": rt.Summary, "operationId": operationID(rt)}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, p := range rt.Query {
			params = append(params, parameter(p, "query"))
		}
		for _, p := range rt.Headers {
			params = append(params, parameter(p, "header"))
		}
		if params != nil {
			op["parameters"] = params
		}
		switch {
		case rt.In.typ != nil:
			schema := g.request(rt.In.typ)
			content := map[string]any{"application/json": map[string]any{"schema": schema}}
			if rt.In.form {
				content["application/x-www-form-urlencoded"] = map[string]any{"schema": schema}
			}
			op["requestBody"] = map[string]any{"required": !rt.In.optional, "content": content}
		case rt.In.media != "":
			op["requestBody"] = map[string]any{"required": true,
				"content": map[string]any{rt.In.media: map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": rt.In.media}}}}
		}
		responses := map[string]any{}
		for _, a := range rt.Out {
			ok := map[string]any{"description": http.StatusText(a.status)}
			if a.status >= 300 && a.status <= 399 {
				ok["headers"] = map[string]any{"Location": map[string]any{"description": "Where to go instead.",
					"schema": map[string]any{"type": "string"}}}
			}
			switch {
			case a.typ != nil:
				ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.response(a.typ)}}
			case a.media == "application/json":
				ok["content"] = map[string]any{a.media: map[string]any{"schema": map[string]any{"type": "object"}}}
			case a.media != "":
				ok["content"] = map[string]any{a.media: map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": a.media}}}
			}
			if prev, seen := responses[strconv.Itoa(a.status)].(map[string]any); seen {
				// Another media type for the same status, such as CSV beside JSON.
				maps.Copy(prev["content"].(map[string]any), ok["content"].(map[string]any))
				continue
			}
			responses[strconv.Itoa(a.status)] = ok
		}
		for _, code := range rt.Redirects {
			responses[strconv.Itoa(code)] = map[string]any{"description": http.StatusText(code),
				"headers": map[string]any{"Location": map[string]any{"description": "Where to go next.", "schema": map[string]any{"type": "string"}}}}
		}
		errs := rt.Errors
		if !rt.Public {
			errs = append(append([]int{}, errs...), commonErrors...)
		}
		errMedia, errSchema := "application/problem+json", problemRef
		if rt.ErrorT != nil {
			errMedia, errSchema = "application/json", g.response(rt.ErrorT)
		}
		for _, code := range errs {
			content := map[string]any{errMedia: map[string]any{"schema": errSchema}}
			if rt.Pages {
				content["text/html"] = map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": "text/html"}}
			}
			responses[strconv.Itoa(code)] = map[string]any{"description": http.StatusText(code), "content": content}
		}
		op["responses"] = responses
		if rt.Public {
			op["security"] = []any{}
		}
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Steward API", "version": s.Version,
			"description": "Customer data vault and customer data platform. Errors are RFC 9457 problem+json."},
		"paths":    paths,
		"security": []any{map[string]any{"bearer": []any{}}},
		"components": map[string]any{
			"schemas":         g.components,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "An API key (stw_…)."}},
		},
	}
}

func parameter(p param, in string) map[string]any {
	return map[string]any{"name": p.Name, "in": in, "required": p.Required, "description": p.Description,
		"schema": map[string]any{"type": p.Type}}
}

func operationID(rt route) string {
	p := strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_").Replace(strings.TrimPrefix(rt.Path, "/"))
	return strings.ToLower(rt.Method) + "_" + p
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.OpenAPI())
}
