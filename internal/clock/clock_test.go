package clock

import (
	"testing"
	"time"
)

func TestSystemIsUTCMicroseconds(t *testing.T) {
	now := System()
	if now.Location() != time.UTC {
		t.Errorf("got location %v, want UTC", now.Location())
	}
	if now.Nanosecond()%1000 != 0 {
		t.Errorf("got %d ns, want whole microseconds", now.Nanosecond())
	}
	if Or(nil) == nil {
		t.Error("Or(nil) is nil, want the system clock")
	}
}

func TestOffsetMoves(t *testing.T) {
	var o Offset
	before := System()
	o.Set(48 * time.Hour)
	got := o.Now()
	if got.Before(before.Add(48*time.Hour)) || got.After(System().Add(48*time.Hour)) {
		t.Errorf("got %v, want two days after %v", got, before)
	}
	o.Set(0)
	if d := o.Now().Sub(System()); d > time.Second || d < -time.Second {
		t.Errorf("after Set(0) the clock is %v off", d)
	}
}
