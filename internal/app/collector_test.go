package app

import (
	"os"
	"runtime/debug"
	"testing"
)

// The serving pace applies only when the operator has not chosen one with GOGC.
func TestPaceCollectorRespectsGOGC(t *testing.T) {
	prev, had := os.LookupEnv("GOGC")
	before := debug.SetGCPercent(100)
	t.Cleanup(func() {
		debug.SetGCPercent(before)
		if had {
			os.Setenv("GOGC", prev)
		} else {
			os.Unsetenv("GOGC")
		}
	})

	os.Unsetenv("GOGC")
	PaceCollector()
	if got := debug.SetGCPercent(100); got != serverGCPercent {
		t.Fatalf("without GOGC the collector's percent is %d, want %d", got, serverGCPercent)
	}

	os.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	PaceCollector()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Fatalf("with GOGC=50 the collector's percent is %d, want 50 kept", got)
	}
}
