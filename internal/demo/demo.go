// Package demo makes realistic synthetic customers for trying Steward out. The data is seeded,
// so every demo installation holds the same people, and it goes through the customer service
// like any other write: validated, sealed, indexed and audited.
package demo

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/brianvoe/gofakeit/v7"

	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
)

// Customers are created in this many goroutines; SQLite serialises the writes anyway, but
// validation and sealing run in parallel.
const workers = 4

// Load creates n synthetic customers and calls progress after each hundred.
func Load(ctx context.Context, svc *customer.Service, n int, seed uint64, progress func(done int)) (int, error) {
	jobs := make(chan map[string]any)
	errc := make(chan error, workers)
	done := make(chan int, n)
	for w := 0; w < workers; w++ {
		go func() {
			for fields := range jobs {
				_, err := svc.Create(ctx, fields)
				// Synthetic values occasionally fail validation (an unallocated phone range, say)
				// or repeat another person's (two random phone numbers alike): drop the field the
				// error names and keep the person, as an import would.
				for tries := 0; droppable(err) && tries < 3; tries++ {
					delete(fields, problem.FieldOf(err))
					_, err = svc.Create(ctx, fields)
				}
				if err != nil {
					errc <- err
					for range jobs {
					}
					return
				}
				done <- 1
			}
			errc <- nil
		}()
	}
	faker := gofakeit.New(seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5deece66d))
	go func() {
		defer close(jobs)
		for i := 0; i < n; i++ {
			select {
			case jobs <- Person(faker, rng, i):
			case <-ctx.Done():
				return
			}
		}
	}()
	var firstErr error
	for w := 0; w < workers; w++ {
		if err := <-errc; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	close(done)
	count := 0
	for range done {
		count++
		if progress != nil && count%100 == 0 {
			progress(count)
		}
	}
	if firstErr != nil {
		return count, fmt.Errorf("demo customer %d: %w", count+1, firstErr)
	}
	return count, ctx.Err()
}

// A country of the demo: its customers' places, phone numbers, streets and language agree with
// it, because people judge the product by how real its demo data looks (Phoenix, AU did not).
type country struct {
	code     string
	language string
	places   []place
	// phone makes a number in the country's numbering plan for a customer of p.
	phone func(r *rand.Rand, p place) string
	// street makes a street line in the country's style.
	street func(r *rand.Rand) string
}

// place is a city with its region (state, county or nation), its telephone area code where
// the demo's numbers use one, and the postal codes it uses.
type place struct {
	city, region, area string
	postal             func(r *rand.Rand) string
}

// between makes a postal code of width digits from lo to hi.
func between(lo, hi, width int) func(r *rand.Rand) string {
	return func(r *rand.Rand) string { return fmt.Sprintf("%0*d", width, lo+r.IntN(hi-lo+1)) }
}

// oneOf picks one of the postal codes a city uses.
func oneOf(codes ...string) func(r *rand.Rand) string {
	return func(r *rand.Rand) string { return codes[r.IntN(len(codes))] }
}

// ukPostcode makes a postcode of one of the city's outward codes (area and district) with a
// random inward code.
func ukPostcode(outward ...string) func(r *rand.Rand) string {
	const units = "ABDEFGHJLNPQRSTUWXYZ" // the letters UK inward codes use
	return func(r *rand.Rand) string {
		return fmt.Sprintf("%s %d%c%c", outward[r.IntN(len(outward))], r.IntN(10), units[r.IntN(len(units))], units[r.IntN(len(units))])
	}
}

// street makes "12 High Street" or, with numberAfter, "Hauptstraße 12".
func street(numberAfter bool, names ...string) func(r *rand.Rand) string {
	return func(r *rand.Rand) string {
		n, name := 1+r.IntN(180), names[r.IntN(len(names))]
		if numberAfter {
			return fmt.Sprintf("%s %d", name, n)
		}
		return fmt.Sprintf("%d %s", n, name)
	}
}

var countries = []country{
	{code: "GB", language: "en-GB",
		places: []place{
			{city: "London", region: "England", postal: ukPostcode("SW1A", "SW3", "SE1", "N1", "E2", "NW1", "W8", "EC1V")},
			{city: "Manchester", region: "England", postal: ukPostcode("M1", "M4", "M14", "M20")},
			{city: "Birmingham", region: "England", postal: ukPostcode("B1", "B5", "B15", "B29")},
			{city: "Leeds", region: "England", postal: ukPostcode("LS1", "LS6", "LS8", "LS17")},
			{city: "Bristol", region: "England", postal: ukPostcode("BS1", "BS6", "BS8")},
			{city: "Edinburgh", region: "Scotland", postal: ukPostcode("EH1", "EH3", "EH9", "EH10")},
			{city: "Glasgow", region: "Scotland", postal: ukPostcode("G1", "G3", "G12", "G41")},
			{city: "Cardiff", region: "Wales", postal: ukPostcode("CF10", "CF11", "CF14", "CF24")},
			{city: "Belfast", region: "Northern Ireland", postal: ukPostcode("BT1", "BT7", "BT9")},
		},
		phone:  func(r *rand.Rand, _ place) string { return fmt.Sprintf("+44 7911 1%05d", r.IntN(100000)) },
		street: street(false, "High Street", "Station Road", "Church Lane", "Victoria Road", "Park Avenue", "Mill Lane", "King Street", "Queen's Road"),
	},
	{code: "US", language: "en-US",
		places: []place{
			{city: "New York", region: "NY", area: "212", postal: between(10001, 10040, 5)},
			{city: "Los Angeles", region: "CA", area: "213", postal: between(90001, 90068, 5)},
			{city: "Chicago", region: "IL", area: "312", postal: between(60601, 60661, 5)},
			{city: "Houston", region: "TX", area: "713", postal: between(77002, 77098, 5)},
			{city: "Phoenix", region: "AZ", area: "602", postal: between(85003, 85054, 5)},
			{city: "Seattle", region: "WA", area: "206", postal: between(98101, 98199, 5)},
			{city: "Boston", region: "MA", area: "617", postal: between(2108, 2136, 5)},
			{city: "San Francisco", region: "CA", area: "415", postal: between(94102, 94134, 5)},
			{city: "Washington", region: "DC", area: "202", postal: between(20001, 20037, 5)},
		},
		// 555-0100 to 555-0199 are the numbers set aside for fiction in every area code.
		phone:  func(r *rand.Rand, p place) string { return fmt.Sprintf("+1 %s 555 01%02d", p.area, r.IntN(100)) },
		street: street(false, "Main Street", "Oak Avenue", "Maple Street", "Park Avenue", "Washington Street", "Elm Street", "Lake Drive", "Pine Street"),
	},
	{code: "DE", language: "de-DE",
		places: []place{
			{city: "Berlin", region: "Berlin", postal: between(10115, 14199, 5)},
			{city: "Hamburg", region: "Hamburg", postal: between(20095, 22769, 5)},
			{city: "München", region: "Bayern", postal: between(80331, 81929, 5)},
			{city: "Köln", region: "Nordrhein-Westfalen", postal: between(50667, 51149, 5)},
			{city: "Frankfurt am Main", region: "Hessen", postal: between(60306, 60599, 5)},
			{city: "Stuttgart", region: "Baden-Württemberg", postal: between(70173, 70629, 5)},
			{city: "Leipzig", region: "Sachsen", postal: between(4103, 4357, 5)},
		},
		phone:  func(r *rand.Rand, _ place) string { return fmt.Sprintf("+49 151 %08d", r.IntN(100000000)) },
		street: street(true, "Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schulstraße", "Lindenallee", "Bergstraße", "Am Markt", "Goethestraße"),
	},
	{code: "FR", language: "fr-FR",
		places: []place{
			{city: "Paris", region: "Île-de-France", postal: between(75001, 75020, 5)},
			{city: "Lyon", region: "Auvergne-Rhône-Alpes", postal: between(69001, 69009, 5)},
			{city: "Marseille", region: "Provence-Alpes-Côte d'Azur", postal: between(13001, 13016, 5)},
			{city: "Toulouse", region: "Occitanie", postal: oneOf("31000", "31100", "31200", "31300", "31400", "31500")},
			{city: "Bordeaux", region: "Nouvelle-Aquitaine", postal: oneOf("33000", "33100", "33200", "33300", "33800")},
			{city: "Nantes", region: "Pays de la Loire", postal: oneOf("44000", "44100", "44200", "44300")},
			{city: "Lille", region: "Hauts-de-France", postal: oneOf("59000", "59160", "59260", "59800")},
			{city: "Strasbourg", region: "Grand Est", postal: oneOf("67000", "67100", "67200")},
		},
		phone: func(r *rand.Rand, _ place) string {
			return fmt.Sprintf("+33 6 1%d %02d %02d %02d", r.IntN(10), r.IntN(100), r.IntN(100), r.IntN(100))
		},
		street: street(false, "rue de la République", "avenue Victor Hugo", "rue Pasteur", "boulevard Voltaire", "rue du Moulin", "rue des Écoles", "allée des Tilleuls"),
	},
	{code: "AU", language: "en-AU",
		places: []place{
			{city: "Sydney", region: "NSW", postal: between(2000, 2234, 4)},
			{city: "Melbourne", region: "VIC", postal: between(3000, 3207, 4)},
			{city: "Brisbane", region: "QLD", postal: between(4000, 4179, 4)},
			{city: "Perth", region: "WA", postal: between(6000, 6199, 4)},
			{city: "Adelaide", region: "SA", postal: between(5000, 5199, 4)},
			{city: "Canberra", region: "ACT", postal: between(2600, 2617, 4)},
			{city: "Hobart", region: "TAS", postal: between(7000, 7018, 4)},
		},
		phone: func(r *rand.Rand, _ place) string {
			return fmt.Sprintf("+61 4 1%03d %04d", r.IntN(1000), r.IntN(10000))
		},
		street: street(false, "George Street", "Collins Street", "Queen Street", "Beach Road", "Bridge Road", "Victoria Street", "Park Road"),
	},
}

// Person is one synthetic customer's fields; i makes the email unique. City, region, postal
// code, phone number, street and language all belong to the customer's country.
func Person(f *gofakeit.Faker, r *rand.Rand, i int) map[string]any {
	first, last := f.FirstName(), f.LastName()
	c := countries[r.IntN(len(countries))]
	p := c.places[r.IntN(len(c.places))]
	birth := f.DateRange(time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2006, 12, 31, 0, 0, 0, 0, time.UTC))
	fields := map[string]any{
		"first_name":      first,
		"last_name":       last,
		"email":           fmt.Sprintf("%s.%s.%d@%s", strings.ToLower(first), strings.ToLower(last), i, []string{"example.com", "example.org", "example.net"}[r.IntN(3)]),
		"phone":           c.phone(r, p),
		"address_line1":   c.street(r),
		"city":            p.city,
		"region":          p.region,
		"postal_code":     p.postal(r),
		"country":         c.code,
		"birth_date":      birth.Format("2006-01-02"),
		"customer_number": fmt.Sprintf("C%07d", 1000000+i),
	}
	optional := map[string]any{
		"gender":                []string{"female", "male", "non_binary", "prefer_not_to_say"}[r.IntN(4)],
		"language":              c.language,
		"loyalty_points":        int64(r.IntN(20000)),
		"loyalty_tier":          []string{"bronze", "silver", "gold", "platinum"}[r.IntN(4)],
		"card_brand":            []string{"visa", "mastercard", "amex"}[r.IntN(3)],
		"card_last4":            fmt.Sprintf("%04d", r.IntN(10000)),
		"payment_token":         "tok_" + f.LetterN(24),
		"ip_address":            f.IPv4Address(),
		"satisfaction_score":    int64(1 + r.IntN(10)),
		"loyalty_member_number": fmt.Sprintf("L%08d", r.IntN(100000000)),
	}
	for _, name := range slices.Sorted(maps.Keys(optional)) {
		if r.IntN(3) > 0 {
			fields[name] = optional[name]
		}
	}
	return fields
}

// Twins creates a second, slightly different record for every every-th of the first n
// demo customers (as Load made them with seed): the given name with two letters swapped,
// another e-mail address, no phone or customer number; every other one married and moved
// (another family name and address). They give a demo's duplicate scan something to merge and something to review. It returns how many it created.
func Twins(ctx context.Context, svc *customer.Service, n int, seed uint64, every int) (int, error) {
	faker := gofakeit.New(seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5deece66d))
	made := 0
	for i := 0; i < n; i++ {
		p := Person(faker, rng, i)
		if every <= 0 || i%every != 3 {
			continue
		}
		name := []rune(p["first_name"].(string))
		if len(name) > 3 {
			name[1], name[2] = name[2], name[1]
		}
		twin := map[string]any{"first_name": string(name), "email": fmt.Sprintf("twin.%d@example.org", i)}
		keep := []string{"last_name", "birth_date", "address_line1", "city", "region", "postal_code", "country"}
		if (i/every)%2 == 1 {
			// Married and moved: another family name and address, the same given name and
			// birth date. A case for a person to review.
			twin["first_name"], twin["last_name"] = p["first_name"], "Ellison"
			keep = []string{"birth_date", "country"}
		}
		for _, f := range keep {
			twin[f] = p[f]
		}
		_, err := svc.Create(ctx, twin)
		for tries := 0; droppable(err) && tries < 3; tries++ {
			delete(twin, problem.FieldOf(err))
			_, err = svc.Create(ctx, twin)
		}
		if err != nil {
			return made, fmt.Errorf("demo twin %d: %w", i, err)
		}
		made++
	}
	return made, nil
}

// droppable reports an error about one field of a synthetic person (a value that fails
// validation, or one another person already has) that dropping the field cures.
func droppable(err error) bool {
	return (problem.Is(err, problem.Invalid) || problem.Is(err, problem.Conflict)) && problem.FieldOf(err) != ""
}
