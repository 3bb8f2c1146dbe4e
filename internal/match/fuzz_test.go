package match

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNormalize feeds arbitrary values to every field. Normalising must never fail, must
// be idempotent (the server computes blocking keys from stored normalised values, which
// must give the keys the raw input gave), must stay valid UTF-8 of bounded length, and a
// record compared with itself must never disagree on anything.
func FuzzNormalize(f *testing.F) {
	for _, seed := range []string{"", "Müller-Lüdenscheidt", "O'Brien", "19621316", "1985-02-30", "12/25/1985",
		"Ada.Lovelace@Example.COM", "+44 20 7946 0958", "M\xfcller", strings.Repeat("é", 300), "\ufeff  ", "ＡＤＡ"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var r Record
		for fld := range numFields {
			r.Set(fld, raw)
		}
		n := Normalize(r, "GB")
		var again Record
		for fld := range numFields {
			v := n.Fields[fld]
			if !utf8.ValidString(v) || len(v) > 4*maxValueBytes {
				t.Fatalf("%s: normalised to %d bytes, valid UTF-8 %v", fld, len(v), utf8.ValidString(v))
			}
			again.Set(fld, v)
		}
		if n2 := Normalize(again, "GB"); n2.Fields != n.Fields {
			for fld := range numFields {
				if n2.Fields[fld] != n.Fields[fld] {
					t.Fatalf("%s: not idempotent: %q then %q", fld, n.Fields[fld], n2.Fields[fld])
				}
			}
		}
		p := prepare(n)
		pat := comparePair(&p, &p)
		for c, cmp := range comparisons {
			if l := pat.level(c); l != Missing && l != 1 && cmp.levelName(l) != impliedByAddress && cmp.levelName(l) != sharedByHousehold && cmp.levelName(l) != "transposed" {
				t.Fatalf("%s: a record compared with itself is %s", cmp.name, cmp.levelName(l))
			}
		}
		_ = BlockingKeys(&n)
	})
}
