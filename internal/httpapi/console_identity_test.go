package httpapi

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzSafeNext: whatever a sign-in is asked to go on to, it goes to a clean path under
// /console on this server, never to another host.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/console", "/console/customers/1?q=a", "https://evil.example/", "//evil.example", "/\\evil", "/console/../x",
		"/console/%2e%2e/x", "/console@evil.example", "javascript:alert(1)", "/console/login?next=//x", "\x00/console"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("safeNext(%q) = %q: not a path on this server", next, got)
		}
		if p := u.Path; path.Clean(p) != p || (p != "/console" && !strings.HasPrefix(p, "/console/")) {
			t.Fatalf("safeNext(%q) = %q: not a clean path under /console", next, got)
		}
	})
}
