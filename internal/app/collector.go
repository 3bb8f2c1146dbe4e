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
// At 400 the runtime holds up to about 100 MB more, and webhook deliveries went 6% faster at the
// median of alternating runs, up to half when other work loaded the machine (docs/ingest.md).
const serverGCPercent = 400

// PaceCollector sets the collector's pace unless GOGC is set, which always wins. Serve calls it,
// and so does every command that opens the installation (an import allocates as a server does).
func PaceCollector() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serverGCPercent)
	}
}
