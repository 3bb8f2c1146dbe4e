package httpapi

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestMemberNumberQRCode reads the QR code of a member number back as a scanner locates it:
// the size names a version, the three finder patterns and the timing patterns are where the
// standard puts them, the dark module is set, and both copies of the format information
// agree and carry a valid BCH code for error correction level M. The SVG drawn from it holds
// exactly its dark modules, offset by the quiet zone.
func TestMemberNumberQRCode(t *testing.T) {
	for _, number := range []string{"M1234567897", "M0000000000", "LOYAL123456789012345"} {
		m, err := qrModules(number)
		if err != nil {
			t.Fatal(err)
		}
		n := len(m)
		if (n-17)%4 != 0 || n < 21 {
			t.Fatalf("%s: %d modules a side is no QR version", number, n)
		}
		at := func(x, y int) bool { return m[y][x] }
		for _, c := range [][2]int{{0, 0}, {n - 7, 0}, {0, n - 7}} {
			for dy := 0; dy < 7; dy++ {
				for dx := 0; dx < 7; dx++ {
					ring := max(abs(dx-3), abs(dy-3))
					if want := ring != 2; at(c[0]+dx, c[1]+dy) != want {
						t.Fatalf("%s: finder pattern at %v wrong at (%d,%d)", number, c, dx, dy)
					}
				}
			}
		}
		for i := 8; i < n-8; i++ {
			if at(i, 6) != (i%2 == 0) || at(6, i) != (i%2 == 0) {
				t.Fatalf("%s: timing pattern wrong at %d", number, i)
			}
		}
		if !at(8, n-8) {
			t.Errorf("%s: the dark module is missing", number)
		}
		var first, second int
		bit := func(v *int, x, y int) {
			*v <<= 1
			if at(x, y) {
				*v |= 1
			}
		}
		for i := 0; i < 6; i++ {
			bit(&first, i, 8)
		}
		bit(&first, 7, 8)
		bit(&first, 8, 8)
		bit(&first, 8, 7)
		for j := 5; j >= 0; j-- {
			bit(&first, 8, j)
		}
		for j := n - 1; j >= n-7; j-- {
			bit(&second, 8, j)
		}
		for i := n - 8; i < n; i++ {
			bit(&second, i, 8)
		}
		if first != second {
			t.Fatalf("%s: format information copies differ: %015b %015b", number, first, second)
		}
		f := first ^ 0x5412
		data := f >> 10
		rem := data << 10
		for i := 14; i >= 10; i-- {
			if rem&(1<<i) != 0 {
				rem ^= 0x537 << (i - 10)
			}
		}
		if rem != f&0x3ff {
			t.Fatalf("%s: format information %015b fails its BCH check", number, first)
		}
		if level := data >> 3; level != 0 {
			t.Errorf("%s: error correction bits %02b, want 00 (M)", number, level)
		}

		svg, err := qrSVG(number, "code")
		if err != nil {
			t.Fatal(err)
		}
		dark := 0
		for _, row := range m {
			for _, d := range row {
				if d {
					dark++
				}
			}
		}
		squares := regexp.MustCompile(`M(\d+) (\d+)h1v1h-1z`).FindAllStringSubmatch(string(svg), -1)
		if len(squares) != dark || !strings.Contains(string(svg), "viewBox=\"0 0 "+strconv.Itoa(n+8)+" "+strconv.Itoa(n+8)+"\"") {
			t.Fatalf("%s: svg has %d squares, want %d, in a %d-module box", number, len(squares), dark, n+8)
		}
		for _, s := range squares {
			x, _ := strconv.Atoi(s[1])
			y, _ := strconv.Atoi(s[2])
			if !at(x-4, y-4) {
				t.Fatalf("%s: svg square at (%d,%d) is a light module", number, x, y)
			}
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
