package consent

import (
	"testing"

	"github.com/stewardhq/steward/internal/catalog"
)

// BenchmarkDecide is the permission decision itself, warm: the facts about a customer already
// in memory, as after the batched loads of a bulk check. Storage costs are measured by the
// end-to-end benchmarks in internal/app.
func BenchmarkDecide(b *testing.B) {
	p, _ := catalog.Default().Purpose("marketing_email")
	history := []Record{grant("marketing_email", "v1", t0), withdraw("marketing_email", SourcePortal, t1), grant("marketing_email", "v2", t1)}
	var f facts
	f.exists = true
	for i := range history {
		f.fold(&history[i], p.Name)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := decide(p, testPolicies, f, "c1", t2); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}
