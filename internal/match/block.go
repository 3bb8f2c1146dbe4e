package match

import (
	"cmp"
	"slices"
	"strings"
)

// Key is one blocking key of a record: two records become a candidate pair when they
// share a key. Keys are pure functions of normalised values, made of a rule name and a
// value, so that a server can store them as keyed hashes (HMAC of Rule and Value) and
// find candidates without decrypting anyone.
type Key struct {
	Rule  string
	Value string
}

// The blocking rules. Each covers a different way the same person ends up typed twice,
// so that errors in one or two fields still leave a shared key: a pair is lost only when
// every rule is broken at once. Rules over names use both names alike, so that swapped
// given and family names still meet. Every rule pairs a broad value with a narrower one
// (a birth date with an initial, a town with two names) because a rule on one common
// value alone (a birth year, a town) makes blocks that grow with the customer base: at a
// million customers a shop's home town would be one block of a hundred thousand.
const (
	RuleNationalID = "national_id" // the identifier itself
	RuleEmail      = "email"       // the normalised address
	RulePhone      = "phone"       // the normalised number
	RuleBirthDate  = "birth_date"  // the birth date (its digits when corrupted) and either initial
	RuleNames      = "names"       // Soundex of both names, in either order
	RuleNameYear   = "name_year"   // Soundex of either name, birth year and the other initial
	RulePostalName = "postal_name" // postal code and either initial
	RuleCityName   = "city_name"   // city, Soundex of either name and the other's first two Soundex characters
	RuleStreet     = "street"      // the first address line
	RuleHouse      = "house"       // the house number and the postal code
	RuleStreetName = "street_name" // the street's name, the town's initial and Soundex of the family name (or else the given name)
)

// BlockingKeys returns the blocking keys of a normalised record, each once. Rules whose
// fields are missing, or too short to discriminate, give no key.
func BlockingKeys(n *Normalized) []Key {
	var keys []Key
	eachKey(n, func(k *keyParts) {
		if key := k.key(); !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	})
	return keys
}

// keyParts is a blocking key before its parts are joined with spaces into Key.Value. The
// index hashes the parts as they are, so that a million records make no key strings.
type keyParts struct {
	rule string
	part [3]string
	n    int
}

func (k *keyParts) key() Key {
	return Key{Rule: k.rule, Value: strings.Join(k.part[:k.n], " ")}
}

// hash is keyHash(k.key()) without building the key.
func (k *keyParts) hash() uint64 {
	h := fnvAdd(fnvOffset, k.rule)
	h = (h ^ 0xff) * fnvPrime // separator: no rule name contains 0xff
	for i, p := range k.part[:k.n] {
		if i > 0 {
			h = (h ^ ' ') * fnvPrime
		}
		h = fnvAdd(h, p)
	}
	return h
}

// eachKey calls emit with every blocking key of a record, possibly more than once.
func eachKey(n *Normalized, emit func(*keyParts)) {
	var k keyParts
	add := func(rule string, parts ...string) {
		k.rule, k.n = rule, copy(k.part[:], parts)
		emit(&k)
	}
	f := &n.Fields
	if v := f[NationalID]; len(v) >= 4 {
		add(RuleNationalID, v)
	}
	if v := f[Email]; strings.Contains(v, "@") {
		add(RuleEmail, v)
	}
	if v := digits(f[Phone]); len(v) >= 6 {
		add(RulePhone, v)
	}
	date := strings.ReplaceAll(f[BirthDate], "-", "")
	names := [2]string{Soundex(f[FirstName]), Soundex(f[LastName])}
	if len(date) >= 6 {
		for _, name := range names {
			if name != "" {
				add(RuleBirthDate, date, name[:1])
			}
		}
	}
	if names[0] != "" && names[1] != "" {
		add(RuleNames, min(names[0], names[1]), max(names[0], names[1]))
		// A nickname (Bill for William) blocks with the formal name too, so the pair
		// still meets on names when nothing else is shared.
		if c := Soundex(canonicalName(f[FirstName])); c != "" && c != names[0] {
			add(RuleNames, min(c, names[1]), max(c, names[1]))
		}
	}
	pc, city := f[PostalCode], f[City]
	for i, name := range names {
		if name == "" {
			continue
		}
		other := names[1-i]
		if len(date) >= 4 && other != "" {
			add(RuleNameYear, name, date[:4], other[:1])
		}
		if pc != "" {
			add(RulePostalName, pc, name[:1])
		}
		if city != "" && other != "" {
			// Two characters of the other name, not one: with census-like name
			// frequencies, a big town, a common name and an initial make blocks of
			// hundreds at a million customers.
			add(RuleCityName, city, name, other[:2])
		}
	}
	if street := f[AddressLine1]; len(street) >= 6 {
		add(RuleStreet, street)
	}
	// The street's name without the house number, the town's initial (many towns have a
	// Station Road) and a name: it finds a person whose
	// house number, postal code, birth date and given name have all been mistyped or
	// left out, as long as the family name and street survive. The family name, because
	// it is the name a household shares and the given name the one most often missing;
	// the given name only when there is no family name.
	if street := streetName(f[AddressLine1], f[AddressLine2]); street != "" && city != "" {
		street += " " + city[:1]
		if name := names[1]; name != "" {
			add(RuleStreetName, street, name)
		} else if name := names[0]; name != "" {
			add(RuleStreetName, street, name)
		}
	}
	if house := houseNumber(f[AddressLine1], f[AddressLine2]); house != "" && pc != "" {
		add(RuleHouse, house, pc)
	}
}

// streetName is the first word of the address lines that is not a number and has at
// least three letters: the street's own name in "12 bayly place" and "bayly place 12".
func streetName(lines ...string) string {
	for _, l := range lines {
		for _, w := range strings.Fields(l) {
			if len(w) >= 3 && !isNumber(w) && strings.IndexFunc(w, func(r rune) bool { return r >= '0' && r <= '9' }) < 0 {
				return w
			}
		}
	}
	return ""
}

// houseNumber is the first word of the address lines that is a number, which with the
// postal code nearly always pins down one building.
func houseNumber(lines ...string) string {
	for _, l := range lines {
		for _, w := range strings.Fields(l) {
			if isNumber(w) {
				return w
			}
		}
	}
	return ""
}

// keyHash folds a key into 64 bits (FNV-1a) for the in-memory index. A collision only
// merges two blocks, which costs a few extra comparisons and never a wrong answer.
func keyHash(k Key) uint64 {
	h := fnvAdd(fnvOffset, k.Rule)
	h = (h ^ 0xff) * fnvPrime
	return fnvAdd(h, k.Value)
}

const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211

func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

// entry places one record in one block while the index is built.
type entry struct {
	hash uint64
	rank uint32 // the record's position in sort-key order, for windows in large blocks
	rec  uint32
}

// blockIndex holds every record's place in every block, sorted so that a block is a run
// of entries. It answers "which records share a block with record i" without building the
// list of all pairs, which at a million records would not fit the memory budget.
type blockIndex struct {
	members []uint32 // record at each entry position: blocks are runs
	blockOf []uint32 // entry position → block number
	starts  []uint32 // block number → first entry position; one extra at the end
	recOff  []uint32 // record → first position in recPos; one extra at the end
	recPos  []uint32 // entry positions grouped by record
	maxSize int      // blocks larger than this are windowed
	window  int
}

// sortKey orders records inside an oversized block so that the window pairs records that
// are alike: family name, given name, birth date.
func sortKey(p *prepared) string {
	return p.Fields[LastName] + "\x00" + p.Fields[FirstName] + "\x00" + p.date
}

func buildIndex(recs []prepared, maxSize, window, workers int) *blockIndex {
	return buildIndexOf(recs, maxSize, window, workers, nil)
}

// buildIndexOf is buildIndex over the rules keep accepts (all when nil), so that a
// benchmark can show what one rule adds to the candidates.
func buildIndexOf(recs []prepared, maxSize, window, workers int, keep func(rule string) bool) *blockIndex {
	n := len(recs)
	// Rank records by sort key.
	type keyed struct {
		key string
		rec uint32
	}
	order := make([]keyed, n)
	for i := range order {
		order[i] = keyed{sortKey(&recs[i]), uint32(i)}
	}
	slices.SortFunc(order, func(a, b keyed) int {
		return cmp.Or(strings.Compare(a.key, b.key), cmp.Compare(a.rec, b.rec))
	})
	rank := make([]uint32, n)
	for r, k := range order {
		rank[k.rec] = uint32(r)
	}
	order = nil

	// Hash every record's keys, in parallel chunks, then gather them into one slice of
	// exactly the right size.
	chunks := make([][]entry, (n+recordChunk-1)/recordChunk)
	parallelWorkers(workers, n, recordChunk, func(next func() (int, int, bool)) {
		var hashes []uint64
		for lo, hi, ok := next(); ok; lo, hi, ok = next() {
			var es []entry
			for i := lo; i < hi; i++ {
				hashes = hashes[:0]
				eachKey(&recs[i].Normalized, func(k *keyParts) {
					if keep != nil && !keep(k.rule) {
						return
					}
					if h := k.hash(); !slices.Contains(hashes, h) {
						hashes = append(hashes, h)
						es = append(es, entry{hash: h, rank: rank[i], rec: uint32(i)})
					}
				})
			}
			chunks[lo/recordChunk] = es
		}
	})
	total := 0
	for _, c := range chunks {
		total += len(c)
	}
	entries := make([]entry, 0, total)
	for i, c := range chunks {
		entries = append(entries, c...)
		chunks[i] = nil
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.rank, b.rank))
	})

	idx := &blockIndex{maxSize: maxSize, window: window}
	idx.blockOf = make([]uint32, len(entries))
	for p := range entries {
		if p == 0 || entries[p].hash != entries[p-1].hash {
			idx.starts = append(idx.starts, uint32(p))
		}
		idx.blockOf[p] = uint32(len(idx.starts) - 1)
	}
	idx.starts = append(idx.starts, uint32(len(entries)))

	idx.recOff = make([]uint32, n+1)
	for _, e := range entries {
		idx.recOff[e.rec+1]++
	}
	for i := 1; i <= n; i++ {
		idx.recOff[i] += idx.recOff[i-1]
	}
	idx.recPos = make([]uint32, len(entries))
	idx.members = make([]uint32, len(entries))
	fill := slices.Clone(idx.recOff[:n])
	for p, e := range entries {
		idx.recPos[fill[e.rec]] = uint32(p)
		fill[e.rec]++
		idx.members[p] = e.rec
	}
	return idx // the hashes and ranks are no longer needed: a third of the memory
}

// candidates appends to js the records that form a candidate pair with record i and come
// after it (j > i), each once, in increasing order. In a block of up to maxSize records
// every pair is a candidate; in a larger one only records within window places in
// sort-key order are, so a huge block (a common name in a big city) costs n·window pairs
// instead of n².
func (x *blockIndex) candidates(i uint32, js []uint32) []uint32 {
	js = js[:0]
	for _, p := range x.recPos[x.recOff[i]:x.recOff[i+1]] {
		b := x.blockOf[p]
		s, e := x.starts[b], x.starts[b+1]
		if int(e-s) > x.maxSize {
			s = max(s, p-min(p, uint32(x.window)))
			e = min(e, p+uint32(x.window)+1)
		}
		for q := s; q < e; q++ {
			if j := x.members[q]; j > i {
				js = append(js, j)
			}
		}
	}
	slices.Sort(js)
	return slices.Compact(js)
}

// blockStats describes the blocks for the run statistics.
func (x *blockIndex) blockStats() (blocks, oversized, largest int) {
	blocks = len(x.starts) - 1
	for b := 0; b < blocks; b++ {
		size := int(x.starts[b+1] - x.starts[b])
		largest = max(largest, size)
		if size > x.maxSize {
			oversized++
		}
	}
	return blocks, oversized, largest
}
