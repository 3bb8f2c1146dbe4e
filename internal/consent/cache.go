package consent

import (
	"container/list"
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Version is what the store says about the freshness of a customer's decision inputs: a
// counter the engine bumps whenever a ledger record, a contact value or a matching suppression
// entry changes, and the newest policy's publication number.
type Version struct {
	// Customer is the customer's change counter; -1 when the customer does not exist.
	// Merging the customer and undoing the merge move it too.
	Customer int64
	// Policies is the Seq of the newest published policy; 0 when there is none.
	Policies int64
}

// Cache keeps what the permission decision reads about recently checked customers — whether
// they exist, the ledger records that decide, whether their contacts are on the suppression
// list — and the published policies, so that a warm single check is computation only. It
// caches inputs, never outcomes: the decision is made afresh on every check with the time of
// the check, so a policy taking effect is never missed.
//
// Entries are dropped by the engine (see Forget and ForgetPolicies) after every committed
// change to what they hold, so a withdrawal is seen by the very next check in this process.
// Changes made by another process are caught by comparing the entry's Version with the
// store's: on every check when Trust is zero (PostgreSQL, where several nodes share a
// database), or once per Trust otherwise (SQLite, where one process writes).
//
// The cache holds at most Size customers, dropping the least recently checked first.
type Cache struct {
	// Size bounds the entries; DefaultCacheSize when zero.
	Size int
	// Trust is how long an entry is used without asking the store whether it is still
	// current. Zero asks on every check.
	Trust time.Duration

	once   sync.Once
	seed   maphash.Seed
	shards [cacheShards]cacheShard
	per    int

	// policies holds the published versions; policyGen counts ForgetPolicies calls so that a
	// load that raced with a publication is not kept.
	policies  atomic.Pointer[policySnap]
	policyGen atomic.Uint64
}

// DefaultCacheSize holds the customers checked recently in a busy shop while bounding
// memory: an entry of a customer with a few records takes about 600 bytes, so 100,000 entries
// stay near 60 MB however many customers are stored.
const DefaultCacheSize = 100_000

// cacheShards spreads the lock: every check touches one shard only.
const cacheShards = 64

type cacheShard struct {
	mu  sync.Mutex
	m   map[string]*list.Element
	lru list.List // of *inputs, most recently used first
	// gen counts the entries of this shard forgotten, so that a load that raced with a change
	// to one of them is not kept.
	gen uint64
}

// inputs are one customer's cached decision inputs.
type inputs struct {
	id      string
	version Version
	// checked is when the entry was last known current, as monoNow.
	checked atomic.Int64
	exists  bool
	// into is the customer this one has been merged into, whose entry answers for it; it
	// then holds no records.
	into string
	// recs are the records that can decide: the newest consent and objection record of each
	// purpose and the newest restriction.
	recs []cachedRecord

	mu sync.Mutex
	// suppressed says, for the marketing purposes looked up so far, when the customer's
	// contact was last put on the suppression list for them (zero: it is not).
	suppressed []suppressedFor
}

type suppressedFor struct {
	purpose string
	at      time.Time
}

// cachedRecord is what decide reads of a Record: a third of its size, which is most of an
// entry's.
type cachedRecord struct {
	seq                                  int64
	at                                   time.Time
	kind, purpose, policyVersion, source string
	// form is the evidence of a record an event made, which tells an unsubscribe from a
	// complaint; empty for every other record.
	form    string
	granted bool
}

// recordBufs holds the buffers single checks unpack cached records into.
var recordBufs = sync.Pool{New: func() any { return new([3]Record) }}

func (c *cachedRecord) record() Record {
	return Record{Seq: c.seq, At: c.at, Kind: c.kind, Purpose: c.purpose, PolicyVersion: c.policyVersion, Source: c.source, Granted: c.granted,
		Evidence: Evidence{FormID: c.form}}
}

type policySnap struct {
	ps      Policies
	seq     int64
	checked atomic.Int64 // monoNow
}

// monoBase makes monoNow a monotonic clock that fits an atomic integer.
var monoBase = time.Now()

func monoNow() int64 { return int64(time.Since(monoBase)) }

func (c *Cache) init() {
	c.once.Do(func() {
		c.seed = maphash.MakeSeed()
		size := c.Size
		if size <= 0 {
			size = DefaultCacheSize
		}
		c.per = max(1, size/cacheShards)
		for i := range c.shards {
			c.shards[i].m = map[string]*list.Element{}
		}
	})
}

func (c *Cache) shard(id string) *cacheShard {
	c.init()
	return &c.shards[maphash.String(c.seed, id)%cacheShards]
}

// Forget drops the cached inputs of the given customers. The engine calls it after a change
// to their ledger, profile or suppression state commits, in the process that made it.
func (c *Cache) Forget(ids ...string) {
	for _, id := range ids {
		sh := c.shard(id)
		sh.mu.Lock()
		if el, ok := sh.m[id]; ok {
			sh.lru.Remove(el)
			delete(sh.m, id)
		}
		sh.gen++
		sh.mu.Unlock()
	}
}

// ForgetPolicies drops the cached policies, after a publication commits.
func (c *Cache) ForgetPolicies() {
	c.policyGen.Add(1)
	c.policies.Store(nil)
}

// Len is how many customers are cached.
func (c *Cache) Len() int {
	c.init()
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// lookup returns the cached entry for id, marking it recently used, and the shard's
// generation to load against when there is none.
func (c *Cache) lookup(id string) (*inputs, uint64) {
	sh := c.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if el, ok := sh.m[id]; ok {
		sh.lru.MoveToFront(el)
		return el.Value.(*inputs), sh.gen
	}
	return nil, sh.gen
}

// keep stores in, unless an entry of its shard was forgotten since gen was read: the load
// may then hold what the change replaced.
func (c *Cache) keep(in *inputs, gen uint64) {
	sh := c.shard(in.id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen {
		return
	}
	if el, ok := sh.m[in.id]; ok {
		sh.lru.Remove(el)
	}
	sh.m[in.id] = sh.lru.PushFront(in)
	for sh.lru.Len() > c.per {
		old := sh.lru.Back()
		sh.lru.Remove(old)
		delete(sh.m, old.Value.(*inputs).id)
	}
}

// drop removes in if it is still the cached entry for its customer.
func (c *Cache) drop(in *inputs) {
	sh := c.shard(in.id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if el, ok := sh.m[in.id]; ok && el.Value.(*inputs) == in {
		sh.lru.Remove(el)
		delete(sh.m, in.id)
	}
}

// deciding reduces a customer's records to those the decision can read: the newest of each
// kind and purpose. Folding them for a purpose gives the same facts as folding them all.
func deciding(recs []Record) []cachedRecord {
	type key struct{ kind, purpose string }
	newest := map[key]int{}
	for i := range recs {
		k := key{recs[i].Kind, recs[i].Purpose}
		if j, ok := newest[k]; !ok || recs[i].Seq >= recs[j].Seq {
			newest[k] = i
		}
	}
	out := make([]cachedRecord, 0, len(newest))
	for _, i := range newest {
		r := &recs[i]
		out = append(out, cachedRecord{seq: r.Seq, at: r.At, kind: r.Kind, purpose: r.Purpose, policyVersion: r.PolicyVersion,
			source: r.Source, form: r.Evidence.FormID, granted: r.Granted})
	}
	return out
}

// cachedInputs returns the decision inputs of one customer and the policies, from the cache
// when they are current, from the store otherwise.
func (s *Service) cachedInputs(ctx context.Context, id string) (*inputs, Policies, error) {
	c := s.cache
	now := monoNow()
	in, gen := c.lookup(id)
	polGen := c.policyGen.Load()
	pol := c.policies.Load()
	fresh := func(checked *atomic.Int64) bool { return c.Trust > 0 && now-checked.Load() < int64(c.Trust) }
	if in != nil && pol != nil && fresh(&in.checked) && fresh(&pol.checked) {
		return in, pol.ps, nil
	}
	v, err := s.store.DecisionVersion(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if pol == nil || pol.seq != v.Policies {
		stored, err := s.store.Policies(ctx)
		if err != nil {
			return nil, nil, err
		}
		pol = &policySnap{ps: stored}
		if n := len(stored); n > 0 {
			pol.seq = stored[n-1].Seq
		}
		pol.checked.Store(now)
		if c.policyGen.Load() == polGen {
			c.policies.Store(pol)
		}
	} else {
		pol.checked.Store(now)
	}
	if in != nil && in.version.Customer == v.Customer {
		in.checked.Store(now) // still current: trusted again from now, nothing reloaded
		return in, pol.ps, nil
	}
	if in != nil {
		c.drop(in)
	}
	loaded := &inputs{id: id, version: v, exists: v.Customer >= 0}
	loaded.checked.Store(now)
	if loaded.exists {
		// A merge link is read with the records: linking and unlinking the customer move
		// its counter, so an entry whose counter has not moved still has the right link.
		_, into, recs, err := s.store.DecisionRecords(ctx, []string{id}, "")
		if err != nil {
			return nil, nil, err
		}
		if loaded.into = into[id]; loaded.into == "" {
			loaded.recs = deciding(recs)
		}
	}
	c.keep(loaded, gen)
	return loaded, pol.ps, nil
}

// cachedSuppressedAt returns when in's customer's email or phone was last put on the suppression
// list for purpose p (zero if never), asking the store once per cached entry and purpose.
func (s *Service) cachedSuppressedAt(ctx context.Context, in *inputs, purpose string) (time.Time, error) {
	in.mu.Lock()
	for _, sf := range in.suppressed {
		if sf.purpose == purpose {
			in.mu.Unlock()
			return sf.at, nil
		}
	}
	in.mu.Unlock()
	got, err := s.suppressedAt(ctx, purpose, []string{in.id})
	if err != nil {
		return time.Time{}, err
	}
	at := got[in.id]
	in.mu.Lock()
	in.suppressed = append(in.suppressed, suppressedFor{purpose, at})
	in.mu.Unlock()
	return at, nil
}
