package consent

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
)

// TestDecidingKeepsTheDecision: the cache keeps only the newest record of each kind and
// purpose; for any history, every purpose is decided the same from those as from all records.
func TestDecidingKeepsTheDecision(t *testing.T) {
	cat := catalog.Default()
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []string{KindConsent, KindConsent, KindObjection, KindRestriction}
	sources := []string{SourcePortal, SourceGPC, SourceImport, SourceRequest}
	for n := 0; n < 2000; n++ {
		var recs []Record
		for i := 0; i < rng.IntN(12); i++ {
			p := cat.Purposes[rng.IntN(len(cat.Purposes))]
			r := Record{Seq: int64(rng.IntN(40)), Kind: kinds[rng.IntN(len(kinds))], Purpose: p.Name, Granted: rng.IntN(2) == 0,
				PolicyVersion: []string{"v1", "v2"}[rng.IntN(2)], Source: sources[rng.IntN(len(sources))],
				At: t0.Add(time.Duration(rng.IntN(100)) * time.Hour)}
			if r.Kind == KindRestriction {
				r.Purpose = ""
			}
			recs = append(recs, r)
		}
		kept := deciding(recs)
		for _, p := range cat.Purposes {
			var all, few facts
			all.exists, few.exists = true, true
			for i := range recs {
				all.fold(&recs[i], p.Name)
			}
			for i := range kept {
				r := kept[i].record()
				few.fold(&r, p.Name)
			}
			for _, now := range []time.Time{t0, t2, t2.Add(1000 * time.Hour)} {
				if a, b := decide(p, testPolicies, all, "c", now), decide(p, testPolicies, few, "c", now); a.Reason != b.Reason || a.Allowed != b.Allowed {
					t.Fatalf("history %d, %s: all records %s, kept %s (%+v)", n, p.Name, a.Reason, b.Reason, recs)
				}
			}
		}
	}
}
