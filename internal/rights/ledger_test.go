package rights

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testLedger(t *testing.T) *LedgerFile {
	return &LedgerFile{Path: filepath.Join(t.TempDir(), "ledger.jsonl"), MAC: func(b []byte) []byte {
		m := hmac.New(sha256.New, []byte("test key"))
		m.Write(b)
		return m.Sum(nil)
	}}
}

func TestLedgerFile(t *testing.T) {
	ctx := context.Background()
	l := testLedger(t)
	for _, id := range []string{"a", "b", "a", "c"} {
		if err := l.Append(ctx, LedgerEntry{CustomerID: id, ErasedAt: time.Now(), Hashes: []string{"email:00ff"}}); err != nil {
			t.Fatal(err)
		}
	}
	es, err := l.Entries(ctx)
	if err != nil || len(es) != 3 {
		t.Fatalf("got %d entries (%v), want 3 (a repeat is a no-op)", len(es), err)
	}
	// A second writer (another process) appends; the first notices the size change.
	other := &LedgerFile{Path: l.Path, MAC: l.MAC}
	if err := other.Append(ctx, LedgerEntry{CustomerID: "d"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, LedgerEntry{CustomerID: "e"}); err != nil {
		t.Fatal(err)
	}
	if es, err := l.Entries(ctx); err != nil || len(es) != 5 {
		t.Fatalf("after two writers: %d %v", len(es), err)
	}
	good, _ := os.ReadFile(l.Path)
	// A torn final line (crash before fsync returned) is ignored, then cut off by the next append.
	_ = os.WriteFile(l.Path, append(append([]byte{}, good...), []byte(`{"customer_id":"f","err`)...), 0o600)
	fresh := &LedgerFile{Path: l.Path, MAC: l.MAC}
	if es, err := fresh.Entries(ctx); err != nil || len(es) != 5 {
		t.Fatalf("torn tail: %d %v", len(es), err)
	}
	if err := fresh.Append(ctx, LedgerEntry{CustomerID: "g"}); err != nil {
		t.Fatal(err)
	}
	if es, err := fresh.Entries(ctx); err != nil || len(es) != 6 {
		t.Fatalf("after repair: %d %v", len(es), err)
	}
	// Edited, removed or reordered lines break the chain.
	lines := strings.Split(strings.TrimSpace(string(good)), "\n")
	for name, content := range map[string]string{
		"edited":    strings.Replace(string(good), `"b"`, `"x"`, 1),
		"removed":   strings.Join(append([]string{lines[0]}, lines[2:]...), "\n") + "\n",
		"reordered": strings.Join([]string{lines[1], lines[0], lines[2]}, "\n") + "\n",
	} {
		_ = os.WriteFile(l.Path, []byte(content), 0o600)
		if _, err := (&LedgerFile{Path: l.Path, MAC: l.MAC}).Entries(ctx); !errors.Is(err, ErrLedgerBroken) {
			t.Errorf("%s: got %v, want ErrLedgerBroken", name, err)
		}
	}
}

// TestLedgerFileHead: the head beside the file catches what the chain alone cannot (lines
// cut off the end, an emptied file, a deleted file), a crash between a line and its head is
// tolerated, a file from before heads is accepted and upgraded, and Append refuses to start
// a new chain over a deleted one.
func TestLedgerFileHead(t *testing.T) {
	ctx := context.Background()
	l := testLedger(t)
	if err := l.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if es, err := l.Entries(ctx); err != nil || len(es) != 0 {
		t.Fatalf("created ledger: %d %v, want an empty one", len(es), err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := l.Append(ctx, LedgerEntry{CustomerID: id}); err != nil {
			t.Fatal(err)
		}
	}
	good, _ := os.ReadFile(l.Path)
	head, _ := os.ReadFile(l.HeadPath())
	lines := strings.SplitAfter(string(good), "\n")
	reset := func() {
		_ = os.WriteFile(l.Path, good, 0o600)
		_ = os.WriteFile(l.HeadPath(), head, 0o600)
	}
	for _, c := range []struct {
		name   string
		tamper func()
		want   error
	}{
		{"last line cut", func() { _ = os.WriteFile(l.Path, []byte(lines[0]+lines[1]), 0o600) }, ErrLedgerCut},
		{"emptied", func() { _ = os.WriteFile(l.Path, nil, 0o600) }, ErrLedgerCut},
		{"file deleted", func() { _ = os.Remove(l.Path) }, ErrLedgerMissing},
		{"both deleted", func() { _ = os.Remove(l.Path); _ = os.Remove(l.HeadPath()) }, ErrLedgerMissing},
		{"head deleted", func() { _ = os.Remove(l.HeadPath()) }, ErrLedgerBroken},
		{"head edited", func() {
			_ = os.WriteFile(l.HeadPath(), []byte(strings.Replace(string(head), `"n":3`, `"n":2`, 1)), 0o600)
		}, ErrLedgerBroken},
	} {
		reset()
		c.tamper()
		if _, err := (&LedgerFile{Path: l.Path, MAC: l.MAC}).Entries(ctx); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// Append refuses to start over a deleted file whose head remains.
	reset()
	_ = os.Remove(l.Path)
	if err := (&LedgerFile{Path: l.Path, MAC: l.MAC}).Append(ctx, LedgerEntry{CustomerID: "d"}); !errors.Is(err, ErrLedgerMissing) {
		t.Errorf("append over a deleted file: got %v, want ErrLedgerMissing", err)
	}
	// A line written after the head (a crash before the head's rename) is accepted.
	reset()
	fresh := &LedgerFile{Path: l.Path, MAC: l.MAC}
	if err := fresh.Append(ctx, LedgerEntry{CustomerID: "d"}); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(l.HeadPath(), head, 0o600)
	if es, err := fresh.Entries(ctx); err != nil || len(es) != 4 {
		t.Fatalf("head one line behind: %d %v, want 4 entries", len(es), err)
	}
	// A file from before heads (unnumbered lines, no head) is accepted and gets a head.
	old := testLedger(t)
	var prev string
	var b []byte
	for _, id := range []string{"x", "y"} {
		ln := ledgerLine{CustomerID: id, Prev: prev}
		ln.MAC = hex.EncodeToString(old.MAC(ln.content()))
		j, _ := json.Marshal(ln)
		b, prev = append(append(b, j...), '\n'), ln.MAC
	}
	_ = os.WriteFile(old.Path, b, 0o600)
	if es, err := old.Entries(ctx); err != nil || len(es) != 2 {
		t.Fatalf("file from before heads: %d %v", len(es), err)
	}
	if err := old.Append(ctx, LedgerEntry{CustomerID: "z"}); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(old.Path, b, 0o600) // its last line cut off again
	if _, err := (&LedgerFile{Path: old.Path, MAC: old.MAC}).Entries(ctx); !errors.Is(err, ErrLedgerCut) {
		t.Errorf("upgraded file cut: got %v, want ErrLedgerCut", err)
	}
	// SetAside moves both away; a new ledger can then start.
	reset()
	moved, err := l.SetAside(ctx)
	if err != nil || moved == "" {
		t.Fatalf("set aside: %q %v", moved, err)
	}
	if _, err := os.Stat(moved); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, LedgerEntry{CustomerID: "n"}); err != nil {
		t.Fatal(err)
	}
	if es, err := l.Entries(ctx); err != nil || len(es) != 1 {
		t.Fatalf("after set aside: %d %v", len(es), err)
	}
}

func TestParseDeadlines(t *testing.T) {
	d, err := ParseDeadlines(DefaultDeadlines)
	if err != nil || d["gdpr"].Months != 1 || d["ccpa"].Days != 45 {
		t.Fatalf("got %v %v", d, err)
	}
	jan31 := time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)
	if got := d["ccpa"].After(jan31); !got.Equal(jan31.Add(45 * 24 * time.Hour)) {
		t.Errorf("ccpa: got %v", got)
	}
	for _, bad := range []string{"", "gdpr", "gdpr=1y", "gdpr=0d", "=1m", "gdpr=x"} {
		if _, err := ParseDeadlines(bad); err == nil {
			t.Errorf("%q: got no error", bad)
		}
	}
}
