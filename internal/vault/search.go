package vault

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// searchInfo prefixes the token kind in the HKDF info, versioning the derivation and keeping
// search keys apart from the blind-index, identity and keyed-hash keys derived from the same
// index key.
const searchInfo = "steward search token v1 "

// SearchHash returns the first 64 bits of HMAC-SHA256 over a normalised search term, under a
// key of its own for the token kind, derived with HKDF-SHA256 from the index key and the info
// "steward search token v1 "+kind. The search package truncates it to the kind's width; like
// the blind index it never rotates, so stored tokens keep matching. Kinds come from code,
// never from input; each is cached for the Vault's lifetime.
func (v *Vault) SearchHash(kind string, normalized []byte) uint64 {
	fi, ok := v.searches.Load(kind)
	if !ok {
		key, err := hkdf.Key(sha256.New, v.indexKey[:], nil, searchInfo+kind, keySize)
		if err != nil {
			panic("vault: derive search key: " + err.Error())
		}
		n := &fieldIndex{}
		n.pool.New = func() any { return &indexHasher{mac: hmac.New(sha256.New, key)} }
		fi, _ = v.searches.LoadOrStore(kind, n)
	}
	pool := &fi.(*fieldIndex).pool
	ih := pool.Get().(*indexHasher)
	ih.mac.Reset()
	ih.mac.Write(normalized)
	sum := ih.mac.Sum(ih.sum[:0])
	out := binary.BigEndian.Uint64(sum[:8])
	pool.Put(ih)
	return out
}
