package httpapi

import (
	"math"
	"strings"
	"testing"
)

func TestLineDiff(t *testing.T) {
	tests := []struct {
		name, older, newer, want string
	}{
		{"same", "a\nb", "a\nb", " a| b"},
		{"one line changed", "a\nb\nc", "a\nB\nc", " a|+B|-b| c"},
		{"added at the end", "a", "a\nb", " a|+b"},
		{"removed in the middle", "a\nb\nc\nd", "a\nd", " a|-b|-c| d"},
		{"from nothing", "", "a\nb", "+a|+b"},
		{"moved", "a\nb\nc", "c\na\nb", "+c| a| b|-c"},
	}
	for _, tt := range tests {
		var got []string
		for _, l := range lineDiff(tt.older, tt.newer) {
			got = append(got, l.Op+l.Text)
		}
		if g := strings.Join(got, "|"); g != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, g, tt.want)
		}
	}
	// A rewrite too long to compare line by line is every old line out, every new one in.
	var a, b []string
	for i := range 3000 {
		a, b = append(a, "old "+strings.Repeat("x", i%7)), append(b, "new")
	}
	d := lineDiff(strings.Join(a, "\n"), strings.Join(b, "\n"))
	if len(d) != 6000 || d[0].Op != "-" || d[5999].Op != "+" {
		t.Errorf("long rewrite: %d lines, first %q, last %q", len(d), d[0].Op, d[len(d)-1].Op)
	}
}

func TestCharts(t *testing.T) {
	for _, tt := range []struct{ in, nice, count float64 }{{0, 1, 2}, {0.4, 1, 2}, {3, 5, 4}, {5, 5, 10}, {7, 10, 10}, {150, 200, 200}, {401, 500, 1000}} {
		if got := niceMax(tt.in); got != tt.nice {
			t.Errorf("niceMax(%v): got %v, want %v", tt.in, got, tt.nice)
		}
		if got := countMax(tt.in); got != tt.count {
			t.Errorf("countMax(%v): got %v, want %v", tt.in, got, tt.count)
		}
	}
	svg := string(barChart("c<1", "Orders & refunds", "Bars <per day>", []chartPoint{{"1 Dec", 2}, {"2 Dec", 0}, {"3 Dec", 4}}))
	for _, want := range []string{`role="img"`, `aria-labelledby="c&lt;1-t c&lt;1-d"`, `<title id="c&lt;1-t">Orders &amp; refunds</title>`,
		`<desc id="c&lt;1-d">Bars &lt;per day&gt;</desc>`, `height="180"`, `height="0"`, `height="90"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("bar chart lacks %s: %s", want, svg)
		}
	}
	line := string(lineChart("r", "Rates", "d", []string{"w1", "w2", "w3", "w4"}, []chartSeries{{"a", []float64{0.5, math.NaN(), 1, 1}}}, 1, percent))
	if n := strings.Count(line, "<polyline"); n != 1 || strings.Count(line, "<circle") != 4 { // three points and the legend's
		t.Errorf("a gap splits the line: %d lines in %s", n, line)
	}
	if !strings.Contains(line, ">100%<") || strings.Contains(line, "NaN") {
		t.Errorf("line chart: %s", line)
	}
}
