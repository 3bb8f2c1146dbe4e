package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/stewardhq/steward/internal/forms"
	"github.com/stewardhq/steward/internal/problem"
)

// Hosted forms (see package forms): pages for people, which work without JavaScript and load
// nothing from other hosts. A submission that breaks a rule is shown again with the messages
// (422) and stores nothing; one that succeeds goes on to a thank-you page or the form's
// redirect (303, so a reload does not post it again).

func (s *Server) formRoutes() []route {
	if s.Forms == nil {
		return nil
	}
	return []route{
		get("/forms/{name}", s.showForm, public, pages, query(langParam), outMedia("text/html", 200), errs(404)),
		post("/forms/{name}", s.submitForm, public, pages, inMedia(formMedia), outMedia("text/html", 200), redirects(303), errs(400, 404, 422, 429, 503)),
		post("/forms/{name}/check", s.checkFormField, public, in[formCheck](), out[forms.FieldCheck](200), errs(400, 404, 422, 429)),
		get("/forms/{name}/thanks", s.formThanks, public, pages, query(langParam), outMedia("text/html", 200), errs(404)),
		get("/forms/confirm", s.showConfirm, public, pages, query(langParam), outMedia("text/html", 200), errs(422)),
		post("/forms/confirm", s.confirmForm, public, pages, inMedia(formMedia), outMedia("text/html", 200), errs(400, 410, 422, 429)),
	}
}

var langParam = param{Name: "lang", Type: "string", Description: "en, de, fr or es; otherwise the Accept-Language header decides."}

// pageHeaders: nothing but this host's images and inline style, no script, no framing.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self' https:; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (s *Server) form(r *http.Request) (*forms.Form, string, error) {
	f, ok := s.Forms.Config().Find(r.PathValue("name"))
	if !ok {
		return nil, "", problem.NotFoundf("there is no form by that name")
	}
	return f, f.Language(r.URL.Query().Get("lang"), r.Header.Get("Accept-Language")), nil
}

func (s *Server) showForm(w http.ResponseWriter, r *http.Request) error {
	f, lang, err := s.form(r)
	if err != nil {
		return err
	}
	v, err := s.Forms.Show(r.Context(), f, lang, nil)
	if err != nil {
		return err
	}
	return s.writeForm(w, http.StatusOK, &v)
}

// writeForm writes a form page. Its one script, allowed by a nonce, only adds the
// as-you-type checks: without it the form works the same.
func (s *Server) writeForm(w http.ResponseWriter, status int, v *forms.View) error {
	var n [16]byte
	_, _ = rand.Read(n[:])
	nonce := base64.RawStdEncoding.EncodeToString(n[:])
	pageHeaders(w)
	ancestors := "'none'"
	if o := s.Forms.Config().EmbedOrigins; len(o) > 0 {
		ancestors = strings.Join(o, " ")
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; script-src 'nonce-"+nonce+
		"'; connect-src 'self'; form-action 'self' https:; base-uri 'none'; frame-ancestors "+ancestors)
	w.WriteHeader(status)
	return formTemplate.Execute(w, formPage{View: v, Nonce: nonce})
}

type formPage struct {
	*forms.View
	Nonce string
}

func (s *Server) submitForm(w http.ResponseWriter, r *http.Request) error {
	f, _, err := s.form(r)
	if err != nil {
		return err
	}
	if err := s.limits.allowFormPost(s.limits.clientAddr(r)); err != nil {
		return err
	}
	vals, err := formValues(w, r)
	if err != nil {
		return err
	}
	lang := f.Language(vals["lang"], r.Header.Get("Accept-Language"))
	out, err := s.Forms.Submit(r.Context(), f, forms.Submission{Values: vals, Lang: lang, UserAgent: r.UserAgent(), IP: s.limits.clientAddr(r)})
	if err != nil {
		return err
	}
	if out.View != nil {
		return s.writeForm(w, http.StatusUnprocessableEntity, out.View)
	}
	if out.Redirect != "" && !out.Confirm {
		return seeOther(w, out.Redirect)
	}
	q := url.Values{"lang": {lang}}
	if out.Confirm {
		q.Set("confirm", "1")
	}
	return seeOther(w, "/forms/"+f.Name+"/thanks?"+q.Encode())
}

// formValues reads a form body, one value per name (a repeated name is refused).
func formValues(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	if !isForm(r) {
		return nil, problem.InvalidField("Content-Type", "must be %s", formMedia)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, badRequest{problem.InvalidField("body", "is not a readable form")}
	}
	out := map[string]string{}
	for k, v := range r.PostForm {
		if len(v) != 1 {
			return nil, problem.InvalidField(k, "is given more than once")
		}
		out[k] = v[0]
	}
	return out, nil
}

// formCheck is the body of POST /forms/{name}/check.
type formCheck struct {
	Field string `json:"field"`
	Value string `json:"value"`
	Lang  string `json:"lang"`
}

// checkFormField answers the page's as-you-type check of one field.
func (s *Server) checkFormField(w http.ResponseWriter, r *http.Request) error {
	f, _, err := s.form(r)
	if err != nil {
		return err
	}
	if err := s.limits.allowFormCheck(s.limits.clientAddr(r)); err != nil {
		return err
	}
	var in formCheck
	if err := decode(r, &in); err != nil {
		return err
	}
	c, err := s.Forms.Check(r.Context(), f, in.Field, in.Value, f.Language(in.Lang, r.Header.Get("Accept-Language")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) formThanks(w http.ResponseWriter, r *http.Request) error {
	f, lang, err := s.form(r)
	if err != nil {
		return err
	}
	t := forms.TextFor(lang)
	msg := t.Thanks
	if r.URL.Query().Get("confirm") == "1" {
		msg = t.ThanksConfirm
	}
	if m := f.Thanks[lang]; m != "" {
		msg = m + " " + map[bool]string{true: t.ThanksConfirm, false: ""}[r.URL.Query().Get("confirm") == "1"]
	}
	pageHeaders(w)
	return brandedPage.Execute(w, brandedView{Brand: s.Forms.Config().Brand, Lang: lang, Title: t.ThanksTitle, Lines: []string{strings.TrimSpace(msg)}})
}

// showConfirm shows the button that confirms: following a link only shows it, because mail
// scanners follow links in messages by themselves, and a consent must be the person's act.
func (s *Server) showConfirm(w http.ResponseWriter, r *http.Request) error {
	lang := confirmLang(r, r.URL.Query().Get("lang"))
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > 100 {
		return problem.InvalidField("token", "is required")
	}
	t := forms.TextFor(lang)
	pageHeaders(w)
	return brandedPage.Execute(w, brandedView{Brand: s.Forms.Config().Brand, Lang: lang, Title: t.ConfirmSubject, Token: token, Button: t.ConfirmSubject,
		Action: "/forms/confirm"})
}

func (s *Server) confirmForm(w http.ResponseWriter, r *http.Request) error {
	if err := s.limits.allowFormPost(s.limits.clientAddr(r)); err != nil {
		return err
	}
	vals, err := formValues(w, r)
	if err != nil {
		return err
	}
	lang := confirmLang(r, vals["lang"])
	if _, err := s.Forms.Confirm(r.Context(), vals["token"], forms.Submission{Lang: lang, UserAgent: r.UserAgent(), IP: s.limits.clientAddr(r)}); err != nil {
		return err
	}
	t := forms.TextFor(lang)
	pageHeaders(w)
	return brandedPage.Execute(w, brandedView{Brand: s.Forms.Config().Brand, Lang: lang, Title: t.ConfirmedTitle, Lines: []string{t.Confirmed}})
}

func confirmLang(r *http.Request, asked string) string {
	f := forms.Form{Languages: forms.Languages}
	return f.Language(asked, r.Header.Get("Accept-Language"))
}

type brandedView struct {
	Brand         forms.Brand
	Lang, Title   string
	Lines         []string
	Token, Button string
	// Action is where the button posts the token.
	Action string
}

// pageStyle is shared by the form and its other pages: the brand's colours and font, a
// readable column, large targets and a visible focus ring.
const pageStyle = `{{define "style"}}<style>
body{margin:0;font:1rem/1.5 {{.Brand.Font}};color:{{.Brand.Colors.Text}};background:{{.Brand.Colors.Background}}}
main{max-width:34rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input[type=text],input[type=email],input[type=tel],input[type=date]{width:100%;box-sizing:border-box;font:inherit;padding:.6rem;border:2px solid #767676;border-radius:.3rem;background:#fff;color:#1a1a1a}
input:focus,button:focus,a:focus{outline:3px solid {{.Brand.Colors.Primary}};outline-offset:2px}
fieldset{border:1px solid #767676;border-radius:.3rem;margin:1.25rem 0;padding:.75rem 1rem}
legend{font-weight:600;padding:0 .25rem}
.box{display:flex;gap:.6rem;align-items:flex-start;margin:.5rem 0}.box input{width:1.3rem;height:1.3rem;margin-top:.15rem}
.box label{font-weight:400;margin:0}
button{font:inherit;font-weight:600;padding:.7rem 1.4rem;border:0;border-radius:.3rem;background:{{.Brand.Colors.Primary}};color:#fff;cursor:pointer;margin-top:1rem}
.errors{border:2px solid #b3261e;border-radius:.3rem;padding:.5rem 1rem;margin:1rem 0}
.hint{font-weight:400;color:inherit}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
.logo{max-height:3rem}.msg{margin:.25rem 0 0;color:#b3261e;font-weight:600;min-height:0}
</style>{{end}}`

var formFuncs = template.FuncMap{"safeURL": func(s string) template.URL { return template.URL(s) }}

var brandedPage = template.Must(template.New("page").Funcs(formFuncs).Parse(pageStyle + `<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>{{.Title}} — {{.Brand.Name}}</title>{{template "style" .}}</head>
<body><main>{{if .Brand.Logo}}<img class="logo" src="{{safeURL .Brand.Logo}}" alt="{{.Brand.Name}}">{{end}}
<h1>{{.Title}}</h1>
{{range .Lines}}<p>{{.}}</p>{{end}}
{{if .Token}}<form method="post" action="{{.Action}}"><input type="hidden" name="token" value="{{.Token}}"><input type="hidden" name="lang" value="{{.Lang}}"><button type="submit">{{.Button}}</button></form>{{end}}
</main></body></html>
`))

var formTemplate = template.Must(template.New("form").Funcs(formFuncs).Parse(pageStyle + `<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>{{.Title}} — {{.Brand.Name}}</title>{{template "style" .}}</head>
<body><main>{{if .Brand.Logo}}<img class="logo" src="{{safeURL .Brand.Logo}}" alt="{{.Brand.Name}}">{{end}}
<h1>{{.Title}}</h1>
{{if .Errors}}<div class="errors" role="alert" id="errors"><p>{{.Text.Errors}}</p><ul>{{range .Errors}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
<form method="post" action="/forms/{{.Form.Name}}" novalidate>
<input type="hidden" name="stamp" value="{{.Stamp}}"><input type="hidden" name="lang" value="{{.Lang}}">{{if .Form.ProofOfWork}}<input type="hidden" name="pow" value="">{{end}}<input type="hidden" name="policy_version" value="{{.PolicyVersion}}">
{{range .Fields}}<label for="f-{{.Name}}">{{.Label}} <span class="hint">({{if .Required}}{{$.Text.Required}}{{else}}{{$.Text.Optional}}{{end}})</span></label>
<input id="f-{{.Name}}" name="{{.Name}}" type="{{.Type}}" value="{{.Value}}" aria-describedby="m-{{.Name}}"{{if .Required}} required aria-required="true"{{end}}{{if eq .Name "email"}} autocomplete="email"{{else if eq .Name "first_name"}} autocomplete="given-name"{{else if eq .Name "last_name"}} autocomplete="family-name"{{else if eq .Name "phone"}} autocomplete="tel"{{else if eq .Name "postal_code"}} autocomplete="postal-code"{{end}}>
<p class="msg" id="m-{{.Name}}" aria-live="polite"></p>
{{end}}{{if .Suggest}}<div class="box"><input type="checkbox" id="keep-email" name="keep_email" value="yes"><label for="keep-email">{{.Text.KeepAsTyped}}</label></div>{{end}}
<div class="hp" aria-hidden="true"><label for="f-website">{{.Text.Honeypot}}</label><input id="f-website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
{{if .Boxes}}<fieldset><legend>{{.Text.ConsentLead}}</legend>
{{range .Boxes}}<div class="box"><input type="checkbox" id="c-{{.Purpose}}" name="consent_{{.Purpose}}" value="yes"{{if .Checked}} checked{{end}}><label for="c-{{.Purpose}}">{{.Label}}</label></div>
{{end}}<p>{{.Text.ConsentNote}}</p></fieldset>{{end}}
<p>{{if .PolicyVersion}}{{printf .Text.PolicyNote .PolicyVersion}}{{else}}{{.Text.NoPolicy}}{{end}} <a href="/privacy">/privacy</a></p>
<button type="submit">{{.Text.Submit}}</button>
</form></main>
{{if .Form.ProofOfWork}}<noscript><p>This form needs JavaScript turned on.</p></noscript>{{end}}
<script nonce="{{.Nonce}}">
(function () {
  var form = document.querySelector("form[action^='/forms/']");
  var bits = {{.Form.ProofOfWork}};
  if (bits > 0) {
    // The proof of work: a number whose SHA-256 with the stamp starts with bits zero bits.
    var stamp = form.querySelector("input[name=stamp]").value, pow = form.querySelector("input[name=pow]");
    var enc = new TextEncoder(), n = 0;
    var zero = function (b) { for (var i = 0; i < bits; i++) if (b[i >> 3] & (0x80 >> (i & 7))) return false; return true; };
    var step = function () {
      var tries = [];
      for (var k = 0; k < 256; k++) tries.push(crypto.subtle.digest("SHA-256", enc.encode(stamp + ":" + (n + k))));
      Promise.all(tries).then(function (hs) {
        for (var k = 0; k < hs.length; k++) if (zero(new Uint8Array(hs[k]))) { pow.value = String(n + k); return; }
        n += 256; step();
      });
    };
    step();
    form.addEventListener("submit", function (e) { if (!pow.value) { e.preventDefault(); setTimeout(function () { form.requestSubmit(); }, 200); } });
  }
  form.querySelectorAll("input[aria-describedby^='m-']").forEach(function (input) {
    input.addEventListener("change", function () {
      var msg = document.getElementById("m-" + input.name);
      fetch(form.getAttribute("action") + "/check", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({field: input.name, value: input.value, lang: document.documentElement.lang})})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (c) {
          if (!c) return;
          msg.textContent = c.message || "";
          if (c.message && !c.valid) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
        }).catch(function () {});
    });
  });
})();
</script></body></html>
`))
