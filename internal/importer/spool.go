package importer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/stewardhq/steward/internal/vault"
)

// An uploaded file is spooled to disk while its job runs, because a job may have to read it
// again after a restart. It holds personal data, so it is sealed like every other copy: in
// chunks of spoolChunk bytes, each an AEAD ciphertext under a data key made for this upload
// alone (wrapped by the master key and kept with the import's row), bound to the upload, the
// chunk's position and whether it is the last chunk. A chunk moved, dropped or appended, or a
// file cut short, fails to open.
//
// Frame: 4-byte big-endian length of the sealed chunk, then the sealed chunk.

const (
	spoolChunk = 64 << 10
	spoolTable = "import_spool"
)

// spoolWriter seals what is written to it.
type spoolWriter struct {
	w   *bufio.Writer
	dk  *vault.DataKey
	id  string
	buf []byte
	n   int
}

func newSpoolWriter(w io.Writer, dk *vault.DataKey, id string) *spoolWriter {
	return &spoolWriter{w: bufio.NewWriterSize(w, spoolChunk+64), dk: dk, id: id, buf: make([]byte, 0, spoolChunk)}
}

func (s *spoolWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(spoolChunk-len(s.buf), len(p))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == spoolChunk {
			if err := s.seal(false); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

func chunkField(last bool) string {
	if last {
		return "last"
	}
	return "chunk"
}

func (s *spoolWriter) seal(last bool) error {
	ct, err := s.dk.Seal(spoolTable, chunkField(last), s.id+"/"+strconv.Itoa(s.n), s.buf)
	if err != nil {
		return err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(ct)))
	if _, err := s.w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := s.w.Write(ct); err != nil {
		return err
	}
	s.n++
	s.buf = s.buf[:0]
	return nil
}

// Close seals the last chunk (possibly empty) and flushes; it does not close the file.
func (s *spoolWriter) Close() error {
	if err := s.seal(true); err != nil {
		return err
	}
	return s.w.Flush()
}

// spoolReader opens a spooled upload chunk by chunk.
type spoolReader struct {
	r    *bufio.Reader
	dk   *vault.DataKey
	id   string
	n    int
	buf  []byte
	last bool
}

func newSpoolReader(r io.Reader, dk *vault.DataKey, id string) *spoolReader {
	return &spoolReader{r: bufio.NewReaderSize(r, spoolChunk+64), dk: dk, id: id}
}

var errSpoolDamaged = errors.New("the spooled upload is damaged")

func (s *spoolReader) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.last {
			return 0, io.EOF
		}
		var hdr [4]byte
		if _, err := io.ReadFull(s.r, hdr[:]); err != nil {
			return 0, fmt.Errorf("%w: it ends before its last chunk", errSpoolDamaged)
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size > spoolChunk+1024 {
			return 0, fmt.Errorf("%w: chunk %d is too large", errSpoolDamaged, s.n)
		}
		ct := make([]byte, size)
		if _, err := io.ReadFull(s.r, ct); err != nil {
			return 0, fmt.Errorf("%w: it ends inside chunk %d", errSpoolDamaged, s.n)
		}
		cell := s.id + "/" + strconv.Itoa(s.n)
		pt, err := s.dk.Open(spoolTable, chunkField(false), cell, ct)
		if err != nil {
			if pt, err = s.dk.Open(spoolTable, chunkField(true), cell, ct); err != nil {
				return 0, fmt.Errorf("%w: chunk %d does not open", errSpoolDamaged, s.n)
			}
			s.last = true
		}
		s.n++
		s.buf = pt
	}
	k := copy(p, s.buf)
	s.buf = s.buf[k:]
	return k, nil
}
