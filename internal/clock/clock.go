// Package clock is the one source of the current time for every service. Steward stores
// times with microsecond precision on both engines, so a time taken at nanosecond precision
// and then read back would differ from itself; the system clock truncates once, here, instead
// of every caller doing it. Tests hand services a clock of their own instead of sleeping.
package clock

import (
	"sync/atomic"
	"time"
)

// Clock returns the current time in UTC at microsecond precision.
type Clock func() time.Time

// System is the machine's clock.
func System() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Or returns c, or System when c is nil, so that a service's clock is an optional setting
// rather than a dependency every caller must supply.
func Or(c Clock) Clock {
	if c == nil {
		return System
	}
	return c
}

// Offset is the system clock moved by an adjustable amount: tests use it to cross deadlines,
// leases and retention periods without sleeping, while time keeps running for everything else.
type Offset struct{ d atomic.Int64 }

// Now reads the clock; pass o.Now where a Clock is wanted.
func (o *Offset) Now() time.Time { return System().Add(time.Duration(o.d.Load())) }

// Set moves the clock to d after the system clock (before it when negative).
func (o *Offset) Set(d time.Duration) { o.d.Store(int64(d)) }

// Advance moves the clock on by d from wherever it is.
func (o *Offset) Advance(d time.Duration) { o.d.Add(int64(d)) }
