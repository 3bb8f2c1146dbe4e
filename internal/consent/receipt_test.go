package consent

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestKeyIDIsTheRFC7638Thumbprint checks KeyID against the Ed25519 key of RFC 8037, Appendix
// A.3, whose JWK thumbprint the RFC gives.
func TestKeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := KeyID(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func testReceipt() Receipt {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	return Receipt{Version: ReceiptVersion, ReceiptID: "r1", IssuedAt: at.Unix(), ConsentTimestamp: at, PIIPrincipalID: "c1",
		Controller: Controller{Name: "Example Shop Ltd"}, Event: "given", CollectionMethod: SourceSignupForm,
		Notice:   &Notice{Version: "v1", ContentHash: ContentHash("policy"), EffectiveAt: at},
		Purposes: []ReceiptPurpose{{Purpose: "marketing_email", LegalBasis: "consent", ConsentType: "explicit"}}}
}

func TestReceiptSignAndVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	tok, err := Sign(testReceipt(), priv)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := Verify(tok, pub)
	if err != nil {
		t.Fatal(err)
	}
	if rc.PIIPrincipalID != "c1" || rc.Notice.Version != "v1" || rc.Purposes[0].Purpose != "marketing_email" {
		t.Fatalf("got %+v", rc)
	}

	// Checked independently of Verify: split, decode, and verify with the standard library.
	parts := strings.Split(tok, ".")
	var hdr map[string]string
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr["alg"] != "EdDSA" || hdr["kid"] != PublicKeySet(pub).Keys[0].Kid {
		t.Fatalf("header %s", hb)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("the signature does not verify with the standard library")
	}

	other, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	changed := testReceipt()
	changed.Event = "withdrawn"
	cb, _ := json.Marshal(changed)
	forged, _ := Sign(changed, otherPriv)
	tampers := map[string]string{
		"payload changed":       parts[0] + "." + base64.RawURLEncoding.EncodeToString(cb) + "." + parts[2],
		"signature changed":     parts[0] + "." + parts[1] + "." + flip(parts[2]),
		"header changed":        base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+hdr["kid"]+`"}`)) + "." + parts[1] + "." + parts[2],
		"signed by another key": forged,
		"not a JWS":             "abc",
		"not base64":            "a.b!.c",
	}
	for name, bad := range tampers {
		if _, err := Verify(bad, pub); !errors.Is(err, ErrBadReceipt) {
			t.Errorf("%s: got %v, want ErrBadReceipt", name, err)
		}
	}
	if _, err := Verify(tok, other); !errors.Is(err, ErrBadReceipt) {
		t.Errorf("verified with the wrong key: %v", err)
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	return string(b)
}

func TestPublicKeySet(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	ks := PublicKeySet(pub)
	if len(ks.Keys) != 1 {
		t.Fatalf("got %d keys", len(ks.Keys))
	}
	k := ks.Keys[0]
	x, _ := base64.RawURLEncoding.DecodeString(k.X)
	if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || string(x) != string(pub) {
		t.Fatalf("got %+v", k)
	}
	if len(PublicKeySet(nil).Keys) != 0 {
		t.Fatal("a key set for no key lists a key")
	}
}
