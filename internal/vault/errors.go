package vault

import "errors"

// ErrDecrypt is wrapped by every failure to authenticate a ciphertext, a wrapped data key or a
// sealed keyset. A single sentinel lets callers tell "this data is corrupt, moved or keyed by
// something else" apart from operational failures (a Vault server being down) without the
// error ever saying which byte or which key was wrong.
var ErrDecrypt = errors.New("vault: ciphertext does not open")
