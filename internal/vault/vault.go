package vault

import (
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Options tunes a Vault. The zero value is the recommended configuration.
type Options struct {
	// IndexBits is the width of blind-index values, in [MinIndexBits, MaxIndexBits]. Zero means
	// PlanIndexBits(DefaultPlannedRows, DefaultTargetCandidates). It must stay the same for the
	// lifetime of stored indexes, because changing it changes every index value.
	IndexBits int
}

// Vault performs the key-hierarchy operations for one opened keyset. It is immutable after New
// apart from internal caches, and safe for concurrent use.
type Vault struct {
	primary   int
	masters   map[int]cipher.AEAD // read-only after New
	indexKey  [keySize]byte
	indexBits int
	auditKey  ed25519.PrivateKey
	// receiptKey is nil for a keyset that has no receipt key yet.
	receiptKey ed25519.PrivateKey
	fields     sync.Map // field name -> *fieldIndex; see blindindex.go
	hashes     sync.Map // label -> *sync.Pool of *indexHasher; see KeyedHash
	// identities maps identifier kind -> *fieldIndex; see identity.go
	identities sync.Map
	// searches maps search token kind -> *fieldIndex; see search.go
	searches sync.Map
}

// New builds a Vault from a snapshot of ks. Taking a snapshot rather than following ks means a
// Rotate that has not yet been sealed and stored cannot be used to wrap DEKs: if the process
// crashed before the keyset was persisted, those DEKs, and the data under them, would be lost.
// After rotating and storing the keyset, build a new Vault and swap it in.
func New(ks *Keyset, opts Options) (*Vault, error) {
	if ks == nil {
		return nil, errors.New("vault: keyset is required")
	}
	bits := opts.IndexBits
	if bits == 0 {
		bits = PlanIndexBits(DefaultPlannedRows, DefaultTargetCandidates)
	}
	if bits < MinIndexBits || bits > MaxIndexBits {
		return nil, fmt.Errorf("vault: index bits must be in [%d, %d], got %d", MinIndexBits, MaxIndexBits, bits)
	}

	ks.mu.Lock()
	defer ks.mu.Unlock()
	v := &Vault{
		primary:   ks.primary,
		masters:   make(map[int]cipher.AEAD, len(ks.masters)),
		indexKey:  ks.indexKey,
		indexBits: bits,
		auditKey:  ed25519.NewKeyFromSeed(ks.auditSeed[:]),
	}
	if ks.hasReceipt {
		v.receiptKey = ed25519.NewKeyFromSeed(ks.receiptSeed[:])
	}
	for ver, mk := range ks.masters {
		aead, err := newAEAD(mk.key[:])
		if err != nil {
			return nil, fmt.Errorf("vault: master version %d: %w", ver, err)
		}
		v.masters[ver] = aead
	}
	if _, ok := v.masters[v.primary]; !ok {
		return nil, fmt.Errorf("vault: keyset primary master version %d is missing", v.primary)
	}
	return v, nil
}

// IndexBits returns the blind-index width this Vault produces.
func (v *Vault) IndexBits() int { return v.indexBits }

// PrimaryVersion returns the master version new DEKs are wrapped with. A rewrap job selects
// the rows whose WrappedKey.MasterVersion differs from it.
func (v *Vault) PrimaryVersion() int { return v.primary }

// MasterVersions returns the master versions this Vault can unwrap, in ascending order.
func (v *Vault) MasterVersions() []int {
	vs := make([]int, 0, len(v.masters))
	for ver := range v.masters {
		vs = append(vs, ver)
	}
	slices.Sort(vs)
	return vs
}

// AuditSigningKey returns a copy of the Ed25519 key that signs the audit chain. A copy is
// returned so that a caller cannot corrupt the Vault's key by writing to the slice.
func (v *Vault) AuditSigningKey() ed25519.PrivateKey {
	return slices.Clone(v.auditKey)
}

// AuditPublicKey returns the key that verifies the audit chain; it is safe to publish.
func (v *Vault) AuditPublicKey() ed25519.PublicKey {
	return slices.Clone(v.auditKey.Public().(ed25519.PublicKey))
}

// ReceiptSigningKey returns a copy of the Ed25519 key that signs consent receipts, or nil when
// the keyset has none yet (see Keyset.AddReceiptKey).
func (v *Vault) ReceiptSigningKey() ed25519.PrivateKey {
	if v.receiptKey == nil {
		return nil
	}
	return slices.Clone(v.receiptKey)
}

// ReceiptPublicKey returns the key that verifies consent receipts, or nil when there is none;
// it is meant to be published.
func (v *Vault) ReceiptPublicKey() ed25519.PublicKey {
	if v.receiptKey == nil {
		return nil
	}
	return slices.Clone(v.receiptKey.Public().(ed25519.PublicKey))
}

// WrappedKey is a customer's DEK encrypted under one master version. Store both fields: the
// version tells a rewrap job what is left to do without decrypting anything. Blob is
// formatV1 ‖ uint32 DEK version ‖ nonce ‖ encrypted DEK ‖ tag.
type WrappedKey struct {
	MasterVersion int
	Blob          []byte
}

const (
	// dekHeaderLen is the format byte plus the big-endian DEK version.
	dekHeaderLen = 5
	// wrappedDEKLen is the exact size of a version-1 wrapped DEK blob.
	wrappedDEKLen = dekHeaderLen + nonceSize + keySize + tagSize
	// currentDEKVersion is carried in wrapped blobs and ciphertexts so that per-customer
	// rekeying can be added without a format change.
	currentDEKVersion = 1
)

// NewDataKey generates a random DEK for customerID and wraps it with the primary master key.
// Persist the WrappedKey before sealing anything with the DataKey; data sealed under a DEK whose
// wrapping was lost can never be opened.
func (v *Vault) NewDataKey(customerID string) (*DataKey, WrappedKey, error) {
	if err := checkCustomerID(customerID); err != nil {
		return nil, WrappedKey{}, err
	}
	var raw [keySize]byte
	defer clear(raw[:])
	_, _ = rand.Read(raw[:])
	dk, err := newDataKey(currentDEKVersion, raw[:])
	if err != nil {
		return nil, WrappedKey{}, err
	}
	w := v.wrapDEK(customerID, currentDEKVersion, raw[:])
	return dk, w, nil
}

// OpenDataKey unwraps a customer's DEK. It fails with ErrDecrypt for another customer id, a
// tampered blob, an altered MasterVersion, or a master version no longer in the keyset.
func (v *Vault) OpenDataKey(customerID string, w WrappedKey) (*DataKey, error) {
	raw, dekVersion, err := v.unwrapDEK(customerID, w)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	return newDataKey(dekVersion, raw)
}

// Rewrap re-encrypts a wrapped DEK under the primary master version, leaving the DEK itself,
// and so every ciphertext under it, unchanged. It reports false (and returns w unchanged) when w
// is already under the primary, which makes a rewrap job idempotent and resumable. The blob is
// authenticated even in that case, so a job also detects corrupted keys.
func (v *Vault) Rewrap(customerID string, w WrappedKey) (WrappedKey, bool, error) {
	raw, dekVersion, err := v.unwrapDEK(customerID, w)
	if err != nil {
		return WrappedKey{}, false, err
	}
	defer clear(raw)
	if w.MasterVersion == v.primary {
		return w, false, nil
	}
	return v.wrapDEK(customerID, dekVersion, raw), true, nil
}

func (v *Vault) wrapDEK(customerID string, dekVersion uint32, raw []byte) WrappedKey {
	out := make([]byte, dekHeaderLen, wrappedDEKLen)
	out[0] = formatV1
	binary.BigEndian.PutUint32(out[1:dekHeaderLen], dekVersion)
	ad := dekAD(out[:dekHeaderLen], v.primary, customerID)
	return WrappedKey{MasterVersion: v.primary, Blob: v.masters[v.primary].Seal(out, nil, raw, ad)}
}

func (v *Vault) unwrapDEK(customerID string, w WrappedKey) ([]byte, uint32, error) {
	if err := checkCustomerID(customerID); err != nil {
		return nil, 0, err
	}
	if len(w.Blob) != wrappedDEKLen {
		return nil, 0, fmt.Errorf("%w: wrapped data key has the wrong length", ErrDecrypt)
	}
	if w.Blob[0] != formatV1 {
		return nil, 0, fmt.Errorf("%w: unknown wrapped data key format %d", ErrDecrypt, w.Blob[0])
	}
	master, ok := v.masters[w.MasterVersion]
	if !ok {
		return nil, 0, fmt.Errorf("%w: master version %d is not in the keyset", ErrDecrypt, w.MasterVersion)
	}
	dekVersion := binary.BigEndian.Uint32(w.Blob[1:dekHeaderLen])
	ad := dekAD(w.Blob[:dekHeaderLen], w.MasterVersion, customerID)
	raw, err := master.Open(nil, nil, w.Blob[dekHeaderLen:], ad)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: wrapped data key (master version %d)", ErrDecrypt, w.MasterVersion)
	}
	return raw, dekVersion, nil
}

// dekAD is header ‖ uint32 master version ‖ uint32 len(customerID) ‖ customerID. Binding the
// master version stops a relabelled WrappedKey from being accepted, and binding the customer id
// stops one customer's DEK being attached to another customer's row.
func dekAD(header []byte, masterVersion int, customerID string) []byte {
	ad := make([]byte, 0, len(header)+8+len(customerID))
	ad = append(ad, header...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(masterVersion))
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(customerID)))
	return append(ad, customerID...)
}

// checkCustomerID rejects ids that would make the binding meaningless (empty) or the length
// prefix ambiguous (longer than a uint32 can describe).
func checkCustomerID(customerID string) error {
	if customerID == "" {
		return errors.New("vault: customer id is required")
	}
	if uint64(len(customerID)) > math.MaxUint32 {
		return errors.New("vault: customer id is too long")
	}
	return nil
}
