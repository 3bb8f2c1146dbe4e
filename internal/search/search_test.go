package search

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Query
		err  error
	}{
		{in: "  ", err: ErrEmpty},
		{in: "!!!", err: ErrEmpty},
		{in: strings.Repeat("é", MaxQueryLen+1), err: ErrTooLong},
		{in: "Zoë  O'Brien", want: Query{Words: []string{"zoe", "obrien"}}},
		{in: "Jane.Smith@Example.COM", want: Query{EmailLocal: "jane.smith", EmailDomain: "example.com"}},
		{in: "@example.com", want: Query{EmailDomain: "example.com"}},
		{in: "+44 (0)7911 123-456", want: Query{Words: []string{"44", "0", "7911", "123", "456"}, Digits: "4407911123456",
			Orders: []string{"+44", "(0)7911", "123-456"}}},
		{in: "smith 123", want: Query{Words: []string{"smith", "123"}, Orders: []string{"123"}}},
	} {
		got, err := Parse(c.in)
		if err != c.err {
			t.Errorf("%q: got error %v, want %v", c.in, err, c.err)
			continue
		}
		if !slices.Equal(got.Words, c.want.Words) || got.EmailLocal != c.want.EmailLocal || got.EmailDomain != c.want.EmailDomain ||
			got.Digits != c.want.Digits || !slices.Equal(got.Orders, c.want.Orders) {
			t.Errorf("%q: got %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestIndexAndQueryMeet(t *testing.T) {
	profile := map[string]any{"first_name": "William", "last_name": "Smith", "city": "Leeds", "postal_code": "LS1 4AB",
		"email": "will.smith@example.com", "phone": "+447911123456", "customer_number": "C-1042"}
	stored := map[Term]bool{}
	for _, tm := range Index(profile) {
		stored[tm] = true
	}
	for _, q := range []string{"bill", "smiht", "smith", "leeds", "ls1 4ab", "ls14ab", "will.smith@", "smith@", "@example.com",
		"07911 123456", "3456", "c1042", "C-1042", "smit"} {
		pq, err := Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		hit := false
		for _, tm := range pq.Terms() {
			hit = hit || stored[tm]
		}
		if !hit {
			t.Errorf("%q shares no term with the profile", q)
		}
	}
}

func TestScore(t *testing.T) {
	jane := map[string]any{"first_name": "Jane", "last_name": "Smith", "city": "Leeds", "postal_code": "LS1 4AB", "phone": "+447911123456"}
	for _, c := range []struct {
		q       string
		min     float64
		max     float64
		matched []string
	}{
		{"jane smith", 1, 1, []string{"first_name", "last_name"}},
		{"smith jane leeds", 1, 1, []string{"city", "first_name", "last_name"}},
		{"jnae smiht", 0.8, 0.95, []string{"first_name", "last_name"}},
		{"jane smith ls1 4ab", 1, 1, []string{"first_name", "last_name", "postal_code"}},
		{"07911 123456", 1, 1, []string{"phone"}},
		{"jane jones", 0.4, 0.6, []string{"first_name"}},
		{"qqqq", 0, 0, nil},
	} {
		q, _ := Parse(c.q)
		got, matched := Score(q, jane)
		if got < c.min || got > c.max || !slices.Equal(matched, c.matched) {
			t.Errorf("%q: got %.3f %v, want %.2f–%.2f %v", c.q, got, matched, c.min, c.max, c.matched)
		}
	}
	// A nickname scores above a stranger and below the name itself.
	bill, _ := Parse("bill smith")
	will, _ := Score(bill, map[string]any{"first_name": "William", "last_name": "Smith"})
	wilma, _ := Score(bill, map[string]any{"first_name": "Wilma", "last_name": "Smith"})
	if will <= wilma || will >= 1 {
		t.Errorf("bill smith: William %.3f, Wilma %.3f", will, wilma)
	}
}

func TestTokensCarryKindAndWidth(t *testing.T) {
	for _, k := range Kinds() {
		tok := Token(fnvHasher{}, Term{k, "x"})
		if KindOf(tok) != k || tok&(1<<32-1) >= 1<<k.Bits() {
			t.Errorf("%s: token %#x", k, tok)
		}
	}
	if got := KindsOf([]Term{{KindCity, "a"}, {KindName, "b"}, {KindName, "c"}}); !slices.Equal(got, []string{"name", "city"}) {
		t.Errorf("got %v", got)
	}
}
