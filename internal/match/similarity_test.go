package match

import (
	"math"
	"strings"
	"testing"
)

func TestJaroWinkler(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.9611},
		{"dwayne", "duane", 0.8400},
		{"dixon", "dicksonx", 0.8133},
		{"jones", "jones", 1},
		{"abc", "xyz", 0},
		{"", "", 1},
		{"a", "", 0},
		{"zoë", "zoe", 0.8222}, // compared as runes, not bytes
	}
	for _, tt := range tests {
		if got := JaroWinkler(tt.a, tt.b); math.Abs(got-tt.want) > 1e-4 {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want %.4f", tt.a, tt.b, got, tt.want)
		}
		if got, back := JaroWinkler(tt.a, tt.b), JaroWinkler(tt.b, tt.a); got != back {
			t.Errorf("JaroWinkler(%q, %q) = %v but reversed %v", tt.a, tt.b, got, back)
		}
	}
	long := strings.Repeat("ab", 500)
	if got := JaroWinkler(long, long+"x"); got < 0.99 {
		t.Errorf("long strings: got %v, want them compared on their first characters", got)
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b  string
		limit int
		want  int
	}{
		{"19620316", "19620316", 2, 0},
		{"19620316", "19620361", 2, 1}, // adjacent transposition counts once
		{"19620316", "19620416", 2, 1},
		{"19620316", "19630416", 2, 2},
		{"19620316", "20011231", 2, 3}, // capped at limit+1
		{"4011", "401", 1, 1},
		{"ca", "abc", 3, 3}, // optimal string alignment, not unrestricted Damerau
		{"", "abc", 5, 3},
		{"müller", "muller", 2, 1},
	}
	for _, tt := range tests {
		if got := EditDistance(tt.a, tt.b, tt.limit); got != tt.want {
			t.Errorf("EditDistance(%q, %q, %d) = %d, want %d", tt.a, tt.b, tt.limit, got, tt.want)
		}
	}
}

func TestSoundex(t *testing.T) {
	for in, want := range map[string]string{
		"robert": "r163", "rupert": "r163", "ashcraft": "a261", "tymczak": "t522",
		"pfister": "p236", "honeyman": "h555", "lee": "l000", "": "", "123": "",
	} {
		if got := Soundex(in); got != want {
			t.Errorf("Soundex(%q) = %q, want %q", in, got, want)
		}
	}
}
