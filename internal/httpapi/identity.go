package httpapi

import (
	"context"

	"github.com/stewardhq/steward/internal/sso"
)

// Identity is the SAML and LDAP sign-ins of staff, each with the map of the provider's
// groups to roles; a field left nil turns its sign-in off.
type Identity struct {
	// SAML returns the service provider (reading the identity provider's metadata at first use).
	SAML      func(ctx context.Context) (*sso.SAML, error)
	SAMLRoles [][2]string
	LDAP      *sso.LDAP
	LDAPRoles [][2]string
}
