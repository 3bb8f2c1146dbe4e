package authz

import (
	"context"
	"testing"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

// TestMayRead: a customer read for a generalized_only purpose needs customers.read and the
// purpose, not customers.reveal; every other purpose needs what MayReveal needs.
func TestMayRead(t *testing.T) {
	cat := catalog.Default()
	for _, tt := range []struct {
		role, purpose string
		want          problem.Kind // problem.Internal stands for "allowed"
	}{
		{"analyst", "", problem.Internal},
		{"analyst", "analytics", problem.Internal},
		{"analyst", "support", problem.Forbidden},
		{"marketer", "analytics", problem.Internal},
		{"support", "analytics", problem.Forbidden},
		{"support", "support", problem.Internal},
		{"admin", "support", problem.Forbidden}, // may act for support, may not reveal
		{"auditor", "analytics", problem.Forbidden},
		{"analyst", "curiosity", problem.Invalid},
	} {
		ctx := WithActor(context.Background(), Actor{ID: "k", Role: tt.role})
		_, err := MayRead(ctx, cat, tt.purpose)
		got := problem.Internal
		if err != nil {
			got = problem.KindOf(err)
		}
		if got != tt.want {
			t.Errorf("%s for %q: got %v (%v), want %v", tt.role, tt.purpose, got, err, tt.want)
		}
	}
	if _, err := MayRead(context.Background(), cat, "analytics"); !problem.Is(err, problem.Unauthenticated) {
		t.Errorf("nobody: got %v, want unauthenticated", err)
	}
}
