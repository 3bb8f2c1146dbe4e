package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// keysetAD is the associated data under which the root wraps the keyset, so that no other blob
// wrapped by the same root can be passed off as a keyset.
const keysetAD = "steward keyset v1"

// keysetFormat is the version of the serialised keyset inside the root-wrapped blob.
const keysetFormat = 1

// Keyset is the secret material below the root: versioned AES-256 master keys that wrap data
// keys, the blind-index key, the Ed25519 audit signing seed and the Ed25519 consent-receipt
// signing seed. It is only ever stored sealed
// by a Root. Its methods are safe for concurrent use, but a Vault does not observe later changes
// (see New), so rotation is: Rotate, SealKeyset, store the blob durably, then build a new Vault.
type Keyset struct {
	mu        sync.Mutex
	created   time.Time
	primary   int
	masters   map[int]masterKey
	indexKey  [keySize]byte
	auditSeed [ed25519.SeedSize]byte
	// receiptSeed signs consent receipts. It is a key of its own, not the audit key, so that
	// receipts handed to customers can be verified with a published key without that key also
	// vouching for the audit trail. Keysets made before receipts existed lack it until
	// AddReceiptKey.
	receiptSeed [ed25519.SeedSize]byte
	hasReceipt  bool
}

type masterKey struct {
	key     [keySize]byte
	created time.Time
}

// NewKeyset generates a keyset with master version 1 as primary and fresh index and audit keys.
// The error return exists for symmetry with the other constructors; the system CSPRNG does not
// fail on supported platforms.
func NewKeyset() (*Keyset, error) {
	now := time.Now().UTC()
	ks := &Keyset{created: now, masters: make(map[int]masterKey)}
	_, _ = rand.Read(ks.indexKey[:])
	_, _ = rand.Read(ks.auditSeed[:])
	_, _ = rand.Read(ks.receiptSeed[:])
	ks.hasReceipt = true
	ks.addMasterLocked(1, now)
	return ks, nil
}

// HasReceiptKey reports whether the keyset holds a consent-receipt signing key; keysets
// sealed before receipts existed do not.
func (ks *Keyset) HasReceiptKey() bool {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.hasReceipt
}

// AddReceiptKey generates the consent-receipt signing key if the keyset lacks one and reports
// whether it did. The caller must seal and store the keyset before signing anything with it,
// or receipts would be signed by a key that a crash could lose.
func (ks *Keyset) AddReceiptKey() bool {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.hasReceipt {
		return false
	}
	_, _ = rand.Read(ks.receiptSeed[:])
	ks.hasReceipt = true
	return true
}

func (ks *Keyset) addMasterLocked(version int, created time.Time) {
	mk := masterKey{created: created}
	_, _ = rand.Read(mk.key[:])
	ks.masters[version] = mk
	ks.primary = version
}

// Rotate adds a new master version, makes it primary and returns it. The index key and audit
// key are unchanged on purpose: changing the index key would require recomputing every blind
// index, and changing the audit key would break verification of the existing audit chain. DEKs
// wrapped by older versions keep opening until the caller rewraps them and calls Retire.
func (ks *Keyset) Rotate() int {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	next := 1
	for v := range ks.masters {
		next = max(next, v+1)
	}
	ks.addMasterLocked(next, time.Now().UTC())
	return next
}

// Retire removes an old master version once every DEK it wrapped has been rewrapped; until then
// keeping it is what lets a half-finished rewrap job resume. Retiring the primary is refused
// because new DEKs would have nothing to be wrapped with.
func (ks *Keyset) Retire(version int) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if version == ks.primary {
		return fmt.Errorf("vault: cannot retire primary master version %d", version)
	}
	mk, ok := ks.masters[version]
	if !ok {
		return fmt.Errorf("vault: master version %d is not in the keyset", version)
	}
	clear(mk.key[:])
	delete(ks.masters, version)
	return nil
}

// Primary returns the master version that wraps new DEKs.
func (ks *Keyset) Primary() int {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.primary
}

// Versions returns every master version still in the keyset, in ascending order.
func (ks *Keyset) Versions() []int {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	vs := make([]int, 0, len(ks.masters))
	for v := range ks.masters {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// Created returns when the keyset was generated, for status output.
func (ks *Keyset) Created() time.Time {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.created
}

// MasterCreated returns when a master version was generated, so operators can see how old the
// primary key is and schedule rotation.
func (ks *Keyset) MasterCreated(version int) (time.Time, bool) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	mk, ok := ks.masters[version]
	return mk.created, ok
}

// keysetJSON is the serialised form. JSON keeps the sealed format inspectable in a debugger
// after unwrapping and easy to extend; it is never stored unencrypted.
type keysetJSON struct {
	Format    int          `json:"format"`
	Created   time.Time    `json:"created"`
	Primary   int          `json:"primary"`
	Masters   []masterJSON `json:"masters"`
	IndexKey  []byte       `json:"index_key"`
	AuditSeed []byte       `json:"audit_seed"`
	// ReceiptSeed is absent in keysets sealed before consent receipts existed.
	ReceiptSeed []byte `json:"receipt_seed,omitempty"`
}

type masterJSON struct {
	Version int       `json:"version"`
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
}

// SealKeyset serialises ks and wraps it with root under the associated data "steward keyset v1".
// The plaintext serialisation is cleared afterwards on a best-effort basis; Go cannot guarantee
// that no copy survives elsewhere in memory.
func SealKeyset(ctx context.Context, root Root, ks *Keyset) ([]byte, error) {
	if root == nil || ks == nil {
		return nil, errors.New("vault: seal keyset: root and keyset are required")
	}
	ks.mu.Lock()
	kj := keysetJSON{
		Format:    keysetFormat,
		Created:   ks.created,
		Primary:   ks.primary,
		IndexKey:  slices.Clone(ks.indexKey[:]),
		AuditSeed: slices.Clone(ks.auditSeed[:]),
	}
	if ks.hasReceipt {
		kj.ReceiptSeed = slices.Clone(ks.receiptSeed[:])
	}
	for v, mk := range ks.masters {
		kj.Masters = append(kj.Masters, masterJSON{Version: v, Key: slices.Clone(mk.key[:]), Created: mk.created})
	}
	ks.mu.Unlock()
	defer func() {
		clear(kj.IndexKey)
		clear(kj.AuditSeed)
		clear(kj.ReceiptSeed)
		for _, m := range kj.Masters {
			clear(m.Key)
		}
	}()
	slices.SortFunc(kj.Masters, func(a, b masterJSON) int { return a.Version - b.Version })

	plain, err := json.Marshal(kj)
	if err != nil {
		return nil, fmt.Errorf("vault: encode keyset: %w", err)
	}
	defer clear(plain)
	blob, err := root.Wrap(ctx, plain, []byte(keysetAD))
	if err != nil {
		return nil, fmt.Errorf("vault: wrap keyset with %s root: %w", root.Name(), err)
	}
	return blob, nil
}

// OpenKeyset unwraps a blob made by SealKeyset and validates it fully, so that a keyset that
// would fail later (a missing primary, a short key) fails here, at startup, instead.
func OpenKeyset(ctx context.Context, root Root, blob []byte) (*Keyset, error) {
	if root == nil {
		return nil, errors.New("vault: open keyset: root is required")
	}
	plain, err := root.Unwrap(ctx, blob, []byte(keysetAD))
	if err != nil {
		return nil, fmt.Errorf("vault: unwrap keyset with %s root: %w", root.Name(), err)
	}
	defer clear(plain)
	var kj keysetJSON
	if err := json.Unmarshal(plain, &kj); err != nil {
		// The json error could quote input bytes, which here are keys; report only the fact.
		return nil, errors.New("vault: keyset is not valid json")
	}
	defer func() {
		clear(kj.IndexKey)
		clear(kj.AuditSeed)
		clear(kj.ReceiptSeed)
		for _, m := range kj.Masters {
			clear(m.Key)
		}
	}()
	if kj.Format != keysetFormat {
		return nil, fmt.Errorf("vault: unsupported keyset format %d", kj.Format)
	}
	if len(kj.IndexKey) != keySize {
		return nil, errors.New("vault: keyset index key has the wrong length")
	}
	if len(kj.AuditSeed) != ed25519.SeedSize {
		return nil, errors.New("vault: keyset audit seed has the wrong length")
	}
	if len(kj.ReceiptSeed) != 0 && len(kj.ReceiptSeed) != ed25519.SeedSize {
		return nil, errors.New("vault: keyset receipt seed has the wrong length")
	}
	ks := &Keyset{created: kj.Created, primary: kj.Primary, masters: make(map[int]masterKey, len(kj.Masters))}
	copy(ks.indexKey[:], kj.IndexKey)
	copy(ks.auditSeed[:], kj.AuditSeed)
	if len(kj.ReceiptSeed) == ed25519.SeedSize {
		copy(ks.receiptSeed[:], kj.ReceiptSeed)
		ks.hasReceipt = true
	}
	for _, m := range kj.Masters {
		if m.Version < 1 || uint64(m.Version) > math.MaxUint32 {
			return nil, fmt.Errorf("vault: keyset has invalid master version %d", m.Version)
		}
		if _, dup := ks.masters[m.Version]; dup {
			return nil, fmt.Errorf("vault: keyset has master version %d twice", m.Version)
		}
		if len(m.Key) != keySize {
			return nil, fmt.Errorf("vault: keyset master version %d has the wrong length", m.Version)
		}
		mk := masterKey{created: m.Created}
		copy(mk.key[:], m.Key)
		ks.masters[m.Version] = mk
	}
	if _, ok := ks.masters[ks.primary]; !ok {
		return nil, fmt.Errorf("vault: keyset primary master version %d is missing", ks.primary)
	}
	return ks, nil
}
