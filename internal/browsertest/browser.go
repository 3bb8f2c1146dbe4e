package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Timeout bounds each step (a navigation, a click, an axe run); a page that hangs fails the
// test with the step named instead of holding it until go test's own timeout.
const Timeout = 30 * time.Second

// Browser is one headless Chromium with one tab, owned by one test and closed when it ends.
type Browser struct {
	t         testing.TB
	ctx       context.Context
	artifacts string

	mu      sync.Mutex
	console []string // uncaught exceptions and console errors, in order
}

// Required reports whether a missing prerequisite fails the test instead of skipping it: under
// CI, which installs every prerequisite, a skip would hide that browser tests never ran.
func Required() bool { return os.Getenv("CI") != "" }

// missing skips the test, or fails it under CI, naming what is missing and how to install it.
func missing(t testing.TB, what string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s (required because CI is set; .ci/run installs it)", what)
	}
	t.Skip(what)
}

// ExecPath finds Chromium: $STEWARD_CHROMIUM, then Debian's /usr/bin/chromium, then chromium,
// chromium-browser or google-chrome on the PATH.
func ExecPath() (string, error) {
	if p := os.Getenv("STEWARD_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("STEWARD_CHROMIUM: %w", err)
		}
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium, chromium-browser or google-chrome found")
}

// New starts Chromium for t with the flags DEPENDENCIES.md names (headless, no sandbox, as CI
// runs as root; no GPU; no background networking or component updates, which would reach the
// internet) in a fresh profile. It skips t when Chromium is not installed, unless CI is set.
func New(t testing.TB) *Browser {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	path, err := ExecPath()
	if err != nil {
		missing(t, fmt.Sprintf("Chromium is not installed (%v): browser tests need it (apt-get install -y chromium)", err))
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers often have a tiny /dev/shm
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(t.TempDir()),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{t: t, ctx: ctx, artifacts: artifactDir(t)}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	if err := b.do(chromedp.Evaluate[chromedp.Void](`1`)); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return b
}

// record keeps what the page reports as broken: uncaught exceptions, console errors and the
// browser's own errors (a script or style the page's Content-Security-Policy blocks, a
// resource that failed to load).
func (b *Browser) record(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		line = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			line += " " + ev.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			if len(a.Value) > 0 {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		line = "console.error: " + strings.Join(parts, " ")
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level != cdplog.EntryLevelError {
			return
		}
		line = string(ev.Entry.Source) + ": " + ev.Entry.Text
		if ev.Entry.URL != "" {
			line += " (" + ev.Entry.URL + ")"
		}
	default:
		return
	}
	b.mu.Lock()
	b.console = append(b.console, line)
	b.mu.Unlock()
}

// ConsoleErrors returns the page's uncaught exceptions and console errors so far.
func (b *Browser) ConsoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// Context is the tab's context, for chromedp actions the helpers do not cover.
func (b *Browser) Context() context.Context { return b.ctx }

// do runs actions under the step timeout.
func (b *Browser) do(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// run runs one action that returns a value under the step timeout.
func run[T any](b *Browser, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// Navigate loads url and returns the HTTP status of the page the browser ends on (after
// redirects).
func (b *Browser) Navigate(url string) int {
	b.t.Helper()
	resp, err := run(b, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("navigate to %s: %v", url, err)
	}
	return int(resp.Status)
}

// Selectors are CSS selectors (chromedp.CSS: DOM.querySelector), never chromedp's default search, which
// also matches text: "button" would find the words "the button" in a paragraph first.

// Fill types value into the input or textarea selector names, replacing what
// it held, as a person typing would (key events, so the page's own handlers run).
func (b *Browser) Fill(selector, value string) {
	b.t.Helper()
	if err := b.do(chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		b.t.Fatalf("fill %s: %v", selector, err)
	}
	b.setValue(selector, "")
	if err := b.do(chromedp.SendKeys(chromedp.CSS(selector), value)); err != nil {
		b.t.Fatalf("fill %s: %v", selector, err)
	}
}

// Select chooses the option with value in the select element selector names, and fires the
// change event a person's choice would.
func (b *Browser) Select(selector, value string) {
	b.t.Helper()
	if err := b.do(chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		b.t.Fatalf("select %q in %s: %v", value, selector, err)
	}
	b.setValue(selector, value)
}

// setValue sets a form control's value from script, with the input and change events a
// person's edit fires, and fails when the control does not take it (no such option).
func (b *Browser) setValue(selector, value string) {
	b.t.Helper()
	var got string
	b.Eval(fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		if (!el) throw new Error("no element matches " + %[1]s);
		el.value = %s;
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
		return el.value;
	})()`, jsString(selector), jsString(value)), &got)
	if got != value {
		b.t.Fatalf("set %s to %q: it holds %q", selector, value, got)
	}
}

// Click clicks the element selector names, for clicks that stay on the page. Use Submit for a
// click that loads another page.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	if err := b.do(chromedp.WaitVisible(chromedp.CSS(selector)), chromedp.Click(chromedp.CSS(selector))); err != nil {
		b.t.Fatalf("click %s: %v", selector, err)
	}
}

// Submit clicks the element selector names (a submit button, a link), waits for the page it
// loads and returns that page's HTTP status, after redirects: a form posted and answered
// 303 See Other returns the status of the page it was sent on to.
func (b *Browser) Submit(selector string) int {
	b.t.Helper()
	if err := b.do(chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		b.t.Fatalf("submit %s: %v", selector, err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(selector)))
	if err != nil {
		b.t.Fatalf("submit %s: %v", selector, err)
	}
	return int(resp.Status)
}

// Text returns the visible text of the first element selector names, as the browser lays it
// out (hidden elements excluded), with runs of white space made single spaces.
func (b *Browser) Text(selector string) string {
	b.t.Helper()
	s, err := run(b, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		if (!el) throw new Error("no element matches " + %[1]s);
		return el.innerText;
	})()`, jsString(selector))))
	if err != nil {
		b.t.Fatalf("text of %s: %v", selector, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// URL returns the address of the page the browser shows.
func (b *Browser) URL() string {
	b.t.Helper()
	u, err := run(b, chromedp.Location())
	if err != nil {
		b.t.Fatalf("location: %v", err)
	}
	return u
}

// Eval evaluates a JavaScript expression in the page, awaiting it if it is a promise, and
// decodes its JSON value into out (which may be nil).
func (b *Browser) Eval(expression string, out any) {
	b.t.Helper()
	raw, err := run(b, chromedp.Evaluate[[]byte](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %.80q: %v", expression, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("evaluate %.80q: decode %s: %v", expression, raw, err)
		}
	}
}

// WaitFor polls a JavaScript condition until it is true, failing the test after Timeout.
func (b *Browser) WaitFor(condition string) {
	b.t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		ok, err := run(b, chromedp.Evaluate[bool]("!!("+condition+")", chromedp.EvalAwaitPromise))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %v for %s (last error: %v)", Timeout, condition, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Screenshot saves a full-page PNG of what the browser shows as NAME.png in the test's
// artifacts directory, and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	png, err := run(b, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	return b.writeArtifact(name+".png", png)
}

// writeArtifact keeps data in the artifacts directory and logs where.
func (b *Browser) writeArtifact(name string, data []byte) string {
	b.t.Helper()
	path := filepath.Join(b.artifacts, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.t.Fatalf("write %s: %v", path, err)
	}
	b.t.Logf("artifact: %s", path)
	return path
}

// artifactDir is where a test's screenshots and accessibility reports go: under
// $STEWARD_TEST_ARTIFACTS if set (CI can keep that directory), otherwise under the system's
// temporary directory, in a directory named after the test, emptied when the test starts. It
// outlives the test so that a person can look at the pictures.
func artifactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("STEWARD_TEST_ARTIFACTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "steward-test-artifacts")
	}
	dir := filepath.Join(root, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ArtifactDir returns the directory Screenshot and RequireAccessible write to.
func (b *Browser) ArtifactDir() string { return b.artifacts }

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}
