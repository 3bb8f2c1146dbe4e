package config

import (
	"fmt"
	"net/url"
	"strings"
)

// PrivacyOriginList is privacy-origins, each in the form browsers send in Origin.
func (c Config) PrivacyOriginList() []string {
	o, _ := ParseOrigins(c.PrivacyOrigins)
	return o
}

// ParseOrigins reads a comma-separated list of web origins, such as
// "https://shop.example,https://www.shop.example:8443", into the lower-case form browsers send
// in the Origin header. Each must be http or https with a host and nothing after it; "*" is
// refused, because the privacy portal is only for the business's own pages to call.
func ParseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o == "*" {
			return nil, fmt.Errorf("\"*\" is not allowed: list the origins of your own pages")
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, "*") {
			return nil, fmt.Errorf("%q is not an origin: want scheme://host[:port], such as https://shop.example", o)
		}
		out = append(out, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return out, nil
}
