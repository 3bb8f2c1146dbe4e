package sso

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/stewardhq/steward/internal/problem"
)

// SAML is Steward as a SAML 2.0 service provider: the browser is sent to the identity
// provider with an AuthnRequest (HTTP-Redirect binding) and comes back with a Response posted
// to the assertion consumer service (HTTP-POST). The Response or its assertion must carry the
// provider's signature by a certificate in its metadata; the assertion must answer the request
// this browser started (its id travels in a sealed cookie), be meant for this service provider
// (audience, recipient, destination), be within its validity window, and be used once (its id
// is recorded in the database, so a replay is refused on every node).
type SAML struct {
	sp       saml.ServiceProvider
	email    string
	groups   string
	sealer   sealer
	now      func() time.Time
	consumed func(ctx context.Context, id string, until time.Time) error
}

// SAMLSettings configure the service provider.
type SAMLSettings struct {
	// IdPMetadata is the identity provider's metadata document (read from a file or URL).
	IdPMetadata []byte
	// EntityID names Steward to the provider; empty uses the metadata URL.
	EntityID string
	// MetadataURL and ACSURL are PUBLIC_URL/console/saml/metadata and …/acs.
	MetadataURL, ACSURL string
	// EmailAttribute and GroupsAttribute name the assertion's attributes (by Name or
	// FriendlyName) holding the person's e-mail address and groups.
	EmailAttribute, GroupsAttribute string
	// Key and Cert, when set, are Steward's own: the certificate is published in the
	// metadata, and assertions the provider encrypts to it are decrypted, so what the
	// browser carries back cannot be read on the way. Requests stay unsigned (the metadata
	// says so): a signature on an HTTP-Redirect request lives in its query, which providers
	// that show a sign-in page first often do not carry through it.
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
	// Secret seals the sign-in cookie (32 bytes or more).
	Secret []byte
	// Consumed records an assertion id as used until its expiry, failing for one used before.
	Consumed func(ctx context.Context, id string, until time.Time) error
	Now      func() time.Time
}

// nowClock is the clock the SAML library validates times with, read from Steward's clock.
type nowClock struct {
	clockwork.Clock
	now func() time.Time
}

func (c nowClock) Now() time.Time                  { return c.now() }
func (c nowClock) Since(t time.Time) time.Duration { return c.now().Sub(t) }

// NewSAML builds the service provider from the identity provider's metadata.
func NewSAML(s SAMLSettings) (*SAML, error) {
	if s.Consumed == nil {
		return nil, errors.New("saml: a replay record is required")
	}
	sl, err := newSealer(s.Secret)
	if err != nil {
		return nil, err
	}
	idp, err := samlsp.ParseMetadata(s.IdPMetadata)
	if err != nil {
		return nil, fmt.Errorf("saml: the identity provider's metadata: %w", err)
	}
	if len(idp.IDPSSODescriptors) == 0 {
		return nil, errors.New("saml: the metadata describes no identity provider (no IDPSSODescriptor)")
	}
	meta, err := url.Parse(s.MetadataURL)
	if err != nil {
		return nil, fmt.Errorf("saml: metadata URL: %w", err)
	}
	acs, err := url.Parse(s.ACSURL)
	if err != nil {
		return nil, fmt.Errorf("saml: ACS URL: %w", err)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.EmailAttribute == "" {
		s.EmailAttribute = "mail"
	}
	if s.GroupsAttribute == "" {
		s.GroupsAttribute = "groups"
	}
	sp := saml.ServiceProvider{
		EntityID:                         s.EntityID,
		MetadataURL:                      *meta,
		AcsURL:                           *acs,
		IDPMetadata:                      idp,
		AuthnNameIDFormat:                saml.EmailAddressNameIDFormat,
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
		Clock:                            dsig.NewFakeClock(nowClock{Clock: clockwork.NewRealClock(), now: s.Now}),
		RejectUnknownConditions:          true,
	}
	if s.Key != nil && s.Cert != nil {
		sp.Key, sp.Certificate = s.Key, s.Cert
	}
	return &SAML{sp: sp, email: s.EmailAttribute, groups: s.GroupsAttribute, sealer: sl, now: s.Now, consumed: s.Consumed}, nil
}

// Metadata is the service provider's metadata document, for the identity provider.
func (p *SAML) Metadata() ([]byte, error) {
	b, err := xml.MarshalIndent(p.sp.Metadata(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}

// samlFlight is what a sign-in carries from the redirect to the way back.
type samlFlight struct {
	RequestID  string    `json:"i"`
	RelayState string    `json:"r"`
	Force      bool      `json:"f,omitempty"`
	Expires    time.Time `json:"e"`
}

// Begin starts a sign-in: the provider's URL to send the browser to and the sealed value of
// the cookie that must come back with the answer. force asks the provider to authenticate
// the person again even when it has a session (a re-authentication before a reveal).
func (p *SAML) Begin(force bool) (authURL, cookie string, err error) {
	sp := p.sp
	if force {
		sp.ForceAuthn = &force
	}
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return "", "", fmt.Errorf("saml: authentication request: %w", err)
	}
	f := samlFlight{RequestID: req.ID, RelayState: randomString(), Force: force, Expires: p.now().Add(FlightFor)}
	u, err := req.Redirect(f.RelayState, &sp)
	if err != nil {
		return "", "", fmt.Errorf("saml: authentication request: %w", err)
	}
	if cookie, err = p.sealer.seal(f, "saml flight"); err != nil {
		return "", "", err
	}
	return u.String(), cookie, nil
}

// replayCache adapts the database's single-use record to the library.
type replayCache struct {
	ctx      context.Context
	consumed func(ctx context.Context, id string, until time.Time) error
}

func (c replayCache) Consume(id string, until time.Time) error {
	if err := c.consumed(c.ctx, "saml:"+id, until); err != nil {
		if problem.Is(err, problem.Conflict) {
			return saml.ErrAssertionReplayed
		}
		return err
	}
	return nil
}

// Finish checks the provider's answer (the form fields SAMLResponse and RelayState) against
// the cookie Begin set, and returns who signed in. Unauthenticated, naming the check that
// failed, for anything that does not hold.
func (p *SAML) Finish(ctx context.Context, samlResponse, relayState, cookie string) (Person, error) {
	bad := func(why string) (Person, error) {
		return Person{}, problem.New(problem.Unauthenticated, "sign-in through SAML failed: %s; start again", why)
	}
	var f samlFlight
	if !p.sealer.open(cookie, "saml flight", &f) {
		return bad("the sign-in was not started here")
	}
	if relayState == "" || f.RelayState != relayState {
		return bad("the answer does not belong to this sign-in")
	}
	if !p.now().Before(f.Expires) {
		return bad("it took too long")
	}
	if len(samlResponse) > 512<<10 {
		return bad("the answer is too large")
	}
	doc, err := base64.StdEncoding.DecodeString(strings.TrimSpace(samlResponse))
	if err != nil {
		return bad("the answer is not base64")
	}
	sp := p.sp
	sp.ReplayCache = replayCache{ctx: ctx, consumed: p.consumed}
	a, err := sp.ParseXMLResponse(doc, []string{f.RequestID}, sp.AcsURL)
	if err != nil {
		return bad(samlReason(err))
	}
	if f.Force && !authnAfter(a, f.Expires.Add(-FlightFor)) {
		return bad("the identity provider did not ask for your password again")
	}
	var person Person
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			for _, v := range at.Values {
				switch {
				case at.Name == p.email || at.FriendlyName == p.email:
					if person.Email == "" {
						person.Email = strings.ToLower(strings.TrimSpace(v.Value))
					}
				case at.Name == p.groups || at.FriendlyName == p.groups:
					person.Groups = append(person.Groups, strings.TrimSpace(v.Value))
				}
			}
		}
	}
	if person.Email == "" && a.Subject != nil && a.Subject.NameID != nil && a.Subject.NameID.Format == string(saml.EmailAddressNameIDFormat) {
		person.Email = strings.ToLower(strings.TrimSpace(a.Subject.NameID.Value))
	}
	if person.Email == "" {
		return bad("the identity provider gave no e-mail address")
	}
	return person, nil
}

// authnAfter reports whether the assertion says the person authenticated at or after t.
func authnAfter(a *saml.Assertion, t time.Time) bool {
	for _, st := range a.AuthnStatements {
		if !st.AuthnInstant.Before(t.Add(-time.Minute)) {
			return true
		}
	}
	return false
}

// samlReason names, for the person and the audit trail, which check an answer failed;
// never the library's own text, which may quote the document.
func samlReason(err error) string {
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		err = ire.PrivateErr
	}
	for _, c := range []struct {
		err  error
		text string
	}{
		{saml.ErrAssertionReplayed, "this answer was used already"},
		{saml.ErrInvalidSignature, "the answer is not signed by the identity provider"},
		{saml.ErrUntrustedCertificate, "the answer is not signed by the identity provider"},
		{saml.ErrAudienceMismatch, "the assertion is meant for another service"},
		{saml.ErrExpired, "the assertion has expired"},
		{saml.ErrNotYetValid, "the assertion is not valid yet"},
		{saml.ErrRequestIDMismatch, "the answer does not belong to this sign-in"},
		{saml.ErrDestinationMismatch, "the answer is addressed to another service"},
		{saml.ErrIssuerMismatch, "the answer comes from another identity provider"},
		{saml.ErrMissingElement, "the answer is incomplete (is it signed?)"},
		{saml.ErrMalformedMessage, "the answer cannot be read"},
	} {
		if errors.Is(err, c.err) {
			return c.text
		}
	}
	// The library does not classify a missing signature; its message is fixed.
	if strings.Contains(err.Error(), "signature element not present") {
		return "the answer is not signed by the identity provider"
	}
	var bs saml.ErrBadStatus
	if errors.As(err, &bs) {
		return "the identity provider refused the sign-in"
	}
	return "the answer does not verify"
}
