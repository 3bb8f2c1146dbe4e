package csvcell

import "testing"

func TestInert(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"Ada", "Ada"},
		{"=HYPERLINK(\"http://evil.example\",\"x\")", "'=HYPERLINK(\"http://evil.example\",\"x\")"},
		{"+44 20 7946 0958", "'+44 20 7946 0958"},
		{"-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"@SUM(A1:A2)", "'@SUM(A1:A2)"},
		{"\t=1+1", "'\t=1+1"},
		{"\r=1+1", "'\r=1+1"},
		{"-12.50", "-12.50"},
		{"+3", "+3"},
		{"a=b", "a=b"},
	} {
		if got := Inert(c.in); got != c.want {
			t.Errorf("Inert(%q): got %q, want %q", c.in, got, c.want)
		}
	}
}
