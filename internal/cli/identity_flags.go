package cli

import "github.com/spf13/pflag"

// identityFlags binds the settings of staff sign-in through SAML and LDAP.
func identityFlags(f *pflag.FlagSet, s *settings) {
	c := &s.cfg
	f.StringVar(&c.SAMLIdPMetadata, "saml-idp-metadata", "", "staff sign in through this SAML 2.0 identity provider: its metadata, an https:// URL or a file; see docs/console.md")
	f.StringVar(&c.SAMLEntityID, "saml-entity-id", "", "Steward's entity id at the SAML provider (default PUBLIC_URL/console/saml/metadata)")
	f.StringVar(&c.SAMLRoles, "saml-roles", "", "group=role,… in order, as --oidc-roles")
	f.StringVar(&c.SAMLGroups, "saml-groups", c.SAMLGroups, "the SAML attribute (Name or FriendlyName) listing the person's groups")
	f.StringVar(&c.SAMLEmail, "saml-email", c.SAMLEmail, "the SAML attribute holding the person's e-mail address")
	f.StringVar(&c.SAMLKeyFile, "saml-key-file", "", "Steward's SAML private key (RSA, PEM): the provider may then encrypt assertions to it")
	f.StringVar(&c.SAMLCertFile, "saml-cert-file", "", "the certificate of --saml-key-file (PEM), published in Steward's SAML metadata")
	f.StringVar(&c.LDAPURL, "ldap-url", "", "staff sign in against this directory: ldaps://host or ldap://host (upgraded with StartTLS; never plain)")
	f.StringVar(&c.LDAPBindDN, "ldap-bind-dn", "", "service account that searches people and groups (empty: anonymous search)")
	f.StringVar(&s.ldapSecret, "ldap-bind-password", "", "its password (prefer STEWARD_LDAP_BIND_PASSWORD_FILE)")
	f.StringVar(&c.LDAPUserBase, "ldap-user-base", "", "base DN people are searched under, e.g. ou=people,dc=example,dc=com")
	f.StringVar(&c.LDAPUserFilter, "ldap-user-filter", "", "filter finding a person; {login} is what they typed (default: uid or mail)")
	f.StringVar(&c.LDAPGroupBase, "ldap-group-base", "", "base DN groups are searched under (default: the user base)")
	f.StringVar(&c.LDAPGroupFilter, "ldap-group-filter", "", "filter finding a person's groups; {dn} is their entry (default: member or uniqueMember)")
	f.StringVar(&c.LDAPGroupAttribute, "ldap-group-attribute", c.LDAPGroupAttribute, "the attribute naming a group")
	f.StringVar(&c.LDAPCAFile, "ldap-ca-file", "", "PEM file of the certificates the directory's certificate is checked against (default: the system's)")
	f.StringVar(&c.LDAPRoles, "ldap-roles", "", "group=role,… in order, as --oidc-roles")
}
