package catalog

import (
	"strings"
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in      string
		want    Retention
		dur     time.Duration
		wantErr string
	}{
		{in: "90d", want: Retention{Amount: 90, Unit: Days}, dur: 90 * day},
		{in: "18m", want: Retention{Amount: 18, Unit: Months}, dur: 540 * day},
		{in: "3y", want: Retention{Amount: 3, Unit: Years}, dur: 3 * 365 * day},
		{in: "1d", want: Retention{Amount: 1, Unit: Days}, dur: day},
		{in: "100y", want: Retention{Amount: 100, Unit: Years}, dur: 36500 * day},
		{in: "36500d", want: Retention{Amount: 36500, Unit: Days}, dur: 36500 * day},
		{in: "until_erasure", want: Retention{UntilErasure: true}, dur: 0},
		{in: "", wantErr: "want a number"},
		{in: "d", wantErr: "want a number"},
		{in: "3", wantErr: "want a number"},
		{in: "3 y", wantErr: "want a number"},
		{in: "3Y", wantErr: "want a number"},
		{in: "3w", wantErr: "want a number"},
		{in: "-3y", wantErr: "want a number"},
		{in: "+3y", wantErr: "want a number"},
		{in: "1.5y", wantErr: "want a number"},
		{in: "three years", wantErr: "want a number"},
		{in: "until erasure", wantErr: "want a number"},
		{in: "0d", wantErr: "longer than zero"},
		{in: "03y", wantErr: "leading zeros"},
		{in: "101y", wantErr: "at most 100 years"},
		{in: "36501d", wantErr: "at most 100 years"},
		{in: "99999999999999999999y", wantErr: "at most 100 years"},
	}
	for _, tt := range tests {
		got, err := ParseRetention(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRetention(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRetention(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want || got.Duration() != tt.dur || got.String() != tt.in {
			t.Errorf("ParseRetention(%q) = %+v (%v, %q), want %+v (%v)", tt.in, got, got.Duration(), got.String(), tt.want, tt.dur)
		}
	}
}

func TestRetentionText(t *testing.T) {
	var r Retention
	if err := r.UnmarshalText([]byte("18m")); err != nil || r.Days() != 540 {
		t.Errorf("UnmarshalText(18m) = %+v, %v", r, err)
	}
	if err := r.UnmarshalText([]byte("forever")); err == nil {
		t.Error("UnmarshalText(forever) succeeded")
	}
	if b, _ := (Retention{}).MarshalText(); len(b) != 0 || !(Retention{}).IsZero() {
		t.Errorf("zero retention marshals to %q", b)
	}
}
