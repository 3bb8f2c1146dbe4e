package match

import (
	"fmt"
	"slices"
	"testing"
)

func keysOf(p prepared) map[string]string {
	out := map[string]string{}
	for _, k := range BlockingKeys(&p.Normalized) {
		if prev, ok := out[k.Rule]; ok {
			out[k.Rule] = prev + " | " + k.Value
		} else {
			out[k.Rule] = k.Value
		}
	}
	return out
}

func TestBlockingKeys(t *testing.T) {
	p := person("first_name", "Kayla", "last_name", "Harrington", "birth_date", "1915-06-12",
		"address_line1", "38 Maltby Circuit", "city", "Coolaroo", "postal_code", "3465",
		"national_id", "9004242", "email", "Kayla@Example.com", "phone", "+44 20 7946 0958")
	got := keysOf(p)
	want := map[string]string{
		RuleNationalID: "9004242",
		RuleEmail:      "kayla@example.com",
		RulePhone:      "442079460958",
		RuleBirthDate:  "19150612 k | 19150612 h",
		RuleNames:      "h652 k400",
		RuleNameYear:   "k400 1915 h | h652 1915 k",
		RulePostalName: "3465 k | 3465 h",
		RuleCityName:   "coolaroo k400 h6 | coolaroo h652 k4",
		RuleStreet:     "38 maltby circuit",
		RuleHouse:      "38 3465",
		RuleStreetName: "maltby c h652",
	}
	for rule, v := range want {
		if got[rule] != v {
			t.Errorf("rule %s: got %q, want %q", rule, got[rule], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got rules %v, want exactly %v", got, want)
	}

	// Pure: the same values give the same keys, whatever the notation.
	q := person("first_name", "KAYLA ", "last_name", "harrington", "birth_date", "19150612",
		"address_line1", "38 maltby circuit", "city", "coolaroo", "postal_code", " 3465",
		"national_id", "900-4242", "email", "kayla@example.com", "phone", "+442079460958")
	if !slices.Equal(BlockingKeys(&p.Normalized), BlockingKeys(&q.Normalized)) {
		t.Errorf("keys differ for the same person written differently")
	}

	// A record without a given name, whose house number and birth date were mistyped,
	// still shares the street-name key with the original.
	noGiven := person("last_name", "Harrington", "birth_date", "1915-07-21", "address_line1", "83 Maltby Circuit",
		"city", "Coolaroo", "postal_code", "3456")
	if k := keysOf(noGiven); k[RuleStreetName] != want[RuleStreetName] {
		t.Errorf("no given name: street_name key %q, want %q", k[RuleStreetName], want[RuleStreetName])
	}
	// Without a family name the given name stands in.
	if k := keysOf(person("first_name", "Kayla", "address_line1", "38 Maltby Circuit", "city", "Coolaroo")); k[RuleStreetName] != "maltby c k400" {
		t.Errorf("no family name: street_name key %q, want %q", k[RuleStreetName], "maltby c k400")
	}

	// Swapped names still share the name rules.
	r := person("first_name", "Harrington", "last_name", "Kayla", "birth_date", "1915-06-12")
	if k := keysOf(r); k[RuleNames] != want[RuleNames] || k[RuleNameYear] != "h652 1915 k | k400 1915 h" {
		t.Errorf("swapped names: got %v", k)
	}

	// Missing or too short values give no key, and an empty record none at all.
	if k := keysOf(person("national_id", "12", "phone", "123", "address_line1", "1 a")); len(k) != 0 {
		t.Errorf("got keys %v from values too short to discriminate", k)
	}
}

// crowd builds n records whose names all fall in the same blocks (Soundex ignores the
// digits that tell them apart).
func crowd(n int) []prepared {
	recs := make([]prepared, n)
	for i := range recs {
		recs[i] = person("first_name", fmt.Sprintf("n%d", i), "last_name", "smith", "birth_date", "1980")
	}
	return recs
}

func candidatePairs(idx *blockIndex, n int) int {
	total := 0
	var js []uint32
	for i := range n {
		js = idx.candidates(uint32(i), js)
		for k, j := range js {
			if j <= uint32(i) || (k > 0 && js[k-1] >= j) {
				panic("candidates must be later records, each once, in order")
			}
		}
		total += len(js)
	}
	return total
}

func TestBlockCaps(t *testing.T) {
	// Below the cap a block pairs everyone: 30 records share their name keys, 435 pairs.
	small := crowd(30)
	if got := candidatePairs(buildIndex(small, 100, 5, 2), len(small)); got != 30*29/2 {
		t.Errorf("small block: got %d pairs, want %d", got, 30*29/2)
	}
	// Above it, each record is paired with its window neighbours only.
	const n, window = 5000, 5
	big := crowd(n)
	idx := buildIndex(big, 100, window, 2)
	got := candidatePairs(idx, n)
	if got > n*window || got < (n-window)*window {
		t.Errorf("oversized block: got %d pairs, want about %d (n·window), not %d", got, n*window, n*(n-1)/2)
	}
	blocks, oversized, largest := idx.blockStats()
	if oversized == 0 || largest != n {
		t.Errorf("stats: %d blocks, %d oversized, largest %d; want the crowd's block reported", blocks, oversized, largest)
	}
}

func TestCandidatesDeduplicated(t *testing.T) {
	a := person("first_name", "kayla", "last_name", "harrington", "birth_date", "19150612", "postal_code", "3465", "national_id", "9004242")
	recs := []prepared{a, a, person("first_name", "bob", "last_name", "jones")}
	idx := buildIndex(recs, 100, 5, 2)
	if got := idx.candidates(0, nil); !slices.Equal(got, []uint32{1}) {
		t.Errorf("got candidates %v, want record 1 once although it shares every key", got)
	}
	if got := idx.candidates(2, nil); len(got) != 0 {
		t.Errorf("got candidates %v for a record sharing no key", got)
	}
}

// TestKeyHashMatchesKey checks that the index hashes exactly the keys BlockingKeys shows,
// so that what the server stores and what the offline matcher blocks on cannot drift.
func TestKeyHashMatchesKey(t *testing.T) {
	p := person("first_name", "Kayla", "last_name", "Harrington", "birth_date", "1915-06-12",
		"address_line1", "38 Maltby Circuit", "city", "Coolaroo", "postal_code", "3465", "email", "k@example.com")
	var hashes []uint64
	eachKey(&p.Normalized, func(k *keyParts) { hashes = append(hashes, k.hash()) })
	keys := BlockingKeys(&p.Normalized)
	if len(keys) != len(hashes) {
		t.Fatalf("%d keys, %d hashes", len(keys), len(hashes))
	}
	for i, k := range keys {
		if keyHash(k) != hashes[i] {
			t.Errorf("key %v: hash %x, parts hash %x", k, keyHash(k), hashes[i])
		}
	}
}

func TestNicknameBlocksWithFormalName(t *testing.T) {
	a := Normalize(Record{Fields: fieldsOf(FirstName, "Bill", LastName, "Hartley")}, "")
	b := Normalize(Record{Fields: fieldsOf(FirstName, "William", LastName, "Hartley")}, "")
	shared := false
	for _, k := range BlockingKeys(&a) {
		for _, l := range BlockingKeys(&b) {
			if k == l {
				shared = true
			}
		}
	}
	if !shared {
		t.Fatalf("Bill Hartley and William Hartley share no blocking key: got %v and %v", BlockingKeys(&a), BlockingKeys(&b))
	}
	if !Nicknames("bob", "robert") || Nicknames("bob", "bob") || Nicknames("bob", "william") {
		t.Fatal("nickname table answers wrongly")
	}
}

func fieldsOf(kv ...any) [numFields]string {
	var f [numFields]string
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i].(Field)] = kv[i+1].(string)
	}
	return f
}
