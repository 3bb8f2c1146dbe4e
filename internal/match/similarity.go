package match

import "unicode/utf8"

// maxCompareRunes bounds the work of one string comparison. Both similarity measures are
// quadratic in the length of their inputs, and a pasted paragraph in a name field must
// cost the same as a name, not stall a million-record run.
const maxCompareRunes = 64

// JaroWinkler returns the Jaro-Winkler similarity of a and b in [0, 1]: 1 for equal
// strings, 0 when they share no characters. It is the measure of choice for names because
// it forgives the typos people make (transposed and dropped letters) and rewards a common
// prefix, where spelling is least often wrong. Strings longer than 64 characters are
// compared on their first 64. Two empty strings count as equal.
func JaroWinkler(a, b string) float64 {
	if a == b {
		return 1
	}
	if isASCII(a) && isASCII(b) {
		return jaroWinkler(clipBytes(a), clipBytes(b))
	}
	return jaroWinkler(clipRunes(a), clipRunes(b))
}

// jaroWinkler works on bytes or runes alike, so that the common ASCII case needs no
// conversion. Matched positions are tracked in 64-bit masks, which is why inputs are
// clipped to 64 characters first.
func jaroWinkler[T byte | rune](a, b []T) float64 {
	if len(a) == 0 || len(b) == 0 {
		if len(a) == len(b) {
			return 1
		}
		return 0
	}
	window := max(len(a), len(b))/2 - 1
	window = max(window, 0)
	var usedA, usedB uint64
	matches := 0
	for i := range a {
		lo, hi := max(0, i-window), min(len(b), i+window+1)
		for j := lo; j < hi; j++ {
			if usedB&(1<<j) == 0 && a[i] == b[j] {
				usedA |= 1 << i
				usedB |= 1 << j
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	// Count matched characters that appear in a different order.
	half, j := 0, 0
	for i := range a {
		if usedA&(1<<i) == 0 {
			continue
		}
		for usedB&(1<<j) == 0 {
			j++
		}
		if a[i] != b[j] {
			half++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(len(a)) + m/float64(len(b)) + (m-float64(half/2))/m) / 3
	prefix := 0
	for prefix < 4 && prefix < len(a) && prefix < len(b) && a[prefix] == b[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

// EditDistance returns the optimal-string-alignment distance between a and b: the number
// of insertions, deletions, substitutions and transpositions of adjacent characters that
// turn one into the other, without editing a substring twice. Transpositions count once
// because swapped digits are the most common keying error in dates and identifiers.
// The result is capped at limit+1, which lets callers ask "within k edits?" cheaply.
func EditDistance(a, b string, limit int) int {
	if a == b {
		return 0
	}
	if isASCII(a) && isASCII(b) {
		return osa(clipBytes(a), clipBytes(b), limit)
	}
	return osa(clipRunes(a), clipRunes(b), limit)
}

func osa[T byte | rune](a, b []T, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	// Three rows of the dynamic programme, on the stack for clipped inputs.
	var buf [3][maxCompareRunes + 1]int
	prev2, prev, cur := buf[0][:len(b)+1], buf[1][:len(b)+1], buf[2][:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			best = min(best, v)
		}
		if best > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit+1)
}

func clipBytes(s string) []byte {
	if len(s) > maxCompareRunes {
		s = s[:maxCompareRunes]
	}
	return []byte(s)
}

func clipRunes(s string) []rune {
	r := make([]rune, 0, min(len(s), maxCompareRunes))
	for _, c := range s {
		if len(r) == maxCompareRunes {
			break
		}
		r = append(r, c)
	}
	return r
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// soundexCodes maps a-z to the Soundex digit groups; '0' marks letters that are dropped
// (vowels and h, w, y), which still separate repeated codes except for h and w.
var soundexCodes = [26]byte{
	'0', '1', '2', '3', '0', '1', '2', '0', '0', '2', '2', '4', '5',
	'5', '0', '1', '2', '6', '2', '3', '0', '1', '0', '2', '0', '2',
}

// Soundex returns the American Soundex code of a name (letter plus three digits), used in
// blocking keys so that names that sound alike land in the same block despite spelling
// variants. Letters outside a–z are skipped; a name with none gives "".
func Soundex(s string) string {
	var out [4]byte
	n := 0
	var last byte
	for i := 0; i < len(s) && n < 4; i++ {
		c := s[i]
		if c < 'a' || c > 'z' {
			continue
		}
		code := soundexCodes[c-'a']
		if n == 0 {
			out[0] = c
			n = 1
			last = code
			continue
		}
		switch {
		case c == 'h' || c == 'w':
			// h and w do not separate letters with the same code.
		case code == '0':
			last = 0
		case code != last:
			out[n] = code
			n++
			last = code
		}
	}
	if n == 0 {
		return ""
	}
	for n < 4 {
		out[n] = '0'
		n++
	}
	return string(out[:])
}
