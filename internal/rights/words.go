package rights

import (
	"strconv"
	"strings"
	"time"
)

// requestNames name each request type as a customer reads it in a message. Messages are
// read by people, not parsed, so "a access request" or "opt_out" would read as a machine
// wrote them.
var requestNames = map[string]string{
	TypeAccess:        "access request",
	TypePortability:   "data portability request",
	TypeErasure:       "erasure request",
	TypeRectification: "rectification request",
	TypeRestriction:   "restriction request",
	TypeObjection:     "objection",
	TypeOptOut:        "opt-out request",
}

// TypeName is how a message to a customer names a request of type t ("access request").
func TypeName(t string) string {
	if n, ok := requestNames[t]; ok {
		return n
	}
	return strings.ReplaceAll(t, "_", " ") + " request"
}

// withArticle puts "a" or "an" before a name, as its first sound needs: every request name
// starts with a letter that is pronounced as written, so the letter decides.
func withArticle(name string) string {
	if name != "" && strings.ContainsRune("aeiou", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}

// inWords writes a duration the way a person would: "24 hours", "7 days", "45 minutes",
// "2 days and 12 hours". Whole days are days from two days on, so the default one-day link
// reads "24 hours" and the default week-long export "7 days"; seconds are left out.
func inWords(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "less than a minute"
	}
	const day = 24 * time.Hour
	if d >= 2*day && d%time.Hour == 0 {
		days, hours := int(d/day), int(d%day/time.Hour)
		if hours == 0 {
			return plural(days, "day")
		}
		return plural(days, "day") + " and " + plural(hours, "hour")
	}
	hours, minutes := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case hours == 0:
		return plural(minutes, "minute")
	case minutes == 0:
		return plural(hours, "hour")
	}
	return plural(hours, "hour") + " and " + plural(minutes, "minute")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// dateInWords writes a moment for a customer: "13 December 2026, 14:05 UTC". Steward does
// not know the customer's time zone, so it names UTC rather than guess.
func dateInWords(t time.Time) string {
	return t.UTC().Format("2 January 2006, 15:04 UTC")
}
