package app

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
)

// fakeTransit serves the two HashiCorp Vault Transit endpoints Steward uses, with a real AES
// key of its own, so the root-key path is exercised end to end without a Vault server.
func fakeTransit(t *testing.T, token string) (*httptest.Server, *atomic.Int64) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-Vault-Token") != token {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errors":["permission denied"]}`))
			return
		}
		var in map[string]string
		_ = json.NewDecoder(r.Body).Decode(&in)
		switch {
		case strings.HasSuffix(r.URL.Path, "/transit/encrypt/steward"):
			pt, _ := base64.StdEncoding.DecodeString(in["plaintext"])
			nonce := make([]byte, gcm.NonceSize())
			_, _ = rand.Read(nonce)
			ct := gcm.Seal(nonce, nonce, pt, nil)
			_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]string{"ciphertext": "vault:v1:" + base64.StdEncoding.EncodeToString(ct)}})
		case strings.HasSuffix(r.URL.Path, "/transit/decrypt/steward"):
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(in["ciphertext"], "vault:v1:"))
			if len(raw) < gcm.NonceSize() {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			pt, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"errors":["cipher: message authentication failed"]}`))
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]string{"plaintext": base64.StdEncoding.EncodeToString(pt)}})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestVaultTransitRoot(t *testing.T) {
	srv, calls := fakeTransit(t, "s.good")
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.Root, cfg.VaultAddr, cfg.VaultToken, cfg.VaultKey = "vault-transit", srv.URL, "s.good", "steward"
	ctx := context.Background()
	if _, err := Init(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.RootKeyPath()); !os.IsNotExist(err) {
		t.Fatalf("a local root key was written with a Transit root (%v)", err)
	}
	a, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sys := authz.WithActor(ctx, authz.System)
	v, err := a.Customers.Create(sys, map[string]any{"email": "transit@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	before := calls.Load()
	// A fresh start unwraps the keyset through Transit once, not per customer or field.
	a, err = Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	got, err := a.Customers.Get(sys, v.ID, "support")
	if err != nil || got.Fields["email"] != "transit@example.com" {
		t.Fatalf("got %v %v", got.Fields, err)
	}
	if n := calls.Load() - before; n != 1 {
		t.Fatalf("got %d Transit calls to open and read, want 1", n)
	}
	bad := cfg
	bad.VaultToken = "s.wrong"
	if _, err := Open(ctx, bad, nil); err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "s.wrong") {
		t.Fatalf("got %v, want a 403 from Transit without the token", err)
	}
}
