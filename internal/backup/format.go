package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// magic starts every backup file; the digit is the format version.
const magic = "STEWARD-BACKUP-1"

// chunkSize is the plaintext size of each sealed chunk: large enough that the per-chunk cost
// vanishes, small enough that verification never holds much in memory.
const chunkSize = 1 << 20

// keyAD binds the wrapped backup key to its use, so a root-wrapped blob made for anything else
// (the keyset) cannot be passed off as a backup key.
var keyAD = []byte("steward backup key v1")

// Root is the part of the key hierarchy a backup needs: vault.Root.
type Root interface {
	Wrap(ctx context.Context, plaintext, associated []byte) ([]byte, error)
	Unwrap(ctx context.Context, ciphertext, associated []byte) ([]byte, error)
	Name() string
}

// Header describes a backup. It is authenticated: every chunk's associated data includes its
// hash.
type Header struct {
	Format     int       `json:"format"`
	Engine     string    `json:"engine"`
	CreatedAt  time.Time `json:"created_at"`
	Root       string    `json:"root"`
	WrappedKey []byte    `json:"wrapped_key"`
	Nonce      []byte    `json:"nonce_prefix"`
	Files      []string  `json:"files"`
}

// File is one file to put into a backup.
type File struct {
	Name string // name inside the backup, e.g. steward.db
	Path string // where it is read from, unless Stream is set
	// Stream, when set, writes the file's Size bytes instead: a database image read straight
	// from the engine, with no copy on disk first.
	Stream func(w io.Writer) error
	Size   int64
}

// ErrCorrupt reports a backup file that is damaged, truncated, tampered with or not a backup.
var ErrCorrupt = errors.New("backup file is corrupt or was tampered with")

// Write writes an encrypted backup of files to w.
func Write(ctx context.Context, w io.Writer, root Root, engine string, files []File) (Header, error) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	defer clear(key)
	wrapped, err := root.Wrap(ctx, key, keyAD)
	if err != nil {
		return Header{}, fmt.Errorf("wrap backup key: %w", err)
	}
	h := Header{Format: 1, Engine: engine, CreatedAt: time.Now().UTC().Truncate(time.Second), Root: root.Name(), WrappedKey: wrapped, Nonce: make([]byte, 4)}
	_, _ = rand.Read(h.Nonce)
	for _, f := range files {
		h.Files = append(h.Files, f.Name)
	}
	hb, _ := json.Marshal(h)
	var pre bytes.Buffer
	pre.WriteString(magic)
	_ = binary.Write(&pre, binary.BigEndian, uint32(len(hb)))
	pre.Write(hb)
	if _, err := w.Write(pre.Bytes()); err != nil {
		return h, err
	}
	sw, err := newSealer(w, key, h.Nonce, hb)
	if err != nil {
		return h, err
	}
	tw := tar.NewWriter(sw)
	for _, f := range files {
		if err := addFile(tw, f); err != nil {
			return h, err
		}
	}
	if err := tw.Close(); err != nil {
		return h, err
	}
	return h, sw.Close()
}

func addFile(tw *tar.Writer, f File) error {
	if f.Stream != nil {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: 0o600, Size: f.Size, ModTime: time.Now().UTC().Truncate(time.Second), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		// The tar writer refuses more than Size bytes, and Close or the next header fewer.
		return f.Stream(tw)
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: 0o600, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.Copy(tw, fh)
	return err
}

// Read verifies the whole backup in r and extracts its files into dir (which must exist). If
// anything fails to verify, Read returns ErrCorrupt and removes what it extracted: a restore
// starts only from a backup that verified to the last byte.
func Read(ctx context.Context, r io.Reader, root Root, dir string) (Header, error) {
	h, err := read(ctx, r, root, func(name string, content io.Reader) error {
		if name != filepath.Base(name) || strings.HasPrefix(name, ".") {
			return fmt.Errorf("%w: bad file name in backup", ErrCorrupt)
		}
		out, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, content); err != nil {
			out.Close()
			return err
		}
		if err := out.Sync(); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		for _, f := range h.Files {
			_ = os.Remove(filepath.Join(dir, filepath.Base(f)))
		}
	}
	return h, err
}

// Verify checks every chunk of the backup in r without writing anything.
func Verify(ctx context.Context, r io.Reader, root Root) (Header, error) {
	return read(ctx, r, root, func(string, io.Reader) error { return nil })
}

func read(ctx context.Context, r io.Reader, root Root, each func(name string, content io.Reader) error) (Header, error) {
	var h Header
	pre := make([]byte, len(magic)+4)
	if _, err := io.ReadFull(r, pre); err != nil || string(pre[:len(magic)]) != magic {
		return h, fmt.Errorf("%w: not a Steward backup", ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(pre[len(magic):])
	if n > 1<<20 {
		return h, fmt.Errorf("%w: header too large", ErrCorrupt)
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(r, hb); err != nil {
		return h, fmt.Errorf("%w: header truncated", ErrCorrupt)
	}
	if err := json.Unmarshal(hb, &h); err != nil || h.Format != 1 || len(h.Nonce) != 4 {
		return h, fmt.Errorf("%w: unreadable header", ErrCorrupt)
	}
	key, err := root.Unwrap(ctx, h.WrappedKey, keyAD)
	if err != nil {
		return h, fmt.Errorf("%w: the backup key does not open with the %s root key (another installation's backup, or a tampered header)", ErrCorrupt, root.Name())
	}
	defer clear(key)
	or, err := newOpener(r, key, h.Nonce, hb)
	if err != nil {
		return h, err
	}
	tr := tar.NewReader(or)
	seen := 0
	for {
		th, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return h, corrupt(err)
		}
		if seen >= len(h.Files) || th.Name != h.Files[seen] {
			return h, fmt.Errorf("%w: unexpected file in backup", ErrCorrupt)
		}
		seen++
		if err := each(th.Name, tr); err != nil {
			return h, corrupt(err)
		}
	}
	if seen != len(h.Files) {
		return h, fmt.Errorf("%w: files missing", ErrCorrupt)
	}
	// Drain to the final chunk: a backup cut after the tar end is as corrupt as one cut before.
	if _, err := io.Copy(io.Discard, or); err != nil {
		return h, corrupt(err)
	}
	return h, nil
}

func corrupt(err error) error {
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "tar") {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return err
}

// sealer encrypts a stream in chunks with AES-256-GCM. The nonce is a random prefix and the
// chunk counter; the associated data is the header hash and a final-chunk flag, so chunks
// cannot be reordered, dropped, moved between backups, or the stream cut short.
type sealer struct {
	w      io.Writer
	aead   cipher.AEAD
	prefix []byte
	hh     [32]byte
	n      uint64
	buf    []byte
	out    []byte
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func newSealer(w io.Writer, key, prefix, header []byte) (*sealer, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &sealer{w: w, aead: a, prefix: prefix, hh: sha256.Sum256(header), buf: make([]byte, 0, chunkSize)}, nil
}

func chunkNonce(prefix []byte, n uint64) []byte {
	nonce := make([]byte, 12)
	copy(nonce, prefix)
	binary.BigEndian.PutUint64(nonce[4:], n)
	return nonce
}

func chunkAD(hh [32]byte, final bool) []byte {
	ad := append([]byte{}, hh[:]...)
	if final {
		return append(ad, 1)
	}
	return append(ad, 0)
}

func (s *sealer) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(chunkSize-len(s.buf), len(p))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == chunkSize {
			if err := s.flush(false); err != nil {
				return 0, err
			}
		}
	}
	return total, nil
}

func (s *sealer) flush(final bool) error {
	s.out = s.aead.Seal(s.out[:0], chunkNonce(s.prefix, s.n), s.buf, chunkAD(s.hh, final))
	s.n++
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(s.out)))
	if _, err := s.w.Write(l[:]); err != nil {
		return err
	}
	_, err := s.w.Write(s.out)
	s.buf = s.buf[:0]
	return err
}

// Close writes the final chunk (possibly empty).
func (s *sealer) Close() error { return s.flush(true) }

type opener struct {
	r      io.Reader
	aead   cipher.AEAD
	prefix []byte
	hh     [32]byte
	n      uint64
	plain  []byte
	ct     []byte
	done   bool
}

func newOpener(r io.Reader, key, prefix, header []byte) (*opener, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &opener{r: r, aead: a, prefix: prefix, hh: sha256.Sum256(header)}, nil
}

func (o *opener) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.done {
			return 0, io.EOF
		}
		if err := o.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}

func (o *opener) next() error {
	var l [4]byte
	if _, err := io.ReadFull(o.r, l[:]); err != nil {
		return fmt.Errorf("%w: truncated (chunk %d missing)", ErrCorrupt, o.n)
	}
	size := binary.BigEndian.Uint32(l[:])
	if size > chunkSize+uint32(o.aead.Overhead()) || size < uint32(o.aead.Overhead()) {
		return fmt.Errorf("%w: chunk %d has a bad length", ErrCorrupt, o.n)
	}
	if cap(o.ct) < int(size) {
		o.ct = make([]byte, size)
	}
	o.ct = o.ct[:size]
	if _, err := io.ReadFull(o.r, o.ct); err != nil {
		return fmt.Errorf("%w: truncated in chunk %d", ErrCorrupt, o.n)
	}
	nonce := chunkNonce(o.prefix, o.n)
	pt, err := o.aead.Open(nil, nonce, o.ct, chunkAD(o.hh, false))
	if err != nil {
		pt, err = o.aead.Open(nil, nonce, o.ct, chunkAD(o.hh, true))
		if err != nil {
			return fmt.Errorf("%w: chunk %d does not authenticate", ErrCorrupt, o.n)
		}
		o.done = true
		var one [1]byte
		if n, _ := o.r.Read(one[:]); n > 0 {
			return fmt.Errorf("%w: data after the final chunk", ErrCorrupt)
		}
	}
	o.n++
	o.plain = pt
	return nil
}
