package app

import (
	"context"
	"strings"
	"sync"

	"github.com/stewardhq/steward/internal/sso"
)

// oidcLabel keys the sealing of sign-ins in flight through the identity provider.
const oidcLabel = "oidc flight v1"

// oidc returns the identity provider staff sign in through, reading its discovery document
// at the first sign-in (and again after a failure), so that Steward starts while the provider
// is down. Nil when none is configured.
func (a *App) oidc() func(ctx context.Context) (*sso.OIDC, error) {
	cfg := a.Config
	if cfg.OIDCIssuer == "" {
		return nil
	}
	var mu sync.Mutex
	var o *sso.OIDC
	return func(ctx context.Context) (*sso.OIDC, error) {
		mu.Lock()
		defer mu.Unlock()
		if o != nil {
			return o, nil
		}
		p, err := sso.NewOIDC(ctx, sso.Settings{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret.Reveal(),
			RedirectURL: strings.TrimSuffix(cfg.PublicURL, "/") + "/console/oidc/callback", Claim: cfg.OIDCClaim,
			Secret: a.Keys.KeyedHash(oidcLabel, nil), Now: a.Clock})
		if err != nil {
			return nil, err
		}
		o = p
		return o, nil
	}
}

// oidcRoles is the configured group → role map (checked when the configuration was read).
func (a *App) oidcRoles() [][2]string {
	m, _ := a.Config.OIDCRoleMap()
	return m
}

// cas returns the CAS server staff sign in through, or nil.
func (a *App) cas() *sso.CAS {
	if a.Config.CASURL == "" {
		return nil
	}
	return sso.NewCAS(a.Config.CASURL, strings.TrimSuffix(a.Config.PublicURL, "/")+"/console/cas/callback", a.Config.CASGroups)
}

func (a *App) casRoles() [][2]string {
	m, _ := a.Config.CASRoleMap()
	return m
}
