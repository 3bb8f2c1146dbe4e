package keys

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
)

// Store keeps the wrapped keyset. Only one keyset exists per installation.
type Store interface {
	// LoadKeyset returns the wrapped keyset and the blind-index width chosen at init.
	// Returns NotFound before init.
	LoadKeyset(ctx context.Context) (blob []byte, indexBits int, err error)
	// SaveKeyset stores the wrapped keyset with its audit entries. prev is the blob being
	// replaced, nil at init: the save fails with Conflict when the stored keyset is not prev,
	// so two rotations at once cannot both win and orphan each other's data keys.
	SaveKeyset(ctx context.Context, blob []byte, indexBits int, prev []byte, entries []audit.Entry) error
}

// Manager is safe for concurrent use.
type Manager struct {
	root  vault.Root
	store Store
	// RefreshInterval overrides RefreshEvery; set it before use.
	RefreshInterval time.Duration

	mu       sync.RWMutex
	ks       *vault.Keyset
	v        *vault.Vault
	loadedAt time.Time
	blob     []byte // the wrapped keyset last loaded, to notice a rotation cheaply
}

// ActionReceiptKeyCreate is the audit action written when an installation made before consent
// receipts existed gets its receipt signing key.
const ActionReceiptKeyCreate = "keys.receipt_key_create"

// RefreshEvery is how stale a node's keyset may get, by default, before it re-reads it when
// making a new data key, so that after a rotation on another node new customers are wrapped
// by the new master within this long, without a restart.
const RefreshEvery = 10 * time.Second

// Init creates and stores a new keyset. indexBits is the blind-index width; 0 plans it for the
// default expected size.
func Init(ctx context.Context, root vault.Root, store Store, indexBits int) (*Manager, error) {
	ks, err := vault.NewKeyset()
	if err != nil {
		return nil, err
	}
	if indexBits == 0 {
		indexBits = vault.PlanIndexBits(vault.DefaultPlannedRows, vault.DefaultTargetCandidates)
	}
	blob, err := vault.SealKeyset(ctx, root, ks)
	if err != nil {
		return nil, fmt.Errorf("seal keyset: %w", err)
	}
	entry := audit.New(ctx, audit.ActionInit, "", nil, "")
	if err := store.SaveKeyset(ctx, blob, indexBits, nil, []audit.Entry{entry}); err != nil {
		return nil, err
	}
	return Open(ctx, root, store)
}

// Open loads the stored keyset through root.
func Open(ctx context.Context, root vault.Root, store Store) (*Manager, error) {
	m := &Manager{root: root, store: store}
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Reload reads the keyset again, which is how a node learns of a rotation done by another.
func (m *Manager) Reload(ctx context.Context) error {
	blob, bits, err := m.store.LoadKeyset(ctx)
	if err != nil {
		return err
	}
	ks, err := vault.OpenKeyset(ctx, m.root, blob)
	if err != nil {
		return fmt.Errorf("open keyset with the %s root key: %w", m.root.Name(), err)
	}
	v, err := vault.New(ks, vault.Options{IndexBits: bits})
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.ks, m.v, m.blob, m.loadedAt = ks, v, blob, time.Now()
	m.mu.Unlock()
	return nil
}

func (m *Manager) vault() (*vault.Vault, *vault.Keyset) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.v, m.ks
}

// NewDataKey makes a data key for a new customer, wrapped by the primary master key.
func (m *Manager) NewDataKey(customerID string) (*vault.DataKey, vault.WrappedKey, error) {
	m.mu.RLock()
	every := m.RefreshInterval
	if every <= 0 {
		every = RefreshEvery
	}
	stale := time.Since(m.loadedAt) > every
	m.mu.RUnlock()
	if stale {
		// A failed refresh keeps the keyset this node has: its master still opens and wraps.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = m.Refresh(ctx)
		cancel()
	}
	v, _ := m.vault()
	return v.NewDataKey(customerID)
}

// Refresh re-reads the keyset if another node changed it since this node loaded it. It opens
// the keyset through the root key (and a KMS behind it) only when the stored one differs.
func (m *Manager) Refresh(ctx context.Context) error {
	blob, _, err := m.store.LoadKeyset(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	same := bytes.Equal(blob, m.blob)
	if same {
		m.loadedAt = time.Now()
	}
	m.mu.Unlock()
	if same {
		return nil
	}
	return m.Reload(ctx)
}

// OpenDataKey unwraps a customer's data key, reloading the keyset first when the key was
// wrapped by a master version this node has not seen yet.
func (m *Manager) OpenDataKey(ctx context.Context, customerID string, w vault.WrappedKey) (*vault.DataKey, error) {
	v, ks := m.vault()
	if !slices.Contains(ks.Versions(), w.MasterVersion) {
		if err := m.Reload(ctx); err != nil {
			return nil, err
		}
		v, _ = m.vault()
	}
	return v.OpenDataKey(customerID, w)
}

// BlindIndex computes the look-up token for a normalised value.
func (m *Manager) BlindIndex(field string, normalized []byte) int64 {
	v, _ := m.vault()
	return v.BlindIndex(field, normalized)
}

// IdentityToken computes the full-width token of a normalised identifier (see
// vault.IdentityToken).
func (m *Manager) IdentityToken(kind string, normalized []byte) []byte {
	v, _ := m.vault()
	return v.IdentityToken(kind, normalized)
}

// SearchHash computes the keyed hash a search token is cut from (see vault.SearchHash).
func (m *Manager) SearchHash(kind string, normalized []byte) uint64 {
	v, _ := m.vault()
	return v.SearchHash(kind, normalized)
}

// IndexBits is the blind-index width in force.
func (m *Manager) IndexBits() int {
	v, _ := m.vault()
	return v.IndexBits()
}

// AuditSigningKey signs audit checkpoints.
func (m *Manager) AuditSigningKey() ed25519.PrivateKey {
	v, _ := m.vault()
	return v.AuditSigningKey()
}

// EnsureReceiptKey gives a keyset made before consent receipts existed its receipt signing
// key: it adds the key to a fresh copy of the stored keyset, stores it (only if nobody changed
// the keyset meanwhile, so two nodes starting at once agree on one key) and reloads. It does
// nothing when the key exists. Call it once the audit sealer is installed, since the change is
// audited.
func (m *Manager) EnsureReceiptKey(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		_, ks := m.vault()
		if ks.HasReceiptKey() {
			return nil
		}
		prev, bits, err := m.store.LoadKeyset(ctx)
		if err != nil {
			return err
		}
		fresh, err := vault.OpenKeyset(ctx, m.root, prev)
		if err != nil {
			return fmt.Errorf("open keyset with the %s root key: %w", m.root.Name(), err)
		}
		if fresh.AddReceiptKey() {
			blob, err := vault.SealKeyset(ctx, m.root, fresh)
			if err != nil {
				return fmt.Errorf("seal keyset: %w", err)
			}
			entry := audit.New(authz.WithActor(ctx, authz.System), ActionReceiptKeyCreate, "", nil, "")
			err = m.store.SaveKeyset(ctx, blob, bits, prev, []audit.Entry{entry})
			if problem.Is(err, problem.Conflict) && attempt < 3 {
				continue // another node changed the keyset first: start again from its version
			}
			if err != nil {
				return fmt.Errorf("store keyset with a receipt key: %w", err)
			}
		}
		if err := m.Reload(ctx); err != nil {
			return err
		}
	}
}

// ReceiptSigningKey signs consent receipts; nil until EnsureReceiptKey has run on a keyset
// made before receipts existed.
func (m *Manager) ReceiptSigningKey() ed25519.PrivateKey {
	v, _ := m.vault()
	return v.ReceiptSigningKey()
}

// ReceiptPublicKey verifies consent receipts; it is published for anyone to check them.
func (m *Manager) ReceiptPublicKey() ed25519.PublicKey {
	v, _ := m.vault()
	return v.ReceiptPublicKey()
}

// KeyedHash is the full-width keyed hash of data under label's key (see vault.KeyedHash).
func (m *Manager) KeyedHash(label string, data []byte) []byte {
	v, _ := m.vault()
	return v.KeyedHash(label, data)
}

// AuditPublicKey verifies audit checkpoints; it is safe to publish.
func (m *Manager) AuditPublicKey() ed25519.PublicKey {
	v, _ := m.vault()
	return v.AuditPublicKey()
}

// PrimaryVersion is the master key version that wraps new data keys.
func (m *Manager) PrimaryVersion() int {
	_, ks := m.vault()
	return ks.Primary()
}

// Rotate adds a new primary master key and stores the keyset. Data keys keep opening under
// their old master version until Rewrap moves them.
func (m *Manager) Rotate(ctx context.Context) (int, error) {
	prev, bits, err := m.store.LoadKeyset(ctx)
	if err != nil {
		return 0, err
	}
	ks, err := vault.OpenKeyset(ctx, m.root, prev)
	if err != nil {
		return 0, fmt.Errorf("open keyset with the %s root key: %w", m.root.Name(), err)
	}
	version := ks.Rotate()
	blob, err := vault.SealKeyset(ctx, m.root, ks)
	if err != nil {
		return 0, fmt.Errorf("seal keyset: %w", err)
	}
	entry := audit.New(ctx, audit.ActionKeysRotate, "", nil, "")
	if err := m.store.SaveKeyset(ctx, blob, bits, prev, []audit.Entry{entry}); err != nil {
		return 0, err
	}
	return version, m.Reload(ctx)
}

// RewrapBatch rewraps up to limit customers' data keys after cursor to the primary master and
// returns the next cursor ("" when done) and how many keys it looked at. Running it again
// from any cursor is safe, which makes the rewrap job resumable.
func (m *Manager) RewrapBatch(ctx context.Context, ks customer.KeyStore, cursor string, limit int) (string, int, error) {
	keys, err := ks.CustomerKeys(ctx, cursor, limit)
	if err != nil {
		return cursor, 0, err
	}
	if len(keys) == 0 {
		return "", 0, nil
	}
	v, _ := m.vault()
	changed := make([]customer.WrappedKey, 0, len(keys))
	for _, k := range keys {
		w, moved, err := v.Rewrap(k.CustomerID, vault.WrappedKey{MasterVersion: k.MasterVersion, Blob: k.Key})
		if err != nil {
			return cursor, 0, problem.Wrap(problem.Internal, err, "rewrap failed")
		}
		if moved {
			changed = append(changed, customer.WrappedKey{CustomerID: k.CustomerID, MasterVersion: w.MasterVersion, Key: w.Blob, OldVersion: k.MasterVersion})
		}
	}
	if len(changed) > 0 {
		if err := ks.RewrapCustomerKeys(ctx, changed); err != nil {
			return cursor, 0, err
		}
	}
	next := keys[len(keys)-1].CustomerID
	if len(keys) < limit {
		next = ""
	}
	return next, len(keys), nil
}
