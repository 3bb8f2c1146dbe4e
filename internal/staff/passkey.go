package staff

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/problem"
)

// Passkey is a WebAuthn credential a person enrolled: a public key held by their device,
// which signs a fresh challenge at each use. Credential is the library's record of it
// (public key, sign counter, flags) as JSON; nothing in it is secret.
type Passkey struct {
	ID         []byte
	AccountID  string
	Name       string
	Credential []byte
	CreatedAt  time.Time
	UsedAt     time.Time
}

// PasskeyStore keeps passkeys.
type PasskeyStore interface {
	AddPasskey(ctx context.Context, p Passkey, entries []audit.Entry) error
	Passkeys(ctx context.Context, accountID string) ([]Passkey, error)
	// PasskeyHolders lists the accounts that have at least one passkey.
	PasskeyHolders(ctx context.Context) ([]string, error)
	UpdatePasskey(ctx context.Context, p Passkey) error
	// DeletePasskey returns NotFound when the account has no such passkey.
	DeletePasskey(ctx context.Context, accountID string, id []byte, entries []audit.Entry) error
}

// MaxPasskeys bounds the passkeys of one person.
const MaxPasskeys = 10

// webauthnUser is an account as the WebAuthn library sees it: the user handle is the account
// id (random, no personal data), the name the e-mail address.
type webauthnUser struct {
	a     Account
	creds []webauthn.Credential
}

func (u webauthnUser) WebAuthnID() []byte                         { return []byte(u.a.ID) }
func (u webauthnUser) WebAuthnName() string                       { return u.a.Email }
func (u webauthnUser) WebAuthnDisplayName() string                { return u.a.Email }
func (u webauthnUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// PasskeysOn reports whether passkeys are configured (they need the console's public https
// or localhost address, which names the relying party).
func (s *Service) PasskeysOn() bool { return s.d.WebAuthn != nil }

func (s *Service) passkeysOff() error {
	return problem.NotFoundf("passkeys are not configured here (they need --public-url)")
}

// Passkeys lists a person's passkeys.
func (s *Service) Passkeys(ctx context.Context, a Account) ([]Passkey, error) {
	return s.d.Store.Passkeys(ctx, a.ID)
}

func (s *Service) user(ctx context.Context, a Account) (webauthnUser, []Passkey, error) {
	keys, err := s.d.Store.Passkeys(ctx, a.ID)
	if err != nil {
		return webauthnUser{}, nil, err
	}
	u := webauthnUser{a: a}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Credential, &c); err != nil {
			return webauthnUser{}, nil, problem.Wrap(problem.Internal, err, "a stored passkey cannot be read")
		}
		u.creds = append(u.creds, c)
	}
	return u, keys, nil
}

// HasSecondFactor reports whether the person has an authenticator app or a passkey.
func (s *Service) HasSecondFactor(ctx context.Context, a Account) (bool, error) {
	if len(a.TOTP) > 0 {
		return true, nil
	}
	keys, err := s.d.Store.Passkeys(ctx, a.ID)
	return len(keys) > 0, err
}

// mayEnrol reports whether the session may add a passkey: a signed-in one, or a half-done
// first sign-in of a person with no second factor yet (as with an authenticator app).
func (s *Service) mayEnrol(ctx context.Context, sess Session, a Account) error {
	if sess.Stage == StageDone {
		return nil
	}
	has, err := s.HasSecondFactor(ctx, a)
	if err != nil {
		return err
	}
	if has {
		return problem.Forbiddenf("finish signing in with your second factor first")
	}
	return nil
}

// BeginPasskeyEnrol starts adding a passkey: the options for navigator.credentials.create,
// as JSON. The challenge is kept on the session until FinishPasskeyEnrol.
func (s *Service) BeginPasskeyEnrol(ctx context.Context, sess Session, a Account) ([]byte, error) {
	if s.d.WebAuthn == nil {
		return nil, s.passkeysOff()
	}
	if err := s.mayEnrol(ctx, sess, a); err != nil {
		return nil, err
	}
	u, keys, err := s.user(ctx, a)
	if err != nil {
		return nil, err
	}
	if len(keys) >= MaxPasskeys {
		return nil, problem.Conflictf("you have %d passkeys, the most one person may have: remove one first", MaxPasskeys)
	}
	var exclude []protocol.CredentialDescriptor
	for i := range u.creds {
		exclude = append(exclude, u.creds[i].Descriptor())
	}
	opts, data, err := s.d.WebAuthn.BeginRegistration(u, webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: protocol.VerificationRequired, ResidentKey: protocol.ResidentKeyRequirementPreferred}))
	if err != nil {
		return nil, problem.Wrap(problem.Internal, err, "a passkey cannot be started")
	}
	return s.keepCeremony(ctx, sess, data, opts)
}

func (s *Service) keepCeremony(ctx context.Context, sess Session, data *webauthn.SessionData, opts any) ([]byte, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	sess.Ceremony = b
	if err := s.d.Store.UpdateSession(ctx, sess); err != nil {
		return nil, err
	}
	return json.Marshal(opts)
}

func (s *Service) ceremony(sess Session) (webauthn.SessionData, error) {
	var data webauthn.SessionData
	if len(sess.Ceremony) == 0 || json.Unmarshal(sess.Ceremony, &data) != nil {
		return data, problem.InvalidField("credential", "no passkey ceremony was started: start again")
	}
	return data, nil
}

// FinishPasskeyEnrol checks the browser's answer to BeginPasskeyEnrol (the attestation
// response as JSON) and keeps the passkey under name.
func (s *Service) FinishPasskeyEnrol(ctx context.Context, sess Session, a Account, name string, body io.Reader) (Passkey, error) {
	if s.d.WebAuthn == nil {
		return Passkey{}, s.passkeysOff()
	}
	if err := s.mayEnrol(ctx, sess, a); err != nil {
		return Passkey{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Passkey"
	}
	if len([]rune(name)) > 60 {
		return Passkey{}, problem.InvalidField("name", "must be at most 60 characters")
	}
	data, err := s.ceremony(sess)
	if err != nil {
		return Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(io.LimitReader(body, 64<<10))
	if err != nil {
		return Passkey{}, problem.InvalidField("credential", "the browser's answer cannot be read")
	}
	u, _, err := s.user(ctx, a)
	if err != nil {
		return Passkey{}, err
	}
	cred, err := s.d.WebAuthn.CreateCredential(u, data, parsed)
	if err != nil {
		return Passkey{}, problem.InvalidField("credential", "the passkey does not verify")
	}
	b, err := json.Marshal(cred)
	if err != nil {
		return Passkey{}, err
	}
	now := s.d.Clock()
	p := Passkey{ID: cred.ID, AccountID: a.ID, Name: name, Credential: b, CreatedAt: now}
	if err := s.d.Store.AddPasskey(ctx, p, []audit.Entry{audit.New(authz.WithActor(ctx, Actor(a)), ActionPasskeyAdd, "", nil, "")}); err != nil {
		return Passkey{}, err
	}
	sess.Ceremony = nil
	return p, s.d.Store.UpdateSession(ctx, sess)
}

// BeginPasskeyCheck starts proving who the person is with one of their passkeys (the second
// factor of a sign-in, or a re-authentication): the options for navigator.credentials.get.
func (s *Service) BeginPasskeyCheck(ctx context.Context, sess Session, a Account) ([]byte, error) {
	if s.d.WebAuthn == nil {
		return nil, s.passkeysOff()
	}
	u, _, err := s.user(ctx, a)
	if err != nil {
		return nil, err
	}
	if len(u.creds) == 0 {
		return nil, problem.InvalidField("credential", "you have no passkey yet")
	}
	opts, data, err := s.d.WebAuthn.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, problem.Wrap(problem.Internal, err, "a passkey check cannot be started")
	}
	return s.keepCeremony(ctx, sess, data, opts)
}

// FinishPasskeyCheck checks the browser's answer to BeginPasskeyCheck. For a half-done
// sign-in it is the second factor (Finish then starts the session, as after Verify); for a
// signed-in session it renews the session's proof of who the person is. A failed check
// counts towards the lock.
func (s *Service) FinishPasskeyCheck(ctx context.Context, sess Session, a Account, body io.Reader) error {
	if s.d.WebAuthn == nil {
		return s.passkeysOff()
	}
	data, err := s.ceremony(sess)
	if err != nil {
		return err
	}
	actx := authz.WithActor(ctx, Actor(a))
	action := ActionSignIn
	if sess.Stage == StageDone {
		action = ActionReauth
	}
	bad := problem.InvalidField("credential", "the passkey does not verify")
	parsed, err := protocol.ParseCredentialRequestResponseBody(io.LimitReader(body, 64<<10))
	if err != nil {
		return s.failed(ctx, actx, sess, a, action, bad)
	}
	u, keys, err := s.user(ctx, a)
	if err != nil {
		return err
	}
	cred, err := s.d.WebAuthn.ValidateLogin(u, data, parsed)
	if err != nil {
		return s.failed(ctx, actx, sess, a, action, bad)
	}
	for _, k := range keys {
		if string(k.ID) == string(cred.ID) {
			k.Credential, _ = json.Marshal(cred)
			k.UsedAt = s.d.Clock()
			if err := s.d.Store.UpdatePasskey(ctx, k); err != nil {
				return err
			}
		}
	}
	if sess.Stage == StageDone {
		return s.confirmed(ctx, actx, sess, a)
	}
	a.Failures = 0
	e := audit.New(actx, ActionSignIn, "", nil, "")
	e.Target = "passkey"
	if err := s.d.Store.UpdateAccount(ctx, a, []audit.Entry{e}); err != nil {
		return err
	}
	// A new session follows (Finish), as after Verify: the half-done one never becomes it.
	return s.d.Store.DeleteSession(ctx, sess.Hash)
}

// RemovePasskey deletes one of the person's passkeys. The last second factor of a person
// whose role needs one stays: remove it only after adding another.
func (s *Service) RemovePasskey(ctx context.Context, a Account, id []byte) error {
	keys, err := s.d.Store.Passkeys(ctx, a.ID)
	if err != nil {
		return err
	}
	if len(keys) == 1 && len(a.TOTP) == 0 && s.NeedsSecondFactor(a.Role) && string(keys[0].ID) == string(id) {
		return problem.Conflictf("this is your only second factor: add another passkey or an authenticator app first")
	}
	return s.d.Store.DeletePasskey(ctx, a.ID, id, []audit.Entry{audit.New(authz.WithActor(ctx, Actor(a)), ActionPasskeyDel, "", nil, "")})
}

// passkeySignIn labels the sealed ceremony of a sign-in with a passkey alone.
const passkeySignIn = "staff passkey sign-in"

// BeginPasskeySignIn starts a sign-in with a passkey alone (a discoverable credential, with
// user verification required: the device's screen lock, fingerprint or PIN is the second
// factor, so the passkey is both). It returns the options for navigator.credentials.get and
// the ceremony, sealed, for a short-lived cookie: no session exists yet.
func (s *Service) BeginPasskeySignIn() (options, ceremony []byte, err error) {
	if s.d.WebAuthn == nil {
		return nil, nil, s.passkeysOff()
	}
	opts, data, err := s.d.WebAuthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, problem.Wrap(problem.Internal, err, "a passkey sign-in cannot be started")
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, nil, err
	}
	if options, err = json.Marshal(opts); err != nil {
		return nil, nil, err
	}
	return options, s.sealAs(b, passkeySignIn), nil
}

// FinishPasskeySignIn checks the browser's answer to BeginPasskeySignIn: the passkey names
// its account (the user handle), whose public key must verify the signature over the
// ceremony's challenge, which is accepted once. The account must be enabled and not locked;
// a failed check counts towards its lock. The same answer for every failure, as for
// passwords.
func (s *Service) FinishPasskeySignIn(ctx context.Context, ceremony []byte, body io.Reader) (string, Session, error) {
	if s.d.WebAuthn == nil {
		return "", Session{}, s.passkeysOff()
	}
	plain, err := s.openAs(ceremony, passkeySignIn)
	var data webauthn.SessionData
	if err != nil || json.Unmarshal(plain, &data) != nil {
		return "", Session{}, errPasskey
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(io.LimitReader(body, 64<<10))
	if err != nil {
		return "", Session{}, errPasskey
	}
	var a Account
	var keys []Passkey
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		acc, err := s.d.Store.Account(ctx, string(userHandle))
		if err != nil {
			return nil, err
		}
		u, k, err := s.user(ctx, acc)
		a, keys = acc, k
		return u, err
	}
	cred, err := s.d.WebAuthn.ValidateDiscoverableLogin(handler, data, parsed)
	if err != nil {
		if a.ID != "" {
			_ = s.failed(ctx, authz.WithActor(ctx, Actor(a)), Session{}, a, ActionSignIn, errPasskey)
		}
		return "", Session{}, errPasskey
	}
	if a.Disabled || s.d.Clock().Before(a.LockedUntil) {
		return "", Session{}, errPasskey
	}
	// An account from a directory or an identity provider follows it: its people sign in
	// there, so that leaving a group or the company ends their access; their passkeys serve
	// as a second factor and for re-authentication only.
	if a.Via != "" {
		return "", Session{}, problem.New(problem.Unauthenticated, "your account comes from your company's sign-in: sign in there, then use your passkey")
	}
	if err := s.d.Store.ConsumeOnce(ctx, "webauthn:"+data.Challenge, data.Expires.Add(time.Minute)); err != nil {
		return "", Session{}, errPasskey
	}
	for _, k := range keys {
		if string(k.ID) == string(cred.ID) {
			k.Credential, _ = json.Marshal(cred)
			k.UsedAt = s.d.Clock()
			if err := s.d.Store.UpdatePasskey(ctx, k); err != nil {
				return "", Session{}, err
			}
		}
	}
	a.Failures = 0
	e := audit.New(authz.WithActor(ctx, Actor(a)), ActionSignIn, "", nil, "")
	e.Target = "passkey, passwordless"
	if err := s.d.Store.UpdateAccount(ctx, a, []audit.Entry{e}); err != nil {
		return "", Session{}, err
	}
	return s.newSession(ctx, a.ID, StageDone, SessionFor)
}

var errPasskey = problem.New(problem.Unauthenticated, "that passkey cannot sign you in here")
