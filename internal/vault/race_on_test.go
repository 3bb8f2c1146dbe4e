//go:build race

package vault

// raceEnabled lets allocation tests skip under the race detector, which makes sync.Pool drop
// items at random and so turns pooled reuse into fresh allocations.
const raceEnabled = true
