package catalog

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultParses(t *testing.T) {
	c, err := Parse(DefaultSource, defaultYAML)
	if err != nil {
		t.Fatalf("embedded default catalog is invalid: %v", err)
	}
	if c.Source != DefaultSource || c.Version != CurrentVersion {
		t.Errorf("source, version = %q, %d", c.Source, c.Version)
	}
	if d := Default(); len(d.Fields) != len(c.Fields) {
		t.Errorf("Default() has %d fields, Parse %d", len(d.Fields), len(c.Fields))
	}
}

func TestDefaultCategories(t *testing.T) {
	c := Default()
	want := []string{"identity", "contact", "demographic", "financial", "online_identifiers",
		"behavioural", "attitudinal", "engagement", "loyalty"}
	for _, name := range want {
		if _, ok := c.Category(name); !ok {
			t.Errorf("missing category %q", name)
		}
		if !slices.ContainsFunc(c.Fields, func(f Field) bool { return f.Category == name }) {
			t.Errorf("category %q has no fields", name)
		}
	}
	if len(c.Categories) != len(want) {
		t.Errorf("got %d categories, want %d", len(c.Categories), len(want))
	}
}

func TestDefaultPurposes(t *testing.T) {
	c := Default()
	tests := []struct {
		name  string
		basis LegalBasis
		gpc   bool
	}{
		{"service", Contract, false},
		{"support", Contract, false},
		{"marketing_email", Consent, false},
		{"marketing_sms", Consent, false},
		{"personalization", Consent, true},
		{"ads_sharing", Consent, true},
		{"analytics", LegitimateInterest, false},
		{"fraud_prevention", LegitimateInterest, false},
		{"legal_obligation", LegalObligation, false},
		{"privacy_requests", LegalObligation, false},
	}
	for _, tt := range tests {
		p, ok := c.Purpose(tt.name)
		if !ok {
			t.Errorf("missing purpose %q", tt.name)
			continue
		}
		if p.LegalBasis != tt.basis || p.GPCOptOut != tt.gpc || p.Description == "" {
			t.Errorf("purpose %q = %+v, want basis %s gpc %v", tt.name, p, tt.basis, tt.gpc)
		}
	}
	if len(c.Purposes) != len(tests) {
		t.Errorf("got %d purposes, want %d", len(c.Purposes), len(tests))
	}
	if got, want := c.MarketingPurposes(), []string{"marketing_email", "marketing_sms"}; !slices.Equal(got, want) {
		t.Errorf("MarketingPurposes() = %v, want %v", got, want)
	}
	if got, want := c.GPCPurposes(), []string{"personalization", "ads_sharing"}; !slices.Equal(got, want) {
		t.Errorf("GPCPurposes() = %v, want %v", got, want)
	}
	for category, want := range map[string]string{"Advertising": "ads_sharing", "personalization": "personalization",
		"Analytics": "analytics", "MARKETING": "marketing_email"} {
		if ps := c.CategoryPurposes(category); len(ps) != 1 || ps[0].Name != want {
			t.Errorf("CategoryPurposes(%q) = %v, want %s", category, ps, want)
		}
	}
	if ps := c.CategoryPurposes("Functional"); len(ps) != 0 {
		t.Errorf("CategoryPurposes(Functional) = %v, want none", ps)
	}
	if p, _ := c.Purpose("analytics"); !p.GeneralizedOnly {
		t.Error("analytics must see generalised data only")
	}
}

func TestDefaultRoles(t *testing.T) {
	c := Default()
	for _, name := range []string{"owner", "admin", "support", "marketer", "analyst", "dpo", "auditor", "ingest", "collect"} {
		if r, ok := c.Role(name); !ok || r.Description == "" {
			t.Errorf("missing role %q", name)
		}
	}
	owner, _ := c.Role(OwnerRole)
	for _, p := range c.Purposes {
		if !slices.Contains(owner.Purposes, p.Name) {
			t.Errorf("owner cannot act for %q", p.Name)
		}
	}
	for _, name := range []string{"auditor", "ingest", "collect"} {
		if r, _ := c.Role(name); len(r.Purposes) != 0 {
			t.Errorf("role %q has purposes %v, want none", name, r.Purposes)
		}
	}
}

func TestDefaultFields(t *testing.T) {
	c := Default()
	nid, ok := c.Field("national_id")
	if !ok {
		t.Fatal("missing national_id")
	}
	if got := slices.Sorted(slices.Values(nid.Purposes)); !slices.Equal(got, []string{"fraud_prevention", "legal_obligation"}) {
		t.Errorf("national_id purposes = %v, want only legal_obligation and fraud_prevention", nid.Purposes)
	}
	if nid.Sensitivity != Sensitive || nid.Mask != MaskFull || nid.Category != "identity" || !nid.Encrypted() {
		t.Errorf("national_id = %+v", nid)
	}

	email, _ := c.Field("email")
	if email.Type != TypeEmail || email.Sensitivity != Identifier || !email.Indexed() || email.Mask != MaskEmail {
		t.Errorf("email = %+v", email)
	}
	for _, p := range []string{"service", "support", "marketing_email", "privacy_requests", "fraud_prevention", "legal_obligation"} {
		if !email.AllowsPurpose(p) {
			t.Errorf("email does not allow %q", p)
		}
	}
	if email.AllowsPurpose("ads_sharing") || email.AllowsPurpose("no_such_purpose") {
		t.Error("email allows a purpose it must not")
	}
	phone, _ := c.Field("phone")
	if !phone.Indexed() || phone.Mask != MaskPhone || !phone.AllowsPurpose("marketing_sms") {
		t.Errorf("phone = %+v", phone)
	}
	birth, _ := c.Field("birth_date")
	if birth.Type != TypeDate || birth.Sensitivity != QuasiIdentifier || birth.Mask != MaskDate || birth.Generalize != GeneralizeAgeBand {
		t.Errorf("birth_date = %+v", birth)
	}
	ip, _ := c.Field("ip_address")
	if ip.Type != TypeIP || ip.Generalize != GeneralizeIPPrefix || ip.Retention.Duration() != 90*24*time.Hour {
		t.Errorf("ip_address = %+v", ip)
	}
	country, _ := c.Field("country")
	if country.Type != TypeCountry || country.Sensitivity != QuasiIdentifier {
		t.Errorf("country = %+v", country)
	}
	postal, _ := c.Field("postal_code")
	if postal.Type != TypePostalCode || postal.Generalize != GeneralizeCityRegionCountry {
		t.Errorf("postal_code = %+v", postal)
	}
	for _, f := range c.Fields {
		if f.Retention.IsZero() || len(f.Purposes) == 0 || f.Description == "" {
			t.Errorf("field %q lacks retention, purposes or description", f.Name)
		}
		if slices.Contains(textTypes, f.Type) != (f.MaxLength > 0) {
			t.Errorf("field %q of type %s has max_length %d", f.Name, f.Type, f.MaxLength)
		}
	}
	if _, ok := c.Field("nope"); ok {
		t.Error("found a field that does not exist")
	}
}

func TestRoleMayActForAndHas(t *testing.T) {
	c := Default()
	act := []struct {
		role, purpose string
		want          bool
	}{
		{"owner", "ads_sharing", true},
		{"owner", "legal_obligation", true},
		{"support", "support", true},
		{"support", "service", true},
		{"support", "marketing_email", false},
		{"marketer", "marketing_sms", true},
		{"marketer", "ads_sharing", true},
		{"marketer", "service", false},
		{"analyst", "analytics", true},
		{"analyst", "marketing_email", false},
		{"dpo", "privacy_requests", true},
		{"dpo", "legal_obligation", true},
		{"dpo", "marketing_email", false},
		{"auditor", "service", false},
		{"ingest", "service", false},
		{"nobody", "service", false},
		{"owner", "no_such_purpose", false},
		{"", "", false},
	}
	for _, tt := range act {
		if got := c.RoleMayActFor(tt.role, tt.purpose); got != tt.want {
			t.Errorf("RoleMayActFor(%q, %q) = %v, want %v", tt.role, tt.purpose, got, tt.want)
		}
	}
	has := []struct {
		role, perm string
		want       bool
	}{
		{"owner", PermKeysRotate, true},
		{"owner", PermCatalogWrite, true},
		{"admin", PermKeysRotate, false},
		{"admin", PermCustomersReveal, false},
		{"admin", PermAPIKeysManage, true},
		{"support", PermCustomersReveal, true},
		{"support", PermAuditRead, false},
		{"marketer", PermCustomersReveal, true},
		{"analyst", PermCustomersRead, true},
		{"analyst", PermCustomersReveal, false},
		{"dpo", PermRequestsManage, true},
		{"dpo", PermAuditRead, true},
		{"dpo", PermCustomersReveal, true},
		{"auditor", PermAuditRead, true},
		{"auditor", PermCatalogRead, true},
		{"auditor", PermCustomersRead, false},
		{"ingest", PermEventsWrite, true},
		{"ingest", PermCustomersWrite, true},
		{"ingest", PermCustomersRead, false},
		{"owner", "customers.delete", false},
		{"nobody", PermCatalogRead, false},
	}
	for _, tt := range has {
		if got := c.RoleHas(tt.role, tt.perm); got != tt.want {
			t.Errorf("RoleHas(%q, %q) = %v, want %v", tt.role, tt.perm, got, tt.want)
		}
	}
	// The auditor and ingest roles must have exactly the permissions the design gives them.
	for role, want := range map[string][]string{
		"auditor": {PermAuditRead, PermCatalogRead},
		"ingest":  {PermEventsWrite, PermCustomersWrite},
		"collect": {PermEventsWrite},
	} {
		for _, p := range Permissions() {
			if got := c.RoleHas(role, p); got != slices.Contains(want, p) {
				t.Errorf("RoleHas(%q, %q) = %v", role, p, got)
			}
		}
	}
}

// Only a role that can do nothing but add events is safe to hand to a browser.
func TestBrowserSafe(t *testing.T) {
	c := Default()
	for role, want := range map[string]bool{"collect": true, "ingest": false, "owner": false, "auditor": false, "nobody": false} {
		if got := c.BrowserSafe(role); got != want {
			t.Errorf("BrowserSafe(%q) = %v, want %v", role, got, want)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	c := Default()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"legal_basis":"consent"`, `"gpc_opt_out":true`, `"retention":"until_erasure"`,
		`"retention":"90d"`, `"max_length":254`, `"permissions":[`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	var back Catalog
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	f, ok := back.Field("ip_address")
	if !ok || f.Retention != (Retention{Amount: 90, Unit: Days}) {
		t.Errorf("decoded ip_address = %+v, %v", f, ok)
	}
	if !back.RoleMayActFor("support", "service") || back.RoleHas("analyst", PermCustomersReveal) {
		t.Error("lookups on a JSON-decoded catalog disagree with the original")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(good, DefaultYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != good {
		t.Errorf("Source = %q, want %q", c.Source, good)
	}

	bad := filepath.Join(dir, "bad.yaml")
	data := strings.Replace(string(DefaultYAML()), "legal_basis: contract", "legal_basis: contrakt", 1)
	if err := os.WriteFile(bad, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || !strings.HasPrefix(err.Error(), bad+":") ||
		!strings.Contains(err.Error(), `purpose "service": unknown legal_basis "contrakt" (did you mean "contract"?)`) {
		t.Errorf("Load(bad) = %v", err)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || errors.As(err, &verr) {
		t.Errorf("Load(missing) = %v, want a plain open error", err)
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(big) = %v", err)
	}
}

func TestPermissionsIsACopy(t *testing.T) {
	p := Permissions()
	p[0] = "everything"
	if Permissions()[0] != PermCustomersRead || IsPermission("everything") {
		t.Error("Permissions() shares its backing array")
	}
}
