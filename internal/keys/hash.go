package keys

import "github.com/stewardhq/steward/internal/vault"

// Root returns the root key that protects the keyset; backups wrap their own key with it so
// that a backup file never holds a key that opens it.
func (m *Manager) Root() vault.Root { return m.root }
