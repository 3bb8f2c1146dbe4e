package vault

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
)

// keyedHashInfo prefixes the label in the HKDF info, so keyed hashes never share a key with
// blind indexes even for a label equal to a field name.
const keyedHashInfo = "steward keyed hash v1 "

// KeyedHash returns the full 32-byte HMAC-SHA256 of data under a key derived from the index
// key and label. Unlike BlindIndex it is not truncated: it serves where a match must be exact
// and a collision would wrongly affect someone else (the suppression list of erased contacts,
// the authentication of the erasure ledger file). The index key never rotates, so a hash made
// today still matches after a master-key rotation or a restore from backup.
func (v *Vault) KeyedHash(label string, data []byte) []byte {
	key, err := hkdf.Key(sha256.New, v.indexKey[:], nil, keyedHashInfo+label, keySize)
	if err != nil {
		panic("vault: derive keyed hash key: " + err.Error())
	}
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
