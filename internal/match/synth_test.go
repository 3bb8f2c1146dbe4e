package match

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/brianvoe/gofakeit/v7"
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

// synthPeople generates n records: people with US-style contact data, a share dupShare of
// records that are duplicates of earlier ones with one or two typical errors, and a share
// householdShare of records that are relatives of earlier ones (same family name,
// address and phone, different given name, birth date and email) and are not duplicates.
func synthPeople(n int, dupShare, householdShare float64, seed uint64) *synthetic {
	f := gofakeit.New(seed)
	rng := rand.New(rand.NewPCG(seed, 99))
	s := &synthetic{}
	start := time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2005, 12, 31, 0, 0, 0, 0, time.UTC)
	domains := []string{"gmail.com", "yahoo.com", "outlook.com", "example.org"}
	fresh := func() Record {
		var r Record
		first, last := f.FirstName(), f.LastName()
		r.Set(FirstName, first)
		r.Set(LastName, last)
		r.Set(BirthDate, f.DateRange(start, end).Format("2006-01-02"))
		r.Set(AddressLine1, f.StreetNumber()+" "+f.StreetName())
		r.Set(City, f.City())
		r.Set(PostalCode, f.Zip())
		r.Set(Region, f.StateAbr())
		r.Set(Email, fmt.Sprintf("%s.%s%d@%s", strings.ToLower(first), strings.ToLower(last), rng.IntN(100), domains[rng.IntN(len(domains))]))
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
			for range 1 + rng.IntN(2) {
				switch rng.IntN(8) {
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
					r.Fields[AddressLine1] = f.StreetNumber() + " " + f.StreetName() // moved
					r.Fields[City], r.Fields[PostalCode] = f.City(), f.Zip()
				case 7:
					r.Fields[Phone] = ""
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
