package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

const (
	// keySize is the size of every symmetric key in the hierarchy. AES-256 is used throughout
	// so that no level is weaker than the one it protects.
	keySize = 32

	// nonceSize and tagSize are the standard GCM sizes. Random 96-bit nonces are safe for far
	// more messages than any single key here will ever seal (NIST's limit is 2^32 per key),
	// because each customer has its own DEK and master keys only wrap DEKs.
	nonceSize = 12
	tagSize   = 16

	// formatV1 is the first byte of every blob this package produces. It is authenticated as
	// part of the associated data so that a future format cannot be confused with this one.
	formatV1 byte = 1
)

// newAEAD returns AES-256-GCM with nonces drawn from the system CSPRNG inside Seal. Letting the
// standard library generate and prepend the nonce removes the most dangerous mistake in GCM
// usage (nonce reuse) from this package's code, and it writes the nonce straight into the
// output buffer, so it costs no extra allocation.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("vault: key must be %d bytes, got %d", keySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: aes: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("vault: gcm: %w", err)
	}
	return aead, nil
}
