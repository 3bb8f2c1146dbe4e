package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestQualityReportAndDuplicatesScan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errs := runCLI(t, nil, "init", "--data", dir); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errs)
	}
	code, out, errs := runCLI(t, nil, "duplicates", "scan", "--data", dir)
	if code != 0 || !strings.Contains(out, "refreshed 0, candidates 0, pairs 0") {
		t.Fatalf("scan: exit %d %q %s", code, out, errs)
	}
	code, out, errs = runCLI(t, nil, "quality", "report", "--data", dir)
	if code != 0 || !strings.Contains(out, "duplicates pending") || !strings.Contains(out, "bounced") || !strings.Contains(out, "email") {
		t.Fatalf("report: exit %d %q %s", code, out, errs)
	}
	code, out, _ = runCLI(t, nil, "quality", "report", "--data", dir, "--json")
	var rep struct {
		Customers     *int64           `json:"customers"`
		ContactStatus map[string]int64 `json:"contact_status"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Customers == nil || len(rep.ContactStatus) != 8 {
		t.Fatalf("report --json: exit %d %q", code, out)
	}
	if code, _, errs := runCLI(t, nil, "quality", "report", "--data", dir, "--duplicate-merge-threshold", "0.2"); code == 0 || !strings.Contains(errs, "duplicate-merge-threshold") {
		t.Fatalf("bad threshold: exit %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, nil, "duplicates", "scan", "--data", dir, "--survivorship", "email=newest"); code == 0 || !strings.Contains(errs, "survivorship") {
		t.Fatalf("bad survivorship: exit %d %q", code, errs)
	}
}
