package staff_test

import (
	"os"
	"testing"

	"github.com/stewardhq/steward/internal/store/pgtest"
)

// TestMain stops the throwaway PostgreSQL server the engine tests start, which would
// otherwise outlive the test binary.
func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}
