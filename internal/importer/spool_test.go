package importer

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/vault"
)

func spoolKey(t testing.TB) *vault.DataKey {
	t.Helper()
	ks, err := vault.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(ks, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dk, _, err := v.NewDataKey("import:x")
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

func spool(t *testing.T, dk *vault.DataKey, id string, data []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := newSpoolWriter(&out, dk, id)
	// Odd write sizes cross chunk boundaries.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 7777)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestSpoolRoundTripAndTampering: what is spooled reads back exactly, holds no plaintext, and
// a file cut short, a chunk dropped or swapped, or one spooled for another upload, fails.
func TestSpoolRoundTripAndTampering(t *testing.T) {
	dk := spoolKey(t)
	data := []byte(strings.Repeat("email,name\nada@example.com,Ada Lovelace\n", 5000)) // several chunks
	for _, size := range []int{0, 10, spoolChunk, len(data)} {
		sealed := spool(t, dk, "u1", data[:size])
		got, err := io.ReadAll(newSpoolReader(bytes.NewReader(sealed), dk, "u1"))
		if err != nil || !bytes.Equal(got, data[:size]) {
			t.Fatalf("%d bytes: read back %d bytes, %v", size, len(got), err)
		}
		if size > 0 && bytes.Contains(sealed, []byte("ada@example.com")) {
			t.Fatal("the spool holds plaintext")
		}
	}
	sealed := spool(t, dk, "u1", data)
	frame := 4 + int(uint32(sealed[0])<<24|uint32(sealed[1])<<16|uint32(sealed[2])<<8|uint32(sealed[3]))
	swapped := append(append(append([]byte{}, sealed[frame:2*frame]...), sealed[:frame]...), sealed[2*frame:]...)
	for name, bad := range map[string][]byte{
		"cut short":      sealed[:len(sealed)-frame/2],
		"last dropped":   sealed[:2*frame],
		"first dropped":  sealed[frame:],
		"chunks swapped": swapped,
		"flipped bit":    append(append([]byte{}, sealed[:100]...), append([]byte{sealed[100] ^ 1}, sealed[101:]...)...),
	} {
		if _, err := io.ReadAll(newSpoolReader(bytes.NewReader(bad), dk, "u1")); !errors.Is(err, errSpoolDamaged) {
			t.Errorf("%s: got %v, want the spool reported damaged", name, err)
		}
	}
	if _, err := io.ReadAll(newSpoolReader(bytes.NewReader(sealed), dk, "u2")); !errors.Is(err, errSpoolDamaged) {
		t.Errorf("another upload's spool opened: %v", err)
	}
}

// FuzzSpoolReader: whatever a spool file holds, reading it ends with the data or an error,
// never a panic or a runaway allocation.
func FuzzSpoolReader(f *testing.F) {
	dk := spoolKey(f)
	var good bytes.Buffer
	w := newSpoolWriter(&good, dk, "u1")
	_, _ = w.Write([]byte("email\nada@example.com\n"))
	_ = w.Close()
	f.Add(good.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = io.ReadAll(newSpoolReader(bytes.NewReader(in), dk, "u1"))
	})
}
