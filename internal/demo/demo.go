// Package demo makes realistic synthetic customers for trying Steward out. The data is seeded,
// so every demo installation holds the same people, and it goes through the customer service
// like any other write: validated, sealed, indexed and audited.
package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
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

var countries = []struct {
	code, region string
	phone        func(r *rand.Rand) string
	// postal makes a postal code of the country's format; nil uses the faker's ZIP code.
	postal func(r *rand.Rand) string
}{
	{"GB", "GB", func(r *rand.Rand) string { return fmt.Sprintf("+44 7911 1%05d", r.IntN(100000)) }, func(r *rand.Rand) string {
		const units = "ABDEFGHJLNPQRSTUWXYZ" // the letters UK inward codes use
		area := []string{"SW", "EC", "N", "LS", "M", "B", "G", "EH", "CF", "BS"}[r.IntN(10)]
		return fmt.Sprintf("%s%d %d%c%c", area, 1+r.IntN(20), r.IntN(10), units[r.IntN(len(units))], units[r.IntN(len(units))])
	}},
	{"US", "US", func(r *rand.Rand) string {
		return fmt.Sprintf("+1 %d 555 01%02d", []int{202, 212, 312, 415, 617}[r.IntN(5)], r.IntN(100))
	}, nil},
	{"DE", "DE", func(r *rand.Rand) string { return fmt.Sprintf("+49 151 %08d", r.IntN(100000000)) },
		func(r *rand.Rand) string { return fmt.Sprintf("%05d", 1000+r.IntN(98000)) }},
	{"FR", "FR", func(r *rand.Rand) string {
		return fmt.Sprintf("+33 6 1%d %02d %02d %02d", r.IntN(10), r.IntN(100), r.IntN(100), r.IntN(100))
	}, func(r *rand.Rand) string { return fmt.Sprintf("%02d%03d", 1+r.IntN(95), r.IntN(1000)) }},
	{"AU", "AU", func(r *rand.Rand) string { return fmt.Sprintf("+61 4 1%03d %04d", r.IntN(1000), r.IntN(10000)) },
		func(r *rand.Rand) string { return fmt.Sprintf("%04d", 1000+r.IntN(9000)) }},
}

// Person is one synthetic customer's fields; i makes the email unique.
func Person(f *gofakeit.Faker, r *rand.Rand, i int) map[string]any {
	first, last := f.FirstName(), f.LastName()
	c := countries[r.IntN(len(countries))]
	addr := f.Address()
	birth := f.DateRange(time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2006, 12, 31, 0, 0, 0, 0, time.UTC))
	postal := addr.Zip
	if c.postal != nil {
		postal = c.postal(r)
	}
	fields := map[string]any{
		"first_name":      first,
		"last_name":       last,
		"email":           fmt.Sprintf("%s.%s.%d@%s", strings.ToLower(first), strings.ToLower(last), i, []string{"example.com", "example.org", "example.net"}[r.IntN(3)]),
		"phone":           c.phone(r),
		"address_line1":   addr.Street,
		"city":            addr.City,
		"postal_code":     postal,
		"country":         c.code,
		"birth_date":      birth.Format("2006-01-02"),
		"customer_number": fmt.Sprintf("C%07d", 1000000+i),
	}
	optional := map[string]any{
		"gender":                []string{"female", "male", "non_binary", "prefer_not_to_say"}[r.IntN(4)],
		"language":              []string{"en-GB", "en-US", "de-DE", "fr-FR", "en-AU"}[r.IntN(5)],
		"loyalty_points":        int64(r.IntN(20000)),
		"loyalty_tier":          []string{"bronze", "silver", "gold", "platinum"}[r.IntN(4)],
		"card_brand":            []string{"visa", "mastercard", "amex"}[r.IntN(3)],
		"card_last4":            fmt.Sprintf("%04d", r.IntN(10000)),
		"payment_token":         "tok_" + f.LetterN(24),
		"ip_address":            f.IPv4Address(),
		"satisfaction_score":    int64(1 + r.IntN(10)),
		"loyalty_member_number": fmt.Sprintf("L%08d", r.IntN(100000000)),
	}
	for name, v := range optional {
		if r.IntN(3) > 0 {
			fields[name] = v
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
		keep := []string{"last_name", "birth_date", "address_line1", "city", "postal_code", "country"}
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
