package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// testRoot wraps with AES-GCM under a key of its own, like the local root key file.
type testRoot struct{ key []byte }

func newTestRoot() *testRoot {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return &testRoot{key: k}
}

func (r *testRoot) Name() string { return "test" }
func (r *testRoot) Wrap(_ context.Context, pt, ad []byte) ([]byte, error) {
	a, _ := newAEAD(r.key)
	n := make([]byte, 12)
	_, _ = rand.Read(n)
	return a.Seal(n, n, pt, ad), nil
}
func (r *testRoot) Unwrap(_ context.Context, ct, ad []byte) ([]byte, error) {
	a, _ := newAEAD(r.key)
	if len(ct) < 12 {
		return nil, errors.New("short")
	}
	return a.Open(nil, ct[:12], ct[12:], ad)
}

func TestRoundTripAndTampering(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 3*chunkSize+123) // several chunks
	_, _ = rand.Read(big)
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	_ = os.WriteFile(a, big, 0o600)
	_ = os.WriteFile(b, []byte("second file"), 0o600)
	root := newTestRoot()
	var buf bytes.Buffer
	if _, err := Write(context.Background(), &buf, root, "sqlite", []File{{Name: "steward.db", Path: a}, {Name: "steward-access.db", Size: int64(len("second file")), Stream: func(w io.Writer) error {
		_, err := io.WriteString(w, "second file")
		return err
	}}}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	if bytes.Contains(good, big[:64]) || bytes.Contains(good, []byte("second file")) {
		t.Fatal("plaintext in the backup")
	}
	out := t.TempDir()
	h, err := Read(context.Background(), bytes.NewReader(good), root, out)
	if err != nil || h.Engine != "sqlite" {
		t.Fatalf("read: %v %+v", err, h)
	}
	got, _ := os.ReadFile(filepath.Join(out, "steward.db"))
	if !bytes.Equal(got, big) {
		t.Fatal("restored file differs")
	}
	cases := map[string][]byte{
		"flipped byte in data":   flip(good, len(good)/2),
		"flipped byte in header": flip(good, len(magic)+10),
		"truncated":              good[:len(good)-100],
		"cut at a chunk":         good[:len(good)/3],
		"trailing garbage":       append(append([]byte{}, good...), 'x'),
		"not a backup":           []byte("hello"),
		"empty":                  nil,
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Verify(context.Background(), bytes.NewReader(b), root); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			dst := t.TempDir()
			if _, err := Read(context.Background(), bytes.NewReader(b), root, dst); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read: got %v, want ErrCorrupt", err)
			}
			if left, _ := os.ReadDir(dst); len(left) != 0 {
				t.Errorf("a failed read left %d files", len(left))
			}
		})
	}
	if _, err := Verify(context.Background(), bytes.NewReader(good), newTestRoot()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("another root: got %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x40
	return c
}

// A streamed file that writes fewer or more bytes than it declared fails the backup.
func TestStreamSizeMustMatch(t *testing.T) {
	for _, body := range []string{"short", "much too long"} {
		f := File{Name: "steward.db", Size: 8, Stream: func(w io.Writer) error {
			_, err := io.WriteString(w, body)
			return err
		}}
		if _, err := Write(context.Background(), io.Discard, newTestRoot(), "sqlite", []File{f}); err == nil {
			t.Errorf("a stream of %d bytes declared as 8 was accepted", len(body))
		}
	}
}
