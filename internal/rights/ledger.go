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
	"sync"
	"time"
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
	// recorded is a no-op.
	Append(ctx context.Context, e LedgerEntry) error
	// Entries returns every recorded entry, oldest first, after checking the file's integrity.
	Entries(ctx context.Context) ([]LedgerEntry, error)
}

// LedgerFile is the erasure ledger kept as a file of JSON lines in the data directory, apart
// from the database files that backups capture and restores replace. Each line carries a MAC
// chained over the previous line's, under a key derived from the keyset, so an edited, removed
// or reordered line is detected (a later restore refuses to run on a broken ledger rather than
// silently bring someone back).
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

// Append implements Ledger. The line is fsynced before Append returns.
func (f *LedgerFile) Append(ctx context.Context, e LedgerEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fh, err := os.OpenFile(f.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open erasure ledger: %w", err)
	}
	defer fh.Close()
	// Another process (the command line next to a server) may append too: an exclusive
	// lock orders the appends so the MAC chain never forks.
	if err := lockFile(fh); err != nil {
		return fmt.Errorf("lock erasure ledger: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	if f.ids == nil || st.Size() != f.size {
		lines, valid, err := f.read()
		if err != nil {
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
	if f.ids[e.CustomerID] {
		return nil
	}
	l := ledgerLine{CustomerID: e.CustomerID, ErasedAt: e.ErasedAt.UTC(), RequestID: e.RequestID, Reason: e.Reason, Hashes: e.Hashes, Marketing: e.Marketing, Prev: f.prev}
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
	return nil
}

// Entries implements Ledger.
func (f *LedgerFile) Entries(ctx context.Context) ([]LedgerEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lines, _, err := f.read()
	if err != nil {
		return nil, err
	}
	out := make([]LedgerEntry, len(lines))
	for i, l := range lines {
		out[i] = LedgerEntry{CustomerID: l.CustomerID, ErasedAt: l.ErasedAt, RequestID: l.RequestID, Reason: l.Reason, Hashes: l.Hashes, Marketing: l.Marketing}
	}
	return out, nil
}

// ErrLedgerBroken reports an erasure ledger file whose chain of MACs does not verify.
var ErrLedgerBroken = errors.New("erasure ledger file is damaged or was edited")

// read parses and verifies every line. A final line without its newline is a write torn by a
// crash before its fsync returned, so it was never acknowledged: it is ignored.
func (f *LedgerFile) read() ([]ledgerLine, int64, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read erasure ledger: %w", err)
	}
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	var out []ledgerLine
	prev := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var l ledgerLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, 0, fmt.Errorf("%w: line %d is not a ledger entry", ErrLedgerBroken, n)
		}
		want := hex.EncodeToString(f.MAC(l.content()))
		if l.Prev != prev || !hmac.Equal([]byte(want), []byte(l.MAC)) {
			return nil, 0, fmt.Errorf("%w: line %d does not verify", ErrLedgerBroken, n)
		}
		prev = l.MAC
		out = append(out, l)
	}
	return out, int64(len(b)), sc.Err()
}
