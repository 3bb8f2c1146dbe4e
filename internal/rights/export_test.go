package rights

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// The report writes section cells itself; they must be escaped exactly as the template would.
func TestReportEscapesSectionItems(t *testing.T) {
	p := Package{GeneratedAt: time.Unix(0, 0).UTC(), Sections: []Section{{Table: "events", Title: "Events", Items: []map[string]any{
		{"name": `<script>alert("x")</script>`, "count": int64(3), "<b>": true, "props": map[string]any{"q": "a&b"}},
	}}}}
	zipped, err := Build(p, false)
	if err != nil {
		t.Fatal(err)
	}
	html := unzipFile(t, zipped, "report.html")
	for _, want := range []string{`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`, `<td><b>count</b>: 3</td>`, `<td><b>&lt;b&gt;</b>: true</td>`, `{&#34;q&#34;:&#34;a\u0026b&#34;}`} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %s:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("report holds an unescaped script element")
	}
	// Cells come in name order, whatever the map's order.
	if i, j := strings.Index(html, "<b>&lt;b&gt;</b>"), strings.Index(html, "<b>name</b>"); i < 0 || j < 0 || i > j {
		t.Error("cells are not in name order")
	}
}

func unzipFile(t *testing.T, b []byte, name string) string {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := z.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
