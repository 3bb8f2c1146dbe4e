package rights

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/audit"
)

// LedgerEntry records that a customer was erased. It holds the random customer id and keyed
// hashes of their look-up values only: nothing in it names or describes the person.
type LedgerEntry struct {
	CustomerID string    `json:"customer_id"`
	ErasedAt   time.Time `json:"erased_at"`
	RequestID  string    `json:"request_id,omitempty"`
	Reason     string    `json:"reason"`
	// Hashes are "kind:hex" keyed hashes (kind is the field, e.g. email) that go on the
	// suppression list.
	Hashes []string `json:"hashes,omitempty"`
	// Marketing are the marketing suppression entries the erasure made, as the consent ledger
	// encodes them (keyed hashes and blind-index tokens, never values), so that a restore
	// replays them too: without them a re-import after the restore could bring back marketing
	// consent the erasure had stopped.
	Marketing []string `json:"marketing,omitempty"`
	// State is "erasing" until every Part has run, then "erased".
	State       string    `json:"state,omitempty"`
	Report      Report    `json:"report"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
}

// Erasure states in the ledger.
const (
	LedgerErasing = "erasing"
	LedgerErased  = "erased"
)

// Ledger mirrors erasure ledger entries outside the database, so they survive the restore of
// a database backup taken before the erasure. Restore replays every entry it holds.
type Ledger interface {
	// Append records e durably before the erasure is carried out; appending an id already
	// recorded is a no-op. It refuses (ErrLedgerMissing, ErrLedgerBroken, ErrLedgerCut) to
	// start a new chain over one that was deleted, or to extend one that does not verify.
	Append(ctx context.Context, e LedgerEntry) error
	// Entries returns every recorded entry, oldest first, after checking the file's
	// integrity: ErrLedgerMissing when there is none, ErrLedgerBroken or ErrLedgerCut when
	// it was damaged, edited or shortened.
	Entries(ctx context.Context) ([]LedgerEntry, error)
	// Create makes an empty ledger when there is none at all, so that a missing one is
	// noticed later; it leaves an existing one (even a damaged one) alone.
	Create(ctx context.Context) error
	// SetAside moves the ledger away (renamed, never deleted) so that a new one can be
	// started, and returns where it went ("" when there was nothing to move).
	SetAside(ctx context.Context) (string, error)
}

// LedgerFile is the erasure ledger kept as a file of JSON lines in the data directory, apart
// from the database files that backups capture and restores replace. Each line carries its
// position and a MAC chained over the previous line's, under a key derived from the keyset
// (so it is in no file in clear), so an edited, removed or reordered line is detected. A
// small head file beside it holds the number of lines and the last line's MAC, under a MAC
// of its own: cutting lines off the end, or emptying the file, no longer leaves a shorter
// chain that verifies. What the head cannot catch is both files replaced by older copies of
// themselves; the restore compares the file with the database's own ledger for that.
type LedgerFile struct {
	Path string
	// MAC computes the keyed hash of a line's content; keys.Manager.KeyedHash with a fixed
	// label in production.
	MAC func(data []byte) []byte

	mu sync.Mutex
	// What the last read or append saw, reused while the file keeps the size it left: an
	// erasure then costs one append, not a read of every earlier line.
	size int64
	prev string
	ids  map[string]bool
}

type ledgerLine struct {
	// N is the line's position, from 1; lines written before heads existed have none.
	N          int64     `json:"n,omitempty"`
	CustomerID string    `json:"customer_id"`
	ErasedAt   time.Time `json:"erased_at"`
	RequestID  string    `json:"request_id,omitempty"`
	Reason     string    `json:"reason"`
	Hashes     []string  `json:"hashes,omitempty"`
	Marketing  []string  `json:"marketing,omitempty"`
	Prev       string    `json:"prev"`
	MAC        string    `json:"mac"`
}

func (l ledgerLine) content() []byte {
	l.MAC = ""
	b, _ := json.Marshal(l)
	return b
}

// ledgerHead vouches for the length of the chain: N lines, the last with MAC Last.
type ledgerHead struct {
	N    int64  `json:"n"`
	Last string `json:"last"`
	MAC  string `json:"mac"`
}

// headDomain keeps a head's MAC apart from every line's.
const headDomain = "erasure ledger head\x00"

func (h ledgerHead) content() []byte {
	h.MAC = ""
	b, _ := json.Marshal(h)
	return append([]byte(headDomain), b...)
}

// HeadPath is the head file beside the ledger: erasure-ledger.head for erasure-ledger.jsonl.
func (f *LedgerFile) HeadPath() string {
	return strings.TrimSuffix(f.Path, filepath.Ext(f.Path)) + ".head"
}

// Errors of the erasure ledger file. Each names what an operator must look into before a
// restore may trust the file.
var (
	// ErrLedgerBroken reports a file whose chain of MACs, or whose head, does not verify.
	ErrLedgerBroken = errors.New("erasure ledger file is damaged or was edited")
	// ErrLedgerCut reports a file holding fewer lines than its head vouches for: lines were
	// removed from its end, or it was emptied.
	ErrLedgerCut = errors.New("erasure ledger file was cut short")
	// ErrLedgerMissing reports that the file is not there (deleted, or never copied to this
	// data directory).
	ErrLedgerMissing = errors.New("erasure ledger file is missing")
)

// Append implements Ledger. The line is fsynced before Append returns, and the head after it.
func (f *LedgerFile) Append(ctx context.Context, e LedgerEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	head, err := f.readHead()
	if err != nil {
		return err
	}
	flags := os.O_RDWR | os.O_APPEND
	if head == nil {
		// Only a ledger without a head may be started here: one whose head remains was
		// deleted, and a new chain would hide that.
		flags |= os.O_CREATE
	}
	fh, err := os.OpenFile(f.Path, flags, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s is gone but its head %s remains", ErrLedgerMissing, filepath.Base(f.Path), filepath.Base(f.HeadPath()))
	}
	if err != nil {
		return fmt.Errorf("open erasure ledger: %w", err)
	}
	defer fh.Close()
	// Another process (the command line next to a server) may append too: an exclusive
	// lock orders the appends so the MAC chain never forks.
	if err := lockFile(fh); err != nil {
		return fmt.Errorf("lock erasure ledger: %w", err)
	}
	// The head is read again under the lock: another process may have moved it on.
	if head, err = f.readHead(); err != nil {
		return err
	}
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	if f.ids == nil || st.Size() != f.size {
		lines, valid, err := f.read(head)
		if err != nil {
			f.ids = nil
			return err
		}
		if valid < st.Size() {
			// A torn final line: a crash cut its write before the fsync returned, so it was
			// never acknowledged. Cut it off so the next line starts clean.
			if err := fh.Truncate(valid); err != nil {
				return fmt.Errorf("repair erasure ledger: %w", err)
			}
			st, err = fh.Stat()
			if err != nil {
				return err
			}
		}
		f.ids, f.prev = map[string]bool{}, ""
		for _, l := range lines {
			f.ids[l.CustomerID], f.prev = true, l.MAC
		}
		f.size = st.Size()
	}
	n := int64(len(f.ids))
	if f.ids[e.CustomerID] {
		if head == nil || head.N < n {
			// A head older than the file (a crash between the two writes, or a file
			// from before heads) is brought up to date.
			return f.writeHead(n, f.prev)
		}
		return nil
	}
	l := ledgerLine{N: n + 1, CustomerID: e.CustomerID, ErasedAt: e.ErasedAt.UTC(), RequestID: e.RequestID, Reason: e.Reason, Hashes: e.Hashes, Marketing: e.Marketing, Prev: f.prev}
	l.MAC = hex.EncodeToString(f.MAC(l.content()))
	b, _ := json.Marshal(l)
	b = append(b, '\n')
	if _, err := fh.Write(b); err != nil {
		f.ids = nil
		return fmt.Errorf("write erasure ledger: %w", err)
	}
	if err := fh.Sync(); err != nil {
		f.ids = nil
		return fmt.Errorf("sync erasure ledger: %w", err)
	}
	f.ids[e.CustomerID], f.prev, f.size = true, l.MAC, st.Size()+int64(len(b))
	return f.writeHead(l.N, l.MAC)
}

// Entries implements Ledger.
func (f *LedgerFile) Entries(ctx context.Context) ([]LedgerEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// The head first: a line appended meanwhile only makes the file longer than its head,
	// which is allowed; the other order could see a head newer than the lines read.
	head, err := f.readHead()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(f.Path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrLedgerMissing, f.Path)
	}
	lines, _, err := f.read(head)
	if err != nil {
		return nil, err
	}
	out := make([]LedgerEntry, len(lines))
	for i, l := range lines {
		out[i] = LedgerEntry{CustomerID: l.CustomerID, ErasedAt: l.ErasedAt, RequestID: l.RequestID, Reason: l.Reason, Hashes: l.Hashes, Marketing: l.Marketing}
	}
	return out, nil
}

// Create implements Ledger.
func (f *LedgerFile) Create(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ferr := os.Stat(f.Path)
	_, herr := os.Stat(f.HeadPath())
	if !errors.Is(ferr, os.ErrNotExist) || !errors.Is(herr, os.ErrNotExist) {
		return nil
	}
	fh, err := os.OpenFile(f.Path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil // another process made it first
	}
	if err != nil {
		return fmt.Errorf("create erasure ledger: %w", err)
	}
	defer fh.Close()
	if err := lockFile(fh); err != nil {
		return fmt.Errorf("lock erasure ledger: %w", err)
	}
	if err := fh.Sync(); err != nil {
		return fmt.Errorf("sync erasure ledger: %w", err)
	}
	f.ids = nil
	return f.writeHead(0, "")
}

// SetAside implements Ledger: the file and its head get the suffix .set-aside-TIME.
func (f *LedgerFile) SetAside(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = nil
	suffix := ".set-aside-" + time.Now().UTC().Format("20060102T150405")
	moved := ""
	for _, p := range []string{f.Path, f.HeadPath()} {
		err := os.Rename(p, p+suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return moved, fmt.Errorf("set erasure ledger aside: %w", err)
		}
		if moved == "" {
			moved = p + suffix
		}
	}
	return moved, nil
}

// readHead returns the verified head, or nil when there is none.
func (f *LedgerFile) readHead() (*ledgerHead, error) {
	b, err := os.ReadFile(f.HeadPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read erasure ledger head: %w", err)
	}
	var h ledgerHead
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%w: its head %s is not a ledger head", ErrLedgerBroken, filepath.Base(f.HeadPath()))
	}
	want := hex.EncodeToString(f.MAC(h.content()))
	if !hmac.Equal([]byte(want), []byte(h.MAC)) || h.N < 0 {
		return nil, fmt.Errorf("%w: its head %s does not verify", ErrLedgerBroken, filepath.Base(f.HeadPath()))
	}
	return &h, nil
}

// writeHead replaces the head in one rename, synced, so that a crash leaves the old head or
// the new one, never a torn one. The old head is at most one line behind the file, which
// read accepts.
func (f *LedgerFile) writeHead(n int64, last string) error {
	h := ledgerHead{N: n, Last: last}
	h.MAC = hex.EncodeToString(f.MAC(h.content()))
	b, _ := json.Marshal(h)
	path := f.HeadPath()
	tmp := path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write erasure ledger head: %w", err)
	}
	_, err = fh.Write(append(b, '\n'))
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write erasure ledger head: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// read parses and verifies every line against the chain and against head (nil when there is
// none). A final line without its newline is a write torn by a crash before its fsync
// returned, so it was never acknowledged: it is ignored. The file may hold more lines than
// the head vouches for (a crash between the line's write and the head's), never fewer.
func (f *LedgerFile) read(head *ledgerHead) ([]ledgerLine, int64, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		if head != nil {
			return nil, 0, fmt.Errorf("%w: %s is gone but its head %s remains", ErrLedgerMissing, filepath.Base(f.Path), filepath.Base(f.HeadPath()))
		}
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read erasure ledger: %w", err)
	}
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	var out []ledgerLine
	prev := ""
	numbered := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := int64(1); sc.Scan(); n++ {
		var l ledgerLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, 0, fmt.Errorf("%w: line %d is not a ledger entry", ErrLedgerBroken, n)
		}
		want := hex.EncodeToString(f.MAC(l.content()))
		if l.Prev != prev || !hmac.Equal([]byte(want), []byte(l.MAC)) || (l.N != 0 && l.N != n) || (numbered && l.N == 0) {
			return nil, 0, fmt.Errorf("%w: line %d does not verify", ErrLedgerBroken, n)
		}
		numbered = numbered || l.N != 0
		prev = l.MAC
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrLedgerBroken, err)
	}
	switch {
	case head == nil && numbered:
		return nil, 0, fmt.Errorf("%w: its head %s is missing", ErrLedgerBroken, filepath.Base(f.HeadPath()))
	case head != nil && int64(len(out)) < head.N:
		return nil, 0, fmt.Errorf("%w: it holds %d entries, its head vouches for %d", ErrLedgerCut, len(out), head.N)
	case head != nil && head.N > 0 && out[head.N-1].MAC != head.Last:
		return nil, 0, fmt.Errorf("%w: its head does not match line %d", ErrLedgerBroken, head.N)
	}
	return out, int64(len(b)), nil
}

// LedgerCheck is what a restore learns from the two erasure ledgers, the file and the
// database's own table, before it replaces the database.
type LedgerCheck struct {
	// Database is every entry of the database's ledger.
	Database []LedgerEntry
	// File holds the file's entries; FileErr says why the file cannot be trusted (missing,
	// cut short, damaged or edited), nil when it verifies.
	File    []LedgerEntry
	FileErr error
	// Missing counts the database's entries the file lacks.
	Missing int
}

// CheckLedger reads both erasure ledgers and compares them. It fails only when the database
// cannot be read; what is wrong with the file is in the result.
func (s *Service) CheckLedger(ctx context.Context) (LedgerCheck, error) {
	var c LedgerCheck
	var err error
	if c.Database, err = s.databaseLedger(ctx); err != nil {
		return c, err
	}
	if c.File, c.FileErr = s.ledger.Entries(ctx); c.FileErr != nil {
		return c, nil
	}
	in := make(map[string]bool, len(c.File))
	for _, e := range c.File {
		in[e.CustomerID] = true
	}
	for _, e := range c.Database {
		if !in[e.CustomerID] {
			c.Missing++
		}
	}
	return c, nil
}

// CreateLedger makes an empty ledger file when there is none and the database has recorded
// no erasure, so that installations which never erased anyone have a file whose later
// disappearance is noticed. With erasures recorded and no file, it leaves the gap for a
// restore to report.
func (s *Service) CreateLedger(ctx context.Context) error {
	page, err := s.store.LedgerEntries(ctx, "", 1)
	if err != nil || len(page) > 0 {
		return err
	}
	return s.ledger.Create(ctx)
}

// RebuildLedger sets the ledger file aside (it is renamed, for inspection) and writes it
// anew from the database's ledger. A restore does this only when the operator accepts that
// the file could not be trusted; it returns where the old file went.
// It is audited (ActionLedgerRebuild): a rebuilt file forgets whatever only the old one
// held, so who did it and when must be on record.
func (s *Service) RebuildLedger(ctx context.Context) (string, error) {
	moved, err := s.ledger.SetAside(ctx)
	if err != nil {
		return moved, err
	}
	if err := s.ledger.Create(ctx); err != nil {
		return moved, err
	}
	if err := s.SyncLedger(ctx); err != nil {
		return moved, err
	}
	e := audit.New(ctx, ActionLedgerRebuild, "", nil, "")
	e.Target = "erasure-ledger"
	return moved, s.audit.AppendAudit(ctx, e)
}

// ActionLedgerRebuild is the audit action of a ledger file rebuilt from the database.
const ActionLedgerRebuild = "erasure_ledger.rebuild"

// databaseLedger returns every entry of the database's ledger.
func (s *Service) databaseLedger(ctx context.Context) ([]LedgerEntry, error) {
	var out []LedgerEntry
	after := ""
	for {
		page, err := s.store.LedgerEntries(ctx, after, 500)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 500 {
			return out, nil
		}
		after = page[len(page)-1].CustomerID
	}
}
