package rights

import (
	"testing"
	"time"
)

// TestMessageWords: messages name every request type with the right article and write
// durations in words, as a person would.
func TestMessageWords(t *testing.T) {
	want := map[string]string{
		TypeAccess:        "an access request",
		TypePortability:   "a data portability request",
		TypeErasure:       "an erasure request",
		TypeRectification: "a rectification request",
		TypeRestriction:   "a restriction request",
		TypeObjection:     "an objection",
		TypeOptOut:        "an opt-out request",
	}
	for _, typ := range Types {
		if got := withArticle(TypeName(typ)); got != want[typ] {
			t.Errorf("%s: got %q, want %q", typ, got, want[typ])
		}
	}
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{24 * time.Hour, "24 hours"},
		{time.Hour, "1 hour"},
		{45 * time.Minute, "45 minutes"},
		{90 * time.Minute, "1 hour and 30 minutes"},
		{36 * time.Hour, "36 hours"},
		{48 * time.Hour, "2 days"},
		{7 * 24 * time.Hour, "7 days"},
		{60 * time.Hour, "2 days and 12 hours"},
		{7*24*time.Hour - 30*time.Second, "7 days"},
		{10 * time.Second, "less than a minute"},
	} {
		if got := inWords(tt.d); got != tt.want {
			t.Errorf("inWords(%v): got %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := dateInWords(time.Date(2026, 12, 13, 14, 5, 0, 0, time.FixedZone("CET", 3600))); got != "13 December 2026, 13:05 UTC" {
		t.Errorf("dateInWords: got %q", got)
	}
}

// TestScrubSenderErrors: a mail server's refusal quotes the recipient; what reaches the log
// must not.
func TestScrubSenderErrors(t *testing.T) {
	got := scrub("550 5.1.1 <Ada.Lovelace@example.com>: Recipient address rejected (+44 20 7946 0958)")
	if got != "550 5.1.1 <[address]>: Recipient address rejected ([number])" {
		t.Errorf("got %q", got)
	}
}
