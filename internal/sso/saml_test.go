package sso

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"github.com/stewardhq/steward/internal/problem"
)

// testSAML is a service provider trusting a freshly made identity provider.
func testSAML(t testing.TB) *SAML {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	meta, _ := url.Parse("https://idp.example/metadata")
	sso, _ := url.Parse("https://idp.example/sso")
	idp := saml.IdentityProvider{Key: key, Signer: key, Certificate: cert, MetadataURL: *meta, SSOURL: *sso}
	b, err := xml.Marshal(idp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewSAML(SAMLSettings{IdPMetadata: b, MetadataURL: "https://steward.example/console/saml/metadata", ACSURL: "https://steward.example/console/saml/acs",
		Secret: make([]byte, 32), Consumed: func(context.Context, string, time.Time) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzSAMLFinish: whatever a browser posts to the assertion consumer service, with a genuine
// sign-in cookie, Steward answers Unauthenticated and never signs anyone in: nothing without
// the provider's key makes a valid answer.
func FuzzSAMLFinish(f *testing.F) {
	p := testSAML(f)
	_, cookie, err := p.Begin(false)
	if err != nil {
		f.Fatal(err)
	}
	var fl samlFlight
	if !p.sealer.open(cookie, "saml flight", &fl) {
		f.Fatal("cookie does not open")
	}
	for _, s := range []string{"", "<Response/>", `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0"><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="a"/></samlp:Response>`,
		`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>`} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, doc []byte, encode bool) {
		resp := string(doc)
		if encode {
			resp = base64.StdEncoding.EncodeToString(doc)
		}
		person, err := p.Finish(context.Background(), resp, fl.RelayState, cookie)
		if err == nil || !problem.Is(err, problem.Unauthenticated) {
			t.Fatalf("accepted or failed oddly: %+v %v", person, err)
		}
	})
}
