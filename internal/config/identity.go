package config

import (
	"fmt"
	"net/url"
	"strings"
)

// Identity holds the settings of the SAML and LDAP sign-ins of staff (see docs/console.md).
type Identity struct {
	SAMLIdPMetadata string `json:"saml-idp-metadata"` // the identity provider's metadata: an https:// URL or a file
	SAMLEntityID    string `json:"saml-entity-id"`    // Steward's entity id at the provider (default PUBLIC_URL/console/saml/metadata)
	SAMLRoles       string `json:"saml-roles"`        // group=role,… as oidc-roles
	SAMLGroups      string `json:"saml-groups"`       // the assertion attribute listing the person's groups
	SAMLEmail       string `json:"saml-email"`        // the assertion attribute holding the e-mail address
	SAMLKeyFile     string `json:"saml-key-file"`     // Steward's SAML key (RSA, PEM): decrypts assertions encrypted to it
	SAMLCertFile    string `json:"saml-cert-file"`    // its certificate (PEM), published in the metadata

	LDAPURL            string `json:"ldap-url"`             // ldaps://host or ldap://host (StartTLS)
	LDAPBindDN         string `json:"ldap-bind-dn"`         // service account that searches people and groups
	LDAPBindPassword   Secret `json:"ldap-bind-password"`   // its password
	LDAPUserBase       string `json:"ldap-user-base"`       // where people are searched
	LDAPUserFilter     string `json:"ldap-user-filter"`     // {login} is what the person typed
	LDAPGroupBase      string `json:"ldap-group-base"`      // where groups are searched (default the user base)
	LDAPGroupFilter    string `json:"ldap-group-filter"`    // {dn} is the person's entry
	LDAPGroupAttribute string `json:"ldap-group-attribute"` // the attribute naming a group
	LDAPCAFile         string `json:"ldap-ca-file"`         // PEM certificates the directory's certificate is checked against
	LDAPRoles          string `json:"ldap-roles"`           // group=role,… as oidc-roles
}

// SAMLRoleMap parses --saml-roles.
func (c Config) SAMLRoleMap() (RoleMap, error) { return parseRoleMap("saml-roles", c.SAMLRoles) }

// LDAPRoleMap parses --ldap-roles.
func (c Config) LDAPRoleMap() (RoleMap, error) { return parseRoleMap("ldap-roles", c.LDAPRoles) }

// checkIdentity checks the SAML and LDAP settings: metadata from https (or a file), an
// encrypted directory address, and a role map for each provider that is on.
func (c Config) checkIdentity() error {
	if c.SAMLIdPMetadata == "" {
		if c.SAMLRoles != "" || c.SAMLEntityID != "" {
			return fmt.Errorf("saml-roles, saml-entity-id: set saml-idp-metadata too")
		}
	} else {
		if strings.Contains(c.SAMLIdPMetadata, "://") {
			u, err := url.Parse(c.SAMLIdPMetadata)
			if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
				return fmt.Errorf("saml-idp-metadata: must be an https:// URL (http:// only on the loopback interface) or a file")
			}
		}
		if c.PublicURL == "" {
			return fmt.Errorf("saml-idp-metadata: set public-url too (the provider sends people back there)")
		}
		if (c.SAMLKeyFile == "") != (c.SAMLCertFile == "") {
			return fmt.Errorf("saml-key-file, saml-cert-file: give both or neither")
		}
		if err := needRoles(c.SAMLRoleMap()); err != nil {
			return fmt.Errorf("saml-roles: %w", err)
		}
	}
	if c.LDAPURL == "" {
		if c.LDAPRoles != "" || c.LDAPUserBase != "" {
			return fmt.Errorf("ldap-roles, ldap-user-base: set ldap-url too")
		}
		return nil
	}
	u, err := url.Parse(c.LDAPURL)
	if err != nil || u.Host == "" || (u.Scheme != "ldaps" && u.Scheme != "ldap") {
		return fmt.Errorf("ldap-url: must be ldaps://host or ldap://host (StartTLS is then required); passwords never cross the network in the clear")
	}
	if c.LDAPUserBase == "" {
		return fmt.Errorf("ldap-user-base: required with ldap-url (e.g. ou=people,dc=example,dc=com)")
	}
	if err := needRoles(c.LDAPRoleMap()); err != nil {
		return fmt.Errorf("ldap-roles: %w", err)
	}
	return nil
}

func needRoles(m RoleMap, err error) error {
	if err != nil {
		return err
	}
	if len(m) == 0 {
		return fmt.Errorf("map at least one group to a role (group=role,…); a person whose groups map to no role is refused")
	}
	return nil
}
