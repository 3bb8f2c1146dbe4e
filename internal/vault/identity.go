package vault

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
)

// identityInfo prefixes the identifier kind in the HKDF info, versioning the derivation and
// keeping identity keys apart from blind-index keys derived from the same index key.
const identityInfo = "steward identity v1 "

// IdentityTokenSize is the length of an identity token: 128 bits, so that two different
// identifiers never share a token in practice and stitching never links two people by chance.
const IdentityTokenSize = 16

// IdentityToken returns the full-width keyed hash (HMAC-SHA256 under a per-kind key derived
// from the index key, truncated to 128 bits) of a normalised identifier such as an anonymous
// id or a user id. Unlike BlindIndex it is not truncated to a few bits: identity stitching
// links customers on equal tokens, so a collision would merge two people. The price is that
// someone reading the database can tell which events and profiles share an identifier, which
// is what stitching records anyway; the identifier itself is never stored in clear.
func (v *Vault) IdentityToken(kind string, normalized []byte) []byte {
	kinds := &v.identities
	fi, ok := kinds.Load(kind)
	if !ok {
		key, err := hkdf.Key(sha256.New, v.indexKey[:], nil, identityInfo+kind, keySize)
		if err != nil {
			panic("vault: derive identity key: " + err.Error())
		}
		n := &fieldIndex{}
		n.pool.New = func() any { return &indexHasher{mac: hmac.New(sha256.New, key)} }
		fi, _ = kinds.LoadOrStore(kind, n)
	}
	ih := fi.(*fieldIndex).pool.Get().(*indexHasher)
	ih.mac.Reset()
	ih.mac.Write(normalized)
	sum := ih.mac.Sum(ih.sum[:0])
	out := make([]byte, IdentityTokenSize)
	copy(out, sum)
	fi.(*fieldIndex).pool.Put(ih)
	return out
}
