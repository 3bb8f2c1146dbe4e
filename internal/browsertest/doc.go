// Package browsertest drives a real Chromium from Go tests, for the pages Steward serves to
// people: the console, hosted forms, the privacy portal and its error pages. It is imported by
// tests only.
//
// A test gets a headless Debian Chromium through chromedp (New), moves through pages as a
// person does (Navigate, Fill, Select, Click, Submit), reads what the page shows (Text, URL),
// keeps a full-page screenshot (Screenshot) and checks accessibility with axe-core injected into
// the page (Axe, RequireAccessible). Scripts the tests need from npm (axe-core, Segment's
// browser library) come from test/browser with its lock file (Asset).
//
// Invariants: a test without Chromium, node or npm is skipped with a message saying what to
// install, except under CI (the CI environment variable set), where it fails, so that CI can
// never pass by skipping the browser tests. The browser loads only what a test serves: every
// page comes from a local server, and Chromium runs with background networking and component
// updates off, so nothing reaches the internet.
package browsertest
