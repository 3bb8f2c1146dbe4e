package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func newLocalRoot(t *testing.T) (Root, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "root.key")
	if err := CreateLocalRoot(path); err != nil {
		t.Fatalf("CreateLocalRoot: %v", err)
	}
	root, err := OpenLocalRoot(path)
	if err != nil {
		t.Fatalf("OpenLocalRoot: %v", err)
	}
	return root, path
}

func TestCreateLocalRoot(t *testing.T) {
	_, path := newLocalRoot(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	if fi.Size() != keySize {
		t.Fatalf("size %d, want %d", fi.Size(), keySize)
	}
	before, _ := os.ReadFile(path)
	err = CreateLocalRoot(path)
	if err == nil || !errors.Is(err, os.ErrExist) {
		t.Fatalf("second CreateLocalRoot: %v, want an already-exists error", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("CreateLocalRoot overwrote an existing key")
	}
}

func TestOpenLocalRootRefusesLooseMode(t *testing.T) {
	_, path := newLocalRoot(t)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := OpenLocalRoot(path)
		if err == nil || !strings.Contains(err.Error(), "group or other") {
			t.Fatalf("mode %04o: got %v, want a refusal naming group/other access", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLocalRoot(path); err != nil {
		t.Fatalf("mode 0400 should be accepted: %v", err)
	}
}

func TestOpenLocalRootRefusesWrongLength(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 16, keySize - 1, keySize + 1, 64} {
		path := filepath.Join(dir, "k")
		_ = os.Remove(path)
		if err := os.WriteFile(path, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenLocalRoot(path); err == nil || !strings.Contains(err.Error(), "exactly 32 bytes") {
			t.Fatalf("length %d: got %v, want a length error", n, err)
		}
	}
	if _, err := OpenLocalRoot(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestLocalRootBindsAssociatedData(t *testing.T) {
	root, _ := newLocalRoot(t)
	ctx := context.Background()
	blob, err := root.Wrap(ctx, []byte("payload"), []byte("purpose a"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := root.Unwrap(ctx, blob, []byte("purpose a")); err != nil || string(got) != "payload" {
		t.Fatalf("Unwrap: %q, %v", got, err)
	}
	_, err = root.Unwrap(ctx, blob, []byte("purpose b"))
	mustDecryptErr(t, "other associated data", err)
	other, _ := newLocalRoot(t)
	_, err = other.Unwrap(ctx, blob, []byte("purpose a"))
	mustDecryptErr(t, "other root", err)
	if root.Name() != "local" {
		t.Fatalf("Name() = %q", root.Name())
	}
}

func TestKeysetSealOpenLocalRoot(t *testing.T) {
	root, _ := newLocalRoot(t)
	testKeysetSealOpen(t, root)
}

// testKeysetSealOpen proves a keyset survives sealing through root: the reopened keyset opens
// DEKs and data made before, and produces the same blind indexes and audit key.
func testKeysetSealOpen(t *testing.T, root Root) {
	t.Helper()
	ctx := context.Background()
	ks, _ := newTestVault(t)
	ks.Rotate()
	v, _ := New(ks, Options{})
	dk, w, _ := v.NewDataKey("cus_1")
	ct, _ := dk.Seal("t", "f", "cus_1", []byte("hello"))

	blob, err := SealKeyset(ctx, root, ks)
	if err != nil {
		t.Fatalf("SealKeyset: %v", err)
	}
	if bytes.Contains(blob, ks.indexKey[:]) || bytes.Contains(blob, []byte("index_key")) {
		t.Fatal("sealed keyset contains plaintext")
	}
	ks2, err := OpenKeyset(ctx, root, blob)
	if err != nil {
		t.Fatalf("OpenKeyset: %v", err)
	}
	if ks2.Primary() != 2 || !slices.Equal(ks2.Versions(), []int{1, 2}) {
		t.Fatalf("reopened keyset: primary %d versions %v", ks2.Primary(), ks2.Versions())
	}
	if !ks2.Created().Equal(ks.Created()) {
		t.Fatal("created time not preserved")
	}
	v2, err := New(ks2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dk2, err := v2.OpenDataKey("cus_1", w)
	if err != nil {
		t.Fatalf("OpenDataKey after reopen: %v", err)
	}
	if got, err := dk2.Open("t", "f", "cus_1", ct); err != nil || string(got) != "hello" {
		t.Fatalf("Open after reopen: %q, %v", got, err)
	}
	if v.BlindIndex("email", []byte("a@b")) != v2.BlindIndex("email", []byte("a@b")) {
		t.Fatal("blind index changed across seal/open")
	}
	if !v.AuditPublicKey().Equal(v2.AuditPublicKey()) {
		t.Fatal("audit key changed across seal/open")
	}

	bad := bytes.Clone(blob)
	bad[len(bad)-1] ^= 1
	if _, err := OpenKeyset(ctx, root, bad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered keyset: %v, want ErrDecrypt", err)
	}
}

func TestKeysetWrappedUnderOtherPurposeIsRejected(t *testing.T) {
	root, _ := newLocalRoot(t)
	ctx := context.Background()
	blob, _ := root.Wrap(ctx, []byte(`{"format":1}`), []byte("something else"))
	_, err := OpenKeyset(ctx, root, blob)
	mustDecryptErr(t, "blob with other associated data", err)
}

func TestRotation(t *testing.T) {
	ks, v1 := newTestVault(t)
	dk, w1, _ := v1.NewDataKey("cus_1")
	ct, _ := dk.Seal("customers", "email", "cus_1", []byte("alice@example.com"))
	idx := v1.BlindIndex("email", []byte("alice@example.com"))

	if got := ks.Rotate(); got != 2 {
		t.Fatalf("Rotate() = %d, want 2", got)
	}
	if ks.Primary() != 2 || !slices.Equal(ks.Versions(), []int{1, 2}) {
		t.Fatalf("after rotate: primary %d versions %v", ks.Primary(), ks.Versions())
	}
	if v1.PrimaryVersion() != 1 {
		t.Fatal("an existing Vault must not pick up an unsaved rotation")
	}
	v2, err := New(ks, Options{})
	if err != nil {
		t.Fatal(err)
	}

	// A DEK wrapped under master v1 still opens, and so does its data.
	dkOld, err := v2.OpenDataKey("cus_1", w1)
	if err != nil {
		t.Fatalf("v1-wrapped DEK after rotate: %v", err)
	}
	if got, err := dkOld.Open("customers", "email", "cus_1", ct); err != nil || string(got) != "alice@example.com" {
		t.Fatalf("open after rotate: %q, %v", got, err)
	}

	w2, changed, err := v2.Rewrap("cus_1", w1)
	if err != nil || !changed || w2.MasterVersion != 2 {
		t.Fatalf("Rewrap: %+v changed=%v err=%v", w2.MasterVersion, changed, err)
	}
	dkNew, err := v2.OpenDataKey("cus_1", w2)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := dkNew.Open("customers", "email", "cus_1", ct); err != nil || string(got) != "alice@example.com" {
		t.Fatalf("open after rewrap: %q, %v", got, err)
	}

	w3, changed, err := v2.Rewrap("cus_1", w2)
	if err != nil || changed || !bytes.Equal(w3.Blob, w2.Blob) || w3.MasterVersion != 2 {
		t.Fatalf("Rewrap on primary: changed=%v err=%v", changed, err)
	}
	if _, _, err := v2.Rewrap("cus_2", w1); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Rewrap for another customer: %v, want ErrDecrypt", err)
	}

	_, wNew, _ := v2.NewDataKey("cus_3")
	if wNew.MasterVersion != 2 {
		t.Fatalf("new DEK wrapped with master %d, want 2", wNew.MasterVersion)
	}
	if v2.BlindIndex("email", []byte("alice@example.com")) != idx {
		t.Fatal("rotation changed the blind index")
	}
	if !v1.AuditPublicKey().Equal(v2.AuditPublicKey()) {
		t.Fatal("rotation changed the audit key")
	}

	// Once every DEK is rewrapped, v1 can be retired; the primary cannot.
	if err := ks.Retire(2); err == nil {
		t.Fatal("retiring the primary succeeded")
	}
	if err := ks.Retire(1); err != nil {
		t.Fatal(err)
	}
	if err := ks.Retire(1); err == nil {
		t.Fatal("retiring a missing version succeeded")
	}
	v3, _ := New(ks, Options{})
	if _, err := v3.OpenDataKey("cus_1", w1); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("DEK under retired master: %v, want ErrDecrypt", err)
	}
	if _, err := v3.OpenDataKey("cus_1", w2); err != nil {
		t.Fatal(err)
	}
	if got := ks.Rotate(); got != 3 {
		t.Fatalf("Rotate after retire = %d, want 3", got)
	}
}

func TestAuditKeys(t *testing.T) {
	_, v := newTestVault(t)
	priv := v.AuditSigningKey()
	msg := []byte("audit entry")
	if !ed25519.Verify(v.AuditPublicKey(), msg, ed25519.Sign(priv, msg)) {
		t.Fatal("audit signature does not verify")
	}
	clear(priv)
	if !ed25519.Verify(v.AuditPublicKey(), msg, ed25519.Sign(v.AuditSigningKey(), msg)) {
		t.Fatal("caller mutation of the returned key affected the Vault")
	}
}

func TestNewValidatesIndexBits(t *testing.T) {
	ks, _ := newTestVault(t)
	for _, bits := range []int{-1, 7, 33, 64} {
		if _, err := New(ks, Options{IndexBits: bits}); err == nil {
			t.Fatalf("IndexBits %d accepted", bits)
		}
	}
	v, err := New(ks, Options{IndexBits: 16})
	if err != nil || v.IndexBits() != 16 {
		t.Fatalf("IndexBits 16: %v, %v", v, err)
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("nil keyset accepted")
	}
}

func TestReceiptKey(t *testing.T) {
	root, _ := newLocalRoot(t)
	ctx := context.Background()
	ks, v := newTestVault(t)
	if !ks.HasReceiptKey() || v.ReceiptSigningKey() == nil {
		t.Fatal("a new keyset has no receipt key")
	}
	if bytes.Equal(v.ReceiptPublicKey(), v.AuditPublicKey()) {
		t.Fatal("receipts are signed with the audit key")
	}
	msg := []byte("receipt")
	if !ed25519.Verify(v.ReceiptPublicKey(), msg, ed25519.Sign(v.ReceiptSigningKey(), msg)) {
		t.Fatal("receipt signature does not verify")
	}
	blob, err := SealKeyset(ctx, root, ks)
	if err != nil {
		t.Fatal(err)
	}
	back, err := OpenKeyset(ctx, root, blob)
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := New(back, Options{})
	if !bytes.Equal(v2.ReceiptPublicKey(), v.ReceiptPublicKey()) {
		t.Fatal("the receipt key changed across seal and open")
	}

	// A keyset sealed before receipts existed opens without one, and gains one once.
	old, _ := NewKeyset()
	old.hasReceipt = false
	clear(old.receiptSeed[:])
	blob, err = SealKeyset(ctx, root, old)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(blob), "receipt") {
		t.Fatal("sealed keyset is not opaque")
	}
	legacy, err := OpenKeyset(ctx, root, blob)
	if err != nil {
		t.Fatal(err)
	}
	lv, _ := New(legacy, Options{})
	if legacy.HasReceiptKey() || lv.ReceiptSigningKey() != nil || lv.ReceiptPublicKey() != nil {
		t.Fatal("a legacy keyset claims a receipt key")
	}
	if !legacy.AddReceiptKey() || legacy.AddReceiptKey() {
		t.Fatal("AddReceiptKey must add exactly once")
	}
	blob, _ = SealKeyset(ctx, root, legacy)
	again, err := OpenKeyset(ctx, root, blob)
	if err != nil || !again.HasReceiptKey() {
		t.Fatalf("receipt key lost after sealing: %v", err)
	}
	av, _ := New(again, Options{})
	nv, _ := New(legacy, Options{})
	if !bytes.Equal(av.ReceiptPublicKey(), nv.ReceiptPublicKey()) {
		t.Fatal("the added receipt key did not survive sealing")
	}
}
