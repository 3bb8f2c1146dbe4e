package banner

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
)

// The banner offers the catalog's categories whose purposes a browser may choose — not
// e-mail or SMS marketing, whose consent needs a confirmed address — and asks again after a
// version that materially changed one of them.
func TestBuild(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ps := []consent.Policy{
		{Version: "v1", Seq: 1, EffectiveAt: t0, Purposes: []string{"ads_sharing", "personalization"}},
		{Version: "v2", Seq: 2, EffectiveAt: t0.AddDate(0, 1, 0), Purposes: []string{"ads_sharing", "personalization"}, MaterialChange: []string{"ads_sharing"}},
		{Version: "v3", Seq: 3, EffectiveAt: t0.AddDate(0, 2, 0), Purposes: []string{"ads_sharing", "personalization"}, MaterialChange: []string{"service"}},
		{Version: "v4", Seq: 4, EffectiveAt: t0.AddDate(1, 0, 0), Purposes: []string{"personalization"}, MaterialChange: []string{"personalization"}},
	}
	c := Build(catalog.Default(), ps, t0.AddDate(0, 3, 0))
	var names []string
	for _, k := range c.Categories {
		names = append(names, k.Name)
		if k.Name == "Advertising" && (!k.GPC || !slices.Equal(k.Purposes, []string{"ads_sharing"})) {
			t.Errorf("Advertising: %+v", k)
		}
	}
	if !slices.Equal(names, []string{"Personalization", "Advertising", "Analytics"}) {
		t.Errorf("categories: %v", names)
	}
	if c.Policy != "v3" || c.PolicySeq != 3 || c.AskAfter != 2 {
		t.Errorf("policy %s seq %d ask after %d, want v3 3 2", c.Policy, c.PolicySeq, c.AskAfter)
	}
	if c := Build(catalog.Default(), nil, t0); c.Policy != "" || len(c.Categories) != 3 {
		t.Errorf("no policy: %+v", c)
	}
}

// The script is small, loads nothing from other hosts, and is valid JavaScript.
func TestScript(t *testing.T) {
	b, err := Script(Build(catalog.Default(), nil, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(b)
	_ = w.Close()
	if gz.Len() > 15<<10 {
		t.Errorf("consent.js is %d bytes gzipped, over 15 KB", gz.Len())
	}
	t.Logf("consent.js: %d bytes, %d gzipped", len(b), gz.Len())
	if m := regexp.MustCompile(`https?://`).Find(b); m != nil {
		t.Errorf("the script names another host: %s", m)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is required under CI to check the script's syntax")
		}
		t.Skip("node not installed: syntax not checked")
	}
	f := filepath.Join(t.TempDir(), "consent.js")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
		t.Errorf("node --check: %v\n%s", err, out)
	}
}
