package sso

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/stewardhq/steward/internal/problem"
)

// LDAP signs staff in against a directory: the person's entry is found by their login (uid or
// e-mail address), Steward binds as that entry with the password they typed — the directory
// checks it, Steward never keeps it — and their groups are searched for the role map. The
// connection is always encrypted: ldaps://, or ldap:// upgraded with StartTLS before
// anything is sent; a directory that refuses StartTLS is refused in turn.
type LDAP struct {
	s   LDAPSettings
	tls *tls.Config
}

// LDAPSettings configure the directory.
type LDAPSettings struct {
	// URL is ldaps://host[:636] or ldap://host[:389] (StartTLS).
	URL string
	// BindDN and BindPassword are the service account that searches for people and groups;
	// empty searches anonymously.
	BindDN, BindPassword string
	// UserBase and UserFilter find the person's entry; {login} in the filter is replaced by
	// what they typed, escaped. The default filter matches uid or mail.
	UserBase, UserFilter string
	// GroupBase and GroupFilter find their groups; {dn} is their entry's DN, escaped.
	// GroupAttribute names a group (cn by default).
	GroupBase, GroupFilter, GroupAttribute string
	// EmailAttribute holds the e-mail address (mail by default).
	EmailAttribute string
	// TLS verifies the directory's certificate (its RootCAs from --ldap-ca-file).
	TLS *tls.Config
	// Timeout bounds each exchange.
	Timeout time.Duration
}

// NewLDAP checks the settings; the directory is first contacted at the first sign-in.
func NewLDAP(s LDAPSettings) (*LDAP, error) {
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" || (u.Scheme != "ldaps" && u.Scheme != "ldap") {
		return nil, errors.New("ldap: the URL must be ldaps://host or ldap://host (which is upgraded with StartTLS)")
	}
	if s.UserBase == "" {
		return nil, errors.New("ldap: a user base DN is required")
	}
	if s.UserFilter == "" {
		s.UserFilter = "(&(objectClass=person)(|(uid={login})(mail={login})))"
	}
	if s.GroupBase == "" {
		s.GroupBase = s.UserBase
	}
	if s.GroupFilter == "" {
		s.GroupFilter = "(|(member={dn})(uniqueMember={dn}))"
	}
	if s.GroupAttribute == "" {
		s.GroupAttribute = "cn"
	}
	if s.EmailAttribute == "" {
		s.EmailAttribute = "mail"
	}
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLS != nil {
		t = s.TLS.Clone()
	}
	if t.ServerName == "" {
		t.ServerName = u.Hostname()
	}
	return &LDAP{s: s, tls: t}, nil
}

// dial opens an encrypted connection to the directory.
func (l *LDAP) dial(ctx context.Context) (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: l.s.Timeout}
	c, err := ldap.DialURL(l.s.URL, ldap.DialWithDialer(d), ldap.DialWithTLSConfig(l.tls))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(l.s.Timeout)
	if strings.HasPrefix(l.s.URL, "ldap://") {
		if err := c.StartTLS(l.tls); err != nil {
			c.Close()
			return nil, fmt.Errorf("StartTLS refused, so nothing is sent in the clear: %w", err)
		}
	}
	if deadline, ok := ctx.Deadline(); ok {
		c.SetTimeout(time.Until(deadline))
	}
	return c, nil
}

// Authenticate checks login and password against the directory and returns the person with
// their groups. Unauthenticated for a wrong login or password (the same answer for both);
// Unavailable when the directory cannot be reached or refuses encryption.
func (l *LDAP) Authenticate(ctx context.Context, login, password string) (Person, error) {
	wrong := problem.New(problem.Unauthenticated, "the login or password is not right")
	login = strings.TrimSpace(login)
	// An empty password is an unauthenticated bind, which directories answer with success.
	if login == "" || password == "" || len(login) > 256 || len(password) > 1024 {
		return Person{}, wrong
	}
	c, err := l.dial(ctx)
	if err != nil {
		return Person{}, problem.Wrap(problem.Unavailable, err, "the directory cannot be reached securely; try again later")
	}
	defer c.Close()
	if l.s.BindDN != "" {
		if err := c.Bind(l.s.BindDN, l.s.BindPassword); err != nil {
			return Person{}, problem.Wrap(problem.Unavailable, err, "the directory refused Steward's service account")
		}
	}
	filter := strings.ReplaceAll(l.s.UserFilter, "{login}", ldap.EscapeFilter(login))
	res, err := c.Search(ldap.NewSearchRequest(l.s.UserBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, int(l.s.Timeout/time.Second), false,
		filter, []string{l.s.EmailAttribute}, nil))
	if err != nil {
		return Person{}, problem.Wrap(problem.Unavailable, err, "the directory search failed")
	}
	if len(res.Entries) != 1 {
		return Person{}, wrong
	}
	entry := res.Entries[0]
	if err := c.Bind(entry.DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return Person{}, wrong
		}
		return Person{}, problem.Wrap(problem.Unavailable, err, "the directory did not answer the sign-in")
	}
	p := Person{Email: strings.ToLower(strings.TrimSpace(entry.GetAttributeValue(l.s.EmailAttribute)))}
	if p.Email == "" {
		return Person{}, problem.New(problem.Unauthenticated, "your directory entry has no e-mail address")
	}
	// Groups are searched as the service account when there is one (the person may not be
	// allowed to read them), else as the person.
	if l.s.BindDN != "" {
		if err := c.Bind(l.s.BindDN, l.s.BindPassword); err != nil {
			return Person{}, problem.Wrap(problem.Unavailable, err, "the directory refused Steward's service account")
		}
	}
	gfilter := strings.ReplaceAll(l.s.GroupFilter, "{dn}", ldap.EscapeFilter(entry.DN))
	groups, err := c.Search(ldap.NewSearchRequest(l.s.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 500, int(l.s.Timeout/time.Second), false,
		gfilter, []string{l.s.GroupAttribute}, nil))
	if err != nil {
		return Person{}, problem.Wrap(problem.Unavailable, err, "the directory's group search failed")
	}
	for _, g := range groups.Entries {
		p.Groups = append(p.Groups, g.GetAttributeValues(l.s.GroupAttribute)...)
	}
	return p, nil
}
