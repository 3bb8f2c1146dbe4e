// Package token makes the one-time secrets Steward hands to people — confirmation and
// sign-in links, sessions — and the hashes it keeps of them instead: a copy of the database
// confirms nothing and opens nothing, and a presented secret is found by its hash.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"

	"github.com/stewardhq/steward/internal/problem"
)

// New returns a random URL-safe secret of 256 bits and the SHA-256 to store of it.
func New() (secret string, hash []byte, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, problem.Wrap(problem.Internal, err, "random source failed")
	}
	secret = base64.RawURLEncoding.EncodeToString(raw[:])
	return secret, Hash(secret), nil
}

// Hash is what the store keeps of a secret, and looks a presented one up by.
func Hash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}
