// Package httpapi is Steward's JSON API: one route table (routes.go) that is also the source
// of the OpenAPI document, handlers of one shape (decode, call a service, encode), and one
// place that turns errors into RFC 9457 problem responses.
//
// Invariants: a response never carries internal error text, only a problem's public detail
// and a request id that ties it to the logs; no handler talks to storage; bodies are bounded,
// strictly decoded, and refused whole when any part is wrong.
package httpapi
