package quality

import (
	"strings"
	"testing"
)

func TestNormalizeName(t *testing.T) {
	cases := []struct {
		raw, normalized, display, key string
	}{
		{"  Ada   Lovelace ", "Ada Lovelace", "Ada Lovelace", "ada lovelace"},
		{"JOHN O'BRIEN", "JOHN O'BRIEN", "John O'Brien", "john obrien"},
		{"john o’brien", "john o’brien", "John O’Brien", "john obrien"},
		{"jan van der berg", "jan van der berg", "Jan van der Berg", "jan van der berg"},
		{"VAN DER BERG", "VAN DER BERG", "Van der Berg", "van der berg"},
		{"ludwig van beethoven", "ludwig van beethoven", "Ludwig van Beethoven", "ludwig van beethoven"},
		{"MARIA DE LA CRUZ", "MARIA DE LA CRUZ", "Maria de la Cruz", "maria de la cruz"},
		{"RONALD MCDONALD", "RONALD MCDONALD", "Ronald McDonald", "ronald mcdonald"},
		{"anne-marie dupont", "anne-marie dupont", "Anne-Marie Dupont", "anne marie dupont"},
		{"valéry giscard d'estaing", "valéry giscard d'estaing", "Valéry Giscard d'Estaing", "valery giscard destaing"},
		{"D'ANGELO", "D'ANGELO", "D'Angelo", "dangelo"},
		{"martin luther king jr.", "martin luther king jr.", "Martin Luther King Jr.", "martin luther king jr"},
		{"JOHN SMITH III", "JOHN SMITH III", "John Smith III", "john smith iii"},
		{"MARK", "MARK", "Mark", "mark"},
		{"mac", "mac", "Mac", "mac"},
		{"MACEY", "MACEY", "Macey", "macey"},
		{"mc", "mc", "Mc", "mc"},
		// Mixed case is the person's own spelling and is never recased.
		{"McDonald", "McDonald", "McDonald", "mcdonald"},
		{"DeShawn", "DeShawn", "DeShawn", "deshawn"},
		{"van der Berg", "van der Berg", "van der Berg", "van der berg"},
		{"da Silva", "da Silva", "da Silva", "da silva"},
		{"iPhone Mike", "iPhone Mike", "iPhone Mike", "iphone mike"},
		// Unicode: NFC, case folding, scripts without case, Turkish dotted capitals.
		{"Zoe\u0308 Saldan\u0303a", "Zoë Saldaña", "Zoë Saldaña", "zoe saldana"},
		{"STRAUSS", "STRAUSS", "Strauss", "strauss"},
		{"Strauß", "Strauß", "Strauß", "strauss"},
		{"ΟΔΥΣΣΕΑΣ", "ΟΔΥΣΣΕΑΣ", "Οδυσσεας", "οδυσσεασ"},
		{"İBRAHİM YILDIZ", "İBRAHİM YILDIZ", "İbrahim Yıldız", "ibrahim yildiz"},
		{"王小明", "王小明", "王小明", "王小明"},
		{"محمد", "محمد", "محمد", "محمد"},
		{"J", "J", "J", "j"},
	}
	for _, c := range cases {
		r := NormalizeName(c.raw, 128)
		if !r.Valid || r.Normalized != c.normalized || r.Display != c.display || r.Key != c.key {
			t.Errorf("NormalizeName(%q) = %+v; want %q / %q / %q", c.raw, r, c.normalized, c.display, c.key)
		}
	}
}

func TestNameFlagsAndRejects(t *testing.T) {
	flags := []struct {
		raw                           string
		placeholder, digits, initials bool
	}{
		{"Test", true, false, false},
		{"N/A", true, false, false},
		{"asdf", true, false, false},
		{"John Doe", true, false, false},
		{"Guest", true, false, false},
		{"J. R. R.", false, false, true},
		{"J.", false, false, true},
		{"Anna2", false, true, false},
		{"Na", false, false, false}, // a real family name
		{"Ada", false, false, false},
	}
	for _, c := range flags {
		r := NormalizeName(c.raw, 128)
		if !r.Valid || r.Placeholder != c.placeholder || r.Digits != c.digits || r.Initials != c.initials {
			t.Errorf("NormalizeName(%q) = %+v; want placeholder=%v digits=%v initials=%v", c.raw, r, c.placeholder, c.digits, c.initials)
		}
	}
	rejects := []struct{ raw, reason string }{
		{"", "name is empty"},
		{"   ", "name is empty"},
		{"12345", "name contains no letters"},
		{"---", "name contains no letters"},
		{"secret\x07name", "name contains control characters"},
		{"se\xffcret", "name is not valid UTF-8"},
		{"secret@example.com", "name looks like an email or web address"},
		{"https://secret.example", "name looks like an email or web address"},
		{"www.secret.example", "name looks like an email or web address"},
		{strings.Repeat("secret", 30), "name is too long"},
	}
	for _, c := range rejects {
		r := NormalizeName(c.raw, 128)
		if r.Valid || r.Reason != c.reason || r.Normalized != "" {
			t.Errorf("NormalizeName(%q) = %+v; want reason %q", c.raw, r, c.reason)
		}
		if strings.Contains(r.Reason, "secret") {
			t.Errorf("reason %q quotes the input", r.Reason)
		}
	}
}

func TestCleanText(t *testing.T) {
	cases := map[string]string{
		"  a  b\tc\n":   "a b c",
		"e\u0301":       "é",
		"\u00a0x\u00a0": "x",
		"":              "",
	}
	for in, want := range cases {
		if got, err := CleanText(in); err != nil || got != want {
			t.Errorf("CleanText(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := CleanText("a\x00b"); err != ErrTextControl {
		t.Errorf("control character: got %v", err)
	}
	if _, err := CleanText("a\xffb"); err != ErrTextNotUTF8 {
		t.Errorf("bad UTF-8: got %v", err)
	}
}

func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"JOHN O'BRIEN", "jan van der berg", "İBRAHİM", "Zoë", "McDonald", "d'", "m'c", "-", "'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := NormalizeName(raw, 256)
		if !r.Valid {
			if r.Reason == "" || r.Normalized != "" {
				t.Fatalf("invalid result malformed: %+v", r)
			}
			return
		}
		// The display form only ever changes case: same words, same key.
		if NameKey(r.Display) != r.Key {
			t.Fatalf("display %q has key %q, normalised %q has %q", r.Display, NameKey(r.Display), r.Normalized, r.Key)
		}
		if again := NormalizeName(r.Normalized, 256); !again.Valid || again.Normalized != r.Normalized {
			t.Fatalf("normalised %q does not normalise to itself: %+v", r.Normalized, again)
		}
	})
}
