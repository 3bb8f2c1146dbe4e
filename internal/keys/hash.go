package keys

import "github.com/stewardhq/steward/internal/vault"

// KeyedHash returns the untruncated keyed hash of data for label (see vault.Vault.KeyedHash).
func (m *Manager) KeyedHash(label string, data []byte) []byte {
	v, _ := m.vault()
	return v.KeyedHash(label, data)
}

// Root returns the root key that protects the keyset; backups wrap their own key with it so
// that a backup file never holds a key that opens it.
func (m *Manager) Root() vault.Root { return m.root }
