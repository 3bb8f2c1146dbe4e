// Package ident makes and checks the ids of Steward's records (customers, requests, imports,
// consent records): UUIDv7, so ids sort by creation time and index well. Every id that arrives
// from outside is checked here before it reaches an engine, so a malformed id is refused the
// same way everywhere.
package ident

import "github.com/google/uuid"

// New returns a fresh id. Its randomness comes from crypto/rand, which cannot fail (the
// runtime stops the process rather than return weak bytes), so neither can New.
func New() string { return uuid.Must(uuid.NewV7()).String() }

// Valid reports whether id has the canonical shape of an id (36 characters, hyphenated), so
// that braces, URN prefixes and other spellings uuid.Parse accepts are refused rather than
// stored as a second spelling of one id.
func Valid(id string) bool {
	if len(id) != 36 {
		return false
	}
	_, err := uuid.Parse(id)
	return err == nil
}
