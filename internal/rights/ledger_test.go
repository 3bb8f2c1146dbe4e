package rights

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
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
