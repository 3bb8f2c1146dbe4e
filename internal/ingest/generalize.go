package ingest

import (
	"net/url"
	"strings"
)

// Purposes that may see only generalised data (analytics) see events the way they see
// profiles: the network, not the address; the browser family, not the user-agent string; the
// page, not its query string; and no free text, which may hold anything a person typed. The
// keys below are the Segment spec's and the common properties of its e-commerce events.

// freeText are properties and context keys whose values are typed by a person.
var freeText = map[string]bool{
	"query": true, "search": true, "comment": true, "comments": true, "body": true, "text": true, "message": true,
	"review_body": true, "review": true, "feedback": true, "note": true, "notes": true, "description": true,
}

// generalizeEvent rewrites an event's properties and context in place for a purpose that may
// see generalised data only.
func generalizeEvent(v *EventView) {
	generalizeMap(v.Properties)
	generalizeMap(v.Context)
}

func generalizeMap(m map[string]any) {
	for k, x := range m {
		key := strings.ToLower(k)
		switch t := x.(type) {
		case map[string]any:
			generalizeMap(t)
			continue
		case []any:
			for _, item := range t {
				if im, ok := item.(map[string]any); ok {
					generalizeMap(im)
				}
			}
			continue
		case string:
			switch {
			case freeText[key]:
				delete(m, k)
			case key == "ip":
				m[k] = ipPrefix(strings.TrimSpace(t)) // see commerce.go
			case key == "useragent" || key == "user_agent":
				m[k] = browserFamily(t)
			case key == "url" || key == "referrer" || key == "href" || strings.HasSuffix(key, "_url"):
				m[k] = bareURL(t)
			}
		}
	}
}

// browserFamily names the browser a user-agent string describes, and nothing of its version,
// platform or build, which together single a device out.
func browserFamily(ua string) string {
	for _, f := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"}, {"Firefox/", "Firefox"},
		{"Chrome/", "Chrome"}, {"CriOS/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, f.token) {
			return f.name
		}
	}
	if ua == "" {
		return ""
	}
	return "Other"
}

// bareURL is a URL without its query string, fragment and user information, which carry
// search terms, tokens and e-mail addresses; what is not a URL is withheld.
func bareURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme == "" && u.Host == "" && !strings.HasPrefix(u.Path, "/")) {
		return ""
	}
	u.RawQuery, u.Fragment, u.User, u.RawFragment = "", "", nil, ""
	return u.String()
}
