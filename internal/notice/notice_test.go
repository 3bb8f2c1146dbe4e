package notice

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
)

func policies() []consent.Policy {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return []consent.Policy{
		{Version: "v1", Seq: 1, EffectiveAt: t0, Purposes: []string{"service", "marketing_email"}, Controller: consent.Controller{Name: "Shop Ltd", Contact: "privacy@shop.example"}},
		{Version: "v2", Seq: 2, EffectiveAt: t0.AddDate(0, 6, 0), Purposes: []string{"service", "marketing_email", "ads_sharing"},
			MaterialChange: []string{"marketing_email"}, Controller: consent.Controller{Name: "Shop Ltd", Contact: "dpo@shop.example"}},
		{Version: "v3", Seq: 3, EffectiveAt: t0.AddDate(2, 0, 0), Purposes: []string{"service"}},
	}
}

// The notice says what the catalog declares, under the version in force, and what each
// version changed; a version not yet in force is listed but does not speak.
func TestBuild(t *testing.T) {
	cat := catalog.Default()
	n := Build(Input{Catalog: cat, Policies: policies(), Now: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), PortalURL: "https://shop.example/portal"})
	if n.Policy == nil || n.Policy.Version != "v2" || n.Controller.Contact != "dpo@shop.example" {
		t.Fatalf("policy in force: %+v %+v", n.Policy, n.Controller)
	}
	if len(n.Versions) != 3 || n.Versions[0].Version != "v3" || n.Versions[0].InForce || !n.Versions[1].InForce {
		t.Fatalf("versions: %+v", n.Versions)
	}
	if v := n.Versions[1]; !slices.Equal(v.Added, []string{"ads_sharing"}) || len(v.Removed) != 0 || !slices.Equal(v.MaterialChange, []string{"marketing_email"}) {
		t.Errorf("v2 changes: %+v", v)
	}
	if v := n.Versions[0]; !slices.Equal(v.Removed, []string{"marketing_email", "ads_sharing"}) {
		t.Errorf("v3 changes: %+v", v)
	}
	byName := map[string]Purpose{}
	for _, p := range n.Purposes {
		byName[p.Name] = p
	}
	if p := byName["analytics"]; !p.Generalised || !p.Optional || p.LegalBasis != "legitimate_interest" {
		t.Errorf("analytics: %+v", p)
	}
	if p := byName["ads_sharing"]; !p.GPC || !strings.Contains(p.Basis, "withdraw") {
		t.Errorf("ads_sharing: %+v", p)
	}
	if p := byName["service"]; p.Optional || !slices.Contains(p.Fields, "email") {
		t.Errorf("service: %+v", p)
	}
	for _, p := range n.Purposes {
		for _, f := range p.Fields {
			if cf, _ := cat.Field(f); cf.Sensitivity == catalog.NonPersonal {
				t.Errorf("%s lists non-personal %s", p.Name, f)
			}
		}
	}
	fields := 0
	for _, c := range n.Categories {
		for _, f := range c.Fields {
			fields++
			if f.Kept == "" || f.Kept == "not declared" {
				t.Errorf("%s: retention %q", f.Name, f.Kept)
			}
		}
	}
	if fields < 20 {
		t.Errorf("only %d fields listed", fields)
	}
	for _, r := range n.Rights {
		if r.Name == "erasure" && r.URL != "https://shop.example/portal" {
			t.Errorf("erasure right links %q", r.URL)
		}
	}
	if b := Build(Input{Catalog: cat, Now: time.Now()}); b.Policy != nil || len(b.Versions) != 0 {
		t.Errorf("no policy: %+v", b)
	}
}

func TestKept(t *testing.T) {
	for in, want := range map[string]string{"1y": "1 year after your last activity", "18m": "18 months after your last activity",
		"90d": "90 days after your last activity", "until_erasure": "until your data is erased, at your request or when the account is closed"} {
		r, err := catalog.ParseRetention(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := Kept(r); got != want {
			t.Errorf("Kept(%s) = %q, want %q", in, got, want)
		}
	}
}

// Each purpose is one record, with the categories of the fields it uses and their retention;
// the CSV has the same rows, cells that look like formulas made inert.
func TestRecords(t *testing.T) {
	cat := catalog.Default()
	in := Input{Catalog: cat, Policies: policies(), Now: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		Recipients: []Recipient{{Name: "=cmd|' /C calc'!A0", Purposes: []string{"ads_sharing"}}}, Sources: []Source{{Name: "Website"}}}
	rs := Records(in)
	var ads *Record
	for i := range rs {
		if rs[i].Purpose == "ads_sharing" {
			ads = &rs[i]
		}
		if rs[i].Controller != "Shop Ltd" || rs[i].PolicyVersion != "v2" || len(rs[i].DataCategories) == 0 || len(rs[i].Retention) != len(rs[i].Fields) {
			t.Errorf("record %s: %+v", rs[i].Purpose, rs[i])
		}
	}
	if ads == nil || len(ads.Recipients) != 1 || !slices.Contains(ads.Sources, "Website") {
		t.Fatalf("ads_sharing record: %+v", ads)
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, rs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(rows) != len(rs)+1 {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	for _, row := range rows {
		for _, c := range row {
			if strings.HasPrefix(c, "=") {
				t.Errorf("a formula cell: %q", c)
			}
		}
	}
}
