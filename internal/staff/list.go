package staff

import (
	"context"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
)

// Summary is an account as an administrator reviews it: who, with which role, whether they
// have a second factor and whether they may sign in, never their secrets.
type Summary struct {
	ID           string
	Email        string
	Role         string
	SecondFactor bool
	Disabled     bool
	LockedUntil  time.Time
	CreatedAt    time.Time
}

// List returns every account, by e-mail address: who has access and with which role is what
// an administrator reviews. Needs apikeys.manage, the permission that adds and disables
// people.
func (s *Service) List(ctx context.Context) ([]Summary, error) {
	if _, err := authz.Require(ctx, s.d.Catalog, catalog.PermAPIKeysManage); err != nil {
		return nil, err
	}
	as, err := s.d.Store.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	// Who holds a passkey, in one read: a read per account made the list's cost grow with
	// the staff.
	holders, err := s.d.Store.PasskeyHolders(ctx)
	if err != nil {
		return nil, err
	}
	withKey := make(map[string]bool, len(holders))
	for _, id := range holders {
		withKey[id] = true
	}
	out := make([]Summary, len(as))
	now := s.d.Clock()
	for i, a := range as {
		has := len(a.TOTP) > 0 || withKey[a.ID]
		out[i] = Summary{ID: a.ID, Email: a.Email, Role: a.Role, SecondFactor: has, Disabled: a.Disabled, CreatedAt: a.CreatedAt}
		if a.LockedUntil.After(now) {
			out[i].LockedUntil = a.LockedUntil
		}
	}
	return out, nil
}

// ActorID returns the actor id a person's audit entries carry (staff:<id>), so the audit
// trail can be searched by the e-mail address people know each other by. Needs audit.read,
// the permission of those who read the trail; NotFound for an address with no account.
func (s *Service) ActorID(ctx context.Context, email string) (string, error) {
	if _, err := authz.Require(ctx, s.d.Catalog, catalog.PermAuditRead); err != nil {
		return "", err
	}
	email, err := normEmail(email)
	if err != nil {
		return "", err
	}
	a, err := s.d.Store.AccountByEmail(ctx, email)
	if err != nil {
		return "", err
	}
	return Actor(a).ID, nil
}
