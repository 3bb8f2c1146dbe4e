package config

import (
	"slices"
	"strings"
	"testing"
)

// TestPrivacyOrigins: the CORS origins of the privacy portal are origins, never a wildcard,
// and come out in the form browsers send.
func TestPrivacyOrigins(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		err  string
	}{
		{"", nil, ""},
		{"https://Shop.Example, http://localhost:3000/", []string{"https://shop.example", "http://localhost:3000"}, ""},
		{"*", nil, `"*" is not allowed`},
		{"https://*.shop.example", nil, "not an origin"},
		{"shop.example", nil, "not an origin"},
		{"ftp://shop.example", nil, "not an origin"},
		{"https://shop.example/privacy", nil, "not an origin"},
		{"https://user@shop.example", nil, "not an origin"},
		{"https://shop.example?x=1", nil, "not an origin"},
	} {
		got, err := ParseOrigins(tt.in)
		switch {
		case tt.err == "" && (err != nil || !slices.Equal(got, tt.want)):
			t.Errorf("ParseOrigins(%q): got %q, %v; want %q", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseOrigins(%q): got %v, want an error saying %q", tt.in, err, tt.err)
		}
	}
	c := Default()
	c.PrivacyOrigins = "*"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "privacy-origins") {
		t.Errorf("Validate with a wildcard origin: got %v, want a privacy-origins error", err)
	}
	c.PrivacyOrigins = "https://shop.example"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if got := c.PrivacyOriginList(); !slices.Equal(got, []string{"https://shop.example"}) {
		t.Errorf("PrivacyOriginList: got %q", got)
	}
}
