package match

import (
	"strings"
)

// Level is how well two records agree on one comparison. Missing (0) means one side has
// no value: it is evidence neither for nor against a match. Levels 1… are named by the
// comparison; the last one is always outright disagreement.
type Level uint8

// Missing is the level of a comparison when either record lacks the value.
const Missing Level = 0

// levelSpec describes one agreement level. prior is the share of true matches expected
// at that level before the data has been seen: it starts the EM iterations and, as a
// handful of pseudo-observations, keeps a level that the data barely visits from taking
// an absurd weight.
type levelSpec struct {
	name  string
	prior float64
	// neutral levels weigh nothing, like Missing: the evidence they stand for is
	// counted by another comparison.
	neutral bool
	// identifies marks agreement on something personal to the individual (given name,
	// birth date, identifier, own email address) rather than something a household
	// shares (family name, address, phone). See pattern.identifies.
	identifies bool
	// maxM caps the share of true matches at this level (0: no cap). It is set on the
	// levels of outright disagreement over what a person keeps for life or for years: EM
	// fitted to a population full of same-name strangers would otherwise class many of
	// them as matches and learn that a different birth date costs nearly nothing. A tenth
	// is far above what any real duplicate rate shows (Febrl's heavily corrupted sets show
	// 3–5%), so the cap only binds when the fit has gone wrong.
	maxM float64
}

// comparison grades the agreement of two prepared records on one aspect of a person.
type comparison struct {
	name    string
	levels  []levelSpec // levels[k-1] describes Level k
	compare func(a, b *prepared) Level
	// value is what level 1 (exact) compares: compare returns Missing exactly when
	// either value is empty and 1 exactly when they are equal. It lets the chance of
	// exact agreement be counted from value frequencies instead of sampled.
	value func(p *prepared) string
}

func (c *comparison) levelName(l Level) string {
	if l == Missing {
		return "missing"
	}
	return c.levels[l-1].name
}

// Thresholds of the graded levels. They are properties of the similarity measures, not of
// any data set: Jaro-Winkler 0.92 keeps one or two typos in a name of ordinary length,
// 0.80 admits a mangled name that still shares most letters in order.
const (
	jwClose   = 0.92
	jwSimilar = 0.80
	// tokenClose is the Jaro-Winkler score at which two address words count as the same
	// word misspelled; words are short, so it is stricter than for whole names.
	tokenClose = 0.90
)

// prepared is a normalised record plus what comparisons need over and over, worked out
// once per record rather than once per pair.
type prepared struct {
	Normalized
	date  string   // birth date as digits (YYYYMMDD for valid dates)
	addr  []string // words of both address lines, in order
	phone string   // digits of the phone number, for edit distance
	// terms holds, for each comparison in termComparisons, how many records of the input
	// carry this record's value (0 when it has none): the term frequencies that make
	// agreement on a rare surname weigh more than agreement on a common one.
	terms [numTerms]uint32
}

func prepare(n Normalized) prepared {
	p := prepared{Normalized: n}
	p.date = strings.ReplaceAll(n.Fields[BirthDate], "-", "")
	if a := joinNonEmpty(n.Fields[AddressLine1], n.Fields[AddressLine2]); a != "" {
		p.addr = strings.Fields(a)
	}
	p.phone = digits(n.Fields[Phone])
	return p
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}

// comparisons is the fixed list the matcher scores, in pattern order. A comparison over a
// field that no record carries is always Missing and so weighs nothing.
var comparisons = []*comparison{
	{
		name:    "first_name",
		levels:  firstNameLevels,
		compare: func(a, b *prepared) Level { return compareName(a, b, FirstName, LastName) },
		value:   func(p *prepared) string { return p.Fields[FirstName] },
	},
	{
		name:    "last_name",
		levels:  lastNameLevels,
		compare: func(a, b *prepared) Level { return compareName(a, b, LastName, FirstName) },
		value:   func(p *prepared) string { return p.Fields[LastName] },
	},
	{
		name: "birth_date",
		levels: []levelSpec{
			{name: "exact", prior: 0.85, identifies: true}, {name: "one_edit", prior: 0.07, identifies: true},
			{name: "day_month_swapped", prior: 0.01, identifies: true}, {name: "two_edits", prior: 0.03},
			{name: "different", prior: 0.04, maxM: 0.10},
		},
		compare: compareDate,
		value:   func(p *prepared) string { return p.date },
	},
	{
		name: "address",
		levels: []levelSpec{
			{name: "exact", prior: 0.75}, {name: "same_words", prior: 0.05}, {name: "similar", prior: 0.10},
			{name: "partial", prior: 0.05}, {name: "different", prior: 0.05},
		},
		compare: compareAddress,
		value: func(p *prepared) string {
			if len(p.addr) == 0 {
				return ""
			}
			return p.Fields[AddressLine1] + "\x00" + p.Fields[AddressLine2]
		},
	},
	{
		name:    "city",
		levels:  placeLevels,
		compare: func(a, b *prepared) Level { return compareText(a.Fields[City], b.Fields[City]) },
		value:   func(p *prepared) string { return p.Fields[City] },
	},
	{
		name:    "postal_code",
		levels:  codeLevels,
		compare: func(a, b *prepared) Level { return compareCode(a.Fields[PostalCode], b.Fields[PostalCode]) },
		value:   func(p *prepared) string { return p.Fields[PostalCode] },
	},
	{
		name:    "region",
		levels:  codeLevels,
		compare: func(a, b *prepared) Level { return compareCode(a.Fields[Region], b.Fields[Region]) },
		value:   func(p *prepared) string { return p.Fields[Region] },
	},
	{
		name:   "country",
		levels: []levelSpec{{name: "exact", prior: 0.95}, {name: "different", prior: 0.05}},
		compare: func(a, b *prepared) Level {
			x, y := a.Fields[Country], b.Fields[Country]
			switch {
			case x == "" || y == "":
				return Missing
			case x == y:
				return 1
			}
			return 2
		},
		value: func(p *prepared) string { return p.Fields[Country] },
	},
	{
		name: "national_id",
		levels: []levelSpec{
			{name: "exact", prior: 0.85, identifies: true}, {name: "one_edit", prior: 0.05, identifies: true},
			{name: "two_edits", prior: 0.02}, {name: "different", prior: 0.08},
		},
		compare: compareIdentifier,
		value:   func(p *prepared) string { return p.Fields[NationalID] },
	},
	{
		name: "email",
		levels: []levelSpec{
			{name: "exact", prior: 0.70, identifies: true}, {name: "same_local_part", prior: 0.10, identifies: true},
			{name: "similar", prior: 0.05}, {name: "different", prior: 0.15},
		},
		compare: compareEmail,
		value:   func(p *prepared) string { return p.Fields[Email] },
	},
	{
		name: "phone",
		levels: []levelSpec{
			{name: "exact", prior: 0.75}, {name: "one_edit", prior: 0.05}, {name: "different", prior: 0.20},
			{name: sharedByHousehold, neutral: true},
		},
		compare: comparePhone,
		value:   func(p *prepared) string { return p.phone },
	},
}

var firstNameLevels = []levelSpec{
	{name: "exact", prior: 0.80, identifies: true}, {name: "close", prior: 0.08, identifies: true},
	{name: "transposed", prior: 0.02, identifies: true}, {name: "similar", prior: 0.04},
	{name: "initial", prior: 0.01, identifies: true}, {name: "different", prior: 0.05, maxM: 0.10},
}

// lastNameLevels are those of the given name, except that a transposition is counted
// once, under first_name: its u (both names cross-matching by chance) already covers
// the agreement of both names, so counting it twice would double the evidence.
//
// Their last level, shared_by_household, is one compare never returns: comparePair puts a
// family name that agrees there when the street address agrees too (see
// sharedByHousehold).
var lastNameLevels = []levelSpec{
	{name: "exact", prior: 0.80}, {name: "close", prior: 0.08}, {name: "transposed", prior: 0.02, neutral: true}, {name: "similar", prior: 0.04},
	{name: "initial", prior: 0.01}, {name: "different", prior: 0.05, maxM: 0.15},
	{name: sharedByHousehold, neutral: true},
}

// placeLevels and codeLevels end with a level that compare never returns: comparePair
// puts a city, postal code or region that agrees there when the street address agrees
// too (see impliedByAddress).
var placeLevels = []levelSpec{
	{name: "exact", prior: 0.85}, {name: "close", prior: 0.06}, {name: "similar", prior: 0.03}, {name: "different", prior: 0.06},
	{name: impliedByAddress, neutral: true},
}

var codeLevels = []levelSpec{
	{name: "exact", prior: 0.88}, {name: "one_edit", prior: 0.06}, {name: "different", prior: 0.06},
	{name: impliedByAddress, neutral: true},
}

// impliedByAddress is the level of a city, postal code or region that agrees when the
// street address agrees too. The address already says where the person lives; counting
// the town and postal code again as if they were independent evidence would triple the
// weight of one fact, and one fact that every member of a household shares. A place that
// disagrees still counts against: 12 Main Street is another house in another town.
const impliedByAddress = "implied_by_address"

// sharedByHousehold is the level of a family name or phone number that agrees when the
// street address agrees too. Relatives living together share all three; at one address,
// a shared family name and landline say "one household", which the address has already
// said, and not "one person". Counted as if strangers had agreed on them by chance, they
// would add thirty bits to every pair of relatives and merge parents with children who
// carry their given name. What tells two people at one address apart is what is personal
// to each: given name, birth date, e-mail. A family name that disagrees still counts.
const sharedByHousehold = "shared_by_household"

// compareName grades one name (f) and recognises a pair whose given and family names
// have been swapped, a common data-entry error: both name comparisons then report
// "transposed" rather than two disagreements (and only first_name weighs it).
func compareName(a, b *prepared, f, other Field) Level {
	x, y := a.Fields[f], b.Fields[f]
	if x == "" || y == "" {
		return Missing
	}
	if x == y {
		return 1
	}
	jw := JaroWinkler(x, y)
	if jw >= jwClose {
		return 2
	}
	if f == FirstName && Nicknames(x, y) {
		// A known nickname (Bill, William) is as good as a close spelling: the same name
		// as the person gives it on another day.
		return 2
	}
	if xo, yo := a.Fields[other], b.Fields[other]; xo != "" && yo != "" &&
		JaroWinkler(x, yo) >= jwClose && JaroWinkler(xo, y) >= jwClose {
		return 3
	}
	if jw >= jwSimilar {
		return 4
	}
	if (len(x) == 1 || len(y) == 1) && x[0] == y[0] {
		return 5
	}
	return 6
}

// compareDate grades birth dates on their digits, so that corrupted dates are compared
// like any other string of digits.
func compareDate(a, b *prepared) Level {
	x, y := a.date, b.date
	if x == "" || y == "" {
		return Missing
	}
	if x == y {
		return 1
	}
	d := EditDistance(x, y, 2)
	if d == 1 {
		return 2
	}
	if a.DateValid && b.DateValid && x[:4] == y[:4] && x[4:6] == y[6:8] && x[6:8] == y[4:6] {
		return 3
	}
	if d == 2 {
		return 4
	}
	return 5
}

// compareAddress grades both address lines together, word by word in any order, because
// the same address is split across the two lines in different ways by different forms,
// and lines get swapped.
func compareAddress(a, b *prepared) Level {
	if len(a.addr) == 0 || len(b.addr) == 0 {
		return Missing
	}
	if a.Fields[AddressLine1] == b.Fields[AddressLine1] && a.Fields[AddressLine2] == b.Fields[AddressLine2] {
		return 1
	}
	sim := wordSimilarity(a.addr, b.addr)
	switch {
	case sim == 1 && len(a.addr) == len(b.addr):
		return 2
	case sim >= 0.8:
		return 3
	case sim >= 0.5:
		return 4
	}
	return 5
}

// wordSimilarity is the Dice coefficient of two word lists where words match when they
// are equal or, for words of four letters or more, close by Jaro-Winkler. Numbers must
// be equal: house number 12 is not house number 21.
func wordSimilarity(a, b []string) float64 {
	if len(a) > maxCompareRunes || len(b) > maxCompareRunes {
		a, b = a[:min(len(a), maxCompareRunes)], b[:min(len(b), maxCompareRunes)]
	}
	var used uint64
	matched := 0
	for _, w := range a {
		best := -1
		for j, v := range b {
			if used&(1<<j) != 0 {
				continue
			}
			if w == v {
				best = j
				break
			}
			if best < 0 && len(w) >= 4 && len(v) >= 4 && !isNumber(w) && !isNumber(v) && JaroWinkler(w, v) >= tokenClose {
				best = j
			}
		}
		if best >= 0 {
			used |= 1 << best
			matched++
		}
	}
	return 2 * float64(matched) / float64(len(a)+len(b))
}

func isNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// compareText grades place names.
func compareText(x, y string) Level {
	if x == "" || y == "" {
		return Missing
	}
	if x == y {
		return 1
	}
	jw := JaroWinkler(x, y)
	switch {
	case jw >= jwClose:
		return 2
	case jw >= jwSimilar:
		return 3
	}
	return 4
}

// compareCode grades short codes (postal codes, regions), where a single slip of the
// finger is common and a neighbouring code is a different place.
func compareCode(x, y string) Level {
	if x == "" || y == "" {
		return Missing
	}
	if x == y {
		return 1
	}
	if EditDistance(x, y, 1) == 1 {
		return 2
	}
	return 3
}

func compareIdentifier(a, b *prepared) Level {
	x, y := a.Fields[NationalID], b.Fields[NationalID]
	if x == "" || y == "" {
		return Missing
	}
	if x == y {
		return 1
	}
	switch EditDistance(x, y, 2) {
	case 1:
		return 2
	case 2:
		return 3
	}
	return 4
}

// compareEmail treats the same local part at another domain as strong evidence (people
// keep their handle across providers) and a local part one slip away at the same domain
// as a likely typo. Only one slip, and never in the digits: addresses are commonly built
// from names, so ann.lee12@ and anne.lee7@ are two people with similar names, and
// counting their likeness again would count the names twice.
func compareEmail(a, b *prepared) Level {
	x, y := a.Fields[Email], b.Fields[Email]
	if x == "" || y == "" {
		return Missing
	}
	if x == y {
		return 1
	}
	lx, dx, _ := strings.Cut(x, "@")
	ly, dy, _ := strings.Cut(y, "@")
	switch {
	case lx == ly && len(lx) >= 3:
		return 2
	case dx == dy && digits(lx) == digits(ly) && EditDistance(lx, ly, 1) == 1:
		return 3
	}
	return 4
}

func comparePhone(a, b *prepared) Level {
	x, y := a.phone, b.phone
	if x == "" || y == "" {
		return Missing
	}
	if x == y {
		return 1
	}
	if EditDistance(x, y, 1) == 1 {
		return 2
	}
	return 3
}
