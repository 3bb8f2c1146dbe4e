package store

import (
	"slices"
	"testing"
)

// TestParseSnapshot: a snapshot's 64-bit transaction ids become the 32-bit ids rows carry
// (past a wraparound of the 32-bit counter too), and a malformed one is an error.
func TestParseSnapshot(t *testing.T) {
	xmax, xip, err := parseSnapshot("4294967298:4294967305:4294967299,4294967303")
	if err != nil || xmax != 9 || !slices.Equal(xip, []int64{3, 7}) {
		t.Fatalf("got %d %v (%v), want 9 [3 7]", xmax, xip, err)
	}
	if xmax, xip, err = parseSnapshot("750:750:"); err != nil || xmax != 750 || len(xip) != 0 || xip == nil {
		t.Fatalf("got %d %v (%v), want 750 and an empty list", xmax, xip, err)
	}
	for _, bad := range []string{"", "1:2", "1:x:", "1:2:3,y"} {
		if _, _, err := parseSnapshot(bad); err == nil {
			t.Errorf("snapshot %q: no error", bad)
		}
	}
}
