package vault

import "testing"

func benchDataKey(b *testing.B) (*Vault, *DataKey) {
	_, v := newTestVault(b)
	dk, _, err := v.NewDataKey("cus_01HZY3J8Q4")
	if err != nil {
		b.Fatal(err)
	}
	return v, dk
}

func BenchmarkSeal64(b *testing.B) {
	_, dk := benchDataKey(b)
	pt := make([]byte, 64)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dk.Seal("customers", "email", "cus_01HZY3J8Q4", pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen64(b *testing.B) {
	_, dk := benchDataKey(b)
	ct, err := dk.Seal("customers", "email", "cus_01HZY3J8Q4", make([]byte, 64))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dk.Open("customers", "email", "cus_01HZY3J8Q4", ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	v, _ := benchDataKey(b)
	val := []byte("alice@example.com")
	v.BlindIndex("customers.email", val) // derive the field key outside the timed loop
	b.ReportAllocs()
	for b.Loop() {
		_ = v.BlindIndex("customers.email", val)
	}
}

func BenchmarkNewDataKey(b *testing.B) {
	v, _ := benchDataKey(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := v.NewDataKey("cus_01HZY3J8Q4"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenDataKey(b *testing.B) {
	v, _ := benchDataKey(b)
	_, w, _ := v.NewDataKey("cus_01HZY3J8Q4")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.OpenDataKey("cus_01HZY3J8Q4", w); err != nil {
			b.Fatal(err)
		}
	}
}
