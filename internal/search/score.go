package search

import (
	"maps"
	"slices"
	"strings"

	"github.com/stewardhq/steward/internal/match"
)

// Score says how well a profile's values answer q, from 0 (nothing asked for is there) to 1
// (everything is, exactly), and which fields matched. Every part of the query counts equally:
// each word for the best field it agrees with, the e-mail parts together, a phone number by
// its ending. A word agrees with a name exactly, as a nickname (Bill, William), within one or
// two edits or a high Jaro–Winkler similarity (typos, transpositions, missing letters), as
// its beginning, or by sound (Soundex) — the matcher's comparisons, in that order of credit.
func Score(q Query, values map[string]any) (float64, []string) {
	p := newProfile(values)
	matched := map[string]bool{}
	var sum float64
	parts := 0
	used := make([]bool, len(q.Words))
	for i, w := range q.Words {
		if used[i] {
			continue
		}
		parts++
		best, field := p.word(w)
		// A postal code or number typed with a space ("LS1 4AB") counts for both words.
		if i+1 < len(q.Words) && (hasDigit(w) || hasDigit(q.Words[i+1])) {
			if s, f := p.code(postal(w + q.Words[i+1])); s > best {
				best, field = s, f
				used[i+1] = true
			}
		}
		sum += best
		if best >= 0.7 {
			matched[field] = true
		}
	}
	if q.EmailLocal != "" || q.EmailDomain != "" {
		parts++
		s := p.email(q.EmailLocal, q.EmailDomain)
		sum += s
		if s >= 0.7 {
			matched["email"] = true
		}
	}
	if parts == 0 {
		return 0, nil
	}
	score := sum / float64(parts)
	if q.Digits != "" {
		// An ending is compared as typed; a whole number by its last ten digits at most, since
		// what comes before them (a country code, a trunk 0, "(0)") is written in too many ways.
		want := q.Digits
		if len(want) > 7 {
			want = strings.TrimLeft(want, "0")
			want = want[max(0, len(want)-10):]
		}
		if len(want) >= 4 && strings.HasSuffix(p.phone, want) {
			score = 1
			matched = map[string]bool{"phone": true}
		}
	}
	return score, slices.Sorted(maps.Keys(matched))
}

// profile is the part of a profile a score reads, normalised as the index is.
type profile struct {
	names         []nameWord
	city          []string
	postal        string
	local, domain string
	phone         string
	numbers       map[string]string // normalised number -> field
}

type nameWord struct {
	field, word string
}

func newProfile(values map[string]any) *profile {
	p := &profile{numbers: map[string]string{}}
	for _, f := range nameFields {
		for _, w := range words(str(values[f])) {
			p.names = append(p.names, nameWord{f, w})
		}
	}
	p.city = words(str(values["city"]))
	p.postal = postal(str(values["postal_code"]))
	p.local, p.domain, _ = strings.Cut(strings.ToLower(str(values["email"])), "@")
	p.phone = match.Digits(str(values["phone"]))
	for _, f := range numberFields {
		if n := postal(str(values[f])); n != "" {
			p.numbers[n] = f
		}
	}
	return p
}

// word is the best agreement of one query word with a name, the town, the postal code or a
// number, and the field it agrees with.
func (p *profile) word(w string) (float64, string) {
	best, field := 0.0, ""
	for _, n := range p.names {
		if s := nameSimilarity(w, n.word); s > best {
			best, field = s, n.field
		}
	}
	for _, c := range p.city {
		s := placeSimilarity(w, c)
		if s > best {
			best, field = s, "city"
		}
	}
	if hasDigit(w) {
		if s, f := p.code(postal(w)); s > best {
			best, field = s, f
		}
	}
	return best, field
}

// code is the agreement of a postal code or number as typed.
func (p *profile) code(c string) (float64, string) {
	if c == "" {
		return 0, ""
	}
	if c == p.postal {
		return 1, "postal_code"
	}
	if f, ok := p.numbers[c]; ok {
		return 1, f
	}
	return 0, ""
}

// email is the agreement of the e-mail parts typed: each part exactly, or the local part by
// its beginning.
func (p *profile) email(local, domain string) float64 {
	var sum float64
	n := 0
	if local != "" {
		n++
		switch {
		case local == p.local:
			sum++
		case len(local) >= 3 && strings.HasPrefix(p.local, local):
			sum += 0.8
		}
	}
	if domain != "" {
		n++
		if domain == p.domain {
			sum++
		}
	}
	return sum / float64(n)
}

// nameSimilarity grades a typed word against one word of a stored name.
func nameSimilarity(w, n string) float64 {
	if w == n {
		return 1
	}
	if hasDigit(w) {
		return 0
	}
	if match.Nicknames(w, n) {
		return 0.95
	}
	s := 0.0
	switch d := match.EditDistance(w, n, 2); {
	case d == 1:
		s = 0.9
	case d == 2 && min(len(w), len(n)) >= 6:
		s = 0.8
	}
	if jw := match.JaroWinkler(w, n); jw >= 0.85 {
		s = max(s, 0.9*jw)
	}
	if len(w) >= 3 && strings.HasPrefix(n, w) {
		s = max(s, 0.85)
	}
	if s < 0.75 && len(w) >= 3 && match.Soundex(w) == match.Soundex(n) {
		s = 0.75
	}
	return s
}

// placeSimilarity grades a typed word against one word of the town.
func placeSimilarity(w, c string) float64 {
	if w == c {
		return 1
	}
	if hasDigit(w) {
		return 0
	}
	s := 0.0
	if match.EditDistance(w, c, 1) == 1 && len(c) >= 4 {
		s = 0.85
	}
	if jw := match.JaroWinkler(w, c); jw >= 0.88 {
		s = max(s, 0.9*jw)
	}
	return s
}
