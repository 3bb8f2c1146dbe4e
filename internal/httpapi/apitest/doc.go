// Package apitest runs HTTP scenarios against a Steward server and holds every answer to the
// server's own OpenAPI document: the status must be documented for the route, and the body
// must match the schema documented for that status. A field a handler adds without its type
// saying so, a wrong type, or an undocumented status fails the scenario that met it.
//
// It knows the document only as JSON, so it imports nothing of the server and serves the
// tests of httpapi and of the composition root alike. The validator covers the subset of
// JSON Schema the document's generator emits: type (one or a list, for nullable values),
// properties, required, additionalProperties, items, enum, $ref, allOf, anyOf and the
// date-time format.
package apitest
