package consent

import (
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

func TestNewPolicy(t *testing.T) {
	cat := catalog.Default()
	now := t2
	future := t3
	past := t2.Add(-time.Hour)
	base := func() PolicyInput {
		return PolicyInput{Version: "2026-06", Text: "We send newsletters to those who ask.", Purposes: []string{"marketing_email", "service"},
			Controller: Controller{Name: "Example Shop Ltd", Contact: "privacy@shop.example"}}
	}
	published := []Policy{{Version: "2026-01", Seq: 1, EffectiveAt: t0, Purposes: []string{"marketing_email"}}}
	tests := []struct {
		name  string
		edit  func(in *PolicyInput)
		field string       // the Invalid field; empty when valid
		kind  problem.Kind // when not Invalid
	}{
		{"valid", func(in *PolicyInput) {}, "", 0},
		{"valid with url and hash", func(in *PolicyInput) {
			in.Text, in.URL, in.ContentHash = "", "https://shop.example/privacy", ContentHash("x")
		}, "", 0},
		{"future effective date", func(in *PolicyInput) { in.EffectiveAt = &future }, "", 0},
		{"bad version", func(in *PolicyInput) { in.Version = "v 1" }, "version", 0},
		{"empty version", func(in *PolicyInput) { in.Version = "" }, "version", 0},
		{"republished version", func(in *PolicyInput) { in.Version = "2026-01" }, "", problem.Conflict},
		{"backdated", func(in *PolicyInput) { in.EffectiveAt = &past }, "effective_at", 0},
		{"no text or url", func(in *PolicyInput) { in.Text = "" }, "text", 0},
		{"url without hash", func(in *PolicyInput) { in.Text, in.URL = "", "https://shop.example/privacy" }, "content_hash", 0},
		{"url not http", func(in *PolicyInput) { in.Text, in.URL, in.ContentHash = "", "ftp://x/y", ContentHash("x") }, "url", 0},
		{"hash not matching text", func(in *PolicyInput) { in.ContentHash = ContentHash("other") }, "content_hash", 0},
		{"malformed hash", func(in *PolicyInput) { in.ContentHash = "md5:abc" }, "content_hash", 0},
		{"text too long", func(in *PolicyInput) { in.Text = strings.Repeat("x", MaxPolicyText+1) }, "text", 0},
		{"no purposes", func(in *PolicyInput) { in.Purposes = nil }, "purposes", 0},
		{"unknown purpose", func(in *PolicyInput) { in.Purposes = []string{"mind_reading"} }, "purposes", 0},
		{"purpose twice", func(in *PolicyInput) { in.Purposes = []string{"service", "service"} }, "purposes", 0},
		{"material change outside purposes", func(in *PolicyInput) { in.MaterialChange = []string{"marketing_sms"} }, "material_change", 0},
		{"material change to a contract purpose", func(in *PolicyInput) { in.MaterialChange = []string{"service"} }, "material_change", 0},
		{"control character in controller", func(in *PolicyInput) { in.Controller.Name = "Shop\x00" }, "controller.name", 0},
		{"bad language", func(in *PolicyInput) { in.Language = "en GB" }, "language", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			tt.edit(&in)
			p, err := newPolicy(cat, in, published, now)
			switch {
			case tt.kind != 0:
				if !problem.Is(err, tt.kind) {
					t.Fatalf("got %v, want %v", err, tt.kind)
				}
			case tt.field != "":
				if !problem.Is(err, problem.Invalid) || problem.FieldOf(err) != tt.field {
					t.Fatalf("got %v (field %q), want Invalid naming %s", err, problem.FieldOf(err), tt.field)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if p.Seq != 2 || p.ContentHash == "" || p.MaterialChange == nil {
					t.Fatalf("got %+v", p)
				}
			}
		})
	}
	// A version may not take effect before one published earlier.
	later := []Policy{{Version: "2026-09", Seq: 1, EffectiveAt: t3}}
	if _, err := newPolicy(cat, base(), later, now); problem.FieldOf(err) != "effective_at" {
		t.Fatalf("got %v, want effective_at refused", err)
	}
}
