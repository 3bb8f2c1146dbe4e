package quality

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// sharedDataRoot finds the external test data (shared/data beside the repository, or
// $STEWARD_SHARED_DATA); "" when it is not there.
func sharedDataRoot() string {
	if root := os.Getenv("STEWARD_SHARED_DATA"); root != "" {
		return root
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "shared", "data")); err == nil && fi.IsDir() {
			return filepath.Join(dir, "shared", "data")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// suiteSeeds returns the suites' addresses as fuzz seeds when the external data is
// present; fuzzing still works from the built-in seeds without it.
func suiteSeeds() []string {
	root := sharedDataRoot()
	if root == "" {
		return nil
	}
	raw, err := os.ReadFile(filepath.Join(root, "email", "isemail-js", "tests.json"))
	if err != nil {
		return nil
	}
	var pairs [][2]string
	if json.Unmarshal(raw, &pairs) != nil {
		return nil
	}
	out := make([]string, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, p[0])
	}
	return out
}

func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{
		"user@example.com", " User@Example.COM ", "user@bücher.example", "伊昭傑@郵件.商務",
		`"quoted"@example.com`, "a@[IPv6:::1]", "(c)a@b.c", "a@b", "x@ＥＸＡＭＰＬＥ。com",
		"İSTANBUL@example.com", "K@example.com", "a@xn--bcher-kva.example", "john@gmial.com",
	} {
		f.Add(s)
	}
	for _, s := range suiteSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := ValidateEmail(raw)
		if r.Category == "" || r.Diagnosis == "" || r.Diagnosis == "UNKNOWN" {
			t.Fatalf("incomplete grade %+v", r)
		}
		if !r.Acceptable {
			if r.Normalized != "" || r.Reason == "" || r.Role || r.Disposable || r.Suggestion != "" {
				t.Fatalf("rejected result carries data: %+v", r)
			}
			return
		}
		n := r.Normalized
		if n == "" || r.Reason != "" || !utf8.ValidString(n) || len(n) > maxAddrOctets {
			t.Fatalf("accepted result malformed: %+v", r)
		}
		again := ValidateEmail(n)
		if !again.Acceptable || again.Normalized != n || again.Category != CategoryValid {
			t.Fatalf("normalized %q does not re-validate to itself: %+v", n, again)
		}
		if r.Suggestion != "" {
			if s := ValidateEmail(r.Suggestion); !s.Acceptable || s.Normalized != r.Suggestion {
				t.Fatalf("suggestion %q is not itself acceptable", r.Suggestion)
			}
		}
		if domain := n[strings.LastIndexByte(n, '@')+1:]; !isHostname(domain) {
			t.Fatalf("normalized domain %q is not a host name", domain)
		}
	})
}

func FuzzValidatePhone(f *testing.F) {
	for _, s := range [][2]string{
		{"+44 20 7946 0958", "GB"}, {"07400 123456", "GB"}, {"(202) 555-0143", "US"},
		{"030 123456", "DE"}, {"06 12 34 56 78", "FR"}, {"0412 345 678", "AU"},
		{"+800 1234 5678", ""}, {"tel:+1-650-253-0000;ext=12", "US"}, {"hello", "US"},
		{"0044 7400 123456", "gb"}, {"+1 800 FLOWERS", "US"}, {"", ""},
		{"+447911100000", ""}, {"(415) 555-2671", "US"}, {"1 415 555 2671", "CA"},
		{"+44 (0)20 7946 0958", "GG"}, {"030/1234567", "DE"}, {"+39 06 1234 5678", "IT"},
		{"0 11 15 2345-6789", "AR"}, {"4621234", "AG"}, {"44 01481 512345", "GG"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		r := ValidatePhone(raw, region)
		if r.Type == "" {
			t.Fatalf("no type: %+v", r)
		}
		// The fast path must read every input exactly as the library's parser does.
		if _, problem := comparePhonePaths(raw, region); problem != "" {
			t.Fatal(problem)
		}
		// Our classifier must agree with the library it stands in for.
		if num, err := phonenumbers.Parse(strings.TrimSpace(raw), strings.ToUpper(strings.TrimSpace(region))); err == nil &&
			len(strings.TrimSpace(raw)) <= maxPhoneInput && strings.TrimSpace(region) != "" {
			if r.Valid != phonenumbers.IsValidNumber(num) {
				t.Fatalf("validity %v disagrees with the library", r.Valid)
			}
			if r.Valid {
				if want := phoneTypeNames[phonenumbers.GetNumberType(num)]; r.Type != want {
					t.Fatalf("type %s, library %s", r.Type, want)
				}
				if want := phonenumbers.GetRegionCodeForNumber(num); r.Region != want {
					t.Fatalf("region %s, library %s", r.Region, want)
				}
			}
		}
		if !r.Valid {
			if r.E164 != "" || r.Reason == "" {
				t.Fatalf("invalid result malformed: %+v", r)
			}
			return
		}
		if !strings.HasPrefix(r.E164, "+") || r.Reason != "" {
			t.Fatalf("valid result malformed: %+v", r)
		}
		// E.164 carries its country code, so it must re-validate to itself whatever
		// region is assumed.
		for _, reg := range []string{"", region, "US"} {
			again := ValidatePhone(r.E164, reg)
			if !again.Valid || again.E164 != r.E164 {
				t.Fatalf("E.164 %q (region %q) does not re-validate to itself: %+v", r.E164, reg, again)
			}
		}
	})
}
