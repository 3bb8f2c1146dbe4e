package vault

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math"
	"sync"
)

const (
	// DefaultPlannedRows is the table size the default index width is planned for.
	DefaultPlannedRows = 10_000_000
	// DefaultTargetCandidates is how many rows a look-up should match on average at the planned
	// size when the searched value is absent; each candidate costs one decryption.
	DefaultTargetCandidates = 4

	// MinIndexBits is the narrowest index allowed. Below it a look-up at any realistic size
	// returns so many candidates that the index stops being useful.
	MinIndexBits = 8
	// MaxIndexBits is the widest index allowed. At 32 bits the index is already an exact
	// equality oracle for any table Steward is planned for; wider only adds leakage.
	MaxIndexBits = 32

	// blindIndexInfo prefixes the field name in the HKDF info, versioning the derivation.
	blindIndexInfo = "steward blind index v1 "
	// keyedHashInfo prefixes the label in the HKDF info of KeyedHash keys.
	keyedHashInfo = "steward keyed hash v1 "
)

// PlanIndexBits returns the blind-index width that leaves about targetCandidates false-positive
// candidates per look-up once the table holds plannedRows rows: ceil(log2(plannedRows /
// targetCandidates)), clamped to [MinIndexBits, MaxIndexBits].
//
// The width is a privacy/performance trade-off. Fewer bits mean more rows share each index value,
// so a look-up returns more candidates that the caller must decrypt and filter, but someone who
// reads the database learns less about which rows hold equal values. More bits mean fewer
// candidates, and at the limit the index becomes an exact equality oracle that reveals every
// pair of equal values (and, with frequency analysis, often the values themselves). Planning for
// a few candidates at the expected size keeps look-ups cheap while preserving some ambiguity.
//
// A non-positive plannedRows yields MinIndexBits; a non-positive or NaN targetCandidates yields
// MaxIndexBits.
func PlanIndexBits(plannedRows int64, targetCandidates float64) int {
	if plannedRows <= 0 {
		return MinIndexBits
	}
	if !(targetCandidates > 0) {
		return MaxIndexBits
	}
	bits := math.Ceil(math.Log2(float64(plannedRows) / targetCandidates))
	switch {
	case math.IsNaN(bits) || bits > MaxIndexBits:
		return MaxIndexBits
	case bits < MinIndexBits:
		return MinIndexBits
	}
	return int(bits)
}

// fieldIndex holds the derived key for one field and a pool of HMAC states keyed with it.
// Reusing a state with Reset costs about a quarter of building a new HMAC, because the keyed
// inner and outer SHA-256 states are precomputed on the first Reset.
type fieldIndex struct {
	pool sync.Pool // of *indexHasher
}

// indexHasher pairs an HMAC with a scratch buffer for its output, so Sum does not allocate.
type indexHasher struct {
	mac hash.Hash
	sum [sha256.Size]byte
}

// BlindIndex returns the keyed HMAC-SHA256 of a normalised value, truncated to the top
// IndexBits bits, as a non-negative int64. It is deterministic for a given keyset and field, so
// equal values can be found by equality on the stored index; callers must normalise values
// (case, whitespace, Unicode form) before calling, and must treat a match only as a candidate
// to decrypt and compare, since truncation makes collisions expected.
//
// Each field has its own key, derived with HKDF-SHA256 from the index key and the info
// "steward blind index v1 "+field, so equal values in two fields do not produce equal indexes.
// Field names come from the schema, not from user input: every distinct name is cached for the
// Vault's lifetime. Use a qualified name such as "customers.email" if two tables share one.
func (v *Vault) BlindIndex(field string, normalized []byte) int64 {
	fi := v.fieldIndex(field)
	ih := fi.pool.Get().(*indexHasher)
	ih.mac.Reset()
	ih.mac.Write(normalized)
	sum := ih.mac.Sum(ih.sum[:0])
	top := binary.BigEndian.Uint64(sum[:8])
	fi.pool.Put(ih)
	return int64(top >> (64 - v.indexBits))
}

// fieldIndex returns the cached per-field state, deriving the field key on first use.
func (v *Vault) fieldIndex(field string) *fieldIndex {
	if fi, ok := v.fields.Load(field); ok {
		return fi.(*fieldIndex)
	}
	key, err := hkdf.Key(sha256.New, v.indexKey[:], nil, blindIndexInfo+field, keySize)
	if err != nil {
		// hkdf.Key only fails for an output length over 255 hash blocks, which 32 bytes is not.
		panic("vault: derive blind index key: " + err.Error())
	}
	fi := &fieldIndex{}
	fi.pool.New = func() any {
		return &indexHasher{mac: hmac.New(sha256.New, key)}
	}
	actual, _ := v.fields.LoadOrStore(field, fi)
	return actual.(*fieldIndex)
}

// KeyedHash returns the full HMAC-SHA256 of data under a key of its own for label, derived with
// HKDF-SHA256 from the index key and the info "steward keyed hash v1 "+label. Unlike BlindIndex
// it is not truncated: it serves where a value must be recognised exactly but never stored,
// such as the address consent evidence came from or a suppressed email address. Like the
// index key it never rotates, so hashes stored years ago still match. Labels come from code,
// never from input; every distinct label is cached for the Vault's lifetime.
func (v *Vault) KeyedHash(label string, data []byte) []byte {
	pool, ok := v.hashes.Load(label)
	if !ok {
		key, err := hkdf.Key(sha256.New, v.indexKey[:], nil, keyedHashInfo+label, keySize)
		if err != nil {
			panic("vault: derive keyed hash key: " + err.Error())
		}
		p := &sync.Pool{New: func() any { return &indexHasher{mac: hmac.New(sha256.New, key)} }}
		pool, _ = v.hashes.LoadOrStore(label, p)
	}
	p := pool.(*sync.Pool)
	ih := p.Get().(*indexHasher)
	ih.mac.Reset()
	ih.mac.Write(data)
	out := ih.mac.Sum(nil)
	p.Put(ih)
	return out
}
