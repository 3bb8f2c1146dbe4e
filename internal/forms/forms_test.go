package forms

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/catalog"
)

func TestDefaultForms(t *testing.T) {
	c, err := Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"signup", "newsletter", "preferences"} {
		f, ok := c.Find(name)
		if !ok || f.MinFill != 3 || len(f.Languages) != 4 {
			t.Errorf("form %s: %+v", name, f)
		}
	}
	for _, lang := range Languages {
		tx := TextFor(lang)
		if tx.Submit == "" || tx.Label("email") == "email" || tx.PolicyChanged == "" || !strings.Contains(tx.ConfirmBody, "%s") {
			t.Errorf("%s text incomplete", lang)
		}
	}
}

// A forms file is checked against the catalog, and every problem is named.
func TestParseRefuses(t *testing.T) {
	bad := `
brand: {colors: {primary: red}, font: "x;}</style>", logo: "https://cdn.example/logo.png"}
forms:
  - name: Signup!
    fields: [{field: shoe_size}, {field: lifetime_value}]
    purposes: [{purpose: service}, {purpose: mind_reading}]
    redirect: "javascript:alert(1)"
    languages: [xx]
  - name: a
    fields: [{field: email, required: true}]
  - name: a
    fields: [{field: email, required: true}]
`
	_, err := Parse([]byte(bad), catalog.Default())
	if err == nil {
		t.Fatal("a bad forms file was accepted")
	}
	for _, want := range []string{"brand.colors.primary", "brand.font", "brand.logo", "forms[0].name", `"shoe_size" is not a field`,
		`"lifetime_value" cannot be asked for`, "required email", `"service" rests on contract`, `"mind_reading" is not a purpose`,
		"forms[0].redirect", `"xx" is not one of`, `"a" is declared twice`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, err := Parse([]byte("forms: [{name: x, unknown: 1}]"), catalog.Default()); err == nil {
		t.Error("an unknown key was accepted")
	}
}

func TestLanguage(t *testing.T) {
	f := Form{Languages: []string{"en", "de", "fr"}}
	for _, c := range []struct{ asked, accept, want string }{
		{"de", "", "de"}, {"es", "", "en"}, {"", "fr-CA,fr;q=0.9,en;q=0.5", "fr"}, {"", "es-ES", "en"}, {"", "", "en"},
	} {
		if got := f.Language(c.asked, c.accept); got != c.want {
			t.Errorf("Language(%q, %q) = %q, want %q", c.asked, c.accept, got, c.want)
		}
	}
}

// A proof of work is a nonce whose hash with the stamp starts with the zero bits asked for.
func TestWorked(t *testing.T) {
	stamp := "1796573244.abc"
	nonce := ""
	for n := 0; n < 1<<20; n++ {
		if Worked(stamp, strconv.Itoa(n), 12) {
			nonce = strconv.Itoa(n)
			break
		}
	}
	if nonce == "" {
		t.Fatal("no nonce found")
	}
	if !Worked(stamp, nonce, 12) || !Worked(stamp, "", 0) {
		t.Error("a good proof refused")
	}
	if Worked(stamp, "", 12) || Worked("other", nonce, 12) && Worked("other", nonce, 24) {
		t.Error("a missing or wrong proof accepted")
	}
}
