package sso

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/problem"
)

// CAS is a CAS 3.0 server: the browser signs in there and comes back with a service ticket,
// which Steward validates with the server directly (/p3/serviceValidate), reading the
// person's attributes from the answer. The service URL carries a random state that must match
// the cookie the sign-in set, so nobody can sign a browser in with a ticket of their own.
type CAS struct {
	base     string // the server's URL, such as https://cas.example.com/cas
	callback string // the console's callback, PUBLIC_URL/console/cas/callback
	mail     string // the attribute with the e-mail address
	groups   string // the attribute listing the groups
	client   *http.Client
}

// NewCAS configures a CAS server.
func NewCAS(base, callback, groupsAttribute string) *CAS {
	if groupsAttribute == "" {
		groupsAttribute = "memberOf"
	}
	return &CAS{base: strings.TrimSuffix(base, "/"), callback: callback, mail: "mail", groups: groupsAttribute,
		client: &http.Client{Timeout: 10 * time.Second}}
}

func (c *CAS) service(state string) string {
	return c.callback + "?s=" + url.QueryEscape(state)
}

// renewState marks the state of a sign-in that must be made with fresh credentials ('.' is
// not in the alphabet of randomString, so no plain state starts with it).
const renewState = "renew."

// Begin returns the CAS login URL to send the browser to and the state for its cookie. renew
// asks the server to authenticate the person afresh rather than from its single sign-on
// session (renew=true, also required when the ticket is validated), for a re-authentication
// before a reveal.
func (c *CAS) Begin(renew bool) (loginURL, state string) {
	state = randomString()
	extra := ""
	if renew {
		state, extra = renewState+state, "&renew=true"
	}
	return c.base + "/login?service=" + url.QueryEscape(c.service(state)) + extra, state
}

// casResponse is the part of a CAS 3.0 validation answer Steward reads.
type casResponse struct {
	Success *struct {
		User       string `xml:"user"`
		Attributes struct {
			Any []struct {
				XMLName xml.Name
				Value   string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"attributes"`
	} `xml:"authenticationSuccess"`
	Failure *struct {
		Code string `xml:"code,attr"`
	} `xml:"authenticationFailure"`
}

// Finish validates the ticket the browser came back with, for the state its cookie holds.
func (c *CAS) Finish(ctx context.Context, ticket, state, cookie string) (Person, error) {
	bad := func(why string) (Person, error) {
		return Person{}, problem.New(problem.Unauthenticated, "sign-in through CAS failed: %s; start again", why)
	}
	if state == "" || state != cookie {
		return bad("the answer does not belong to a sign-in started here")
	}
	if ticket == "" || len(ticket) > 512 {
		return bad("no service ticket")
	}
	u := c.base + "/p3/serviceValidate?service=" + url.QueryEscape(c.service(state)) + "&ticket=" + url.QueryEscape(ticket)
	if strings.HasPrefix(state, renewState) {
		u += "&renew=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return bad("a bad server address")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return Person{}, problem.Wrap(problem.Unavailable, err, "the CAS server cannot be reached; try again later")
	}
	defer resp.Body.Close()
	var r casResponse
	if err := xml.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
		return bad("the server's answer could not be read")
	}
	if r.Success == nil {
		return bad("the server did not accept the ticket")
	}
	var p Person
	for _, a := range r.Success.Attributes.Any {
		switch a.XMLName.Local {
		case c.mail:
			p.Email = strings.ToLower(strings.TrimSpace(a.Value))
		case c.groups:
			p.Groups = append(p.Groups, strings.TrimSpace(a.Value))
		}
	}
	if p.Email == "" && strings.Contains(r.Success.User, "@") {
		p.Email = strings.ToLower(r.Success.User)
	}
	if p.Email == "" {
		return bad("the server gave no e-mail address")
	}
	return p, nil
}
