package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/ingest"
)

// TestDeriveRebuildsFiguresIdempotently: steward derive puts back figures that disagree with
// the stored orders (here a hand-edited order_count and a removed lifetime_value), reports
// what it changed, and a second run changes nothing.
func TestDeriveRebuildsFiguresIdempotently(t *testing.T) {
	a, ctx := openTestApp(t)
	v, err := a.Customers.Create(ctx, map[string]any{"email": "derive@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Ingest.RecordOrder(ctx, "till", ingest.TillOrder{CustomerID: v.ID, OrderID: "o-1", Currency: "EUR", Total: 120.50}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Ingest.RecordRefund(ctx, "till", "o-1", ingest.TillRefund{RefundID: "r-1", Amount: 60.25}); err != nil {
		t.Fatal(err)
	}
	figures := func() map[string]any {
		t.Helper()
		got, err := a.Customers.Get(ctx, v.ID, "support")
		if err != nil {
			t.Fatal(err)
		}
		return got.Fields
	}
	if n, _ := json.Marshal(figures()["order_count"]); string(n) != "1" {
		t.Fatalf("after the order: order_count is %s, want 1", n)
	}
	if _, err := a.Customers.Patch(ctx, v.ID, map[string]any{"order_count": json.Number("7"), "lifetime_value": nil}); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := derive(ctx, a.Ingest, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "derived figures of 1 customers: 1 changed\n" {
		t.Fatalf("first run printed %q", got)
	}
	f := figures()
	if n, _ := json.Marshal(f["order_count"]); string(n) != "1" {
		t.Fatalf("order_count: got %s, want 1", n)
	}
	if n, _ := json.Marshal(f["lifetime_value"]); string(n) != "60.25" {
		t.Fatalf("lifetime_value: got %s, want 60.25", n)
	}
	out.Reset()
	if err := derive(ctx, a.Ingest, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "derived figures of 1 customers: 0 changed\n" {
		t.Fatalf("second run printed %q, want nothing changed", got)
	}
}

// TestDeriveCommand runs the command itself against a fresh installation.
func TestDeriveCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errs := runCLI(t, nil, "init", "--data", dir); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errs)
	}
	for i := 0; i < 2; i++ {
		code, out, errs := runCLI(t, nil, "derive", "--data", dir)
		if code != 0 || !strings.Contains(out, "0 changed") {
			t.Fatalf("derive: exit %d %q %q", code, out, errs)
		}
	}
	if code, _, errs := runCLI(t, nil, "derive", "--data", dir, "extra"); code == 0 || errs == "" {
		t.Fatalf("derive with an argument: exit %d %q, want a refusal", code, errs)
	}
}
