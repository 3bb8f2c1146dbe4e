package vault

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestSealOpenRoundTrip(t *testing.T) {
	_, v := newTestVault(t)
	dk, _, err := v.NewDataKey("cus_1")
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range [][]byte{nil, {}, []byte("a"), []byte("alice@example.com"), bytes.Repeat([]byte{7}, 4096)} {
		ct, err := dk.Seal("customers", "email", "cus_1", pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != len(pt)+fieldOverhead || cap(ct) != len(ct) {
			t.Fatalf("ciphertext len %d cap %d, want both %d", len(ct), cap(ct), len(pt)+fieldOverhead)
		}
		if ct[0] != formatV1 || ct[4] != 1 {
			t.Fatalf("header % x, want format 1, key version 1", ct[:fieldHeaderLen])
		}
		if len(pt) > 8 && bytes.Contains(ct, pt) {
			t.Fatal("ciphertext contains plaintext")
		}
		got, err := dk.Open("customers", "email", "cus_1", ct)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("round trip: got %q, want %q", got, pt)
		}
	}
	if dk.Version() != 1 {
		t.Fatalf("Version() = %d, want 1", dk.Version())
	}
}

func TestSealIsRandomized(t *testing.T) {
	_, v := newTestVault(t)
	dk, _, _ := v.NewDataKey("cus_1")
	a, _ := dk.Seal("t", "f", "cus_1", []byte("same"))
	b, _ := dk.Seal("t", "f", "cus_1", []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same value are identical; nonce is not random")
	}
}

func TestOpenRejectsMovedCiphertext(t *testing.T) {
	_, v := newTestVault(t)
	dk, _, _ := v.NewDataKey("cus_1")
	ct, err := dk.Seal("customers", "email", "cus_1", []byte("alice@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, table, field, customer string }{
		{"other table", "orders", "email", "cus_1"},
		{"other field", "customers", "phone", "cus_1"},
		{"other customer", "customers", "email", "cus_2"},
		{"shifted boundary table/field", "customerse", "mail", "cus_1"},
		{"shifted boundary field/customer", "customers", "emailc", "us_1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := dk.Open(c.table, c.field, c.customer, ct)
			mustDecryptErr(t, c.name, err)
		})
	}
}

func TestAssociatedDataIsUnambiguous(t *testing.T) {
	hdr := []byte{formatV1, 0, 0, 0, 1}
	a := appendFieldAD(nil, hdr, "ab", "c", "x")
	b := appendFieldAD(nil, hdr, "a", "bc", "x")
	if bytes.Equal(a, b) {
		t.Fatal(`("ab","c") and ("a","bc") encode the same associated data`)
	}
	if len(a) != fieldADLen("ab", "c", "x") {
		t.Fatalf("fieldADLen = %d, encoded %d", fieldADLen("ab", "c", "x"), len(a))
	}

	_, v := newTestVault(t)
	dk, _, _ := v.NewDataKey("x")
	ct, _ := dk.Seal("ab", "c", "x", []byte("v"))
	_, err := dk.Open("a", "bc", "x", ct)
	mustDecryptErr(t, "shifted names", err)
}

func TestOpenRejectsEveryFlippedByte(t *testing.T) {
	_, v := newTestVault(t)
	dk, _, _ := v.NewDataKey("cus_1")
	ct, _ := dk.Seal("customers", "email", "cus_1", []byte("alice@example.com"))
	for i := range ct {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(ct)
			bad[i] ^= mask
			_, err := dk.Open("customers", "email", "cus_1", bad)
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("byte %d ^ %#x: got %v, want ErrDecrypt", i, mask, err)
			}
		}
	}
	for _, n := range []int{0, 1, fieldOverhead - 1, len(ct) - 1} {
		_, err := dk.Open("customers", "email", "cus_1", ct[:n])
		mustDecryptErr(t, "truncated", err)
	}
	_, err := dk.Open("customers", "email", "cus_1", append(bytes.Clone(ct), 0))
	mustDecryptErr(t, "extended", err)
}

func TestOpenRejectsOtherDataKey(t *testing.T) {
	_, v := newTestVault(t)
	dk1, _, _ := v.NewDataKey("cus_1")
	dk2, _, _ := v.NewDataKey("cus_1")
	ct, _ := dk1.Seal("t", "f", "cus_1", []byte("secret"))
	_, err := dk2.Open("t", "f", "cus_1", ct)
	mustDecryptErr(t, "other DEK", err)
}

func TestErrorsDoNotLeakPlaintext(t *testing.T) {
	_, v := newTestVault(t)
	dk, _, _ := v.NewDataKey("cus_1")
	secret := []byte("very-secret-value-12345")
	ct, _ := dk.Seal("t", "f", "cus_1", secret)
	ct[len(ct)-1] ^= 1
	_, err := dk.Open("t", "f", "cus_1", ct)
	if err == nil || strings.Contains(err.Error(), string(secret)) {
		t.Fatalf("error %v leaks plaintext or is nil", err)
	}
}

func TestSealRejectsEmptyNames(t *testing.T) {
	_, v := newTestVault(t)
	dk, _, _ := v.NewDataKey("cus_1")
	for _, c := range [][3]string{{"", "f", "c"}, {"t", "", "c"}, {"t", "f", ""}} {
		if _, err := dk.Seal(c[0], c[1], c[2], []byte("x")); err == nil {
			t.Fatalf("Seal(%q, %q, %q) succeeded", c[0], c[1], c[2])
		}
	}
	if _, _, err := v.NewDataKey(""); err == nil {
		t.Fatal("NewDataKey with empty customer id succeeded")
	}
}

func TestWrappedKeyBoundToCustomer(t *testing.T) {
	_, v := newTestVault(t)
	dk, w, err := v.NewDataKey("cus_1")
	if err != nil {
		t.Fatal(err)
	}
	if w.MasterVersion != 1 || len(w.Blob) != wrappedDEKLen {
		t.Fatalf("wrapped key: version %d len %d", w.MasterVersion, len(w.Blob))
	}
	ct, _ := dk.Seal("t", "f", "cus_1", []byte("hello"))

	dk2, err := v.OpenDataKey("cus_1", w)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := dk2.Open("t", "f", "cus_1", ct); err != nil || string(got) != "hello" {
		t.Fatalf("reopened DEK: %q, %v", got, err)
	}

	_, err = v.OpenDataKey("cus_2", w)
	mustDecryptErr(t, "other customer", err)

	for i := range w.Blob {
		bad := WrappedKey{MasterVersion: w.MasterVersion, Blob: bytes.Clone(w.Blob)}
		bad.Blob[i] ^= 0x40
		_, err := v.OpenDataKey("cus_1", bad)
		mustDecryptErr(t, "tampered blob", err)
	}
	_, err = v.OpenDataKey("cus_1", WrappedKey{MasterVersion: 2, Blob: w.Blob})
	mustDecryptErr(t, "unknown master version", err)
	_, err = v.OpenDataKey("cus_1", WrappedKey{MasterVersion: 1, Blob: w.Blob[:10]})
	mustDecryptErr(t, "truncated blob", err)
}

func TestWrappedKeyFromOtherKeysetFails(t *testing.T) {
	_, v1 := newTestVault(t)
	_, v2 := newTestVault(t)
	_, w, _ := v1.NewDataKey("cus_1")
	_, err := v2.OpenDataKey("cus_1", w)
	mustDecryptErr(t, "other keyset", err)
}

func TestConcurrentUse(t *testing.T) {
	ks, v := newTestVault(t)
	dk, _, _ := v.NewDataKey("cus_1")
	want := map[string]int64{"email": v.BlindIndex("email", []byte("x")), "phone": v.BlindIndex("phone", []byte("x"))}
	// A fresh Vault makes the goroutines race to derive and cache the per-field keys.
	v, _ = New(ks, Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				ct, err := dk.Seal("t", "f", "cus_1", []byte("value"))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := dk.Open("t", "f", "cus_1", ct); err != nil {
					t.Error(err)
					return
				}
				field := []string{"email", "phone"}[(g+i)%2]
				if got := v.BlindIndex(field, []byte("x")); got != want[field] {
					t.Error("blind index not deterministic under concurrency")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSealAllocatesOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	_, v := newTestVault(t)
	dk, _, _ := v.NewDataKey("cus_1")
	pt := make([]byte, 64)
	ct, _ := dk.Seal("customers", "email", "cus_1", pt)
	if n := testing.AllocsPerRun(100, func() { _, _ = dk.Seal("customers", "email", "cus_1", pt) }); n > 1 {
		t.Errorf("Seal allocates %v times, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = dk.Open("customers", "email", "cus_1", ct) }); n > 1 {
		t.Errorf("Open allocates %v times, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = v.BlindIndex("email", pt) }); n > 0 {
		t.Errorf("BlindIndex allocates %v times, want 0", n)
	}
}
