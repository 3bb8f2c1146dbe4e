package httpapi

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// schemas are the JSON Schemas of the named bodies in the route table.
var schemas = map[string]any{
	"Health": obj(map[string]any{"status": str(), "version": str()}),
	"Catalog": map[string]any{"type": "object", "description": "The data catalog: purposes, categories, fields and roles.",
		"properties": map[string]any{"purposes": arr(ref("Purpose")), "categories": arr(map[string]any{"type": "object"}),
			"fields": arr(map[string]any{"type": "object"}), "roles": arr(map[string]any{"type": "object"})}},
	"Purpose":     obj(map[string]any{"name": str(), "description": str(), "legal_basis": str(), "gpc_opt_out": map[string]any{"type": "boolean"}}),
	"PurposeList": obj(map[string]any{"data": arr(ref("Purpose"))}),
	"CustomerInput": map[string]any{"type": "object", "required": []string{"fields"}, "additionalProperties": false,
		"properties": map[string]any{"fields": map[string]any{"type": "object", "description": "Catalog field name to value; in PATCH, null removes the field.",
			"additionalProperties": map[string]any{"type": []string{"string", "number", "integer", "boolean", "null"}}}}},
	"Customer": obj(map[string]any{"id": str(), "fields": map[string]any{"type": "object", "description": "Masked unless listed in revealed."},
		"revealed": arr(str()), "purpose": str(), "version": map[string]any{"type": "integer"},
		"created_at": dateTime(), "updated_at": dateTime(), "contact_status": ref("ContactStatus")}),
	"CustomerList": obj(map[string]any{"data": arr(ref("Customer")), "next_cursor": str()}),
	"AuditEntry": obj(map[string]any{"id": map[string]any{"type": "integer"}, "chain": map[string]any{"type": "integer"}, "seq": map[string]any{"type": "integer"},
		"time": dateTime(), "actor_id": str(), "actor_role": str(), "action": str(), "customer_id": str(), "target": str(),
		"fields": arr(str()), "purpose": str(), "request_id": str(), "outcome": str(), "prev_hash": str(), "hash": str()}),
	"AuditList":         obj(map[string]any{"data": arr(ref("AuditEntry")), "next_cursor": str()}),
	"AuditVerification": obj(map[string]any{"intact": map[string]any{"type": "boolean"}, "chain": map[string]any{"type": "integer"}, "seq": map[string]any{"type": "integer"}, "reason": str(), "report": map[string]any{"type": "object"}}),
	"APIKey":            obj(map[string]any{"id": str(), "name": str(), "role": str(), "hint": str(), "created_at": dateTime(), "revoked_at": dateTime()}),
	"APIKeyList":        obj(map[string]any{"data": arr(ref("APIKey"))}),
	"APIKeyInput": map[string]any{"type": "object", "required": []string{"role", "name"}, "additionalProperties": false,
		"properties": map[string]any{"role": str(), "name": str()}},
	"NewAPIKey": obj(map[string]any{"key": map[string]any{"type": "string", "description": "The secret, shown only here."}, "api_key": ref("APIKey")}),
	"Job": obj(map[string]any{"id": str(), "kind": str(), "state": map[string]any{"enum": []string{"queued", "running", "done", "failed"}},
		"cursor": str(), "done": map[string]any{"type": "integer"}, "total": map[string]any{"type": "integer"}, "error": str(),
		"created_at": dateTime(), "updated_at": dateTime()}),
	"Problem": obj(map[string]any{"type": str(), "title": str(), "status": map[string]any{"type": "integer"}, "detail": str(),
		"instance": str(), "request_id": str(), "field": str()}),
}

func obj(props map[string]any) map[string]any {
	return map[string]any{"type": "object", "properties": props}
}
func str() map[string]any            { return map[string]any{"type": "string"} }
func dateTime() map[string]any       { return map[string]any{"type": "string", "format": "date-time"} }
func arr(items any) map[string]any   { return map[string]any{"type": "array", "items": items} }
func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// OpenAPI builds the OpenAPI 3.1 document from the route table.
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, rt := range s.routes() {
		op := map[string]any{"summary": rt.Summary, "operationId": operationID(rt)}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": str()})
		}
		for _, p := range rt.Query {
			params = append(params, map[string]any{"name": p.Name, "in": "query", "required": p.Required, "description": p.Description, "schema": map[string]any{"type": p.Type}})
		}
		for _, p := range rt.Headers {
			params = append(params, map[string]any{"name": p.Name, "in": "header", "required": p.Required, "description": p.Description, "schema": map[string]any{"type": p.Type}})
		}
		if params != nil {
			op["parameters"] = params
		}
		switch rt.Body {
		case "":
		case "csv":
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"text/csv": map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": "text/csv"}}}}
		default:
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref(rt.Body)}}}
		}
		responses := map[string]any{}
		ok := map[string]any{"description": http.StatusText(rt.Status)}
		switch rt.Returns {
		case "":
		case "text":
			ok["content"] = map[string]any{"text/plain": map[string]any{"schema": str()}}
		case "zip":
			ok["content"] = map[string]any{"application/zip": map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": "application/zip"}}}
		case "html":
			ok["content"] = map[string]any{"text/html": map[string]any{"schema": str()}}
		case "object":
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		default:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": ref(rt.Returns)}}
		}
		responses[strconv.Itoa(rt.Status)] = ok
		errs := rt.Errors
		if !rt.Public {
			errs = append(append([]int{}, errs...), commonErrors...)
		}
		for _, code := range errs {
			responses[strconv.Itoa(code)] = map[string]any{"description": http.StatusText(code),
				"content": map[string]any{"application/problem+json": map[string]any{"schema": ref("Problem")}}}
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
			"schemas":         schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "An API key (stw_…)."}},
		},
	}
}

func operationID(rt route) string {
	p := strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_").Replace(strings.TrimPrefix(rt.Path, "/"))
	return strings.ToLower(rt.Method) + "_" + p
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.OpenAPI())
}
