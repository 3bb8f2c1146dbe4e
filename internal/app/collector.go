package app

import (
	"os"
	"runtime/debug"
)

// serverGCPercent is how far a serving process lets its heap grow past what is live before
// the garbage collector runs, when the operator has not chosen with GOGC. Go's default of 100
// suits programs with large heaps; a server's live heap is small (SQLite keeps its pages
// outside it, some 5–40 MB stay live) while every request allocates, so at 100 the collector
// ran several times a second, and its marking and assists took about 7% of the processor time
// of webhook deliveries, some of it on the one writer every write waits for. At 400 that is
// 1.5%, for up to about 100 MB more held by the runtime (docs/ingest.md).
const serverGCPercent = 400

// PaceCollector sets the collector's pace unless GOGC is set, which always wins. Serve calls it,
// and so does every command that opens the installation (an import allocates as a server does).
func PaceCollector() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serverGCPercent)
	}
}
