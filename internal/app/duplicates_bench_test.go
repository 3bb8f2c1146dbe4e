package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/match"
)

// BenchmarkDuplicateScan measures a whole server-side scan over a base with seeded
// duplicates (STEWARD_BENCH_SCAN_CUSTOMERS, default 20,000 people; one in ten typed twice:
// half with two letters of the given name swapped, three in ten moved house, two in ten with
// a slip in the birth date, half without the phone, all with another e-mail): refreshing
// every customer's blocking keys, finding candidates from the keys, opening and scoring them,
// queueing the pairs. The baseline is the offline matcher run on the same records in
// memory, the floor the server adds decryption and storage to. Precision is of the pairs
// from the merge threshold up, review precision of all pairs queued, recall of the seeded
// pairs among those queued. Names are made of syllables, thousands of them, so that
// coincidences are about as rare as among real names.
func BenchmarkDuplicateScan(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("STEWARD_BENCH_SCAN_CUSTOMERS")); err == nil && v > 0 {
		n = v
	}
	a := benchApp(b, b.TempDir(), func(c *config.Config) { c.DuplicateMergeThreshold = 1 })
	defer a.Close()
	ctx := authz.WithActor(context.Background(), authz.System)
	rng := rand.New(rand.NewPCG(7, 7))
	syllables := []string{"ka", "lo", "mi", "ren", "ta", "vo", "sel", "dan", "bri", "cor", "el", "fin", "gar", "hal", "is", "jo", "mar", "nor", "pel", "quin"}
	name := func(k int) string {
		s := ""
		for i := 0; i < k; i++ {
			s += syllables[rng.IntN(len(syllables))]
		}
		return s
	}
	streets := []string{"high street", "station road", "church lane", "mill road", "park avenue", "victoria road", "green lane", "manor road"}
	address := func() (string, string) {
		return fmt.Sprintf("%d %s", 1+rng.IntN(200), streets[rng.IntN(len(streets))]), fmt.Sprintf("AB%d %d%s", 1+rng.IntN(99), rng.IntN(10), "CD")
	}
	var records []match.Record
	var batch []map[string]any
	truth := map[string]string{} // duplicate's e-mail → original's e-mail
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := a.Customers.CreateBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	add := func(f map[string]any) {
		batch = append(batch, f)
		var r match.Record
		for k, v := range f {
			if fld, err := match.ParseField(k); err == nil {
				r.Set(fld, v.(string))
			}
		}
		r.ID = f["email"].(string)
		records = append(records, r)
		if len(batch) == 2000 {
			flush()
		}
	}
	for i := 0; i < n; i++ {
		line, postal := address()
		f := map[string]any{
			"first_name": name(2 + rng.IntN(2)), "last_name": name(3),
			"email":         fmt.Sprintf("p%d@example.com", i),
			"phone":         fmt.Sprintf("+447400%06d", i%1000000),
			"birth_date":    fmt.Sprintf("%d-%02d-%02d", 1940+rng.IntN(65), 1+rng.IntN(12), 1+rng.IntN(28)),
			"address_line1": line, "postal_code": postal,
		}
		add(f)
		if i%10 != 0 {
			continue
		}
		d := map[string]any{}
		for k, v := range f {
			d[k] = v
		}
		if rng.IntN(2) == 0 {
			nm := []byte(f["first_name"].(string))
			j := 1 + rng.IntN(len(nm)-2)
			nm[j], nm[j+1] = nm[j+1], nm[j]
			d["first_name"] = string(nm)
		}
		if rng.IntN(10) < 3 {
			d["address_line1"], d["postal_code"] = address()
		}
		if rng.IntN(10) < 2 {
			// One digit of the day, which stays a valid day (1 to 28) in every month.
			bd := []byte(d["birth_date"].(string))
			if bd[9] < '8' {
				bd[9]++
			} else {
				bd[9]--
			}
			d["birth_date"] = string(bd)
		}
		if rng.IntN(2) == 0 {
			delete(d, "phone")
		}
		d["email"] = fmt.Sprintf("d%d@example.org", i)
		add(d)
		truth[d["email"].(string)] = f["email"].(string)
	}
	flush()
	var scan, rescan, offline time.Duration
	var precision, review, recall float64
	for b.Loop() {
		start := time.Now()
		res, err := a.Duplicates.Scan(ctx)
		if err != nil {
			b.Fatal(err)
		}
		scan = time.Since(start)
		start = time.Now()
		cfg := match.DefaultConfig()
		if _, err := match.Run(context.Background(), records, cfg); err != nil {
			b.Fatal(err)
		}
		offline = time.Since(start)
		precision, review, recall = scanQuality(b, a, truth)
		b.Logf("scan: %+v", res)
		// Nothing changed since: the next scan re-keys nobody and only scores.
		start = time.Now()
		if _, err := a.Duplicates.Scan(ctx); err != nil {
			b.Fatal(err)
		}
		rescan = time.Since(start)
	}
	b.ReportMetric(rescan.Seconds(), "s/rescan")
	b.ReportMetric(scan.Seconds(), "s/scan")
	b.ReportMetric(offline.Seconds(), "s/offline")
	b.ReportMetric(scan.Seconds()/offline.Seconds(), "ratio")
	b.ReportMetric(float64(len(records)), "customers")
	b.ReportMetric(float64(len(truth)), "seeded")
	b.ReportMetric(precision, "precision")
	b.ReportMetric(review, "review_precision")
	b.ReportMetric(recall, "recall")
}

// scanQuality compares the queued pairs with the seeded ones, by e-mail: precision of the
// pairs from the default merge threshold up, precision of all, recall.
func scanQuality(b *testing.B, a *App, truth map[string]string) (float64, float64, float64) {
	ctx := authz.WithActor(context.Background(), authz.System)
	emailOf := map[string]string{}
	after := ""
	for {
		recs, err := a.Store.Customers().ListCustomers(ctx, after, 5000)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			v, _, err := a.Vault.OpenProfile(ctx, r)
			if err != nil {
				b.Fatal(err)
			}
			emailOf[r.ID], _ = v["email"].(string)
		}
		if len(recs) < 5000 {
			break
		}
		after = recs[len(recs)-1].ID
	}
	merge := duplicateDefaultMerge
	found, right, high, highRight := 0, 0, 0, 0
	cursor := ""
	for {
		ps, next, err := a.Duplicates.List(ctx, "pending", cursor, 500)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range ps {
			x, y := emailOf[p.CustomerA], emailOf[p.CustomerB]
			ok := truth[x] == y || truth[y] == x
			found++
			if ok {
				right++
			}
			if p.Score >= merge {
				high++
				if ok {
					highRight++
				}
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	ratio := func(a, b int) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	return ratio(highRight, high), ratio(right, found), ratio(right, len(truth))
}

// duplicateDefaultMerge is the default merge threshold, against which merge precision is
// measured while the benchmark itself queues everything for review.
const duplicateDefaultMerge = 0.99
