package consent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Receipt is what a customer is given for each choice, shaped after the Kantara Initiative's
// Consent Receipt and the consent record of ISO/IEC TS 27560: who the controller is, whose
// choice it was, what was chosen for which purposes, under which policy text (pinned by its
// hash), when and how. It is signed as a JWS so that the customer, the business or a regulator
// can check it with the published key and no access to Steward's database.
type Receipt struct {
	// Version names this receipt format.
	Version   string `json:"version"`
	ReceiptID string `json:"receipt_id"`
	// IssuedAt is the JWT "iat" claim (seconds since 1970).
	IssuedAt int64 `json:"iat"`
	// ConsentTimestamp is when the choice was recorded.
	ConsentTimestamp time.Time  `json:"consent_timestamp"`
	Controller       Controller `json:"controller"`
	// PIIPrincipalID is the customer id: receipts carry no contact data.
	PIIPrincipalID string `json:"pii_principal_id"`
	// Event is given, withdrawn, objected, objection_lifted, restricted or restriction_lifted.
	Event string `json:"event"`
	// CollectionMethod is the record's source; Channel the channel, when known.
	CollectionMethod string           `json:"collection_method"`
	Channel          string           `json:"channel,omitempty"`
	Notice           *Notice          `json:"notice,omitempty"`
	Purposes         []ReceiptPurpose `json:"purposes"`
	Evidence         ReceiptEvidence  `json:"evidence"`
}

// Notice pins the privacy-policy version a choice was made under.
type Notice struct {
	Version     string    `json:"version"`
	URL         string    `json:"url,omitempty"`
	ContentHash string    `json:"content_hash"`
	EffectiveAt time.Time `json:"effective_at"`
	Language    string    `json:"language,omitempty"`
}

// ReceiptPurpose describes one purpose the receipt is about.
type ReceiptPurpose struct {
	Purpose     string `json:"purpose"`
	Description string `json:"description,omitempty"`
	LegalBasis  string `json:"legal_basis,omitempty"`
	// ConsentType is "explicit" for a choice the customer made, "signal" for a Global Privacy
	// Control signal, "imported" for a choice carried over from another system.
	ConsentType string `json:"consent_type"`
}

// ReceiptEvidence is the part of the evidence a receipt repeats. The user agent, form id and
// IAB strings stay in the ledger, sealed under the customer's key; the IP and a caller's form id
// appear only as keyed hashes.
type ReceiptEvidence struct {
	// FormID is set only for a reference Steward wrote itself (an event or request).
	FormID string `json:"form_id,omitempty"`
	// FormIDHash is the hex HMAC-SHA256 of the caller's form id under the evidence key.
	FormIDHash   string `json:"form_id_hash,omitempty"`
	IPHash       string `json:"ip_hash,omitempty"`
	HasUserAgent bool   `json:"user_agent,omitempty"`
	HasTCF       bool   `json:"tcf,omitempty"`
	HasGPP       bool   `json:"gpp,omitempty"`
}

// ReceiptVersion is the Version of receipts made by this code.
const ReceiptVersion = "steward-consent-receipt-1"

func event(r *Record) string {
	switch {
	case r.Kind == KindConsent && r.Granted:
		return "given"
	case r.Kind == KindConsent:
		return "withdrawn"
	case r.Kind == KindObjection && r.Granted:
		return "objection_lifted"
	case r.Kind == KindObjection:
		return "objected"
	case r.Granted:
		return "restriction_lifted"
	}
	return "restricted"
}

// jwsHeader is the protected header of every receipt.
type jwsHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

var b64 = base64.RawURLEncoding

// KeyID is the RFC 7638 JWK thumbprint of an Ed25519 public key: it names the key in receipt
// headers and in the published key set, and changes whenever the key does.
func KeyID(pub ed25519.PublicKey) string {
	// Members in lexicographic order, no white space, as RFC 7638 requires.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64.EncodeToString(pub) + `"}`))
	return b64.EncodeToString(sum[:])
}

// JWK is a public key in JSON Web Key form (RFC 8037 for Ed25519).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// KeySet is the JSON Web Key Set that publishes the receipt key.
type KeySet struct {
	Keys []JWK `json:"keys"`
}

// PublicKeySet returns the key set to publish for pub.
func PublicKeySet(pub ed25519.PublicKey) KeySet {
	if len(pub) != ed25519.PublicKeySize {
		return KeySet{Keys: []JWK{}}
	}
	return KeySet{Keys: []JWK{{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(pub), Kid: KeyID(pub), Use: "sig", Alg: "EdDSA"}}}
}

// Sign returns rc as a JWS compact serialisation signed with key.
func Sign(rc Receipt, key ed25519.PrivateKey) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", errors.New("no receipt signing key")
	}
	h, err := json.Marshal(jwsHeader{Alg: "EdDSA", Typ: "JWT", Kid: KeyID(key.Public().(ed25519.PublicKey))})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(rc)
	if err != nil {
		return "", fmt.Errorf("encode receipt: %w", err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	return input + "." + b64.EncodeToString(ed25519.Sign(key, []byte(input))), nil
}

// ErrBadReceipt is returned by Verify for anything that is not a receipt signed by the key.
var ErrBadReceipt = errors.New("receipt does not verify")

// Verify checks a receipt's signature against pub and returns its contents. Every failure,
// whether malformed, signed by another key or altered, is ErrBadReceipt with a reason.
func Verify(token string, pub ed25519.PublicKey) (Receipt, error) {
	var rc Receipt
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return rc, fmt.Errorf("%w: not a JWS compact serialisation", ErrBadReceipt)
	}
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return rc, fmt.Errorf("%w: not base64url", ErrBadReceipt)
	}
	var h jwsHeader
	if err := json.Unmarshal(hb, &h); err != nil || h.Alg != "EdDSA" {
		return rc, fmt.Errorf("%w: the header must name alg EdDSA", ErrBadReceipt)
	}
	if len(pub) != ed25519.PublicKeySize || h.Kid != KeyID(pub) {
		return rc, fmt.Errorf("%w: signed with another key", ErrBadReceipt)
	}
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		return rc, fmt.Errorf("%w: the signature does not match", ErrBadReceipt)
	}
	d := json.NewDecoder(bytes.NewReader(pb))
	d.DisallowUnknownFields()
	if err := d.Decode(&rc); err != nil || rc.Version != ReceiptVersion {
		return rc, fmt.Errorf("%w: not a consent receipt", ErrBadReceipt)
	}
	return rc, nil
}
