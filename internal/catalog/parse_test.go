package catalog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// baseCatalog is a small valid catalog that each broken case edits in one place.
const baseCatalog = `version: 1
purposes:
  - name: service
    description: Running the service.
    legal_basis: contract
  - name: marketing_email
    description: Marketing email.
    legal_basis: consent
    gpc_opt_out: false
  - name: analytics
    description: Aggregated measurement.
    legal_basis: legitimate_interest
    generalized_only: true
categories:
  - name: contact
    description: How to reach the customer.
  - name: identity
    description: Who the customer is.
fields:
  - name: email
    description: Email address.
    type: email
    category: contact
    sensitivity: identifier
    purposes: [service, marketing_email]
    retention: until_erasure
    index: exact
    mask: email
  - name: gender
    description: Gender.
    type: enum
    values: [female, male]
    category: identity
    sensitivity: quasi_identifier
    purposes: [analytics]
    retention: 3y
roles:
  - name: owner
    description: Everything.
    purposes: [service, marketing_email, analytics]
    permissions: [customers.read, customers.write, customers.reveal, audit.read, apikeys.manage, catalog.read, catalog.write, policies.write, consents.write, events.write, requests.manage, keys.rotate]
  - name: support
    description: Support.
    purposes: [service]
    permissions: [customers.read]
`

func TestBaseCatalogIsValid(t *testing.T) {
	c, err := Parse("base.yaml", []byte(baseCatalog))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := c.Field("gender")
	if f.Index != IndexNone || f.Mask != MaskFull || f.Generalize != GeneralizeNone || f.MaxLength != 0 {
		t.Errorf("defaults for gender = %+v", f)
	}
	e, _ := c.Field("email")
	if e.MaxLength != DefaultMaxLength {
		t.Errorf("email max_length = %d, want %d", e.MaxLength, DefaultMaxLength)
	}
}

// marker ends the line a broken case expects its problem on.
const marker = " #!"

func TestBrokenCatalogs(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replace old with new in baseCatalog; new carries the marker
		want     string // the problem's message
	}{
		{"unknown purpose in field", "purposes: [service, marketing_email]\n", "purposes: [service, marketing_mail]" + marker + "\n",
			`field "email": unknown purpose "marketing_mail" (did you mean "marketing_email"?)`},
		{"unknown category", "category: contact\n", "category: contacts" + marker + "\n",
			`field "email": unknown category "contacts" (did you mean "contact"?)`},
		{"unknown sensitivity", "sensitivity: identifier\n", "sensitivity: secret" + marker + "\n",
			`field "email": unknown sensitivity "secret" (want one of identifier, sensitive, quasi_identifier, pseudonymous, non_personal)`},
		{"unknown type", "type: email\n", "type: emial" + marker + "\n",
			`field "email": unknown type "emial" (did you mean "email"?)`},
		{"unknown mask", "mask: email\n", "mask: hidden" + marker + "\n",
			`field "email": unknown mask "hidden"`},
		{"unknown index", "index: exact\n", "index: fuzzy" + marker + "\n",
			`field "email": unknown index "fuzzy"`},
		{"unknown generalize", "mask: email\n", "mask: email\n    generalize: blur" + marker + "\n",
			`field "email": unknown generalize "blur"`},
		{"unknown legal basis", "legal_basis: contract\n", "legal_basis: because" + marker + "\n",
			`purpose "service": unknown legal_basis "because"`},
		{"unknown permission", "permissions: [customers.read]\n", "permissions: [customers.read, customers.delete]" + marker + "\n",
			`role "support": unknown permission "customers.delete"`},
		{"unknown purpose in role", "purposes: [service]\n", "purposes: [service, billing]" + marker + "\n",
			`role "support": unknown purpose "billing"`},
		{"unknown field key", "index: exact\n", "indx: exact" + marker + "\n",
			`field "email": unknown key "indx" (did you mean "index"?)`},
		{"unknown top-level key", "categories:\n", "categories:\ncolours:" + marker + "\n  - red\n",
			`catalog: unknown key "colours"`},
		{"unknown purpose key", "    gpc_opt_out: false\n", "    gpc_opt_out: false\n    gdpr: yes" + marker + "\n",
			`purpose "marketing_email": unknown key "gdpr"`},
		{"repeated key", "mask: email\n", "mask: email\n    mask: full" + marker + "\n",
			`field "email": key "mask" repeated`},
		{"duplicate field", "  - name: gender\n", "  - name: email" + marker + "\n",
			`field "email": duplicate field name (first defined at line 20)`},
		{"duplicate purpose", "  - name: analytics\n", "  - name: service" + marker + "\n",
			`purpose "service": duplicate purpose name (first defined at line 3)`},
		{"duplicate category", "  - name: identity\n", "  - name: contact" + marker + "\n",
			`category "contact": duplicate category name`},
		{"duplicate role", "  - name: support\n", "  - name: owner" + marker + "\n",
			`role "owner": duplicate role name`},
		{"purpose listed twice", "purposes: [service, marketing_email]\n", "purposes: [service, service]" + marker + "\n",
			`field "email": purpose "service" listed twice`},
		{"enum without values", "    values: [female, male]\n", "",
			`field "gender": enum field needs values`},
		{"enum with empty values", "values: [female, male]\n", "values: []" + marker + "\n",
			`field "gender": enum field needs values`},
		{"values on non-enum", "index: exact\n", "index: exact\n    values: [a]" + marker + "\n",
			`field "email": values are only allowed on enum fields`},
		{"gpc on non-consent purpose", "    legal_basis: contract\n", "    legal_basis: contract\n    gpc_opt_out: true" + marker + "\n",
			`purpose "service": gpc_opt_out is only allowed on consent purposes (this one is contract)`},
		{"marketing on a contract purpose", "    legal_basis: contract\n", "    legal_basis: contract\n    marketing: true" + marker + "\n",
			`purpose "service": marketing is only allowed on consent and legitimate_interest purposes (this one is contract)`},
		{"marketing not a bool", "gpc_opt_out: false\n", "gpc_opt_out: false\n    marketing: often" + marker + "\n",
			`purpose "marketing_email": marketing must be true or false`},
		{"consent categories on a contract purpose", "    legal_basis: contract\n", "    legal_basis: contract\n    consent_categories: [Functional]" + marker + "\n",
			`purpose "service": consent_categories are only allowed on consent and legitimate_interest purposes (this one is contract)`},
		{"consent categories not a list", "gpc_opt_out: false\n", "gpc_opt_out: false\n    consent_categories: Marketing" + marker + "\n",
			`purpose "marketing_email": consent_categories must be a list`},
		{"consent category twice in another case", "gpc_opt_out: false\n", "gpc_opt_out: false\n    consent_categories: [Marketing, marketing]" + marker + "\n",
			`purpose "marketing_email": consent category "marketing" listed twice`},
		{"unknown channel", "gpc_opt_out: false\n", "gpc_opt_out: false\n    channel: pigeon" + marker + "\n",
			`purpose "marketing_email": unknown channel "pigeon"`},
		{"channel on a contract purpose", "    legal_basis: contract\n", "    legal_basis: contract\n    channel: email" + marker + "\n",
			`purpose "service": channel is only allowed on consent and legitimate_interest purposes (this one is contract)`},
		{"gpc not a bool", "gpc_opt_out: false\n", "gpc_opt_out: sometimes" + marker + "\n",
			`purpose "marketing_email": gpc_opt_out must be true or false`},
		{"index exact on enum", "    retention: 3y\n", "    retention: 3y\n    index: exact" + marker + "\n",
			`field "gender": index exact is not supported for type "enum" (only email, phone, string, token, postal_code)`},
		{"bad retention", "retention: 3y\n", "retention: 3 years" + marker + "\n",
			`field "gender": bad retention "3 years": want a number followed by d, m or y`},
		{"zero retention", "retention: 3y\n", "retention: 0d" + marker + "\n",
			`field "gender": bad retention "0d": must be longer than zero`},
		{"missing retention", "    retention: until_erasure\n", "",
			`field "email": missing required key "retention"`},
		{"missing legal basis", "    legal_basis: consent\n", "",
			`purpose "marketing_email": missing required key "legal_basis"`},
		{"missing description", "    description: Who the customer is.\n", "",
			`category "identity": missing required key "description"`},
		{"missing role permissions", "    permissions: [customers.read]\n", "",
			`role "support": missing required key "permissions"`},
		{"missing name", "  - name: gender\n", "  - description: Gender again." + marker + "\n",
			`field #2: missing required key "name"`},
		{"empty name", "  - name: gender\n", "  - name:" + marker + "\n",
			`field #2: name is empty`},
		{"bad name", "  - name: gender\n", "  - name: Gender" + marker + "\n",
			`field "Gender": name must be lower-case letters`},
		{"empty description", "description: Email address.\n", "description: \"\"" + marker + "\n",
			`field "email": description is empty`},
		{"missing section", "roles:\n", "rolez:" + marker + "\n",
			`catalog: unknown key "rolez" (did you mean "roles"?)`},
		{"section not a list", "categories:\n  - name: contact\n    description: How to reach the customer.\n  - name: identity\n    description: Who the customer is.\n",
			"categories: none" + marker + "\n", `categories: expected a list`},
		{"item not a mapping", "  - name: support\n    description: Support.\n    purposes: [service]\n    permissions: [customers.read]\n",
			"  - support" + marker + "\n", `role #2: expected a mapping`},
		{"purposes not a list", "purposes: [analytics]\n", "purposes: analytics" + marker + "\n",
			`field "gender": purposes must be a list`},
		{"no purposes", "purposes: [analytics]\n", "purposes: []" + marker + "\n",
			`field "gender": needs at least one purpose`},
		{"mask for another type", "mask: email\n", "mask: phone" + marker + "\n",
			`field "email": mask "phone" does not apply to type "email" (only phone)`},
		{"generalize for another type", "mask: email\n", "mask: email\n    generalize: age_band" + marker + "\n",
			`field "email": generalize "age_band" does not apply to type "email" (only date)`},
		{"sensitive unmasked", "sensitivity: quasi_identifier\n", "sensitivity: sensitive\n    mask: none" + marker + "\n",
			`field "gender": a sensitive field must be masked`},
		{"identifier for generalized-only purpose", "purposes: [service, marketing_email]\n", "purposes: [service, analytics]" + marker + "\n",
			`field "email": purpose "analytics" sees only generalised data, but this identifier field has generalize none`},
		{"max_length on enum", "    retention: 3y\n", "    retention: 3y\n    max_length: 10" + marker + "\n",
			`field "gender": max_length only applies to string, email, phone, token, postal_code fields`},
		{"max_length zero", "mask: email\n", "mask: email\n    max_length: 0" + marker + "\n",
			`field "email": max_length must be between 1 and 65536`},
		{"max_length not a number", "mask: email\n", "mask: email\n    max_length: long" + marker + "\n",
			`field "email": max_length must be a whole number`},
		{"forbidden field", "  - name: gender\n", "  - name: card_number" + marker + "\n",
			`field "card_number": Steward never stores card numbers`},
		{"missing owner", "  - name: owner\n", "  - name: boss\n",
			`roles: missing the "owner" role`},
		{"weak owner", "    permissions: [customers.read, customers.write, customers.reveal, audit.read, apikeys.manage, catalog.read, catalog.write, policies.write, consents.write, events.write, requests.manage, keys.rotate]\n",
			"    permissions: [customers.read, customers.write, customers.reveal, audit.read, apikeys.manage, catalog.read, catalog.write, policies.write, consents.write, events.write, requests.manage]\n",
			`role "owner": must hold every permission; missing "keys.rotate"`},
		{"unsupported version", "version: 1\n", "version: 2" + marker + "\n",
			`unsupported version 2`},
		{"alias", "purposes: [service]\n    permissions: [customers.read]\n", "purposes: &p [service]\n    permissions: *p" + marker + "\n",
			`role "support": permissions: anchors and aliases are not supported`},
		{"syntax error", "mask: email\n", "mask: email: x" + marker + "\n",
			`invalid YAML: mapping values are not allowed in this context`},
		{"two documents", "version: 1\n", "version: 1\n---" + marker + "\n",
			`more than one YAML document`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(baseCatalog, tt.old) {
				t.Fatalf("base catalog lacks %q", tt.old)
			}
			src := strings.Replace(baseCatalog, tt.old, tt.new, 1)
			line := 0
			for i, l := range strings.Split(src, "\n") {
				if strings.HasSuffix(l, marker) {
					line = i + 1
				}
			}
			_, err := Parse("bad.yaml", []byte(src))
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Parse = %v, want a *ValidationError", err)
			}
			for _, p := range verr.Problems {
				if p.Source != "bad.yaml" {
					t.Errorf("problem %q has source %q", p, p.Source)
				}
			}
			prefix := "bad.yaml:"
			if line > 0 {
				prefix = fmt.Sprintf("bad.yaml:%d: ", line)
			}
			for _, p := range verr.Problems {
				if strings.HasPrefix(p.String(), prefix) && strings.Contains(p.Message, tt.want) {
					return
				}
			}
			t.Errorf("no problem %q%q in:\n%s", prefix, tt.want, strings.ReplaceAll(err.Error(), "; ", "\n"))
		})
	}
}

// A missing required key is reported on the line where its entry starts.
func TestMissingKeyLine(t *testing.T) {
	src := strings.Replace(baseCatalog, "    retention: until_erasure\n", "", 1)
	_, err := Parse("catalog.yaml", []byte(src))
	if err == nil || err.Error() != `catalog.yaml:20: field "email": missing required key "retention"` {
		t.Errorf("Parse = %v", err)
	}
}

func TestEmptyAndTopLevel(t *testing.T) {
	tests := []struct{ src, want string }{
		{"", "x.yaml: file is empty"},
		{"# just a comment\n", "x.yaml: file is empty"},
		{"[1, 2]", "x.yaml:1: the top level must be a mapping"},
		{"version: 1\n", `x.yaml:1: catalog: missing required key "purposes"`},
		{"\x00", "x.yaml: invalid YAML"},
	}
	for _, tt := range tests {
		_, err := Parse("x.yaml", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.src, err, tt.want)
		}
	}
}

// Many mistakes are reported together, in line order, and cut at MaxProblems.
func TestProblemsCollectedAndCapped(t *testing.T) {
	src := strings.Replace(baseCatalog, "type: email\n", "type: emial\n", 1)
	src = strings.Replace(src, "category: identity\n", "category: identiy\n", 1)
	_, err := Parse("c.yaml", []byte(src))
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 2 || verr.Problems[0].Line > verr.Problems[1].Line {
		t.Fatalf("Parse = %v", err)
	}
	if !strings.Contains(err.Error(), "; ") {
		t.Errorf("problems not joined: %v", err)
	}

	var b strings.Builder
	b.WriteString(baseCatalog)
	for i := range 30 {
		fmt.Fprintf(&b, "  - name: extra%d\n    description: x\n    purposes: [nope]\n    permissions: []\n", i)
	}
	_, err = Parse("c.yaml", []byte(b.String()))
	if !errors.As(err, &verr) || len(verr.Problems) != MaxProblems+1 ||
		verr.Problems[MaxProblems].Message != "and 10 more problems not shown" {
		t.Fatalf("Parse = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(baseCatalog))
	f.Add(defaultYAML)
	f.Add([]byte(""))
	f.Add([]byte("purposes: *a\nfields: &a [1]\n"))
	f.Add([]byte(strings.Replace(baseCatalog, "retention: 3y", "retention: 99999999999999999999y", 1)))
	f.Add([]byte("fields:\n  - {name: x, type: enum, values: [[a]]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Problems) == 0 || len(verr.Problems) > MaxProblems+1 {
				t.Fatalf("Parse error %v is not a well-formed *ValidationError", err)
			}
			return
		}
		if !c.RoleHas(OwnerRole, PermKeysRotate) {
			t.Fatal("a valid catalog lacks an all-powerful owner")
		}
		for _, fl := range c.Fields {
			if len(fl.Purposes) == 0 || fl.Retention.IsZero() {
				t.Fatalf("field %q accepted without purposes or retention", fl.Name)
			}
		}
	})
}
