package staff

import (
	"context"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/token"
)

// ReauthAfter is how old a session's last proof of who the person is may be before a reveal
// asks for it again: a session left open at a desk reveals nothing without the person.
const ReauthAfter = 10 * time.Minute

// InviteFor is how long an invitation's link works.
const InviteFor = 72 * time.Hour

const invitePrefix = "si_"

// NeedsSecondFactor reports whether role may reveal personal data, which makes a second
// factor compulsory for the people who hold it.
func (s *Service) NeedsSecondFactor(role string) bool {
	return s.d.Catalog.RoleHas(role, "customers.reveal")
}

// Fresh reports whether a session proved who its person is recently enough for a reveal.
func (s *Service) Fresh(sess Session) bool {
	return !sess.AuthAt.IsZero() && s.d.Clock().Sub(sess.AuthAt) <= ReauthAfter
}

// endSession removes a session that ran out, auditing the end in the person's name.
func (s *Service) endSession(ctx context.Context, sess Session) {
	a, err := s.d.Store.Account(ctx, sess.AccountID)
	if err != nil {
		_ = s.d.Store.DeleteSession(ctx, sess.Hash)
		return
	}
	_ = s.d.Store.DeleteSession(ctx, sess.Hash)
	if sess.Stage == StageDone {
		_ = s.d.Store.UpdateAccount(ctx, a, []audit.Entry{audit.New(authz.WithActor(ctx, Actor(a)), ActionSessionEnd, "", nil, "")})
	}
}

// SignOutEverywhere ends every session the person has, on every device.
func (s *Service) SignOutEverywhere(ctx context.Context, a Account) error {
	return s.d.Store.DeleteSessions(ctx, a.ID, []audit.Entry{audit.New(authz.WithActor(ctx, Actor(a)), ActionSignOutAll, "", nil, "")})
}

// SetNext remembers the page a half-done sign-in goes on to.
func (s *Service) SetNext(ctx context.Context, sess Session, next string) error {
	sess.Next = next
	return s.d.Store.UpdateSession(ctx, sess)
}

// SignInDirectory signs in a person whose password a directory (LDAP) checked: the account
// is created at the first sign-in with the role their groups map to. A directory checks a
// password only, so a role that may reveal personal data still needs the second factor: the
// session is half done until it is given (Verify, or enrolment at the first sign-in).
func (s *Service) SignInDirectory(ctx context.Context, email, role, via string) (string, Session, error) {
	a, err := s.externalAccount(ctx, email, role, via)
	if err != nil {
		return "", Session{}, err
	}
	if s.NeedsSecondFactor(role) {
		if err := s.d.Store.UpdateAccount(ctx, a, nil); err != nil {
			return "", Session{}, err
		}
		return s.newSession(ctx, a.ID, StagePassword, HalfDoneFor)
	}
	e := audit.New(authz.WithActor(ctx, Actor(a)), ActionSignIn, "", nil, "")
	e.Target = "via:" + via
	if err := s.d.Store.UpdateAccount(ctx, a, []audit.Entry{e}); err != nil {
		return "", Session{}, err
	}
	return s.newSession(ctx, a.ID, StageDone, SessionFor)
}

// Reauthenticate renews a signed-in session's proof of who the person is with their password
// and, when they have one, their authenticator's code. directory checks the password of an
// account from a directory (nil when none is configured). People who signed in through a
// single sign-on provider prove themselves there (or with a passkey) instead. Failures count
// towards the lock like failed sign-ins.
func (s *Service) Reauthenticate(ctx context.Context, sess Session, a Account, password, code string,
	directory func(ctx context.Context, email, password string) error) error {
	var ok bool
	switch {
	case a.Via == "" && a.PasswordHash != "":
		ok = checkPassword(a.PasswordHash, password)
	case a.Via == "ldap" && directory != nil:
		ok = directory(ctx, a.Email, password) == nil
	default:
		return problem.Forbiddenf("you signed in through your company's identity provider: confirm it is you there, or with a passkey")
	}
	if ok && len(a.TOTP) > 0 {
		plain, err := s.open(a.TOTP, a.ID)
		ok = err == nil && ValidCode(plain, code, s.d.Clock())
	}
	actx := authz.WithActor(ctx, Actor(a))
	if !ok {
		return s.failed(ctx, actx, sess, a, ActionReauth, problem.InvalidField("password", "the password or code is not right"))
	}
	return s.confirmed(ctx, actx, sess, a)
}

// failed counts a failed proof of identity against the account (locking it, and ending the
// session, after MaxFailures) and returns err.
func (s *Service) failed(ctx, actx context.Context, sess Session, a Account, action string, err error) error {
	a.Failures++
	e := audit.New(actx, action, "", nil, "")
	e.Outcome = audit.OutcomeDenied
	entries := []audit.Entry{e}
	if a.Failures >= MaxFailures {
		a.Failures, a.LockedUntil = 0, s.d.Clock().Add(LockFor)
		entries = append(entries, audit.New(actx, ActionLocked, "", nil, ""))
		_ = s.d.Store.DeleteSession(ctx, sess.Hash)
	}
	if uerr := s.d.Store.UpdateAccount(ctx, a, entries); uerr != nil {
		return uerr
	}
	return err
}

// confirmed records a successful re-authentication on the session.
func (s *Service) confirmed(ctx, actx context.Context, sess Session, a Account) error {
	a.Failures = 0
	if err := s.d.Store.UpdateAccount(ctx, a, []audit.Entry{audit.New(actx, ActionReauth, "", nil, "")}); err != nil {
		return err
	}
	sess.AuthAt, sess.Ceremony = s.d.Clock(), nil
	return s.d.Store.UpdateSession(ctx, sess)
}

// Invite is an invitation to become staff: whoever opens its link before it expires sets a
// password and a second factor, and has the role it names.
type Invite struct {
	Hash      []byte
	Email     string
	Role      string
	InvitedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}

// InviteStore keeps invitations.
type InviteStore interface {
	AddInvite(ctx context.Context, inv Invite, entries []audit.Entry) error
	// Invite returns NotFound for no such invitation.
	Invite(ctx context.Context, hash []byte) (Invite, error)
	// AcceptInvite marks the invitation used and adds the account in one transaction:
	// Conflict if it was used already or the address has an account.
	AcceptInvite(ctx context.Context, hash []byte, a Account, entries []audit.Entry) error
}

// grant checks that the person acting may hand role to someone (apikeys.manage, and never
// more than they hold themselves) and returns the normalised address.
func (s *Service) grant(ctx context.Context, email, role string) (authz.Actor, string, error) {
	by, err := authz.Require(ctx, s.d.Catalog, "apikeys.manage")
	if err != nil {
		return by, "", err
	}
	email, err = normEmail(email)
	if err != nil {
		return by, "", err
	}
	r, ok := s.d.Catalog.Role(role)
	if !ok {
		return by, "", problem.InvalidField("role", "unknown role %q", role)
	}
	if s.d.Catalog.BrowserSafe(role) || role == "ingest" {
		return by, "", problem.InvalidField("role", "%q is a role for write keys, not people", role)
	}
	byRole, _ := s.d.Catalog.Role(by.Role)
	for _, p := range r.Permissions {
		if !contains(byRole.Permissions, p) {
			return by, "", problem.Forbiddenf("role %q holds %s, which you do not", role, p)
		}
	}
	return by, email, nil
}

// Invite makes a one-time invitation for email with role; the secret of its link is returned
// once and kept only as a hash. Needs apikeys.manage, like Add.
func (s *Service) Invite(ctx context.Context, email, role string) (string, Invite, error) {
	by, email, err := s.grant(ctx, email, role)
	if err != nil {
		return "", Invite{}, err
	}
	if _, err := s.d.Store.AccountByEmail(ctx, email); err == nil {
		return "", Invite{}, problem.Conflictf("this address has a staff account already")
	} else if !problem.Is(err, problem.NotFound) {
		return "", Invite{}, err
	}
	raw, hash, err := token.New()
	if err != nil {
		return "", Invite{}, err
	}
	now := s.d.Clock()
	inv := Invite{Hash: hash, Email: email, Role: role, InvitedBy: by.ID, CreatedAt: now, ExpiresAt: now.Add(InviteFor)}
	e := audit.New(ctx, ActionInvite, "", nil, "")
	e.Target = "role:" + role
	return invitePrefix + raw, inv, s.d.Store.AddInvite(ctx, inv, []audit.Entry{e})
}

// Invitation returns the invitation of a link's secret: NotFound for none, Gone once used or
// expired.
func (s *Service) Invitation(ctx context.Context, secret string) (Invite, error) {
	raw, ok := strings.CutPrefix(secret, invitePrefix)
	if !ok || len(raw) > 100 {
		return Invite{}, problem.NotFoundf("this invitation link is not valid")
	}
	inv, err := s.d.Store.Invite(ctx, token.Hash(raw))
	if problem.Is(err, problem.NotFound) {
		return Invite{}, problem.NotFoundf("this invitation link is not valid")
	}
	if err != nil {
		return Invite{}, err
	}
	if !inv.UsedAt.IsZero() || !s.d.Clock().Before(inv.ExpiresAt) {
		return Invite{}, problem.New(problem.Gone, "this invitation has been used or has expired; ask for a new one")
	}
	return inv, nil
}

// AcceptInvite creates the invited account with the password the person chose and starts a
// half-done session: the second factor is set up next, before any page opens.
func (s *Service) AcceptInvite(ctx context.Context, secret, password string) (string, Session, error) {
	inv, err := s.Invitation(ctx, secret)
	if err != nil {
		return "", Session{}, err
	}
	if len([]rune(password)) < MinPassword || len(password) > 256 {
		return "", Session{}, problem.InvalidField("password", "must be %d to 256 characters", MinPassword)
	}
	a := Account{ID: ident.New(), Email: inv.Email, Role: inv.Role, PasswordHash: hashPassword(password), CreatedAt: s.d.Clock()}
	e := audit.New(authz.WithActor(ctx, Actor(a)), ActionAdd, "", nil, "")
	e.Target = "staff:" + a.ID + " role:" + a.Role + " invited-by:" + inv.InvitedBy
	if err := s.d.Store.AcceptInvite(ctx, inv.Hash, a, []audit.Entry{e}); err != nil {
		return "", Session{}, err
	}
	return s.newSession(ctx, a.ID, StagePassword, HalfDoneFor)
}

// RecordFailure audits a sign-in through a provider that was refused: in the name of the
// account the login names when there is one, otherwise as "anonymous". why is the public
// reason, never what the person typed.
func (s *Service) RecordFailure(ctx context.Context, login, via, why string) {
	actor := authz.Actor{ID: "anonymous"}
	if email, err := normEmail(login); err == nil {
		if a, err := s.d.Store.AccountByEmail(ctx, email); err == nil {
			actor = Actor(a)
		}
	}
	e := audit.New(authz.WithActor(ctx, actor), ActionSignIn, "", nil, "")
	e.Outcome = audit.OutcomeDenied
	e.Target = "via:" + via + " " + why
	_ = s.d.Store.RecordAudit(ctx, []audit.Entry{e})
}
