package vault

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// fieldHeaderLen is the format byte plus the big-endian DEK version at the start of every field
// ciphertext. A field ciphertext is formatV1 ‖ uint32 key version ‖ nonce ‖ ciphertext ‖ tag.
const fieldHeaderLen = 5

// fieldOverhead is how many bytes Seal adds to a plaintext.
const fieldOverhead = fieldHeaderLen + nonceSize + tagSize

// DataKey is one customer's unwrapped DEK, ready to seal and open that customer's field values.
// It holds only the initialised AEAD (the AES key schedule is computed once, not per call) and
// is safe for concurrent use. Let it go out of scope when the request is done rather than
// caching it indefinitely, so that crypto-shredding a customer takes effect promptly.
type DataKey struct {
	version uint32
	aead    cipher.AEAD
}

func newDataKey(version uint32, raw []byte) (*DataKey, error) {
	aead, err := newAEAD(raw)
	if err != nil {
		return nil, err
	}
	return &DataKey{version: version, aead: aead}, nil
}

// Version returns the DEK version carried in every ciphertext header and associated data. It is
// 1 for now; it exists so that per-customer rekeying can later tell old ciphertexts from new.
func (k *DataKey) Version() int { return int(k.version) }

// Seal encrypts plaintext for the cell (table, field) of customerID. The result only opens with
// the same three names, so a ciphertext copied to another row, column or table is rejected.
//
// Seal makes exactly one allocation. The associated data is built in spare capacity after the
// ciphertext in that same allocation (building it anywhere else would escape to the heap
// through the AEAD interface), and the returned slice's capacity is clipped so callers cannot
// see or append over it.
func (k *DataKey) Seal(table, field, customerID string, plaintext []byte) ([]byte, error) {
	if err := checkCell(table, field, customerID); err != nil {
		return nil, err
	}
	n := fieldOverhead + len(plaintext)
	adLen := fieldADLen(table, field, customerID)
	buf := make([]byte, fieldHeaderLen, n+adLen)
	buf[0] = formatV1
	binary.BigEndian.PutUint32(buf[1:fieldHeaderLen], k.version)
	ad := appendFieldAD(buf[n:n:n+adLen], buf[:fieldHeaderLen], table, field, customerID)
	out := k.aead.Seal(buf, nil, plaintext, ad)
	return out[:n:n], nil
}

// Open decrypts a ciphertext made by Seal for the same table, field and customer id. Every
// failure, including a ciphertext under another key version, wraps ErrDecrypt. Like Seal, it
// makes a single allocation: the returned plaintext.
func (k *DataKey) Open(table, field, customerID string, ciphertext []byte) ([]byte, error) {
	if err := checkCell(table, field, customerID); err != nil {
		return nil, err
	}
	if len(ciphertext) < fieldOverhead {
		return nil, fmt.Errorf("%w: ciphertext is truncated", ErrDecrypt)
	}
	if ciphertext[0] != formatV1 {
		return nil, fmt.Errorf("%w: unknown ciphertext format %d", ErrDecrypt, ciphertext[0])
	}
	if v := binary.BigEndian.Uint32(ciphertext[1:fieldHeaderLen]); v != k.version {
		return nil, fmt.Errorf("%w: ciphertext key version %d, data key version %d", ErrDecrypt, v, k.version)
	}
	n := len(ciphertext) - fieldOverhead
	adLen := fieldADLen(table, field, customerID)
	buf := make([]byte, n, n+adLen)
	ad := appendFieldAD(buf[n:n:n+adLen], ciphertext[:fieldHeaderLen], table, field, customerID)
	pt, err := k.aead.Open(buf[:0], nil, ciphertext[fieldHeaderLen:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: %s.%s", ErrDecrypt, table, field)
	}
	return pt[:n:n], nil
}

// fieldADLen is the length of the associated data appendFieldAD produces.
func fieldADLen(table, field, customerID string) int {
	return fieldHeaderLen + 12 + len(table) + len(field) + len(customerID)
}

// appendFieldAD appends header ‖ len(table) ‖ table ‖ len(field) ‖ field ‖ len(customerID) ‖
// customerID, lengths as big-endian uint32. The header carries the format and key version; the
// length prefixes make the encoding injective, so ("ab", "c") and ("a", "bc") differ.
func appendFieldAD(dst, header []byte, table, field, customerID string) []byte {
	dst = append(dst, header...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(table)))
	dst = append(dst, table...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(field)))
	dst = append(dst, field...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(customerID)))
	return append(dst, customerID...)
}

// checkCell rejects empty names, which would make the binding meaningless and almost always
// mean a bug in the caller, and names too long for their length prefix.
func checkCell(table, field, customerID string) error {
	if table == "" || field == "" || customerID == "" {
		return errors.New("vault: table, field and customer id are required")
	}
	if uint64(len(table)) > math.MaxUint32 || uint64(len(field)) > math.MaxUint32 || uint64(len(customerID)) > math.MaxUint32 {
		return errors.New("vault: table, field or customer id is too long")
	}
	return nil
}
