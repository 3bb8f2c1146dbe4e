package ident

import "testing"

func TestValid(t *testing.T) {
	id := New()
	for _, c := range []struct {
		in   string
		want bool
	}{
		{id, true},
		{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", true},
		{"", false},
		{"not-an-id", false},
		{"{0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b}", false},
		{"urn:uuid:0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", false},
		{"0190a1b2c3d47e5f8a9b0c1d2e3f4a5b", false},
		{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g", false},
	} {
		if got := Valid(c.in); got != c.want {
			t.Errorf("Valid(%q): got %v, want %v", c.in, got, c.want)
		}
	}
}
