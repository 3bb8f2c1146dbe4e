package store_test

import (
	"github.com/stewardhq/steward/internal/keys"
	"github.com/stewardhq/steward/internal/store"
)

// Keysets implements keys.Store. The assertion lives in a test because the keys package
// imports the vault, which the engines never do.
var _ keys.Store = (*store.Keysets)(nil)
