package sso

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
)

// sealer seals what a sign-in carries through the provider in a cookie (AES-256-GCM, the
// label as associated data so that one kind of cookie never opens as another), so that no
// server state is needed between the redirect and the way back.
type sealer struct{ aead cipher.AEAD }

func newSealer(secret []byte) (sealer, error) {
	if len(secret) < 32 {
		return sealer{}, errors.New("sso: a 32-byte secret is required")
	}
	block, err := aes.NewCipher(secret[:32])
	if err != nil {
		return sealer{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealer{}, err
	}
	return sealer{aead: aead}, nil
}

// seal returns v as JSON, sealed and base64url-encoded.
func (s sealer) seal(v any, label string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, b, []byte(label))), nil
}

// open reads a value seal made with the same label into v; false for anything else.
func (s sealer) open(cookie, label string, v any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(cookie)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n {
		return false
	}
	b, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(label))
	return err == nil && json.Unmarshal(b, v) == nil
}
