// Package staff is the people who work with Steward: accounts with a catalog role, local
// sign-in with an argon2id password and a second factor (a TOTP authenticator or a WebAuthn
// passkey, which may also sign in alone), accounts vouched for by an identity provider or a
// directory, invitations, and sessions with a fresh proof of identity before a reveal. Every
// action a person takes in the console runs as them (actor "staff:<id>" with their role), so
// the audit trail names the person, not a shared key, and disabling them ends their sessions
// at once.
package staff

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"golang.org/x/crypto/argon2"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/token"
)

// Account is one person.
type Account struct {
	ID           string
	Email        string
	Role         string
	PasswordHash string // argon2id, PHC string format
	// TOTP is the second factor's secret, sealed (see Service.seal); empty until enrolled.
	TOTP        []byte
	Disabled    bool
	Failures    int
	LockedUntil time.Time
	CreatedAt   time.Time
	// Via is where the account comes from: "" for a local password, or the identity provider
	// that vouches for the person ("ldap", "saml", "oidc", "cas").
	Via string
}

// Session is a signed-in browser. Stage says how far sign-in got: the password checked but
// the second factor still due (StagePassword), or done (StageDone).
type Session struct {
	Hash      []byte
	AccountID string
	Stage     string
	CSRF      string
	// Pending is a TOTP secret being enrolled, sealed, until its first code is confirmed.
	Pending   []byte
	CreatedAt time.Time
	SeenAt    time.Time
	ExpiresAt time.Time
	// AuthAt is when the person last proved who they are in this session (sign-in or
	// re-authentication): a reveal asks again when it is older than ReauthAfter.
	AuthAt time.Time
	// Next is the console page a sign-in goes on to (checked by the console).
	Next string
	// Ceremony is a WebAuthn ceremony in progress (its challenge), until it finishes.
	Ceremony []byte
}

// Sign-in stages.
const (
	StagePassword = "password"
	StageDone     = "done"
)

// Store keeps accounts and sessions.
type Store interface {
	// AddAccount stores a new account with its audit entries; Conflict if the e-mail is taken.
	AddAccount(ctx context.Context, a Account, entries []audit.Entry) error
	// AccountByEmail and Account return NotFound for no such account.
	AccountByEmail(ctx context.Context, email string) (Account, error)
	Account(ctx context.Context, id string) (Account, error)
	// Accounts returns every account, by e-mail address.
	Accounts(ctx context.Context) ([]Account, error)
	// UpdateAccount stores a's failures, lock, second factor and state, with entries.
	UpdateAccount(ctx context.Context, a Account, entries []audit.Entry) error
	AddSession(ctx context.Context, s Session) error
	// Session returns NotFound for no such session.
	Session(ctx context.Context, hash []byte) (Session, error)
	UpdateSession(ctx context.Context, s Session) error
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteSessions ends every session of an account, with entries.
	DeleteSessions(ctx context.Context, accountID string, entries []audit.Entry) error
	PasskeyStore
	InviteStore
	// ConsumeOnce records id as used until expires; Conflict if it was used before. It keeps
	// identity-provider assertions single-use across every node.
	ConsumeOnce(ctx context.Context, id string, expires time.Time) error
	// RecordAudit appends entries that change nothing else.
	RecordAudit(ctx context.Context, entries []audit.Entry) error
}

// Limits and lifetimes: OWASP's argon2id minimum (19 MiB, two passes, one lane), five
// failures then a quarter of an hour locked, sessions ended after 30 idle minutes or 12
// hours, and a half-done sign-in after 5 minutes.
const (
	argonMemory   = 19 * 1024
	argonTime     = 2
	argonThreads  = 1
	MaxFailures   = 5
	LockFor       = 15 * time.Minute
	IdleFor       = 30 * time.Minute
	SessionFor    = 12 * time.Hour
	HalfDoneFor   = 5 * time.Minute
	MinPassword   = 12
	sessionPrefix = "ss_"
)

// Deps is what the service is built from.
type Deps struct {
	Store   Store
	Catalog *catalog.Catalog
	// Secret keys the sealing of TOTP secrets (32 bytes or more).
	Secret []byte
	// Issuer names the installation in authenticator apps.
	Issuer string
	Clock  clock.Clock
	// WebAuthn verifies passkeys; nil turns them off.
	WebAuthn *webauthn.WebAuthn
}

// Service is staff identity.
type Service struct {
	d    Deps
	aead cipher.AEAD
}

// New builds the service.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Catalog == nil || len(d.Secret) < 32 {
		return nil, errors.New("staff: store, catalog and a 32-byte secret are required")
	}
	block, err := aes.NewCipher(d.Secret[:32])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if d.Issuer == "" {
		d.Issuer = "Steward"
	}
	d.Clock = clock.Or(d.Clock)
	return &Service{d: d, aead: aead}, nil
}

// Actor is who a signed-in person acts as.
func Actor(a Account) authz.Actor {
	return authz.Actor{ID: "staff:" + a.ID, Name: a.Email, Role: a.Role}
}

// Audit actions.
const (
	ActionAdd      = "staff.add"
	ActionSignIn   = "staff.sign_in"
	ActionSignOut  = "staff.sign_out"
	ActionEnrol    = "staff.mfa_enrol"
	ActionLocked   = "staff.locked"
	ActionDisabled = "staff.disable"
	// ActionSessionEnd is a session ended by its idle or absolute timeout.
	ActionSessionEnd = "staff.session_end"
	// ActionSignOutAll is a person ending every session they have.
	ActionSignOutAll = "staff.sign_out_everywhere"
	ActionReauth     = "staff.reauthenticate"
	ActionInvite     = "staff.invite"
	ActionPasskeyAdd = "staff.passkey_add"
	ActionPasskeyDel = "staff.passkey_remove"
)

func normEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || len(e) > 254 {
		return "", problem.InvalidField("email", "is not an e-mail address")
	}
	return e, nil
}

// Add creates an account. Needs apikeys.manage (staff are handed access like keys are), and,
// like a key, never more than the one who adds them holds.
func (s *Service) Add(ctx context.Context, email, role, password string) (Account, error) {
	_, email, err := s.grant(ctx, email, role)
	if err != nil {
		return Account{}, err
	}
	if len([]rune(password)) < MinPassword || len(password) > 256 {
		return Account{}, problem.InvalidField("password", "must be %d to 256 characters", MinPassword)
	}
	a := Account{ID: ident.New(), Email: email, Role: role, PasswordHash: hashPassword(password), CreatedAt: s.d.Clock()}
	e := audit.New(ctx, ActionAdd, "", nil, "")
	e.Target = "staff:" + a.ID + " role:" + role
	return a, s.d.Store.AddAccount(ctx, a, []audit.Entry{e})
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// hashPassword is argon2id with a random salt, in the PHC string format.
func hashPassword(pw string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, 32)
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64(salt), b64(key))
}

// checkPassword compares pw with a PHC argon2id hash in constant time.
func checkPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when no account matches, so an unknown address takes as long
// as a wrong password and says nothing about who has an account.
var dummyHash = hashPassword("no such account, same work")

var errSignIn = problem.New(problem.Unauthenticated, "the e-mail address or password is not right, or the account is locked for a while")

// SignIn checks a password and starts a half-done session; the second factor finishes it
// (Verify, or Enrol for an account without one). The answer is the same for an unknown
// address, a wrong password and a locked account.
func (s *Service) SignIn(ctx context.Context, email, password string) (cookie string, sess Session, err error) {
	email, _ = normEmail(email)
	a, err := s.d.Store.AccountByEmail(ctx, email)
	if problem.Is(err, problem.NotFound) {
		checkPassword(dummyHash, password)
		return "", Session{}, errSignIn
	}
	if err != nil {
		return "", Session{}, err
	}
	now := s.d.Clock()
	ok := checkPassword(a.PasswordHash, password)
	if a.Disabled || now.Before(a.LockedUntil) {
		return "", Session{}, errSignIn
	}
	actx := authz.WithActor(ctx, Actor(a))
	if !ok {
		a.Failures++
		var entries []audit.Entry
		e := audit.New(actx, ActionSignIn, "", nil, "")
		e.Outcome = audit.OutcomeDenied
		entries = append(entries, e)
		if a.Failures >= MaxFailures {
			a.Failures, a.LockedUntil = 0, now.Add(LockFor)
			entries = append(entries, audit.New(actx, ActionLocked, "", nil, ""))
		}
		if err := s.d.Store.UpdateAccount(ctx, a, entries); err != nil {
			return "", Session{}, err
		}
		return "", Session{}, errSignIn
	}
	if a.Failures > 0 {
		a.Failures = 0
		if err := s.d.Store.UpdateAccount(ctx, a, nil); err != nil {
			return "", Session{}, err
		}
	}
	return s.newSession(ctx, a.ID, StagePassword, HalfDoneFor)
}

func (s *Service) newSession(ctx context.Context, accountID, stage string, life time.Duration) (string, Session, error) {
	raw, hash, err := token.New()
	if err != nil {
		return "", Session{}, err
	}
	csrf, _, err := token.New()
	if err != nil {
		return "", Session{}, err
	}
	now := s.d.Clock()
	sess := Session{Hash: hash, AccountID: accountID, Stage: stage, CSRF: csrf, CreatedAt: now, SeenAt: now, ExpiresAt: now.Add(life)}
	if stage == StageDone {
		sess.AuthAt = now
	}
	return sessionPrefix + raw, sess, s.d.Store.AddSession(ctx, sess)
}

// Who returns the session and account of a cookie: Unauthenticated when there is none, it
// ended, or its account is disabled. A session past its password stage is only returned
// to callers that allow it (half true).
func (s *Service) Who(ctx context.Context, cookie string, half bool) (Session, Account, error) {
	raw, ok := strings.CutPrefix(cookie, sessionPrefix)
	if !ok || len(raw) > 100 {
		return Session{}, Account{}, problem.New(problem.Unauthenticated, "not signed in")
	}
	sess, err := s.d.Store.Session(ctx, token.Hash(raw))
	if problem.Is(err, problem.NotFound) {
		return Session{}, Account{}, problem.New(problem.Unauthenticated, "not signed in")
	}
	if err != nil {
		return Session{}, Account{}, err
	}
	now := s.d.Clock()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.SeenAt) > IdleFor {
		s.endSession(ctx, sess)
		return Session{}, Account{}, problem.New(problem.Unauthenticated, "your session ended; sign in again")
	}
	if sess.Stage != StageDone && !half {
		return Session{}, Account{}, problem.New(problem.Unauthenticated, "sign-in is not finished")
	}
	a, err := s.d.Store.Account(ctx, sess.AccountID)
	if err != nil || a.Disabled {
		_ = s.d.Store.DeleteSession(ctx, sess.Hash)
		return Session{}, Account{}, problem.New(problem.Unauthenticated, "not signed in")
	}
	// The last use is written at most once a minute (see portal.TouchEvery for why).
	if now.Sub(sess.SeenAt) < time.Minute {
		return sess, a, nil
	}
	sess.SeenAt = now
	return sess, a, s.d.Store.UpdateSession(ctx, sess)
}

// Enrolment is a TOTP secret to show for an authenticator app.
type Enrolment struct {
	Secret string // base32, for typing in
	URI    string // otpauth:// for apps that read it
}

// StartEnrol gives a half-signed-in person without a second factor a new secret to enrol.
func (s *Service) StartEnrol(ctx context.Context, sess Session, a Account) (Enrolment, error) {
	if len(a.TOTP) > 0 {
		return Enrolment{}, problem.Conflictf("a second factor is enrolled already")
	}
	// A secret already shown in this session stays, so a mistyped code does not make the
	// person start again in their app.
	secret, err := s.open(sess.Pending, a.ID)
	if err != nil || len(secret) == 0 {
		secret = make([]byte, 20)
		if _, err := rand.Read(secret); err != nil {
			return Enrolment{}, problem.Wrap(problem.Internal, err, "random source failed")
		}
		sess.Pending = s.seal(secret, a.ID)
		if err := s.d.Store.UpdateSession(ctx, sess); err != nil {
			return Enrolment{}, err
		}
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	uri := "otpauth://totp/" + urlEscape(s.d.Issuer) + ":" + urlEscape(a.Email) + "?secret=" + b32 + "&issuer=" + urlEscape(s.d.Issuer) + "&algorithm=SHA1&digits=6&period=30"
	return Enrolment{Secret: b32, URI: uri}, nil
}

func urlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~@", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Verify finishes sign-in with a TOTP code: the enrolled secret's, or for a first sign-in the
// secret being enrolled (which is then kept). A wrong code counts as a failed sign-in.
func (s *Service) Verify(ctx context.Context, sess Session, a Account, code string) error {
	secret := a.TOTP
	enrolling := len(secret) == 0
	if enrolling {
		secret = sess.Pending
	}
	plain, err := s.open(secret, a.ID)
	if err != nil || len(plain) == 0 {
		return problem.InvalidField("code", "set up your authenticator first")
	}
	actx := authz.WithActor(ctx, Actor(a))
	if !ValidCode(plain, code, s.d.Clock()) {
		return s.failed(ctx, actx, sess, a, ActionSignIn, problem.InvalidField("code", "that code is not right; use the newest one your app shows"))
	}
	var entries []audit.Entry
	if enrolling {
		a.TOTP = secret
		entries = append(entries, audit.New(actx, ActionEnrol, "", nil, ""))
	}
	a.Failures = 0
	entries = append(entries, audit.New(actx, ActionSignIn, "", nil, ""))
	if err := s.d.Store.UpdateAccount(ctx, a, entries); err != nil {
		return err
	}
	// A new session for the finished sign-in, so a session id seen before it (fixation)
	// never becomes a signed-in one.
	if err := s.d.Store.DeleteSession(ctx, sess.Hash); err != nil {
		return err
	}
	return nil
}

// Finish starts the signed-in session after Verify.
func (s *Service) Finish(ctx context.Context, a Account) (string, Session, error) {
	return s.newSession(ctx, a.ID, StageDone, SessionFor)
}

// SignOut ends a session.
func (s *Service) SignOut(ctx context.Context, sess Session, a Account) error {
	if err := s.d.Store.DeleteSession(ctx, sess.Hash); err != nil {
		return err
	}
	return s.d.Store.UpdateAccount(ctx, a, []audit.Entry{audit.New(authz.WithActor(ctx, Actor(a)), ActionSignOut, "", nil, "")})
}

// ValidCode reports whether code is secret's TOTP code (RFC 6238: HMAC-SHA1, 30 s, 6 digits)
// for now or the step either side, allowing a clock off by half a minute.
func ValidCode(secret []byte, code string, now time.Time) bool {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return false
	}
	step := now.Unix() / 30
	for _, d := range []int64{0, -1, 1} {
		if subtle.ConstantTimeCompare([]byte(Code(secret, step+d)), []byte(code)) == 1 {
			return true
		}
	}
	return false
}

// Code is the TOTP code of secret for a 30-second step.
func Code(secret []byte, step int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	h := m.Sum(nil)
	off := h[len(h)-1] & 0x0f
	v := binary.BigEndian.Uint32(h[off:off+4]) & 0x7fffffff
	c := strconv.Itoa(int(v % 1_000_000))
	return strings.Repeat("0", 6-len(c)) + c
}

func (s *Service) seal(secret []byte, accountID string) []byte {
	return s.sealAs(secret, "staff totp "+accountID)
}

func (s *Service) open(sealed []byte, accountID string) ([]byte, error) {
	return s.openAs(sealed, "staff totp "+accountID)
}

// sealAs seals b with label as associated data, so that nothing sealed for one use opens
// for another.
func (s *Service) sealAs(b []byte, label string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, b, []byte(label))
}

func (s *Service) openAs(sealed []byte, label string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed secret too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], []byte(label))
}

// Disable turns a person's access off at once: the account can no longer sign in and every
// session it has ends in the same transaction. Needs apikeys.manage.
func (s *Service) Disable(ctx context.Context, email string) (Account, error) {
	if _, err := authz.Require(ctx, s.d.Catalog, "apikeys.manage"); err != nil {
		return Account{}, err
	}
	email, err := normEmail(email)
	if err != nil {
		return Account{}, err
	}
	a, err := s.d.Store.AccountByEmail(ctx, email)
	if err != nil {
		return Account{}, err
	}
	a.Disabled = true
	e := audit.New(ctx, ActionDisabled, "", nil, "")
	e.Target = "staff:" + a.ID
	return a, s.d.Store.UpdateAccount(ctx, a, []audit.Entry{e})
}

// RoleFor picks a person's role from their identity provider's groups: the first group of the
// ordered map that they have decides. ok is false when none does: such a person is refused.
func RoleFor(groups []string, m [][2]string) (role string, ok bool) {
	for _, gr := range m {
		if contains(groups, gr[0]) {
			return gr[1], true
		}
	}
	return "", false
}

// SignInExternal signs in a person an identity provider vouched for (via names it, "oidc"):
// their account is created at the first sign-in, with the role their groups map to, and
// follows the provider's groups afterwards. A disabled account stays out. The provider
// answers for the second factor.
func (s *Service) SignInExternal(ctx context.Context, email, role, via string) (string, Session, error) {
	a, err := s.externalAccount(ctx, email, role, via)
	if err != nil {
		return "", Session{}, err
	}
	e := audit.New(authz.WithActor(ctx, Actor(a)), ActionSignIn, "", nil, "")
	e.Target = "via:" + via
	if err := s.d.Store.UpdateAccount(ctx, a, []audit.Entry{e}); err != nil {
		return "", Session{}, err
	}
	return s.newSession(ctx, a.ID, StageDone, SessionFor)
}

// externalAccount finds or creates the account of a person an identity provider vouched
// for, with the role their groups map to now.
func (s *Service) externalAccount(ctx context.Context, email, role, via string) (Account, error) {
	email, err := normEmail(email)
	if err != nil {
		return Account{}, problem.New(problem.Unauthenticated, "the identity provider gave no usable e-mail address")
	}
	if _, ok := s.d.Catalog.Role(role); !ok || s.d.Catalog.BrowserSafe(role) || role == "ingest" {
		return Account{}, problem.Forbiddenf("your groups map to role %q, which is not a role for people", role)
	}
	a, err := s.d.Store.AccountByEmail(ctx, email)
	switch {
	case problem.Is(err, problem.NotFound):
		a = Account{ID: ident.New(), Email: email, Role: role, CreatedAt: s.d.Clock(), Via: via}
		e := audit.New(authz.WithActor(ctx, Actor(a)), ActionAdd, "", nil, "")
		e.Target = "staff:" + a.ID + " role:" + role + " via:" + via
		if err := s.d.Store.AddAccount(ctx, a, []audit.Entry{e}); err != nil {
			return Account{}, err
		}
	case err != nil:
		return Account{}, err
	case a.Disabled:
		return Account{}, problem.New(problem.Unauthenticated, "this account is disabled")
	}
	a.Role = role
	return a, nil
}
