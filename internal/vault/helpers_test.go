package vault

import (
	"errors"
	"testing"
)

func newTestVault(t testing.TB) (*Keyset, *Vault) {
	t.Helper()
	ks, err := NewKeyset()
	if err != nil {
		t.Fatalf("NewKeyset: %v", err)
	}
	v, err := New(ks, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ks, v
}

func mustDecryptErr(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrDecrypt) {
		t.Fatalf("%s: got error %v, want ErrDecrypt", what, err)
	}
}
