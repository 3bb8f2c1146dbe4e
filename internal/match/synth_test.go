package match

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/brianvoe/gofakeit/v7"
	"github.com/brianvoe/gofakeit/v7/data"
)

// synthetic is a generated population with known truth: group[i] is the person record i
// describes.
type synthetic struct {
	recs  []Record
	group []int
}

// truePairs counts the pairs of records of the same person.
func (s *synthetic) truePairs() int {
	size := map[int]int{}
	for _, g := range s.group {
		size[g]++
	}
	n := 0
	for _, k := range size {
		n += k * (k - 1) / 2
	}
	return n
}

// nameTable draws names with the skew of a real country's: a few very common names and a
// long tail of rare ones, so that strangers with the same name are as common as they are
// in a real customer base. Ranks follow a Zipf law p(k) ∝ (v + k)^-s; the first ranks are
// the generator's real names, the tail made-up but pronounceable ones (every rank its own
// name), because a list of a few hundred names has no tail.
type nameTable struct {
	head []string
	zipf *rand.Zipf
}

func newNameTable(rng *rand.Rand, head []string, s, v float64, size uint64) *nameTable {
	return &nameTable{head: head, zipf: rand.NewZipf(rng, s, v, size-1)}
}

var syllables = []string{"ka", "lo", "ven", "dor", "mi", "sa", "tre", "bel", "no", "ru", "gan", "shi", "pe", "wat",
	"li", "mor", "ta", "hen", "qui", "ber", "so", "lan", "ce", "fi", "rok", "da", "mel", "zo", "tin", "ga"}

func (t *nameTable) draw() string {
	k := int(t.zipf.Uint64())
	if k < len(t.head) {
		return t.head[k]
	}
	k -= len(t.head)
	n := len(syllables)
	name := syllables[k%n] + syllables[(k/n)%n]
	for k /= n * n; k > 0; k /= n {
		name += syllables[k%n]
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// Frequency shapes of the synthetic population, close to a census's: the commonest family
// name is held by about one person in a hundred and there are tens of thousands of rare
// ones; the commonest given name by three or four in a hundred; the largest town holds a
// few percent of customers.
const (
	surnameSkew, surnameShift, surnames       = 1.05, 12, 200_000
	givenNameSkew, givenNameShift, givenNames = 1.10, 5, 20_000
	townSkew, townShift                       = 1.20, 3
)

// synthPeople generates n records: people with US-style contact data and names drawn with
// realistic skew (nameTable), a share dupShare of records that are duplicates of earlier
// ones with one to three errors of the kinds Febrl's generator makes (typos, swapped
// names, missing values, a value replaced by another, a move), and a share householdShare
// of records that are relatives of earlier ones (same family name, address and phone,
// their own given name, birth date and email) and are not duplicates.
func synthPeople(n int, dupShare, householdShare float64, seed uint64) *synthetic {
	f := gofakeit.New(seed)
	rng := rand.New(rand.NewPCG(seed, 99))
	last := newNameTable(rng, fakeList("person", "last"), surnameSkew, surnameShift, surnames)
	first := newNameTable(rng, fakeList("person", "first"), givenNameSkew, givenNameShift, givenNames)
	towns := fakeList("address", "city")
	town := rand.NewZipf(rng, townSkew, townShift, uint64(len(towns)-1))
	s := &synthetic{}
	start := time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2005, 12, 31, 0, 0, 0, 0, time.UTC)
	domains := []string{"gmail.com", "yahoo.com", "outlook.com", "example.org"}
	birthDate := func() string { return f.DateRange(start, end).Format("2006-01-02") }
	move := func(r *Record) {
		r.Fields[AddressLine1] = f.StreetNumber() + " " + f.StreetName()
		r.Fields[City], r.Fields[PostalCode] = towns[town.Uint64()], f.Zip()
	}
	fresh := func() Record {
		var r Record
		given, family := first.draw(), last.draw()
		r.Set(FirstName, given)
		r.Set(LastName, family)
		r.Set(BirthDate, birthDate())
		move(&r)
		r.Set(Region, f.StateAbr())
		// A mailbox belongs to one person: with common names drawn often, a two-digit
		// suffix would hand two namesakes one address, which no real customer base has.
		r.Set(Email, fmt.Sprintf("%s.%s%d@%s", strings.ToLower(given), strings.ToLower(family), rng.IntN(1_000_000), domains[rng.IntN(len(domains))]))
		if rng.IntN(2) == 0 {
			r.Set(Phone, fmt.Sprintf("+1 %03d %03d %04d", 200+rng.IntN(700), 200+rng.IntN(700), rng.IntN(10000)))
		}
		return r
	}
	typo := func(v string) string {
		if len(v) < 2 {
			return v
		}
		i := rng.IntN(len(v) - 1)
		switch rng.IntN(3) {
		case 0:
			return v[:i] + v[i+1:]
		case 1:
			return v[:i] + string(rune('a'+rng.IntN(26))) + v[i+1:]
		}
		return v[:i] + v[i+1:i+2] + v[i:i+1] + v[i+2:]
	}
	for i := range n {
		x := rng.Float64()
		switch {
		case i > 0 && x < dupShare:
			k := rng.IntN(len(s.recs))
			r := s.recs[k]
			r.ID = ""
			errors := 1 + rng.IntN(2)
			if rng.IntN(5) == 0 {
				errors++
			}
			for range errors {
				switch rng.IntN(14) {
				case 0:
					r.Fields[FirstName] = typo(r.Fields[FirstName])
				case 1:
					r.Fields[LastName] = typo(r.Fields[LastName])
				case 2:
					r.Fields[FirstName], r.Fields[LastName] = r.Fields[LastName], r.Fields[FirstName]
				case 3:
					r.Fields[BirthDate] = typo(r.Fields[BirthDate])
				case 4:
					r.Fields[Email] = ""
				case 5:
					local, _, _ := strings.Cut(r.Fields[Email], "@")
					r.Fields[Email] = local + "@" + domains[rng.IntN(len(domains))]
				case 6:
					move(&r)
				case 7:
					r.Fields[Phone] = ""
				case 8:
					r.Fields[FirstName] = ""
				case 9:
					r.Fields[FirstName] = first.draw() // another name altogether
				case 10:
					r.Fields[BirthDate] = birthDate() // another date altogether
				case 11:
					r.Fields[AddressLine1] = typo(r.Fields[AddressLine1])
				case 12:
					r.Fields[PostalCode] = typo(r.Fields[PostalCode])
				case 13:
					r.Fields[City] = typo(r.Fields[City])
				}
			}
			s.recs = append(s.recs, r)
			s.group = append(s.group, s.group[k])
		case i > 0 && x < dupShare+householdShare:
			k := rng.IntN(len(s.recs))
			r := fresh()
			kin := s.recs[k]
			for _, fld := range []Field{LastName, AddressLine1, City, PostalCode, Region, Phone} {
				r.Fields[fld] = kin.Fields[fld]
			}
			s.recs = append(s.recs, r)
			s.group = append(s.group, i)
		default:
			s.recs = append(s.recs, fresh())
			s.group = append(s.group, i)
		}
		s.recs[i].ID = fmt.Sprintf("p%07d", i)
	}
	return s
}

// fakeList returns a copy of one of the generator's word lists in a fixed shuffled order:
// the lists are alphabetical, and ranking them as they are would make Abbey, Abbie and
// Abby all among the commonest names, a cluster of look-alike names no country has.
func fakeList(group, name string) []string {
	l := slices.Clone(data.Data[group][name])
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
	return l
}

// bandFigures measures reported pairs against the truth in the two bands a reviewer sees:
// everything from the review threshold up (what the queue holds and what is merged), and
// from the merge threshold up (what is merged without a person).
type bandFigures struct {
	reviewPrecision, reviewRecall float64 // pairs at or above the review threshold
	mergePrecision, mergeRecall   float64 // pairs at or above the merge threshold
	bandPrecision                 float64 // pairs between the two thresholds only
	review, merge                 int     // pairs reported in each
}

func measureBands(pairs []Pair, same func(a, b int) bool, truePairs int) bandFigures {
	var b bandFigures
	var tpReview, tpMerge int
	for _, p := range pairs {
		ok := same(p.A, p.B)
		b.review++
		if ok {
			tpReview++
		}
		if p.Decision == Merge {
			b.merge++
			if ok {
				tpMerge++
			}
		}
	}
	ratio := func(x, y int) float64 {
		if y == 0 {
			return 0
		}
		return float64(x) / float64(y)
	}
	b.reviewPrecision, b.reviewRecall = ratio(tpReview, b.review), ratio(tpReview, truePairs)
	b.mergePrecision, b.mergeRecall = ratio(tpMerge, b.merge), ratio(tpMerge, truePairs)
	b.bandPrecision = ratio(tpReview-tpMerge, b.review-b.merge)
	return b
}

func (b bandFigures) String() string {
	return fmt.Sprintf("review threshold: precision %.4f recall %.4f (%d pairs; between the thresholds precision %.4f); merge threshold: precision %.4f recall %.4f (%d pairs)",
		b.reviewPrecision, b.reviewRecall, b.review, b.bandPrecision, b.mergePrecision, b.mergeRecall, b.merge)
}
