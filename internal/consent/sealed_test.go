package consent

import (
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/vault"
)

func testDataKey(t *testing.T, customerID string) *vault.DataKey {
	t.Helper()
	ks, err := vault.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(ks, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dk, _, err := v.NewDataKey(customerID)
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

// TestSealedEvidenceBinding: sealed evidence holds nothing in clear, opens only for its own
// record and customer under their key, and a system reference stays readable.
func TestSealedEvidenceBinding(t *testing.T) {
	dk := testDataKey(t, "c1")
	r := Record{ID: "r1", CustomerID: "c1", Source: SourceBanner,
		Evidence: Evidence{FormID: "zq-form", UserAgent: "ZqAgent/1", IPHash: "ab", TCF: "CPX", GPP: "DBA"}}
	if ClearEvidence(&r) {
		t.Fatal("personal evidence counted as clear")
	}
	if err := SealEvidence(dk, &r); err != nil {
		t.Fatal(err)
	}
	if !ClearEvidence(&r) || r.Evidence != (Evidence{IPHash: "ab"}) || strings.Contains(string(r.SealedEvidence), "ZqAgent") {
		t.Fatalf("after sealing: %+v", r)
	}
	moved := r
	moved.ID = "r2"
	if openEvidence(dk, &moved, false) {
		t.Fatal("evidence moved to another record opened")
	}
	other := r
	other.CustomerID = "c2"
	if openEvidence(dk, &other, false) || openEvidence(testDataKey(t, "c1"), &r, false) {
		t.Fatal("evidence opened for another customer or under another key")
	}
	masked := r
	if !openEvidence(dk, &masked, true) || masked.Evidence.UserAgent != EvidenceMask || masked.Evidence.FormID != EvidenceMask {
		t.Fatalf("masked: %+v", masked.Evidence)
	}
	if !openEvidence(dk, &r, false) || r.Evidence.UserAgent != "ZqAgent/1" || r.Evidence.FormID != "zq-form" || r.Evidence.GPP != "DBA" {
		t.Fatalf("opened: %+v", r.Evidence)
	}
	sys := Record{ID: "r3", CustomerID: "c1", Source: SourceEvent, Evidence: Evidence{FormID: "event:Unsubscribed:m1", UserAgent: "ZqAgent/1"}}
	if err := SealEvidence(nil, &sys); err != nil || sys.Evidence.FormID != "event:Unsubscribed:m1" || sys.Evidence.UserAgent != "" || sys.SealedEvidence != nil {
		t.Fatalf("system reference without a key: %+v", sys)
	}
}
