package vault

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTransit is an in-process stand-in for Vault's transit engine: it implements the encrypt
// and decrypt endpoints with its own AES-GCM key and enforces X-Vault-Token, like the real one.
type fakeTransit struct {
	t         *testing.T
	token     string
	namespace string
	mount     string
	key       string
	aead      cipher.AEAD
	calls     atomic.Int64
	lastBody  atomic.Value // string
}

func newFakeTransit(t *testing.T, mount, key string) (*fakeTransit, *httptest.Server) {
	t.Helper()
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	block, err := aes.NewCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTransit{t: t, token: "s.good-token", mount: mount, key: key, aead: aead}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeTransit) fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
}

func (f *fakeTransit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Method != http.MethodPost {
		f.fail(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	if r.Header.Get("X-Vault-Token") != f.token {
		f.fail(w, http.StatusForbidden, "permission denied")
		return
	}
	if f.namespace != "" && r.Header.Get("X-Vault-Namespace") != f.namespace {
		f.fail(w, http.StatusForbidden, "permission denied")
		return
	}
	var req struct {
		Plaintext  string  `json:"plaintext"`
		Ciphertext string  `json:"ciphertext"`
		Context    *string `json:"context"`
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(r.Body); err != nil {
		f.fail(w, http.StatusBadRequest, "bad body")
		return
	}
	f.lastBody.Store(body.String())
	if err := json.Unmarshal(body.Bytes(), &req); err != nil {
		f.fail(w, http.StatusBadRequest, "failed to parse JSON input")
		return
	}
	if req.Context != nil {
		// A non-derived key rejects context, so the client must never send it.
		f.fail(w, http.StatusBadRequest, "context provided but key is not derived")
		return
	}
	prefix := "/v1/" + f.mount + "/"
	switch r.URL.Path {
	case prefix + "encrypt/" + f.key:
		pt, err := base64.StdEncoding.DecodeString(req.Plaintext)
		if err != nil {
			f.fail(w, http.StatusBadRequest, "failed to base64-decode plaintext")
			return
		}
		nonce := make([]byte, f.aead.NonceSize())
		_, _ = rand.Read(nonce)
		ct := f.aead.Seal(nonce, nonce, pt, nil)
		f.ok(w, map[string]string{"ciphertext": "vault:v1:" + base64.StdEncoding.EncodeToString(ct), "key_version": "1"})
	case prefix + "decrypt/" + f.key:
		enc, ok := strings.CutPrefix(req.Ciphertext, "vault:v1:")
		raw, err := base64.StdEncoding.DecodeString(enc)
		if !ok || err != nil || len(raw) < f.aead.NonceSize() {
			f.fail(w, http.StatusBadRequest, "invalid ciphertext")
			return
		}
		pt, err := f.aead.Open(nil, raw[:f.aead.NonceSize()], raw[f.aead.NonceSize():], nil)
		if err != nil {
			f.fail(w, http.StatusBadRequest, "cipher: message authentication failed")
			return
		}
		f.ok(w, map[string]string{"plaintext": base64.StdEncoding.EncodeToString(pt)})
	default:
		f.fail(w, http.StatusNotFound, "no handler for route")
	}
}

func (f *fakeTransit) ok(w http.ResponseWriter, data map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func TestTransitKeysetSealOpen(t *testing.T) {
	_, srv := newFakeTransit(t, "transit", "steward")
	root, err := NewTransitRoot(TransitConfig{Address: srv.URL, Token: "s.good-token", KeyName: "steward"})
	if err != nil {
		t.Fatal(err)
	}
	if root.Name() != "vault-transit:steward" {
		t.Fatalf("Name() = %q", root.Name())
	}
	testKeysetSealOpen(t, root)
}

func TestTransitEnvelope(t *testing.T) {
	f, srv := newFakeTransit(t, "kms/transit", "steward")
	f.namespace = "team-a"
	root, err := NewTransitRoot(TransitConfig{
		Address: srv.URL + "/", Token: "s.good-token", KeyName: "steward",
		Mount: "/kms/transit/", Namespace: "team-a", HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if root.Name() != "vault-transit:kms/transit/steward" {
		t.Fatalf("Name() = %q", root.Name())
	}
	ctx := context.Background()
	payload := []byte("keyset-plaintext-marker")
	blob, err := root.Wrap(ctx, payload, []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := f.lastBody.Load().(string); strings.Contains(body, base64.StdEncoding.EncodeToString(payload)) {
		t.Fatal("the payload was sent to Vault; only the wrapping key should be")
	}
	if bytes.Contains(blob, payload) {
		t.Fatal("blob contains the payload")
	}
	got, err := root.Unwrap(ctx, blob, []byte("ad"))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("Unwrap: %q, %v", got, err)
	}
	_, err = root.Unwrap(ctx, blob, []byte("other ad"))
	mustDecryptErr(t, "other associated data", err)

	bad := bytes.Clone(blob)
	bad[len(bad)-1] ^= 1
	_, err = root.Unwrap(ctx, bad, []byte("ad"))
	mustDecryptErr(t, "tampered payload", err)

	// Corrupting the transit ciphertext is refused by Vault, which surfaces as a TransitError.
	bad = bytes.Clone(blob)
	bad[transitHeaderLen+20] ^= 1
	_, err = root.Unwrap(ctx, bad, []byte("ad"))
	var te *TransitError
	if !errors.As(err, &te) || te.StatusCode != http.StatusBadRequest || te.Op != "decrypt" {
		t.Fatalf("tampered transit ciphertext: %v, want a 400 TransitError", err)
	}
	_, err = root.Unwrap(ctx, blob[:2], []byte("ad"))
	mustDecryptErr(t, "truncated", err)
}

func TestTransitWrongToken(t *testing.T) {
	f, srv := newFakeTransit(t, "transit", "steward")
	good, _ := NewTransitRoot(TransitConfig{Address: srv.URL, Token: f.token, KeyName: "steward"})
	ks, _ := NewKeyset()
	blob, err := SealKeyset(context.Background(), good, ks)
	if err != nil {
		t.Fatal(err)
	}

	root, err := NewTransitRoot(TransitConfig{Address: srv.URL, Token: "s.wrong-token", KeyName: "steward"})
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"seal": func() error { _, err := SealKeyset(context.Background(), root, ks); return err }(),
		"open": func() error { _, err := OpenKeyset(context.Background(), root, blob); return err }(),
	} {
		var te *TransitError
		if !errors.As(err, &te) || te.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: got %v, want a 403 TransitError", name, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "permission denied") || !strings.Contains(msg, "403") {
			t.Fatalf("%s: error %q should carry Vault's message and status", name, msg)
		}
		if strings.Contains(msg, "wrong-token") {
			t.Fatalf("%s: error %q leaks the token", name, msg)
		}
		if errors.Is(err, ErrDecrypt) {
			t.Fatalf("%s: an authorisation failure must not look like corrupt data", name)
		}
	}
}

func TestTransitWrongKeyAndUnreachable(t *testing.T) {
	_, srv := newFakeTransit(t, "transit", "steward")
	root, _ := NewTransitRoot(TransitConfig{Address: srv.URL, Token: "s.good-token", KeyName: "other"})
	_, err := root.Wrap(context.Background(), []byte("x"), nil)
	var te *TransitError
	if !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown key: %v", err)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	addr := down.URL
	down.Close()
	root, _ = NewTransitRoot(TransitConfig{Address: addr, Token: "t", KeyName: "steward", Timeout: time.Second})
	if _, err := root.Wrap(context.Background(), []byte("x"), nil); err == nil || !strings.Contains(err.Error(), "transit encrypt") {
		t.Fatalf("unreachable Vault: %v", err)
	}
}

func TestTransitTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); srv.Close() })
	root, _ := NewTransitRoot(TransitConfig{Address: srv.URL, Token: "t", KeyName: "k", HTTPClient: srv.Client(), Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := root.Wrap(context.Background(), []byte("x"), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("timeout not applied")
	}
}

func TestNewTransitRootValidates(t *testing.T) {
	for _, cfg := range []TransitConfig{
		{Address: "http://v:8200", KeyName: "k"},
		{Address: "http://v:8200", Token: "t"},
		{Address: "http://v:8200", Token: "t", KeyName: "../sys"},
		{Address: "http://v:8200", Token: "t", KeyName: ".."},
		{Address: "http://v:8200", Token: "t", KeyName: "k", Mount: "a/../b"},
		{Address: "v:8200", Token: "t", KeyName: "k"},
		{Address: "ftp://v", Token: "t", KeyName: "k"},
		{Address: "", Token: "t", KeyName: "k"},
	} {
		if _, err := NewTransitRoot(cfg); err == nil {
			t.Errorf("NewTransitRoot(%+v) succeeded", cfg)
		} else if cfg.Token != "" && strings.Contains(err.Error(), cfg.Token+"\"") {
			t.Errorf("error leaks token: %v", err)
		}
	}
}
