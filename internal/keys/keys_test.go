package keys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/keys"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
)

var sys = authz.WithActor(context.Background(), authz.System)

func forEngines(t *testing.T, fn func(t *testing.T, st stores)) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { fn(t, openStore(t, engine)) })
	}
}

// newRoot makes a local root key file for the test.
func newRoot(t *testing.T) vault.Root {
	t.Helper()
	path := filepath.Join(t.TempDir(), "root.key")
	if err := vault.CreateLocalRoot(path); err != nil {
		t.Fatal(err)
	}
	root, err := vault.OpenLocalRoot(path)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func initManager(t *testing.T, st stores, root vault.Root) *keys.Manager {
	t.Helper()
	m, err := keys.Init(sys, root, st.Keyset, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func openManager(t *testing.T, st stores, root vault.Root) *keys.Manager {
	t.Helper()
	m, err := keys.Open(context.Background(), root, st.Keyset)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stored is a customer as the tests left it: its id and the value sealed under its data key.
type stored struct {
	id, email string
	sealed    []byte
}

// addCustomers stores n customers, each with a data key from m and one sealed value, and
// returns them by id.
func addCustomers(t *testing.T, st stores, m *keys.Manager, n int) []stored {
	t.Helper()
	out := make([]stored, n)
	recs := make([]*customer.Record, n)
	now := time.Now().UTC()
	for i := range out {
		id := uuid.NewString()
		dk, w, err := m.NewDataKey(id)
		if err != nil {
			t.Fatal(err)
		}
		email := fmt.Sprintf("c%d@example.com", i)
		sealed, err := dk.Seal("customers", "email", id, []byte(email))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = stored{id: id, email: email, sealed: sealed}
		recs[i] = &customer.Record{ID: id, Version: 1, MasterVersion: w.MasterVersion, Key: w.Blob,
			Sealed: map[string][]byte{"email": sealed}, CreatedAt: now, UpdatedAt: now}
	}
	if err := st.Customers.CreateCustomers(context.Background(), recs, nil); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// masterVersions returns each customer's master version, by id.
func masterVersions(t *testing.T, st stores) map[string]int {
	t.Helper()
	all, err := st.DataKeys.CustomerKeys(context.Background(), "", 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, k := range all {
		out[k.CustomerID] = k.MasterVersion
	}
	return out
}

// checkReadable opens every customer's stored data key with m and its sealed value with it.
func checkReadable(t *testing.T, st stores, m *keys.Manager, cs []stored) {
	t.Helper()
	ctx := context.Background()
	for _, c := range cs {
		r, err := st.Customers.GetCustomer(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		dk, err := m.OpenDataKey(ctx, c.id, vault.WrappedKey{MasterVersion: r.MasterVersion, Blob: r.Key})
		if err != nil {
			t.Fatalf("customer %s under master v%d: %v", c.id, r.MasterVersion, err)
		}
		got, err := dk.Open("customers", "email", c.id, r.Sealed["email"])
		if err != nil || string(got) != c.email {
			t.Fatalf("customer %s: got %q %v, want %q", c.id, got, err, c.email)
		}
	}
}

func TestOpenBeforeInit(t *testing.T) {
	st := openStore(t, "sqlite")
	if _, err := keys.Open(context.Background(), newRoot(t), st.Keyset); !problem.Is(err, problem.NotFound) {
		t.Fatalf("got %v, want NotFound", err)
	}
}

// TestInit: one keyset per installation, stored only wrapped by the root, opening to the same
// keys on every node and with no other root.
func TestInit(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		root := newRoot(t)
		m, err := keys.Init(sys, root, st.Keyset, 20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.Init(sys, root, st.Keyset, 20); !problem.Is(err, problem.Conflict) {
			t.Fatalf("second init: got %v, want Conflict", err)
		}
		other := openManager(t, st, root)
		if !m.AuditPublicKey().Equal(other.AuditPublicKey()) || !m.ReceiptPublicKey().Equal(other.ReceiptPublicKey()) {
			t.Error("the second init replaced the keyset")
		}
		if m.IndexBits() != 20 || other.IndexBits() != 20 || m.PrimaryVersion() != 1 {
			t.Errorf("got %d index bits and v%d, want 20 and v1", other.IndexBits(), m.PrimaryVersion())
		}
		if _, err := keys.Open(context.Background(), newRoot(t), st.Keyset); err == nil {
			t.Error("another root opened the keyset")
		}
		blob, _, err := st.Keyset.LoadKeyset(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if json.Valid(blob) || bytes.Contains(blob, []byte("index_key")) || bytes.Contains(blob, []byte("audit_seed")) {
			t.Error("the keyset is stored unwrapped")
		}
		entries, _ := st.Audit.ListAudit(context.Background(), audit.Filter{Action: audit.ActionInit, Limit: 10})
		if len(entries) != 1 {
			t.Errorf("got %d init audit entries, want 1", len(entries))
		}
	})
}

// TestBlindIndex: tokens are the same on every node and across rotations, fit the chosen
// width, and differ per field for one value.
func TestBlindIndex(t *testing.T) {
	st := openStore(t, "sqlite")
	root := newRoot(t)
	m, err := keys.Init(sys, root, st.Keyset, 0)
	if err != nil {
		t.Fatal(err)
	}
	planned := vault.PlanIndexBits(vault.DefaultPlannedRows, vault.DefaultTargetCandidates)
	if m.IndexBits() != planned {
		t.Errorf("got %d index bits, want the planned %d", m.IndexBits(), planned)
	}
	values := []string{"ada@example.com", "+442079460958", "", "x"}
	before := map[string]int64{}
	for _, v := range values {
		for _, f := range []string{"email", "phone"} {
			tok := m.BlindIndex(f, []byte(v))
			if tok < 0 || tok >= 1<<m.IndexBits() {
				t.Errorf("%s %q: token %d outside %d bits", f, v, tok, m.IndexBits())
			}
			before[f+"|"+v] = tok
		}
	}
	if before["email|ada@example.com"] == before["phone|ada@example.com"] {
		t.Error("one value has the same token in two fields")
	}
	if _, err := m.Rotate(sys); err != nil {
		t.Fatal(err)
	}
	other := openManager(t, st, root)
	for k, tok := range before {
		f, v, _ := strings.Cut(k, "|")
		if got := m.BlindIndex(f, []byte(v)); got != tok {
			t.Errorf("%s after rotation: got %d, want %d", k, got, tok)
		}
		if got := other.BlindIndex(f, []byte(v)); got != tok {
			t.Errorf("%s on another node: got %d, want %d", k, got, tok)
		}
	}
}

// TestRotationKeepsOldDataReadable: after a rotation new data keys use the new master, old
// ones still open (and their data with them), and the signing keys stay the same.
func TestRotationKeepsOldDataReadable(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		root := newRoot(t)
		m := initManager(t, st, root)
		cs := addCustomers(t, st, m, 5)
		auditKey, receiptKey := m.AuditPublicKey(), m.ReceiptPublicKey()
		v, err := m.Rotate(sys)
		if err != nil || v != 2 || m.PrimaryVersion() != 2 {
			t.Fatalf("got v%d (primary v%d) %v, want v2", v, m.PrimaryVersion(), err)
		}
		checkReadable(t, st, m, cs)
		checkReadable(t, st, openManager(t, st, root), cs)
		if _, w, err := m.NewDataKey(uuid.NewString()); err != nil || w.MasterVersion != 2 {
			t.Errorf("new data key: got v%d %v, want v2", w.MasterVersion, err)
		}
		if !m.AuditPublicKey().Equal(auditKey) || !m.ReceiptPublicKey().Equal(receiptKey) {
			t.Error("rotation changed a signing key")
		}
		if v, err := m.Rotate(sys); err != nil || v != 3 {
			t.Fatalf("second rotation: got v%d %v, want v3", v, err)
		}
		checkReadable(t, st, m, cs)
		entries, _ := st.Audit.ListAudit(context.Background(), audit.Filter{Action: audit.ActionKeysRotate, Limit: 10})
		if len(entries) != 2 {
			t.Errorf("got %d rotation audit entries, want 2", len(entries))
		}
	})
}

// TestRewrapBatchResumesFromCursor: a rewrap walks customers in id order, a batch at a time;
// starting again from any cursor, or from the start, is safe and changes nothing already done.
func TestRewrapBatchResumesFromCursor(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		ctx := context.Background()
		m := initManager(t, st, newRoot(t))
		cs := addCustomers(t, st, m, 7)
		if _, err := m.Rotate(sys); err != nil {
			t.Fatal(err)
		}
		next, n, err := m.RewrapBatch(ctx, st.DataKeys, "", 3)
		if err != nil || next != cs[2].id || n != 3 {
			t.Fatalf("first batch: got %q %d %v, want cursor %q and 3", next, n, err, cs[2].id)
		}
		vs := masterVersions(t, st)
		for i, c := range cs {
			if want := map[bool]int{true: 2, false: 1}[i < 3]; vs[c.id] != want {
				t.Errorf("customer %d after the first batch: got v%d, want v%d", i, vs[c.id], want)
			}
		}
		checkReadable(t, st, m, cs)
		// The node dies and another resumes at the checkpoint, repeating nothing but what follows.
		other := openManager(t, st, m.Root())
		cursor, total := next, 3
		for batches := 0; cursor != ""; batches++ {
			if batches > 5 {
				t.Fatal("the rewrap does not advance")
			}
			cursor, n, err = other.RewrapBatch(ctx, st.DataKeys, cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		if total != 7 {
			t.Errorf("looked at %d keys, want 7", total)
		}
		for id, v := range masterVersions(t, st) {
			if v != 2 {
				t.Errorf("customer %s: got v%d, want v2", id, v)
			}
		}
		// Running it all again changes no stored key.
		before, _ := st.DataKeys.CustomerKeys(ctx, "", 100)
		for cursor, batches := "", 0; ; batches++ {
			if batches > 5 {
				t.Fatal("the rewrap does not advance")
			}
			if cursor, _, err = m.RewrapBatch(ctx, st.DataKeys, cursor, 4); err != nil {
				t.Fatal(err)
			}
			if cursor == "" {
				break
			}
		}
		after, _ := st.DataKeys.CustomerKeys(ctx, "", 100)
		for i := range before {
			if !bytes.Equal(before[i].Key, after[i].Key) {
				t.Errorf("customer %s rewrapped twice", before[i].CustomerID)
			}
		}
		checkReadable(t, st, m, cs)
		// A cursor past the last customer ends the walk.
		if next, n, err := m.RewrapBatch(ctx, st.DataKeys, cs[len(cs)-1].id, 3); next != "" || n != 0 || err != nil {
			t.Errorf("past the end: got %q %d %v, want done", next, n, err)
		}
	})
}

// TestRewrapBatchExactMultiple: when the customers fill the last batch exactly, one more
// empty batch ends the walk.
func TestRewrapBatchExactMultiple(t *testing.T) {
	st := openStore(t, "sqlite")
	ctx := context.Background()
	m := initManager(t, st, newRoot(t))
	cs := addCustomers(t, st, m, 6)
	if _, err := m.Rotate(sys); err != nil {
		t.Fatal(err)
	}
	var cursors []string
	var counts []int
	for cursor := ""; len(cursors) < 5; {
		next, n, err := m.RewrapBatch(ctx, st.DataKeys, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		cursors, counts = append(cursors, next), append(counts, n)
		if next == "" {
			break
		}
		cursor = next
	}
	if want := []string{cs[2].id, cs[5].id, ""}; !slices.Equal(cursors, want) || !slices.Equal(counts, []int{3, 3, 0}) {
		t.Errorf("got cursors %q counts %v, want %q and [3 3 0]", cursors, counts, want)
	}
}

// TestRewrapRefusesCorruptKey: a data key that does not authenticate stops the batch with an
// Internal error at the cursor it started from, changing nothing.
func TestRewrapRefusesCorruptKey(t *testing.T) {
	st := openStore(t, "sqlite")
	ctx := context.Background()
	m := initManager(t, st, newRoot(t))
	cs := addCustomers(t, st, m, 3)
	if _, err := m.Rotate(sys); err != nil {
		t.Fatal(err)
	}
	r, err := st.Customers.GetCustomer(ctx, cs[1].id)
	if err != nil {
		t.Fatal(err)
	}
	prev := r.Version
	r.Key = bytes.Clone(r.Key)
	r.Key[len(r.Key)-1] ^= 1
	r.Version++
	if err := st.Customers.UpdateCustomer(ctx, r, prev, nil); err != nil {
		t.Fatal(err)
	}
	next, n, err := m.RewrapBatch(ctx, st.DataKeys, "", 10)
	if !problem.Is(err, problem.Internal) || next != "" || n != 0 {
		t.Fatalf("got %q %d %v, want Internal at the start", next, n, err)
	}
	if vs := masterVersions(t, st); vs[cs[0].id] != 1 {
		t.Errorf("batch half applied: customer 0 under v%d", vs[cs[0].id])
	}
}

// raceStore runs afterLoad once, just after the next LoadKeyset: another node's change
// landing between this node's read and write of the keyset.
type raceStore struct {
	keys.Store
	afterLoad func()
}

func (r *raceStore) LoadKeyset(ctx context.Context) ([]byte, int, error) {
	blob, bits, err := r.Store.LoadKeyset(ctx)
	if f := r.afterLoad; f != nil {
		r.afterLoad = nil
		f()
	}
	return blob, bits, err
}

// TestConcurrentRotationsConflict: of two rotations at once only one is stored; the other
// fails with Conflict instead of orphaning the data keys wrapped by the winner.
func TestConcurrentRotationsConflict(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		ctx := context.Background()
		root := newRoot(t)
		a := initManager(t, st, root)
		race := &raceStore{Store: st.Keyset}
		b, err := keys.Open(ctx, root, race)
		if err != nil {
			t.Fatal(err)
		}
		var wonByA []stored
		race.afterLoad = func() {
			if _, err := a.Rotate(sys); err != nil {
				t.Error(err)
			}
			wonByA = addCustomers(t, st, a, 2) // wrapped by a's new master
		}
		if _, err := b.Rotate(sys); !problem.Is(err, problem.Conflict) {
			t.Fatalf("losing rotation: got %v, want Conflict", err)
		}
		for _, c := range wonByA {
			if masterVersions(t, st)[c.id] != 2 {
				t.Fatalf("customer not under the winner's master")
			}
		}
		checkReadable(t, st, openManager(t, st, root), wonByA)
		checkReadable(t, st, b, wonByA) // b reloads when it meets the unknown version
		if b.PrimaryVersion() != 2 {
			t.Errorf("losing node: got primary v%d, want v2 after reloading", b.PrimaryVersion())
		}
	})
}

// TestNodeLearnsOfRotation: a node that did not rotate opens keys wrapped by the new master
// at once, and wraps new keys with it once its keyset is older than RefreshInterval.
func TestNodeLearnsOfRotation(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		root := newRoot(t)
		a := initManager(t, st, root)
		patient, err := keys.Open(context.Background(), root, st.Keyset)
		if err != nil {
			t.Fatal(err)
		}
		patient.RefreshInterval = time.Hour
		eager, err := keys.Open(context.Background(), root, st.Keyset)
		if err != nil {
			t.Fatal(err)
		}
		eager.RefreshInterval = time.Nanosecond
		if _, err := a.Rotate(sys); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Microsecond) // the eager node's keyset is now older than its interval
		if _, w, err := eager.NewDataKey(uuid.NewString()); err != nil || w.MasterVersion != 2 {
			t.Errorf("eager node: got v%d %v, want v2", w.MasterVersion, err)
		}
		// Within its interval a node may still wrap with the master it has; those keys open
		// everywhere.
		old := make([]stored, 0, 1)
		if _, w, err := patient.NewDataKey(uuid.NewString()); err != nil || w.MasterVersion != 1 {
			t.Errorf("patient node: got v%d %v, want v1 within its interval", w.MasterVersion, err)
		}
		old = append(old, addCustomers(t, st, patient, 1)...)
		fresh := addCustomers(t, st, a, 2)
		checkReadable(t, st, patient, append(old, fresh...))
		if patient.PrimaryVersion() != 2 {
			t.Errorf("patient node after meeting v2: got primary v%d", patient.PrimaryVersion())
		}
		checkReadable(t, st, a, old)
	})
}

// TestRotatorStart: rotating needs keys.rotate; a refused rotation changes nothing, an
// allowed one makes a new primary and queues the rewrap job for every customer.
func TestRotatorStart(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		ctx := context.Background()
		m := initManager(t, st, newRoot(t))
		addCustomers(t, st, m, 4)
		r := mustRotator(t, m, st.Jobs, st.DataKeys, catalog.Default())
		before, _, _ := st.Keyset.LoadKeyset(ctx)
		for name, tc := range map[string]struct {
			ctx  context.Context
			want problem.Kind
		}{
			"no actor": {ctx, problem.Unauthenticated},
			"admin":    {authz.WithActor(ctx, authz.Actor{ID: "a", Role: "admin"}), problem.Forbidden},
		} {
			if _, err := r.Start(tc.ctx); !problem.Is(err, tc.want) {
				t.Errorf("%s: got %v, want %v", name, err, tc.want)
			}
		}
		after, _, _ := st.Keyset.LoadKeyset(ctx)
		if !bytes.Equal(before, after) || m.PrimaryVersion() != 1 {
			t.Fatal("a refused rotation changed the keyset")
		}
		if jobs, _ := st.Jobs.ListJobs(ctx, 10); len(jobs) != 0 {
			t.Fatalf("a refused rotation queued %d jobs", len(jobs))
		}
		j, err := r.Start(authz.WithActor(ctx, authz.Actor{ID: "o", Role: "owner"}))
		if err != nil {
			t.Fatal(err)
		}
		if j.Kind != keys.RewrapJob || j.State != job.Queued || j.Total != 4 || m.PrimaryVersion() != 2 {
			t.Errorf("got job %+v and primary v%d, want a queued rewrap of 4 under v2", j, m.PrimaryVersion())
		}
	})
}

// TestRewrapJobOnAnotherNode: the node that runs the job need not be the one that rotated;
// its step wraps with the newest master, resumes from the job's cursor, and the runner carries
// the job to done with every key moved and readable.
func TestRewrapJobOnAnotherNode(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		ctx := context.Background()
		root := newRoot(t)
		a := initManager(t, st, root)
		cs := addCustomers(t, st, a, 5)
		b := openManager(t, st, root) // opened before the rotation
		b.RefreshInterval = time.Hour
		cat := catalog.Default()
		started, err := mustRotator(t, a, st.Jobs, st.DataKeys, cat).Start(sys)
		if err != nil {
			t.Fatal(err)
		}
		rb := mustRotator(t, b, st.Jobs, st.DataKeys, cat)
		// A step given a checkpoint handles only the customers after it.
		next, n, err := rb.Step(ctx, job.Job{ID: started.ID, Kind: keys.RewrapJob, Cursor: cs[2].id})
		if err != nil || next != "" || n != 2 {
			t.Fatalf("step from a cursor: got %q %d %v, want done with 2", next, n, err)
		}
		vs := masterVersions(t, st)
		for i, c := range cs {
			if want := map[bool]int{true: 2, false: 1}[i > 2]; vs[c.id] != want {
				t.Errorf("customer %d after the step: got v%d, want v%d", i, vs[c.id], want)
			}
		}
		runner := mustRunner(t, job.RunnerDeps{Store: st.Jobs, Owner: "node-b", Steps: map[string]job.Step{keys.RewrapJob: rb.Step}})
		if ran, err := runner.RunOne(ctx); !ran || err != nil {
			t.Fatalf("runner: got ran %v err %v", ran, err)
		}
		j, err := st.Jobs.GetJob(ctx, started.ID)
		if err != nil || j.State != job.Done || j.Done != 5 {
			t.Fatalf("got %+v %v, want done with 5", j, err)
		}
		for id, v := range masterVersions(t, st) {
			if v != 2 {
				t.Errorf("customer %s: got v%d, want v2", id, v)
			}
		}
		checkReadable(t, st, a, cs)
		checkReadable(t, st, b, cs)
	})
}

// oldKeyset stores a keyset as installations made before consent receipts have it.
func oldKeyset(t *testing.T, st stores, root vault.Root) {
	t.Helper()
	ctx := context.Background()
	ks, err := vault.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := vault.SealKeyset(ctx, root, ks)
	if err != nil {
		t.Fatal(err)
	}
	const ad = "steward keyset v1" // see vault.SealKeyset
	plain, err := root.Unwrap(ctx, blob, []byte(ad))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(plain, &fields); err != nil {
		t.Fatal(err)
	}
	delete(fields, "receipt_seed")
	plain, _ = json.Marshal(fields)
	if blob, err = root.Wrap(ctx, plain, []byte(ad)); err != nil {
		t.Fatal(err)
	}
	if err := st.Keyset.SaveKeyset(ctx, blob, 20, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestEnsureReceiptKey: a keyset made before receipts gets exactly one receipt key even when
// two nodes add it at once; the rest of the keyset, and data under it, is unchanged.
func TestEnsureReceiptKey(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		ctx := context.Background()
		root := newRoot(t)
		oldKeyset(t, st, root)
		a := openManager(t, st, root)
		if a.ReceiptSigningKey() != nil {
			t.Fatal("old keyset has a receipt key")
		}
		cs := addCustomers(t, st, a, 2)
		auditKey := a.AuditPublicKey()
		race := &raceStore{Store: st.Keyset}
		b, err := keys.Open(ctx, root, race)
		if err != nil {
			t.Fatal(err)
		}
		race.afterLoad = func() {
			if err := a.EnsureReceiptKey(ctx); err != nil {
				t.Error(err)
			}
		}
		if err := b.EnsureReceiptKey(ctx); err != nil {
			t.Fatalf("node losing the race: %v", err)
		}
		if a.ReceiptPublicKey() == nil || !a.ReceiptPublicKey().Equal(b.ReceiptPublicKey()) {
			t.Fatal("the two nodes hold different receipt keys")
		}
		if c := openManager(t, st, root); !c.ReceiptPublicKey().Equal(a.ReceiptPublicKey()) || !c.AuditPublicKey().Equal(auditKey) {
			t.Error("stored keyset differs from the nodes'")
		}
		stored, _, _ := st.Keyset.LoadKeyset(ctx)
		if err := a.EnsureReceiptKey(ctx); err != nil {
			t.Fatal(err)
		}
		if again, _, _ := st.Keyset.LoadKeyset(ctx); !bytes.Equal(stored, again) {
			t.Error("EnsureReceiptKey changed a keyset that has a receipt key")
		}
		entries, _ := st.Audit.ListAudit(ctx, audit.Filter{Action: keys.ActionReceiptKeyCreate, Limit: 10})
		if len(entries) != 1 {
			t.Errorf("got %d receipt key audit entries, want 1", len(entries))
		}
		checkReadable(t, st, b, cs)
	})
}
