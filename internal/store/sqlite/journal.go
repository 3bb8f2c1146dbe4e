package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/store"
)

// The access journal takes the audit entries of reads off the single writer's commit path.
//
// A look-up, read or listing must be audited before its answer goes out, and nothing
// acknowledged may be lost. Written straight into the access trail, every look-up waited for
// a commit of the one SQLite writer: most of a look-up's time, and all of its tail when the
// writer was busy with creates or a checkpoint. Instead each read's entries are appended, in
// one write call, to a journal file in the data directory: once that returns they survive a
// crash of the process exactly as a committed SQLite transaction does under
// synchronous=NORMAL (in the operating system's cache; under FULL the journal is synced as
// the database would be). The writer links them onto the access chain at the start of its
// next transaction, ahead of that transaction's own entries (or a flush every journalEvery
// does, when nothing writes), and records in the same transaction how far each journal file
// is linked (journal_flushed). A file that appends have moved on from is deleted once wholly
// linked. A process that opens the database replays every journal file whose owner is gone
// (each owner holds an exclusive lock on its files) from the point its row records, so every
// entry is linked exactly once.
//
// Anything that reads the audit trail first flushes the journal (see syncAccess), so a read
// is in the trail by the time anyone can ask for it.
type accessJournal struct {
	core   store.Core
	read   *sql.DB // to find, at start, how far each file was linked
	prefix string  // path prefix of journal files; see journalSuffix
	full   bool    // sync every append, as synchronous=FULL syncs every commit

	mu      sync.Mutex
	cur     *journalFile   // the file appends go to
	files   []*journalFile // every file still held, oldest first; cur is last while open
	removed []string       // names of deleted files whose flush rows are still to be deleted
	waiting int            // entries appended and not yet linked
	seq     int
	closed  bool
	// mark records how far a file is linked; forget drops the row of a deleted file. stmts
	// are the two prepared, in that order.
	mark, forget string
	stmts        []*sql.Stmt

	quit chan struct{}
	done chan struct{}
}

// journalFile is one journal file. Entries appended but not yet linked are kept in memory
// too, so that linking them does not read the file back.
type journalFile struct {
	name    string // base name, the key of its journal_flushed row
	f       *os.File
	size    int64
	linked  int64         // bytes whose entries are in the trail (its journal_flushed row)
	pending []audit.Entry // the entries after linked
	// recovered files came from a process that is gone. Their entries wait for the audit
	// signing key (store.Engine.SetAuditSealer), so that the checkpoints due among them are
	// signed.
	recovered bool

	syncMu sync.Mutex
	synced int64 // bytes known to be on disk (FULL only)
}

// journalEvery is how often the flusher commits journaled entries that no other write has
// taken along; at a few thousand look-ups a second that is a few hundred a commit. A variable
// so that the crash test can keep entries journaled until it kills the process.
var journalEvery = 250 * time.Millisecond

const (
	journalSuffix = ".journal"
	// journalRotate is the size at which appends move on to a new file, so that a file whose
	// entries are all linked can be deleted.
	journalRotate = 8 << 20
	// journalBacklog makes appenders flush themselves when the flusher falls this far behind
	// (the database refusing writes), so memory stays bounded.
	journalBacklog = 200_000
	// journalMaxRecord bounds one record when reading a journal back: a length beyond it is
	// a torn or damaged tail, not a record.
	journalMaxRecord = 64 << 20
)

var journalTable = crc32.MakeTable(crc32.Castagnoli)

// openAccessJournal starts journaling the entries appended on their own (the store's
// AccessLog) into files whose paths start with prefix, and takes over the journal files of
// processes that are gone; they go into the trail with the first flush. full syncs every
// append. It links entries at the start of every transaction of g, and prepares its
// statements on write, the single writer connection, before any transaction holds it.
func openAccessJournal(ctx context.Context, core store.Core, g *groupCommit, write, read *sql.DB, prefix string, full bool) (*accessJournal, error) {
	j := &accessJournal{core: core, read: read, prefix: prefix, full: full, quit: make(chan struct{}), done: make(chan struct{}),
		mark:   `INSERT INTO ` + accessSchema + `.journal_flushed (name, upto, at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET upto = excluded.upto, at = excluded.at`,
		forget: `DELETE FROM ` + accessSchema + `.journal_flushed WHERE name = $1`}
	for _, q := range []string{j.mark, j.forget} {
		st, err := write.PrepareContext(ctx, q)
		if err != nil {
			j.closeStmts()
			return nil, fmt.Errorf("access journal: %w", err)
		}
		j.stmts = append(j.stmts, st)
	}
	if err := j.recover(); err != nil {
		j.release()
		return nil, err
	}
	cur, err := j.create()
	if err != nil {
		j.release()
		return nil, err
	}
	j.cur = cur
	j.files = append(j.files, cur)
	link := j.link
	g.link.Store(&link)
	go j.loop()
	return j, nil
}

func (j *accessJournal) closeStmts() {
	for _, st := range j.stmts {
		st.Close()
	}
}

// path is where the journal file called name lives.
func (j *accessJournal) path(name string) string { return filepath.Join(filepath.Dir(j.prefix), name) }

// create makes a new journal file, locked before it is visible under its final name so that
// no other process can mistake it for an orphan.
func (j *accessJournal) create() (*journalFile, error) {
	j.seq++
	name := filepath.Base(j.prefix) + "." + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" +
		strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(j.seq) + journalSuffix
	final := j.path(name)
	tmp := final + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("access journal: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("access journal: lock: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("access journal: %w", err)
	}
	return &journalFile{name: name, f: f}, nil
}

// journalFiles lists the journal files of the access trail whose files start with prefix,
// whoever holds them: a backup copies them.
func journalFiles(prefix string) ([]string, error) { return filepath.Glob(journalPattern(prefix)) }

func journalPattern(prefix string) string { return prefix + ".*" + journalSuffix }

// recover takes every journal file no live process holds and queues what its last flush
// row does not cover (up to a torn tail, which no append ever acknowledged) for the first
// transaction.
func (j *accessJournal) recover() error {
	// With the files created but not yet named (".new"), which a crash may leave behind.
	names, err := filepath.Glob(journalPattern(j.prefix) + "*")
	if err != nil {
		return err
	}
	for _, path := range names {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // linked and deleted by its owner meanwhile
			}
			return fmt.Errorf("access journal: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close() // a live process's file
			continue
		}
		name := filepath.Base(path)
		if strings.HasSuffix(name, ".new") {
			// Created but never named: nothing was appended to it.
			os.Remove(path)
			f.Close()
			continue
		}
		if _, err := os.Stat(path); err != nil {
			f.Close() // deleted between the glob and the lock by an owner that linked it all
			continue
		}
		var linked int64
		err = j.read.QueryRow(`SELECT upto FROM `+accessSchema+`.journal_flushed WHERE name = $1`, name).Scan(&linked)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			f.Close()
			return fmt.Errorf("access journal: %w", err)
		}
		entries, size, err := readJournal(f, linked)
		if err != nil {
			f.Close()
			return fmt.Errorf("access journal %s: %w", name, err)
		}
		// Cut a torn tail off, so that the file holds exactly what will be linked.
		if err := f.Truncate(size); err != nil {
			f.Close()
			return fmt.Errorf("access journal %s: %w", name, err)
		}
		j.files = append(j.files, &journalFile{name: name, f: f, size: size, linked: linked, pending: entries, recovered: true})
		j.waiting += len(entries)
	}
	// Rows of files that are gone (wholly linked, then deleted) are forgotten by the first
	// transaction.
	rows, err := j.read.Query(`SELECT name FROM ` + accessSchema + `.journal_flushed`)
	if err != nil {
		return fmt.Errorf("access journal: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("access journal: %w", err)
		}
		if _, err := os.Stat(j.path(name)); errors.Is(err, os.ErrNotExist) {
			j.removed = append(j.removed, name)
		}
	}
	return rows.Err()
}

// readJournal reads the whole records of a journal file from offset from and returns their
// entries and the length of the file up to the last of them.
func readJournal(f *os.File, from int64) ([]audit.Entry, int64, error) {
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil, 0, err
	}
	r := bufio.NewReader(f)
	var out []audit.Entry
	size := from
	var head [8]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return out, size, nil
		}
		n := binary.LittleEndian.Uint32(head[:4])
		if n == 0 || n > journalMaxRecord {
			return out, size, nil
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return out, size, nil
		}
		if crc32.Checksum(body, journalTable) != binary.LittleEndian.Uint32(head[4:]) {
			return out, size, nil
		}
		var entries []audit.Entry
		if err := json.Unmarshal(body, &entries); err != nil {
			return out, size, nil
		}
		out = append(out, entries...)
		size += int64(len(head) + len(body))
	}
}

// encodeRecord frames entries as one record: length, CRC-32C, JSON.
func encodeRecord(entries []audit.Entry) ([]byte, error) {
	body, err := json.Marshal(entries)
	if err != nil {
		return nil, err
	}
	rec := make([]byte, 8, 8+len(body))
	binary.LittleEndian.PutUint32(rec[:4], uint32(len(body)))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(body, journalTable))
	return append(rec, body...), nil
}

// Append implements store.AccessLog: when it returns nil the entries will reach the trail.
func (j *accessJournal) Append(ctx context.Context, entries []audit.Entry) error {
	rec, err := encodeRecord(entries)
	if err != nil {
		return err
	}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return errClosed
	}
	if j.cur.size >= journalRotate {
		next, err := j.create()
		if err != nil {
			j.mu.Unlock()
			return err
		}
		j.cur = next
		j.files = append(j.files, next)
	}
	jf := j.cur
	n, err := jf.f.WriteAt(rec, jf.size)
	if err != nil {
		// Never leave half a record before the next one.
		_ = jf.f.Truncate(jf.size)
		j.mu.Unlock()
		return fmt.Errorf("access journal: %w", err)
	}
	jf.size += int64(n)
	end := jf.size
	jf.pending = append(jf.pending, entries...)
	j.waiting += len(entries)
	backlog := j.waiting >= journalBacklog
	j.mu.Unlock()
	if j.full {
		if err := j.syncTo(jf, end); err != nil {
			return err
		}
	}
	if backlog {
		return j.Sync(ctx)
	}
	return nil
}

// syncTo makes jf durable up to end; callers arriving while a sync runs share the next one.
func (j *accessJournal) syncTo(jf *journalFile, end int64) error {
	jf.syncMu.Lock()
	defer jf.syncMu.Unlock()
	if jf.synced >= end {
		return nil
	}
	j.mu.Lock()
	size := jf.size
	j.mu.Unlock()
	if err := jf.f.Sync(); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return nil // linked and deleted meanwhile: the trail holds the entries
		}
		return fmt.Errorf("access journal: %w", err)
	}
	jf.synced = size
	return nil
}

// loop commits entries that no other write took along within journalEvery.
func (j *accessJournal) loop() {
	defer close(j.done)
	t := time.NewTicker(journalEvery)
	defer t.Stop()
	for {
		select {
		case <-j.quit:
			return
		case <-t.C:
		}
		j.mu.Lock()
		waiting := j.waiting
		j.mu.Unlock()
		if waiting > 0 {
			// A failed commit keeps the entries pending; the next round tries again.
			_ = j.Sync(context.Background())
		}
	}
}

// link runs in the writer at the start of every transaction: it links the entries appended
// so far onto the access chain, ahead of the transaction's own entries, so that the trail's
// order is the order things happened in, and records how far each file is linked. The writer
// calls done with whether the transaction committed.
func (j *accessJournal) link(ctx context.Context, tx *sql.Tx) (done func(committed bool), err error) {
	type take struct {
		jf      *journalFile
		entries []audit.Entry
		upto    int64
	}
	signed := j.core.Sealed()
	j.mu.Lock()
	var takes []take
	var entries []audit.Entry
	for _, jf := range j.files {
		if len(jf.pending) > 0 && (signed || !jf.recovered) {
			takes = append(takes, take{jf, jf.pending, jf.size})
			entries = append(entries, jf.pending...)
			jf.pending = nil
		}
	}
	forget := j.removed
	j.waiting -= len(entries)
	j.mu.Unlock()
	if len(takes) == 0 && len(forget) == 0 {
		return nil, nil
	}
	done = func(committed bool) {
		j.mu.Lock()
		defer j.mu.Unlock()
		if !committed {
			for _, t := range takes {
				t.jf.pending = append(t.entries, t.jf.pending...)
				j.waiting += len(t.entries)
			}
			return
		}
		j.removed = j.removed[len(forget):]
		for _, t := range takes {
			t.jf.linked = t.upto
		}
		// Files wholly linked that appends have moved on from are deleted; their rows go
		// with the next transaction.
		kept := j.files[:0]
		for _, jf := range j.files {
			if jf != j.cur && jf.linked == jf.size && len(jf.pending) == 0 {
				os.Remove(j.path(jf.name))
				jf.syncMu.Lock()
				jf.f.Close()
				jf.syncMu.Unlock()
				j.removed = append(j.removed, jf.name)
				continue
			}
			kept = append(kept, jf)
		}
		j.files = kept
	}
	if err := j.core.AppendAccess(ctx, tx, entries); err != nil {
		return done, err
	}
	now := time.Now().UnixMicro()
	for _, t := range takes {
		if _, err := tx.StmtContext(ctx, j.stmts[0]).ExecContext(ctx, t.jf.name, t.upto, now); err != nil {
			return done, fmt.Errorf("access journal: %w", err)
		}
	}
	for _, name := range forget {
		if _, err := tx.StmtContext(ctx, j.stmts[1]).ExecContext(ctx, name); err != nil {
			return done, fmt.Errorf("access journal: %w", err)
		}
	}
	return done, nil
}

// close stops the flusher and links what is left. Files that could not be linked stay on
// disk, unlocked, for the next process to replay.
func (j *accessJournal) close() error {
	close(j.quit)
	<-j.done
	err := j.Sync(context.Background())
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	// Appends that raced the flush above are left in their file for the next process.
	if err == nil && len(j.cur.pending) == 0 && j.cur.linked == j.cur.size {
		os.Remove(j.path(j.cur.name))
	}
	j.release()
	j.closeStmts()
	return err
}

// release closes (and so unlocks) every file still held.
func (j *accessJournal) release() {
	for _, jf := range j.files {
		jf.syncMu.Lock()
		jf.f.Close()
		jf.syncMu.Unlock()
	}
}

// Sync implements store.AccessLog: every write transaction links what is pending first, and
// this one has nothing else to do.
func (j *accessJournal) Sync(ctx context.Context) error {
	return j.core.Update(ctx, func(context.Context, *sql.Tx) error { return nil })
}
