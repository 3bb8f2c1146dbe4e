package app

import (
	"os"
	"runtime/debug"
)

// serverGCPercent is how far a serving process lets its heap grow past what is live before
// the garbage collector runs, when the operator has not chosen with GOGC. Go's default of 100
// suits programs with large heaps; a server's live heap is small (SQLite keeps its pages
// outside it, some 5–40 MB stay live) while every request allocates, so at 100 the collector
// ran several times a second and, with its write barriers and sweeping, took about a tenth of
// the processor time of webhook deliveries, much of it on the one writer every write waits for.
// At 400 the heap settles at a few tens of megabytes more and deliveries cost about a tenth less
// processor time (docs/configuration.md, steward serve).
const serverGCPercent = 400

// paceCollector sets the collector's pace for serving unless GOGC is set, which always wins.
func paceCollector() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serverGCPercent)
	}
}
