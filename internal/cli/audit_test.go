package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stewardhq/steward/internal/audit"
)

// verifierFunc is a chainVerifier answering with fixed results.
type verifierFunc func() (audit.Report, error)

func (f verifierFunc) Verify(context.Context) (audit.Report, error) { return f() }

// TestVerifyAuditOutcomes: an intact trail prints its counts and exits 0, a broken one names
// the entry on stderr and exits 2, and a failure to check it is an ordinary error (exit 1).
func TestVerifyAuditOutcomes(t *testing.T) {
	outage := errors.New("database is locked")
	for _, tt := range []struct {
		name             string
		verify           verifierFunc
		wantOut, wantErr string
		wantExit         error
	}{
		{"intact", func() (audit.Report, error) { return audit.Report{Entries: 12, Chains: 2, Checkpoints: 1}, nil },
			"audit trail intact: 12 entries in 2 chains, 1 signed checkpoints\n", "", nil},
		{"broken", func() (audit.Report, error) {
			return audit.Report{}, fmt.Errorf("verify: %w", &audit.Break{Chain: 1, Seq: 7, Reason: "hash mismatch"})
		}, "", "steward: audit trail broken at chain 1 entry 7: hash mismatch\n", exitCode(2)},
		{"outage", func() (audit.Report, error) { return audit.Report{}, outage }, "", "", outage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := verifyAudit(context.Background(), tt.verify, &stdout, &stderr)
			if !errors.Is(err, tt.wantExit) || (tt.wantExit == nil && err != nil) {
				t.Errorf("got error %v, want %v", err, tt.wantExit)
			}
			if stdout.String() != tt.wantOut {
				t.Errorf("got stdout %q, want %q", stdout.String(), tt.wantOut)
			}
			if stderr.String() != tt.wantErr {
				t.Errorf("got stderr %q, want %q", stderr.String(), tt.wantErr)
			}
		})
	}
}
