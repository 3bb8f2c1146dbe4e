// Package problem gives every error that can reach a caller a kind and a public detail, kept
// apart from the private cause.
//
// Invariants: the public Detail never contains personal data or internal error text; the Cause
// is for logs only (and even there must not carry personal data); any error without a kind is
// treated as Internal, so an unexpected failure can never leak its message to a client. The
// package imports only the standard library so that every other package may use it.
package problem
