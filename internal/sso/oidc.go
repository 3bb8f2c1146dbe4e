// Package sso signs staff in through the company's identity provider and checks what the
// provider says before Steward believes it. OIDC: the authorisation-code flow with PKCE, the
// provider found through its discovery document, the ID token's signature, issuer, audience,
// expiry and nonce checked. SAML 2.0 (saml.go): signed assertions for this service provider,
// in time, answering this browser's request, used once. LDAP (ldap.go): a bind as the person
// over LDAPS or StartTLS, and their groups. CAS 3.0 (cas.go): the service ticket validated
// with the server. What a sign-in carries through the provider travels in a sealed,
// short-lived cookie (seal.go), so that no server state is needed between the redirect and
// the way back.
package sso

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/stewardhq/steward/internal/problem"
)

// OIDC is one OpenID Connect provider.
type OIDC struct {
	provider *oidc.Provider
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
	claim    string
	sealer   sealer
	now      func() time.Time
}

// Settings configure an OIDC provider.
type Settings struct {
	Issuer, ClientID, ClientSecret string
	// RedirectURL is the console's callback (PUBLIC_URL/console/oidc/callback).
	RedirectURL string
	// Claim lists the person's groups ("groups").
	Claim string
	// Secret seals the sign-in cookie (32 bytes or more).
	Secret []byte
	Now    func() time.Time
}

// NewOIDC reads the provider's discovery document.
func NewOIDC(ctx context.Context, s Settings) (*OIDC, error) {
	sl, err := newSealer(s.Secret)
	if err != nil {
		return nil, err
	}
	p, err := oidc.NewProvider(ctx, s.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: the provider's discovery document: %w", err)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Claim == "" {
		s.Claim = "groups"
	}
	return &OIDC{provider: p, claim: s.Claim, sealer: sl, now: s.Now,
		verifier: p.Verifier(&oidc.Config{ClientID: s.ClientID, Now: s.Now}),
		config: oauth2.Config{ClientID: s.ClientID, ClientSecret: s.ClientSecret, RedirectURL: s.RedirectURL, Endpoint: p.Endpoint(),
			Scopes: []string{oidc.ScopeOpenID, "email", "profile", "groups"}}}, nil
}

// flight is what a sign-in carries from the redirect to the way back.
type flight struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Expires  time.Time `json:"e"`
	Force    bool      `json:"f,omitempty"`
}

// FlightFor is how long a person has at the provider.
const FlightFor = 10 * time.Minute

// Begin starts a sign-in: the provider's URL to send the browser to, and the sealed value of
// the cookie that must come back with it. force asks the provider to authenticate the person
// afresh (prompt=login, max_age=0), for a re-authentication before a reveal; Finish then
// requires the ID token's auth_time to show it did.
func (o *OIDC) Begin(force bool) (authURL, cookie string, err error) {
	f := flight{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(), Expires: o.now().Add(FlightFor), Force: force}
	if cookie, err = o.sealer.seal(f, "oidc flight"); err != nil {
		return "", "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)}
	if force {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	return o.config.AuthCodeURL(f.State, opts...), cookie, nil
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Person is who the provider says signed in.
type Person struct {
	Email  string
	Groups []string
}

// Finish completes a sign-in from the provider's answer (its code and state) and the cookie
// Begin set: the code exchanged with the PKCE verifier, the ID token verified and its nonce
// compared. Unauthenticated for anything that does not hold.
func (o *OIDC) Finish(ctx context.Context, code, state, cookie string) (Person, error) {
	bad := func(why string) (Person, error) {
		return Person{}, problem.New(problem.Unauthenticated, "sign-in through the identity provider failed: %s; start again", why)
	}
	var f flight
	if !o.sealer.open(cookie, "oidc flight", &f) {
		return bad("the sign-in was not started here")
	}
	if f.State != state || state == "" {
		return bad("the answer does not belong to this sign-in")
	}
	if !o.now().Before(f.Expires) {
		return bad("it took too long")
	}
	tok, err := o.config.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return bad("the provider did not accept the code")
	}
	rawID, ok := tok.Extra("id_token").(string)
	if !ok {
		return bad("no ID token")
	}
	id, err := o.verifier.Verify(ctx, rawID)
	if err != nil {
		return bad("the ID token does not verify")
	}
	if id.Nonce != f.Nonce {
		return bad("the ID token was not issued for this sign-in")
	}
	// The flight started FlightFor before it expires; a forced sign-in must be newer (with a
	// minute for clocks), and the provider must say when it was (auth_time).
	if f.Force {
		var at struct {
			AuthTime int64 `json:"auth_time"`
		}
		if id.Claims(&at) != nil || at.AuthTime == 0 || time.Unix(at.AuthTime, 0).Before(f.Expires.Add(-FlightFor-time.Minute)) {
			return bad("the identity provider did not confirm a fresh sign-in")
		}
	}
	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		return bad("unreadable claims")
	}
	email, _ := claims["email"].(string)
	if verified, ok := claims["email_verified"].(bool); ok && !verified {
		return bad("the provider has not verified the e-mail address")
	}
	if email == "" {
		return bad("the provider gave no e-mail address")
	}
	p := Person{Email: strings.ToLower(email)}
	switch g := claims[o.claim].(type) {
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok {
				p.Groups = append(p.Groups, s)
			}
		}
	case string:
		p.Groups = strings.Fields(g)
	}
	return p, nil
}
