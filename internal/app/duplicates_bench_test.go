package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/match"
)

// BenchmarkDuplicateScan measures a whole server-side scan over a base with seeded
// duplicates (STEWARD_BENCH_SCAN_CUSTOMERS, default 20,000 people, one in ten typed twice
// with a slip in a name, another e-mail and no phone): refreshing every customer's blocking
// keys, finding candidates from the keys, opening and scoring them, queueing the pairs.
// The baseline is the offline matcher run on the same records in memory, which is the
// floor the server adds decryption and storage to. Precision and recall are of the seeded
// pairs among the pairs queued.
func BenchmarkDuplicateScan(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("STEWARD_BENCH_SCAN_CUSTOMERS")); err == nil && v > 0 {
		n = v
	}
	a := benchApp(b, b.TempDir())
	defer a.Close()
	a.Duplicates.Config.MergeThreshold = 1
	ctx := audit.WithActor(context.Background(), audit.System)
	rng := rand.New(rand.NewPCG(7, 7))
	firsts := []string{"oliver", "amelia", "george", "isla", "harry", "ava", "jack", "mia", "noah", "sophia", "leo", "grace", "oscar", "freya", "arthur", "lily", "henry", "evie", "theo", "ruby", "jacob", "emily", "charlie", "poppy", "thomas", "ella", "james", "chloe", "william", "sophie"}
	lasts := []string{"smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "davies", "patel", "wright", "walker", "robinson", "thompson", "white", "hughes", "edwards", "green", "hall", "wood", "harris", "clarke", "jackson", "turner", "hill", "moore", "cooper", "ward", "king", "baker", "lee"}
	streets := []string{"high street", "station road", "church lane", "mill road", "park avenue", "victoria road", "green lane", "manor road"}
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
		f := map[string]any{
			"first_name": firsts[rng.IntN(len(firsts))], "last_name": lasts[rng.IntN(len(lasts))],
			"email":         fmt.Sprintf("p%d@example.com", i),
			"phone":         fmt.Sprintf("+4474001%05d", i%100000),
			"birth_date":    fmt.Sprintf("%d-%02d-%02d", 1940+rng.IntN(65), 1+rng.IntN(12), 1+rng.IntN(28)),
			"address_line1": fmt.Sprintf("%d %s", 1+rng.IntN(200), streets[rng.IntN(len(streets))]),
			"postal_code":   fmt.Sprintf("AB%d %d%s", 1+rng.IntN(99), rng.IntN(10), "CD"),
		}
		add(f)
		if i%10 == 0 {
			d := map[string]any{}
			for k, v := range f {
				d[k] = v
			}
			name := []byte(f["first_name"].(string))
			j := 1 + rng.IntN(len(name)-2)
			name[j], name[j+1] = name[j+1], name[j]
			d["first_name"] = string(name)
			d["email"] = fmt.Sprintf("d%d@example.org", i)
			delete(d, "phone")
			add(d)
			truth[d["email"].(string)] = f["email"].(string)
		}
	}
	flush()
	var scan, offline time.Duration
	var precision, recall float64
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
		precision, recall = scanQuality(b, a, truth)
		b.Logf("scan: %+v", res)
	}
	b.ReportMetric(scan.Seconds(), "s/scan")
	b.ReportMetric(offline.Seconds(), "s/offline")
	b.ReportMetric(scan.Seconds()/offline.Seconds(), "ratio")
	b.ReportMetric(float64(len(records)), "customers")
	b.ReportMetric(float64(len(truth)), "seeded")
	b.ReportMetric(precision, "precision")
	b.ReportMetric(recall, "recall")
}

// scanQuality compares the queued pairs with the seeded ones, by e-mail.
func scanQuality(b *testing.B, a *App, truth map[string]string) (float64, float64) {
	ctx := audit.WithActor(context.Background(), audit.System)
	emailOf := map[string]string{}
	after := ""
	for {
		recs, err := a.Store.ListCustomers(ctx, after, 5000)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			v, _, err := a.Customers.OpenProfile(ctx, r)
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
	found, right := 0, 0
	cursor := ""
	for {
		ps, next, err := a.Duplicates.List(ctx, "pending", cursor, 500)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range ps {
			found++
			x, y := emailOf[p.CustomerA], emailOf[p.CustomerB]
			if truth[x] == y || truth[y] == x {
				right++
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if found == 0 {
		return 0, 0
	}
	return float64(right) / float64(found), float64(right) / float64(len(truth))
}
