package httpapi

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Charts of the console, drawn on the server as inline SVG: no script, nothing fetched, so
// they pass the console's Content-Security-Policy and render with JavaScript off. Each is an
// image with a title and a description that say what it shows (role="img", labelled by
// both), and every page that draws one also prints the same numbers as a table, which is
// what a screen reader or a copy-and-paste uses.

// chartPoint is one bar or one point: its label on the axis and its value.
type chartPoint struct {
	Label string
	Value float64
}

// chartSeries is one line of a line chart.
type chartSeries struct {
	Name   string
	Values []float64
}

// chartColours are distinguishable in colour-blind palettes (Okabe and Ito) and dark enough
// against white for the 3:1 contrast graphics need.
var chartColours = []string{"#0b57d0", "#b35900", "#007a5a", "#a3257d", "#5c4a00", "#3b3b3b"}

const (
	chartWidth  = 640
	chartHeight = 220
	chartLeft   = 56 // room for the value axis's labels
	chartBottom = 30 // room for the category labels
	chartTop    = 10
)

// svgOpen starts a chart: the element, its title and its description, ids made from id.
func svgOpen(b *strings.Builder, id, title, desc string, width, height int) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 %d %d" width="100%%" aria-labelledby="%s-t %s-d">`,
		width, height, template.HTMLEscapeString(id), template.HTMLEscapeString(id))
	fmt.Fprintf(b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, template.HTMLEscapeString(id), template.HTMLEscapeString(title),
		template.HTMLEscapeString(id), template.HTMLEscapeString(desc))
}

// niceMax rounds a chart's top value up to 1, 2 or 5 times a power of ten, so the axis
// labels are round numbers; at least 1, so an empty chart still has an axis.
func niceMax(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// countMax is niceMax for counts: 2, 4 or 10 times a power of ten, at least 2, so the
// middle grid line is a whole number too.
func countMax(v float64) float64 {
	if v <= 2 {
		return 2
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 4} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// number formats an axis or bar value: whole numbers plainly, others with one decimal.
func number(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// valueAxis draws three grid lines with their labels from 0 to top (shown through label).
func valueAxis(b *strings.Builder, top float64, plotH, width int, label func(float64) string) {
	for i := 0; i <= 2; i++ {
		v := top * float64(i) / 2
		y := chartTop + plotH - int(float64(plotH)*float64(i)/2)
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#d0d0d0"/>`, chartLeft, y, width, y)
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end" font-size="14" fill="#1a1a1a">%s</text>`, chartLeft-4, y+4, template.HTMLEscapeString(label(v)))
	}
}

// barChart draws one bar per point (a time series of counts: a day each), labelling every few bars
// along the bottom so the labels never overlap.
func barChart(id, title, desc string, pts []chartPoint) template.HTML {
	var b strings.Builder
	svgOpen(&b, id, title, desc, chartWidth, chartHeight)
	top := 0.0
	for _, p := range pts {
		top = max(top, p.Value)
	}
	top = countMax(top)
	plotH := chartHeight - chartTop - chartBottom
	valueAxis(&b, top, plotH, chartWidth, number)
	if n := len(pts); n > 0 {
		step := float64(chartWidth-chartLeft) / float64(n)
		every := max(1, n/6)
		for i, p := range pts {
			h := int(math.Round(p.Value / top * float64(plotH)))
			x := chartLeft + int(float64(i)*step)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`, x+1, chartTop+plotH-h, max(1, int(step)-2), h, chartColours[0])
			if i%every == 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" fill="#1a1a1a">%s</text>`, x, chartHeight-8, template.HTMLEscapeString(p.Label))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// hbarChart draws one horizontal bar per point (categories: fields, statuses), its label on
// the left and its value at the end of the bar, against top (0: counts, scaled to the
// largest).
func hbarChart(id, title, desc string, pts []chartPoint, top float64, label func(float64) string) template.HTML {
	const row, labelW = 20, 170
	height := len(pts)*row + 8
	var b strings.Builder
	svgOpen(&b, id, title, desc, chartWidth, height)
	if top <= 0 {
		for _, p := range pts {
			top = max(top, p.Value)
		}
		top = countMax(top)
	}
	plotW := chartWidth - labelW - 60
	for i, p := range pts {
		y := 4 + i*row
		w := int(math.Round(p.Value / top * float64(plotW)))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-size="12" fill="#1a1a1a">%s</text>`, labelW-6, y+13, template.HTMLEscapeString(p.Label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`, labelW, y+2, w, row-6, chartColours[0])
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#1a1a1a">%s</text>`, labelW+w+4, y+13, template.HTMLEscapeString(label(p.Value)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// lineChart draws one line per series over labels (periods), against top (0: the largest
// value), with a legend under the plot; a NaN value is a period with nothing to show; each series also gets its own marker shape so the
// lines differ by more than colour.
func lineChart(id, title, desc string, labels []string, series []chartSeries, top float64, label func(float64) string) template.HTML {
	legendH := 18 * ((len(series) + 2) / 3)
	height := chartHeight + legendH
	var b strings.Builder
	svgOpen(&b, id, title, desc, chartWidth, height)
	if top <= 0 {
		for _, s := range series {
			for _, v := range s.Values {
				if !math.IsNaN(v) {
					top = max(top, v)
				}
			}
		}
		top = niceMax(top)
	}
	plotH := chartHeight - chartTop - chartBottom
	valueAxis(&b, top, plotH, chartWidth, label)
	n := len(labels)
	x := func(i int) int {
		if n < 2 {
			return chartLeft + 10
		}
		return chartLeft + 10 + i*(chartWidth-chartLeft-30)/(n-1)
	}
	y := func(v float64) int { return chartTop + plotH - int(math.Round(v/top*float64(plotH))) }
	every := max(1, n/6)
	for i, l := range labels {
		if i%every == 0 {
			// The last label ends at its point, so a long one (a date) stays inside the chart.
			x, anchor := x(i)-10, "start"
			if i == n-1 && n > 1 {
				x, anchor = x+20, "end"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" fill="#1a1a1a" text-anchor="%s">%s</text>`, x, chartTop+plotH+18, anchor, template.HTMLEscapeString(l))
		}
	}
	for si, s := range series {
		colour := chartColours[si%len(chartColours)]
		// A period without a value (NaN) breaks the line: nothing is drawn where nothing was
		// measured, rather than a made-up zero.
		var pts []string
		line := func() {
			if len(pts) > 1 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, colour, strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		for i, v := range s.Values {
			if math.IsNaN(v) {
				line()
				continue
			}
			pts = append(pts, strconv.Itoa(x(i))+","+strconv.Itoa(y(v)))
			marker(&b, si, x(i), y(v), colour)
		}
		line()
		lx, ly := chartLeft+(si%3)*190, chartHeight+4+18*(si/3)
		marker(&b, si, lx+6, ly+6, colour)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#1a1a1a">%s</text>`, lx+16, ly+10, template.HTMLEscapeString(words(s.Name)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// marker draws series si's point shape: a circle, a square or a diamond.
func marker(b *strings.Builder, si, x, y int, colour string) {
	switch si % 3 {
	case 0:
		fmt.Fprintf(b, `<circle cx="%d" cy="%d" r="3.5" fill="%s"/>`, x, y, colour)
	case 1:
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="7" height="7" fill="%s"/>`, x-3, y-3, colour)
	default:
		fmt.Fprintf(b, `<path d="M%d %dl4 4-4 4-4-4z" fill="%s"/>`, x, y-4, colour)
	}
}

// percent shows a share (0 to 1) as a whole percentage.
func percent(f float64) string { return strconv.FormatFloat(f*100, 'f', 0, 64) + "%" }
