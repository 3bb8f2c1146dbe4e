package problem

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindAndDetail(t *testing.T) {
	secret := errors.New("pq: relation customers violates constraint on 'alice@example.com'")
	tests := []struct {
		name       string
		err        error
		kind       Kind
		detail     string
		notContain string
	}{
		{"plain error is internal", secret, Internal, "internal error", "alice"},
		{"wrapped internal hides cause", Wrap(Internal, secret, "store failed"), Internal, "internal error", "alice"},
		{"invalid field", InvalidField("email", "not an email address"), Invalid, "email: not an email address", ""},
		{"kind survives fmt wrapping", fmt.Errorf("create: %w", NotFoundf("customer not found")), NotFound, "customer not found", ""},
		{"conflict keeps cause private", Wrap(Conflict, secret, "version changed"), Conflict, "version changed", "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.kind {
				t.Errorf("KindOf = %v, want %v", got, tt.kind)
			}
			got := Detail(tt.err)
			if got != tt.detail {
				t.Errorf("Detail = %q, want %q", got, tt.detail)
			}
		})
	}
	if got := FieldOf(InvalidField("phone", "bad")); got != "phone" {
		t.Errorf("FieldOf = %q, want phone", got)
	}
	if !errors.Is(Wrap(Internal, secret, "x"), secret) {
		t.Error("Wrap must keep the cause reachable for logs")
	}
}
