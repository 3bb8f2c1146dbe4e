package browsertest

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
)

// Impacts are axe-core's impact levels, least severe first.
var Impacts = []string{"minor", "moderate", "serious", "critical"}

// Violation is one axe-core rule a page breaks, with the elements that break it.
type Violation struct {
	ID      string   `json:"id"`     // the rule, such as "color-contrast" or "label"
	Impact  string   `json:"impact"` // minor, moderate, serious or critical
	Help    string   `json:"help"`
	HelpURL string   `json:"helpUrl"`
	Nodes   []string `json:"nodes"` // CSS selectors of the offending elements
}

func (v Violation) String() string {
	return fmt.Sprintf("%s [%s] %s: %s", v.Impact, v.ID, v.Help, strings.Join(v.Nodes, ", "))
}

// Audit is the result of one axe-core run over a page.
type Audit struct {
	URL        string      `json:"url"`
	Violations []Violation `json:"violations"`
}

// ByImpact groups the violations by impact level.
func (a Audit) ByImpact() map[string][]Violation {
	out := map[string][]Violation{}
	for _, v := range a.Violations {
		out[v.Impact] = append(out[v.Impact], v)
	}
	return out
}

// AtLeast returns the violations of impact level min or worse: AtLeast("serious") is the
// serious and the critical ones.
func (a Audit) AtLeast(min string) []Violation {
	rank := map[string]int{}
	for i, l := range Impacts {
		rank[l] = i + 1
	}
	var out []Violation
	for _, v := range a.Violations {
		if rank[v.Impact] >= rank[min] {
			out = append(out, v)
		}
	}
	return out
}

// axeSource is axe.min.js, read once per test binary.
var axeSource struct {
	sync.Mutex
	src string
}

// axeRun runs every axe-core rule for WCAG 2.x A and AA and best practices over the document,
// and keeps of each violation what a test report needs.
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
	id: v.id, impact: v.impact || "minor", help: v.help, helpUrl: v.helpUrl,
	nodes: v.nodes.map(n => n.target.join(" "))
})))`

// Axe injects axe-core (test/browser/node_modules, pinned by its lock file) into the page the
// browser shows and returns the rules the page breaks. Injecting through the DevTools protocol
// is not subject to the page's Content-Security-Policy, so the page is checked as served.
func (b *Browser) Axe() Audit {
	b.t.Helper()
	axeSource.Lock()
	if axeSource.src == "" {
		src, err := os.ReadFile(Asset(b.t, "axe-core/axe.min.js"))
		if err != nil {
			axeSource.Unlock()
			b.t.Fatal(err)
		}
		axeSource.src = string(src)
	}
	src := axeSource.src
	axeSource.Unlock()
	if err := b.do(chromedp.Evaluate[chromedp.Void](src + "\n;0")); err != nil {
		b.t.Fatalf("inject axe-core: %v", err)
	}
	a := Audit{URL: b.URL()}
	b.Eval(axeRun, &a.Violations)
	return a
}

// RequireAccessible runs Axe, writes its report as NAME.axe.json in the artifacts directory,
// logs every violation, and fails the test on serious or critical ones (the bar DESIGN.md
// sets for Steward's pages).
func (b *Browser) RequireAccessible(name string) Audit {
	b.t.Helper()
	a := b.Axe()
	report, _ := json.MarshalIndent(a, "", "  ")
	b.writeArtifact(name+".axe.json", report)
	for _, v := range a.Violations {
		b.t.Logf("axe on %s: %s", a.URL, v)
	}
	if bad := a.AtLeast("serious"); len(bad) > 0 {
		lines := make([]string, len(bad))
		for i, v := range bad {
			lines[i] = v.String()
		}
		b.t.Errorf("%s: %d serious or critical accessibility violations, want none:\n%s", a.URL, len(bad), strings.Join(lines, "\n"))
	}
	return a
}
