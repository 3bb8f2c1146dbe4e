package consent

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/problem"
)

func testHash(label string, data []byte) []byte {
	m := hmac.New(sha256.New, []byte("test key "+label))
	m.Write(data)
	return m.Sum(nil)
}

func TestEvidence(t *testing.T) {
	const tcf = "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"
	const tcfWithSegments = "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw"
	const gpp = "DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"
	tests := []struct {
		name  string
		in    EvidenceInput
		field string // the field named by the error; empty when valid
	}{
		{"empty", EvidenceInput{}, ""},
		{"full", EvidenceInput{FormID: "newsletter-footer", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", IP: "203.0.113.7", TCF: tcf, GPP: gpp}, ""},
		{"TC string with segments", EvidenceInput{TCF: tcfWithSegments}, ""},
		{"IPv6", EvidenceInput{IP: "2001:db8::1"}, ""},
		{"not an IP", EvidenceInput{IP: "203.0.113.300"}, "evidence.ip"},
		{"TCF v1", EvidenceInput{TCF: "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASAAAAAAAAAAAA"}, "evidence.tcf"},
		{"TCF too short", EvidenceInput{TCF: "CPXxRfAP"}, "evidence.tcf"},
		{"TCF bad character", EvidenceInput{TCF: "CPXxRfAPXxRfAAfKABENB+CgAAAAAAAAAAYgAAAAAAAA"}, "evidence.tcf"},
		{"TCF empty segment", EvidenceInput{TCF: tcf + ".."}, "evidence.tcf"},
		{"TCF too long", EvidenceInput{TCF: "C" + strings.Repeat("A", maxIABString)}, "evidence.tcf"},
		{"GPP wrong header", EvidenceInput{GPP: "XBABMA~" + tcf}, "evidence.gpp"},
		{"GPP empty section", EvidenceInput{GPP: "DBABMA~~" + tcf}, "evidence.gpp"},
		{"GPP with spaces", EvidenceInput{GPP: "DBABMA ~" + tcf}, "evidence.gpp"},
		{"user agent with a newline", EvidenceInput{UserAgent: "Mozilla\n"}, "evidence.user_agent"},
		{"user agent too long", EvidenceInput{UserAgent: strings.Repeat("a", maxUserAgent+1)}, "evidence.user_agent"},
		{"form id too long", EvidenceInput{FormID: strings.Repeat("f", maxFormID+1)}, "evidence.form_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := evidence(tt.in, testHash)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				if tt.in.IP != "" && (len(ev.IPHash) != 64 || strings.Contains(ev.IPHash, tt.in.IP)) {
					t.Fatalf("got ip hash %q", ev.IPHash)
				}
				return
			}
			if got := problem.FieldOf(err); !problem.Is(err, problem.Invalid) || got != tt.field {
				t.Fatalf("got %v (field %q), want Invalid naming %s", err, got, tt.field)
			}
			if tt.in.IP != "" && strings.Contains(problem.Detail(err), tt.in.IP) {
				t.Fatalf("the error repeats the value: %v", err)
			}
		})
	}
	a, _ := evidence(EvidenceInput{IP: "203.0.113.7"}, testHash)
	b, _ := evidence(EvidenceInput{IP: "::ffff:203.0.113.7"}, testHash)
	if a.IPHash != b.IPHash {
		t.Error("an IPv4-mapped address hashes differently from the plain one")
	}
}

// FuzzEvidence feeds arbitrary IAB strings and addresses to the evidence checks, which parse
// outside input: they must never panic, and whatever they accept is stored as given.
func FuzzEvidence(f *testing.F) {
	f.Add("CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA", "DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA", "203.0.113.7")
	f.Add("", "", "")
	f.Add("C.", "DB~", "::1")
	f.Fuzz(func(t *testing.T, tcf, gpp, ip string) {
		ev, err := evidence(EvidenceInput{TCF: tcf, GPP: gpp, IP: ip}, testHash)
		if err == nil && (ev.TCF != tcf || ev.GPP != gpp) {
			t.Fatalf("accepted strings were changed")
		}
		if err != nil && !problem.Is(err, problem.Invalid) {
			t.Fatalf("got %v, want Invalid", err)
		}
	})
}
