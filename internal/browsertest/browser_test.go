package browsertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestHarness drives a small page through every helper: a form filled, selected and posted,
// the answer read, a click that stays on the page, a screenshot, and axe-core finding the
// accessibility faults the page was given (an input without a label, an image without text).
func TestHarness(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html lang="en"><head><title>Form</title></head><body><main>
<h1>Form</h1>
<form method="post" action="/answer">
<label for="name">Name</label><input id="name" name="name" value="old">
<label for="kind">Kind</label><select id="kind" name="kind"><option value="a">A</option><option value="b">B</option></select>
<input name="unlabelled">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<button id="send">Send</button>
</form>
<button id="toggle" type="button" onclick="document.getElementById('out').textContent='clicked'">Toggle</button>
<p id="out"></p>
</main></body></html>`)
	})
	mux.HandleFunc("POST /answer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/done?"+r.PostFormValue("name")+"+"+r.PostFormValue("kind"))
		w.WriteHeader(http.StatusSeeOther)
	})
	mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `<!doctype html><html lang="en"><head><title>Done</title></head><body><main><h1>Got   `+
			r.URL.RawQuery+`</h1></main></body></html>`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b := New(t)
	if status := b.Navigate(srv.URL + "/"); status != 200 {
		t.Fatalf("got status %d, want 200", status)
	}
	b.Click("#toggle")
	if got := b.Text("#out"); got != "clicked" {
		t.Fatalf("got %q after the click, want clicked", got)
	}
	a := b.Axe()
	ids := map[string]bool{}
	for _, v := range a.Violations {
		ids[v.ID] = true
	}
	if !ids["label"] || !ids["image-alt"] || len(a.AtLeast("critical")) == 0 || len(a.ByImpact()["critical"]) == 0 {
		t.Fatalf("axe found %v, want the unlabelled input and the image without text among critical violations", a.Violations)
	}
	shot := b.Screenshot("form")
	if png, err := os.ReadFile(shot); err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("screenshot %s is not a PNG (%v)", shot, err)
	}

	b.Fill("#name", "Ada")
	b.Select("#kind", "b")
	if status := b.Submit("#send"); status != http.StatusAccepted {
		t.Fatalf("got status %d after the redirect, want 202", status)
	}
	if got := b.Text("h1"); got != "Got Ada+b" {
		t.Fatalf("got %q, want the posted values", got)
	}
	if !strings.HasSuffix(b.URL(), "/done?Ada+b") {
		t.Fatalf("ended at %s", b.URL())
	}
	b.RequireAccessible("done")
	if errs := b.ConsoleErrors(); len(errs) != 0 {
		t.Fatalf("console errors: %v", errs)
	}
}
