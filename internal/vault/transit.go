package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// TransitConfig configures a Root backed by HashiCorp Vault's transit secrets engine.
type TransitConfig struct {
	// Address is the Vault server URL, e.g. "https://vault.internal:8200".
	Address string
	// Token is sent as X-Vault-Token. It needs update permission on the encrypt and decrypt
	// paths of KeyName and nothing else.
	Token string
	// KeyName is the transit key. Any key type that supports encryption works, derived or not,
	// because associated data is bound locally (see NewTransitRoot).
	KeyName string
	// Mount is the path the transit engine is mounted at; empty means "transit".
	Mount string
	// HTTPClient is used for all requests; nil means a client with a Timeout of Timeout.
	HTTPClient *http.Client
	// Namespace is sent as X-Vault-Namespace when set (Vault Enterprise / HCP).
	Namespace string
	// Timeout bounds each request even when HTTPClient has no timeout of its own, so a hung
	// Vault cannot hang startup forever. Zero means 10 seconds.
	Timeout time.Duration
}

const (
	defaultTransitMount   = "transit"
	defaultTransitTimeout = 10 * time.Second
	// maxTransitResponse bounds how much of a response is read; real responses are a few hundred
	// bytes, and an unbounded read would let a misbehaving proxy exhaust memory.
	maxTransitResponse = 1 << 20
	// transitHeaderLen is the format byte plus the two-byte length of the transit ciphertext.
	transitHeaderLen = 3
	// maxTransitErrors and maxTransitErrorLen bound how much server text is copied into an
	// error, so a proxy's HTML error page cannot flood logs.
	maxTransitErrors   = 5
	maxTransitErrorLen = 256
)

// transitRoot implements Root as an envelope: each Wrap draws a fresh 32-byte wrapping key,
// seals the plaintext locally with AES-256-GCM binding the associated data, and asks Transit to
// encrypt only the wrapping key. This works with any transit key (Transit's own "context" needs
// a key created with derived=true), keeps the protected payload off the network, and leaves the
// blob rewrappable with Transit's rewrap endpoint because the transit ciphertext is not part of
// the associated data.
type transitRoot struct {
	client  *http.Client
	timeout time.Duration
	token   string
	ns      string
	encrypt string // full URL of the encrypt endpoint
	decrypt string // full URL of the decrypt endpoint
	name    string
}

// TransitError reports a non-2xx response from Vault. It carries Vault's own "errors" text so
// operators can see "permission denied" or "encryption key not found" directly, and never the
// request body, which contains key material.
type TransitError struct {
	Op         string // "encrypt" or "decrypt"
	StatusCode int
	Errors     []string
}

func (e *TransitError) Error() string {
	msg := fmt.Sprintf("vault: transit %s failed with HTTP %d", e.Op, e.StatusCode)
	if len(e.Errors) > 0 {
		msg += ": " + strings.Join(e.Errors, "; ")
	}
	return msg
}

// NewTransitRoot validates cfg and returns a Root that uses Vault's HTTP API. It does not
// contact Vault, so a process can start its listeners before Vault is reachable; the first
// Wrap or Unwrap reports connectivity or permission problems.
func NewTransitRoot(cfg TransitConfig) (Root, error) {
	if cfg.Token == "" {
		return nil, errors.New("vault: transit token is required")
	}
	if cfg.KeyName == "" || strings.ContainsAny(cfg.KeyName, "/?#%") || cfg.KeyName == "." || cfg.KeyName == ".." {
		return nil, fmt.Errorf("vault: invalid transit key name %q", cfg.KeyName)
	}
	mount := strings.Trim(cfg.Mount, "/")
	if mount == "" {
		mount = defaultTransitMount
	}
	for _, seg := range strings.Split(mount, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "?#%") {
			return nil, fmt.Errorf("vault: invalid transit mount %q", cfg.Mount)
		}
	}
	base, err := url.Parse(strings.TrimRight(cfg.Address, "/"))
	if err != nil {
		return nil, fmt.Errorf("vault: invalid transit address: %w", err)
	}
	if (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("vault: transit address %q must be an http or https URL", cfg.Address)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultTransitTimeout
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	name := "vault-transit:" + cfg.KeyName
	if mount != defaultTransitMount {
		name = "vault-transit:" + mount + "/" + cfg.KeyName
	}
	return &transitRoot{
		client:  client,
		timeout: timeout,
		token:   cfg.Token,
		ns:      cfg.Namespace,
		encrypt: base.JoinPath("v1", mount, "encrypt", cfg.KeyName).String(),
		decrypt: base.JoinPath("v1", mount, "decrypt", cfg.KeyName).String(),
		name:    name,
	}, nil
}

func (t *transitRoot) Name() string { return t.name }

// Wrap produces formatV1 ‖ uint16 len(tc) ‖ tc ‖ nonce ‖ ciphertext ‖ tag, where tc is Transit's
// "vault:vN:..." ciphertext of the wrapping key.
func (t *transitRoot) Wrap(ctx context.Context, plaintext, associated []byte) ([]byte, error) {
	var wk [keySize]byte
	defer clear(wk[:])
	_, _ = rand.Read(wk[:])
	aead, err := newAEAD(wk[:])
	if err != nil {
		return nil, err
	}

	body := make([]byte, 0, 16+base64.StdEncoding.EncodedLen(keySize))
	body = append(body, `{"plaintext":"`...)
	body = base64.StdEncoding.AppendEncode(body, wk[:])
	body = append(body, `"}`...)
	var resp struct {
		Data struct {
			Ciphertext string `json:"ciphertext"`
		} `json:"data"`
	}
	err = t.call(ctx, "encrypt", t.encrypt, body, &resp)
	clear(body)
	if err != nil {
		return nil, err
	}
	tc := resp.Data.Ciphertext
	if !strings.HasPrefix(tc, "vault:") || len(tc) > 0xffff {
		return nil, errors.New("vault: transit encrypt returned a malformed ciphertext")
	}

	out := make([]byte, transitHeaderLen, transitHeaderLen+len(tc)+nonceSize+len(plaintext)+tagSize)
	out[0] = formatV1
	binary.BigEndian.PutUint16(out[1:3], uint16(len(tc)))
	out = append(out, tc...)
	return aead.Seal(out, nil, plaintext, transitAD(associated)), nil
}

// Unwrap asks Transit to decrypt the wrapping key and opens the payload locally. A payload that
// fails to authenticate wraps ErrDecrypt; a Vault refusal is a *TransitError.
func (t *transitRoot) Unwrap(ctx context.Context, ciphertext, associated []byte) ([]byte, error) {
	if len(ciphertext) < transitHeaderLen || ciphertext[0] != formatV1 {
		return nil, fmt.Errorf("%w: not a transit envelope", ErrDecrypt)
	}
	n := int(binary.BigEndian.Uint16(ciphertext[1:3]))
	if len(ciphertext) < transitHeaderLen+n+nonceSize+tagSize {
		return nil, fmt.Errorf("%w: transit envelope is truncated", ErrDecrypt)
	}
	tc := ciphertext[transitHeaderLen : transitHeaderLen+n]
	sealed := ciphertext[transitHeaderLen+n:]

	reqBody, err := json.Marshal(struct {
		Ciphertext string `json:"ciphertext"`
	}{string(tc)})
	if err != nil {
		return nil, fmt.Errorf("vault: encode transit request: %w", err)
	}
	var resp struct {
		Data struct {
			Plaintext string `json:"plaintext"`
		} `json:"data"`
	}
	if err := t.call(ctx, "decrypt", t.decrypt, reqBody, &resp); err != nil {
		return nil, err
	}
	wk, err := base64.StdEncoding.DecodeString(resp.Data.Plaintext)
	defer clear(wk)
	if err != nil || len(wk) != keySize {
		return nil, fmt.Errorf("%w: transit returned a wrapping key of the wrong shape", ErrDecrypt)
	}
	aead, err := newAEAD(wk)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, nil, sealed, transitAD(associated))
	if err != nil {
		return nil, fmt.Errorf("%w: transit envelope", ErrDecrypt)
	}
	return pt, nil
}

// transitAD binds the envelope format to the caller's associated data; the prefix is a fixed
// single byte, so the encoding is unambiguous without a length prefix.
func transitAD(associated []byte) []byte {
	ad := make([]byte, 0, 1+len(associated))
	ad = append(ad, formatV1)
	return append(ad, associated...)
}

// call POSTs body to endpoint and decodes a 2xx JSON response into out. The response body is
// cleared after decoding because a decrypt response holds key material.
func (t *transitRoot) call(ctx context.Context, op, endpoint string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("vault: build transit %s request: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Vault-Token", t.token)
	if t.ns != "" {
		req.Header.Set("X-Vault-Namespace", t.ns)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		// *url.Error includes the URL and the cause, neither of which holds the token or body.
		return fmt.Errorf("vault: transit %s: %w", op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTransitResponse))
	defer clear(raw)
	if err != nil {
		return fmt.Errorf("vault: read transit %s response: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &TransitError{Op: op, StatusCode: resp.StatusCode, Errors: vaultErrors(raw)}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("vault: decode transit %s response: %w", op, err)
	}
	return nil
}

// vaultErrors extracts Vault's {"errors": [...]} array, bounded in count and length. A body
// that is not Vault JSON (a proxy's page, say) yields nothing rather than arbitrary text.
func vaultErrors(raw []byte) []string {
	var body struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(raw, &body) != nil {
		return nil
	}
	errs := body.Errors
	if len(errs) > maxTransitErrors {
		errs = errs[:maxTransitErrors]
	}
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		if len(e) > maxTransitErrorLen {
			e = e[:maxTransitErrorLen] + "…"
		}
		out = append(out, e)
	}
	return out
}
