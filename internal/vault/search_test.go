package vault

import "testing"

func TestSearchHashKnownDerivation(t *testing.T) {
	// Pinned like the blind index: stored search tokens are orphaned by any change of the
	// construction. Computed independently from RFC 5869 HKDF and RFC 2104 HMAC in Python.
	ks, _ := newTestVault(t)
	for i := range ks.indexKey {
		ks.indexKey[i] = byte(i)
	}
	v, _ := New(ks, Options{})
	const want = 0x41fe6533f471f6e2
	if got := v.SearchHash("name", []byte("smith")); got != want {
		t.Fatalf("SearchHash = %#x, want %#x", got, want)
	}
}

func TestSearchHashKeysApart(t *testing.T) {
	_, v := newTestVault(t)
	name := v.SearchHash("name", []byte("leeds"))
	if name != v.SearchHash("name", []byte("leeds")) {
		t.Fatal("not deterministic")
	}
	if name == v.SearchHash("city", []byte("leeds")) {
		t.Error("two kinds share a key")
	}
	if uint64(v.BlindIndex("name", []byte("leeds"))) == name>>(64-v.IndexBits()) {
		t.Error("a search kind shares the blind index's key for the same label")
	}
	_, other := newTestVault(t)
	if name == other.SearchHash("name", []byte("leeds")) {
		t.Error("another keyset gives the same hash")
	}
}
