package httpapi

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// The member card shows the member number as a QR code a till's scanner reads from the
// customer's phone. It is drawn on the server as inline SVG (byte mode, error correction
// level M, a quiet zone of four modules), so the page loads nothing and needs no script.
// The encoder is github.com/boombuler/barcode, which Steward already builds with for TOTP
// enrolment codes (github.com/pquerna/otp), so the card adds no module.

// qrModules returns the QR code's dark modules, row by row, without the quiet zone.
func qrModules(text string) ([][]bool, error) {
	code, err := qr.Encode(text, qr.M, qr.Unicode)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	b := code.Bounds()
	rows := make([][]bool, b.Dy())
	for y := range rows {
		rows[y] = make([]bool, b.Dx())
		for x := range rows[y] {
			r, _, _, _ := code.At(b.Min.X+x, b.Min.Y+y).RGBA()
			rows[y][x] = r == 0
		}
	}
	return rows, nil
}

// qrSVG draws text as a QR code: one path of unit squares, scaled by the viewBox.
func qrSVG(text, label string) (template.HTML, error) {
	m, err := qrModules(text)
	if err != nil {
		return "", err
	}
	const quiet = 4
	size := len(m) + 2*quiet
	var p strings.Builder
	for y, row := range m {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&p, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	return template.HTML(fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="220" height="220" role="img" aria-label="%s" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		size, size, template.HTMLEscapeString(label), size, size, p.String())), nil
}
