package sqlite

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/store"
)

// The journal child appends read entries for customers c0, c1, … one at a time, with a
// change on the main trail every 100 (whose heads and checkpoints anchor the access trail),
// printing how many were acknowledged, until it is killed.
func init() {
	dir := os.Getenv("STEWARD_JOURNAL_CHILD")
	if dir == "" {
		return
	}
	// Journaled reads are linked only by the changes below, never by the timer, so the reads
	// after the last change are still journaled when the parent kills the process, however
	// slowly it gets round to it.
	journalEvery = time.Hour
	ctx := authz.WithActor(context.Background(), authz.System)
	db, err := Open(ctx, filepath.Join(dir, "steward.db"), Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	db.SetAuditSealer(journalSealer(dir))
	for i := 0; ; i++ {
		if err := db.Audit().AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, fmt.Sprintf("c%d", i), []string{"email"}, "")); err != nil {
			fmt.Println("append:", err)
			os.Exit(2)
		}
		// A change every hundred reads, not just before a count is printed, and none from
		// the 20,000th on, so the newest reads stay journaled until the kill.
		if i%100 == 49 && i < 19900 {
			now := time.Now()
			r := &customer.Record{ID: fmt.Sprintf("0190a000-0000-7000-8000-%012d", i), Version: 1, MasterVersion: 1, Key: []byte{1},
				Sealed: map[string][]byte{}, CreatedAt: now, UpdatedAt: now}
			if err := db.Customers().CreateCustomer(ctx, r, []audit.Entry{audit.New(ctx, audit.ActionCustomerCreate, r.ID, nil, "")}); err != nil {
				fmt.Println("create:", err)
				os.Exit(2)
			}
		}
		if (i+1)%500 == 0 {
			fmt.Println(i + 1)
		}
	}
}

// journalSealer signs checkpoints with a key kept in dir, so that the parent can verify what
// the child wrote.
func journalSealer(dir string) *audit.Sealer {
	seed, err := os.ReadFile(filepath.Join(dir, "seed"))
	if err != nil {
		panic(err)
	}
	return &audit.Sealer{Key: ed25519.NewKeyFromSeed(seed), Every: 64}
}

func journalFilesIn(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.journal*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestAccessJournalSurvivesKill: a process killed while appending reads loses none it
// acknowledged. The next process to open the database links the dead one's journal exactly
// once — whole records only, a torn tail ignored — and the trail verifies, every checkpoint
// signed, every head sealed, and every access entry the main trail anchors present.
func TestAccessJournalSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "seed"), seed, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), "STEWARD_JOURNAL_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := 0
	lines := bufio.NewScanner(out)
	for acked < 20000 && lines.Scan() {
		n, err := strconv.Atoi(lines.Text())
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("child: %s", lines.Text())
		}
		acked = n
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	files := journalFilesIn(t, dir)
	if len(files) == 0 {
		t.Fatal("no journal file left by the killed process")
	}
	// A write torn by the crash: half a record at the end of the newest file.
	f, err := os.OpenFile(files[len(files)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3})
	f.Close()

	ctx := authz.WithActor(context.Background(), authz.System)
	db, err := Open(ctx, filepath.Join(dir, "steward.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var before int
	db.Read().QueryRow(`SELECT COUNT(*) FROM access.audit_log`).Scan(&before)
	var anchored int64
	db.Read().QueryRow(`SELECT MAX(anchor_seq) FROM audit_checkpoints`).Scan(&anchored)
	if anchored == 0 {
		t.Fatal("no checkpoint of the main trail anchors the access trail")
	}
	db.SetAuditSealer(journalSealer(dir))
	seen := map[string]bool{}
	var n int
	if err := db.Audit().ReadTrail(ctx, func(_ []audit.Checkpoint, _ []audit.SealedHead, scan func(func(*audit.Entry) error) error) error {
		return scan(func(e *audit.Entry) error {
			if e.Action != audit.ActionCustomerRead {
				return nil
			}
			if seen[e.CustomerID] {
				return fmt.Errorf("%s linked twice", e.CustomerID)
			}
			seen[e.CustomerID] = true
			n++
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if n < acked || before >= n {
		t.Fatalf("trail holds %d entries (%d before the journal was replayed), %d were acknowledged", n, before, acked)
	}
	for i := 0; i < n; i++ {
		if !seen["c"+strconv.Itoa(i)] {
			t.Fatalf("entry c%d missing of %d", i, n)
		}
	}
	key := journalSealer(dir).Key
	svc, err := audit.NewService(db.Audit(), catalog.Default(), key.Public().(ed25519.PublicKey), audit.HeadKey(key), 64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Verify(ctx); err != nil {
		t.Fatalf("trail after replay: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if left := journalFilesIn(t, dir); len(left) != 0 {
		t.Fatalf("journal files left after a clean close: %v", left)
	}
}

// TestAccessJournalLeavesLiveFilesAlone: a second process opening the same database (a CLI
// command next to the server) must not take the first one's journal, and both processes'
// reads end up in the trail once each.
func TestAccessJournalLeavesLiveFilesAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "steward.db")
	ctx := authz.WithActor(context.Background(), authz.System)
	open := func() *store.Engine {
		db, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	appendN := func(db *store.Engine, prefix string, n int) {
		for i := 0; i < n; i++ {
			if err := db.Audit().AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, prefix+strconv.Itoa(i), nil, "")); err != nil {
				t.Fatal(err)
			}
		}
	}
	first := open()
	defer first.Close()
	appendN(first, "a", 100)
	second := open() // its recovery finds the first's file locked
	appendN(second, "b", 100)
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	appendN(first, "a", 0)
	list, err := first.Audit().ListAudit(ctx, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range list {
		count[e.CustomerID]++
	}
	for _, p := range []string{"a", "b"} {
		for i := 0; i < 100; i++ {
			if c := count[p+strconv.Itoa(i)]; c != 1 {
				t.Fatalf("entry %s%d in the trail %d times, want once", p, i, c)
			}
		}
	}
}

// TestAccessJournalKeepsOrder: a read journaled before a change is listed before it, as the
// change's transaction links the journal first.
func TestAccessJournalKeepsOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "steward.db")
	ctx := authz.WithActor(context.Background(), authz.System)
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := 0; i < 50; i++ {
		if err := db.Audit().AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, "r"+strconv.Itoa(i), nil, "")); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			now := time.Now()
			r := &customer.Record{ID: fmt.Sprintf("0190a000-0000-7000-8000-0000000000%02d", i), Version: 1, MasterVersion: 1, Key: []byte{1},
				Sealed: map[string][]byte{}, CreatedAt: now, UpdatedAt: now}
			if err := db.Customers().CreateCustomer(ctx, r, []audit.Entry{audit.New(ctx, audit.ActionCustomerCreate, r.ID, nil, "")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	list, err := db.Audit().ListAudit(ctx, audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(list) - 1; i >= 0; i-- {
		got = append(got, list[i].CustomerID)
	}
	var want []string
	for i := 0; i < 50; i++ {
		want = append(want, "r"+strconv.Itoa(i))
		if i%10 == 9 {
			want = append(want, fmt.Sprintf("0190a000-0000-7000-8000-0000000000%02d", i))
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("trail order\n got %v\nwant %v", got, want)
	}
}
