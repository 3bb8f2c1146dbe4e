package vault

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Root protects the keyset. It is deliberately tiny, two operations on small blobs, so that it
// can be backed by anything from a key file to an external KMS without the rest of the
// hierarchy knowing which. Implementations must authenticate associated so that a blob sealed
// for one purpose cannot be unwrapped for another.
type Root interface {
	// Wrap encrypts and authenticates plaintext, binding associated to the result.
	Wrap(ctx context.Context, plaintext, associated []byte) ([]byte, error)
	// Unwrap reverses Wrap. It fails if ciphertext or associated differ from what Wrap saw.
	Unwrap(ctx context.Context, ciphertext, associated []byte) ([]byte, error)
	// Name identifies the root in logs and status output, e.g. "local" or
	// "vault-transit:steward". It never contains secrets.
	Name() string
}

// localRootHeaderLen is the format byte that starts a blob wrapped by the local root.
const localRootHeaderLen = 1

// localRoot wraps with AES-256-GCM under a key read from a file. Only the AEAD is kept, not the
// raw key bytes, so the key is not lying around in a second place in memory.
type localRoot struct {
	aead cipher.AEAD
}

// CreateLocalRoot writes a new random 32-byte root key to path with mode 0600. It refuses to
// overwrite an existing file because replacing a root key silently makes every keyset sealed
// under it unreadable; it fsyncs the file and its directory because losing the key after a crash
// would be just as final.
func CreateLocalRoot(path string) (err error) {
	var key [keySize]byte
	defer clear(key[:])
	// crypto/rand.Read never fails on supported platforms; it aborts the program instead.
	_, _ = rand.Read(key[:])

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("vault: local root key %s already exists; refusing to overwrite it: %w", path, err)
		}
		return fmt.Errorf("vault: create local root key: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(path)
		}
	}()
	// The umask can only remove permission bits, but a chmod makes the intended mode explicit
	// even if the file was created on a filesystem that applies its own defaults.
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("vault: chmod local root key: %w", err)
	}
	if _, err = f.Write(key[:]); err != nil {
		return fmt.Errorf("vault: write local root key: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("vault: sync local root key: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("vault: close local root key: %w", err)
	}
	if err = syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("vault: sync directory of local root key: %w", err)
	}
	return nil
}

// syncDir makes a newly created directory entry durable; without it a crash can leave a
// synced file that no directory points to.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// OpenLocalRoot loads a root key written by CreateLocalRoot. It refuses a file that group or
// other can access, the same rule ssh applies to private keys, because a readable root key
// silently defeats encryption at rest; and it refuses a file of the wrong length, which usually
// means the wrong file was configured.
func OpenLocalRoot(path string) (Root, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vault: open local root key: %w", err)
	}
	defer func() { _ = f.Close() }()

	// Stat the open descriptor rather than the path so the checks apply to the bytes we read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vault: stat local root key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("vault: local root key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("vault: local root key %s has mode %04o; it must not be accessible by group or other (run chmod 600 %s)", path, perm, path)
	}

	// Read one byte more than expected so a longer file is detected without trusting Stat.
	buf := make([]byte, keySize+1)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("vault: read local root key: %w", err)
	}
	if n != keySize {
		return nil, fmt.Errorf("vault: local root key %s must be exactly %d bytes", path, keySize)
	}
	aead, err := newAEAD(buf[:keySize])
	if err != nil {
		return nil, err
	}
	return &localRoot{aead: aead}, nil
}

// Name reports "local"; the path is not included because it is configuration, not identity.
func (r *localRoot) Name() string { return "local" }

// Wrap seals plaintext as formatV1 ‖ nonce ‖ ciphertext ‖ tag. The format byte is part of the
// associated data so a future format cannot be substituted for this one.
func (r *localRoot) Wrap(_ context.Context, plaintext, associated []byte) ([]byte, error) {
	out := make([]byte, localRootHeaderLen, localRootHeaderLen+nonceSize+len(plaintext)+tagSize)
	out[0] = formatV1
	return r.aead.Seal(out, nil, plaintext, localRootAD(associated)), nil
}

// Unwrap opens a blob made by Wrap; every failure wraps ErrDecrypt.
func (r *localRoot) Unwrap(_ context.Context, ciphertext, associated []byte) ([]byte, error) {
	if len(ciphertext) < localRootHeaderLen+nonceSize+tagSize {
		return nil, fmt.Errorf("%w: local root blob is truncated", ErrDecrypt)
	}
	if ciphertext[0] != formatV1 {
		return nil, fmt.Errorf("%w: unknown local root blob format %d", ErrDecrypt, ciphertext[0])
	}
	pt, err := r.aead.Open(nil, nil, ciphertext[localRootHeaderLen:], localRootAD(associated))
	if err != nil {
		return nil, fmt.Errorf("%w: local root", ErrDecrypt)
	}
	return pt, nil
}

// localRootAD prefixes the caller's associated data with the format byte. The prefix is fixed
// length, so no length prefix is needed to keep the encoding unambiguous.
func localRootAD(associated []byte) []byte {
	ad := make([]byte, 0, 1+len(associated))
	ad = append(ad, formatV1)
	return append(ad, associated...)
}
