package search

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/stewardhq/steward/internal/match"
)

// MaxQueryLen bounds a query in characters: nobody types more into a search box, and the
// number of tokens a query asks for grows with it.
const MaxQueryLen = 200

// maxWords bounds the words of a query that are looked up.
const maxWords = 8

// Errors Parse returns; the service turns them into a problem naming q.
var (
	ErrEmpty   = errors.New("is empty: type a name, place, e-mail, phone or number")
	ErrTooLong = errors.New("is too long")
)

// Query is what a search asks for, parsed from the text typed.
type Query struct {
	// Words are the folded words of the free text (names, places, postal codes, numbers).
	Words []string
	// EmailLocal and EmailDomain are the parts of an e-mail address typed, either of which
	// may be empty ("jane.smith@" or "@example.com").
	EmailLocal, EmailDomain string
	// Digits are the digits of a query that looks like a phone number (only digits, spaces
	// and the signs people write numbers with), at least four of them; empty otherwise.
	Digits string
	// Phone is the text of a query that looks like a whole phone number (seven digits or
	// more), for the caller to normalise and look up exactly.
	Phone string
	// Orders are the words typed as they are (case and signs kept) that could be order
	// numbers: those with a digit. Order numbers are stored as the shop sent them.
	Orders []string
}

// Parse reads a query. It fails only for text that asks for nothing or is too long.
func Parse(q string) (Query, error) {
	q = strings.TrimSpace(q)
	if !utf8.ValidString(q) {
		q = strings.ToValidUTF8(q, " ")
	}
	if utf8.RuneCountInString(q) > MaxQueryLen {
		return Query{}, ErrTooLong
	}
	var out Query
	var text []string
	for _, f := range strings.Fields(q) {
		if local, domain, ok := strings.Cut(f, "@"); ok && out.EmailLocal == "" && out.EmailDomain == "" {
			out.EmailLocal = strings.ToLower(local)
			out.EmailDomain = strings.Trim(strings.ToLower(domain), ".")
			continue
		}
		text = append(text, f)
		if hasDigit(f) && len(out.Orders) < maxWords {
			out.Orders = append(out.Orders, f)
		}
	}
	joined := strings.Join(text, " ")
	if d := match.Digits(joined); len(d) >= 4 && phoneLike(joined) {
		out.Digits = d
		if len(d) >= 7 {
			out.Phone = joined
		}
	}
	out.Words = words(joined)
	if len(out.Words) > maxWords {
		out.Words = out.Words[:maxWords]
	}
	if len(out.Words) == 0 && out.EmailLocal == "" && out.EmailDomain == "" {
		return Query{}, ErrEmpty
	}
	return out, nil
}

// phoneLike reports text made only of digits and the signs phone numbers are written with.
func phoneLike(s string) bool {
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r == ' ', r == '+', r == '-', r == '(', r == ')', r == '.', r == '/':
		default:
			return false
		}
	}
	return true
}

// Terms are the terms a query looks up: every word as a name (with its Soundex code, first
// letters and formal name) and as a town, words and pairs of words with digits as postal
// codes and numbers (so "LS1 4AB" and "LS14AB" meet), pairs of words as two-word towns, the
// e-mail parts (and the pieces of the local part) and the phone ending (a whole number is
// looked up by the caller in the phone field's blind index: see Query.Phone).
func (q Query) Terms() []Term {
	var ts terms
	for i, w := range q.Words {
		ts.name(w, true)
		ts.add(KindCity, w)
		if hasDigit(w) {
			ts.add(KindPostal, postal(w))
			ts.add(KindNumber, postal(w))
		}
		if i+1 < len(q.Words) {
			next := q.Words[i+1]
			ts.add(KindCity, w+" "+next)
			if hasDigit(w) || hasDigit(next) {
				ts.add(KindPostal, postal(w+next))
			}
		}
	}
	if len(q.Words) > 1 {
		if all := postal(strings.Join(q.Words, "")); hasDigit(all) {
			ts.add(KindNumber, all)
		}
	}
	ts.add(KindEmailLocal, q.EmailLocal)
	for _, p := range localParts(q.EmailLocal) {
		ts.add(KindEmailLocal, p)
	}
	ts.add(KindEmailDomain, q.EmailDomain)
	ts.phone(q.Digits)
	return ts.list
}

// KindsOf are the distinct kinds of terms, in number order: what an audit entry records of a
// search instead of its text.
func KindsOf(terms []Term) []string {
	var have [256]bool
	for _, t := range terms {
		have[t.Kind] = true
	}
	var out []string
	for k := range have {
		if have[k] {
			out = append(out, Kind(k).String())
		}
	}
	return out
}
