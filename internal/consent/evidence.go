package consent

import (
	"net/netip"
	"regexp"
	"strings"

	"github.com/stewardhq/steward/internal/problem"
)

// Evidence is what shows how a record came about. It never holds the raw IP address: only a
// keyed hash of it, which can confirm a claimed address but cannot be turned back into one.
type Evidence struct {
	// FormID names the form, banner or screen that collected the choice.
	FormID    string `json:"form_id,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	// IPHash is the hex HMAC-SHA256 of the address under the installation's evidence key.
	IPHash string `json:"ip_hash,omitempty"`
	// TCF and GPP are IAB Transparency and Consent Framework and Global Privacy Platform
	// strings as the consent tool produced them; Steward stores them as opaque evidence and
	// never generates them.
	TCF string `json:"tcf,omitempty"`
	GPP string `json:"gpp,omitempty"`
}

// EvidenceInput is evidence as a caller sends it: with the raw IP, which is hashed and dropped.
type EvidenceInput struct {
	FormID    string `json:"form_id"`
	UserAgent string `json:"user_agent"`
	IP        string `json:"ip"`
	TCF       string `json:"tcf"`
	GPP       string `json:"gpp"`
}

// Bounds on evidence. TC and GPP strings grow with the number of vendors a site lists, to a few
// kilobytes at most.
const (
	maxFormID     = 128
	maxUserAgent  = 512
	maxIABString  = 10000
	minTCFCore    = 36 // the fixed fields of a TCF v2 core segment take 213 bits
	ipHashLabel   = "consent.ip"
	maxChannelLen = 32
)

var channelPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,31}$`)

// evidence checks in and returns the evidence to store, with the IP address replaced by its
// keyed hash. Errors are Invalid and name the field; none repeats the value.
func evidence(in EvidenceInput, hash func(label string, data []byte) []byte) (Evidence, error) {
	var ev Evidence
	if err := checkText("evidence.form_id", in.FormID, maxFormID); err != nil {
		return ev, err
	}
	if err := checkText("evidence.user_agent", in.UserAgent, maxUserAgent); err != nil {
		return ev, err
	}
	ev.FormID, ev.UserAgent = in.FormID, in.UserAgent
	if in.IP != "" {
		h, err := ipHash(in.IP, hash)
		if err != nil {
			return ev, err
		}
		ev.IPHash = h
	}
	if in.TCF != "" {
		if err := checkTCF(in.TCF); err != nil {
			return ev, err
		}
		ev.TCF = in.TCF
	}
	if in.GPP != "" {
		if err := checkGPP(in.GPP); err != nil {
			return ev, err
		}
		ev.GPP = in.GPP
	}
	return ev, nil
}

// ipHash returns the keyed hash of an address in canonical form, so 203.0.113.7 and its
// IPv4-mapped IPv6 spelling hash alike.
func ipHash(raw string, hash func(label string, data []byte) []byte) (string, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(raw))
	if err != nil {
		return "", problem.InvalidField("evidence.ip", "is not an IPv4 or IPv6 address")
	}
	return hexString(hash(ipHashLabel, []byte(a.Unmap().WithZone("").String()))), nil
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// checkTCF checks the shape of an IAB TCF v2 TC string: dot-separated base64url segments, the
// first a core segment whose leading six bits carry version 2. The content is not interpreted.
func checkTCF(s string) error {
	const field = "evidence.tcf"
	if len(s) > maxIABString {
		return problem.InvalidField(field, "must be at most %d characters", maxIABString)
	}
	segs := strings.Split(s, ".")
	for _, seg := range segs {
		if !isBase64URL(seg) {
			return problem.InvalidField(field, "is not a TC string: segments must be non-empty base64url separated by '.'")
		}
	}
	if len(segs[0]) < minTCFCore || segs[0][0] != 'C' {
		return problem.InvalidField(field, "is not a TCF v2 TC string: the core segment must start with version 2 and hold at least %d characters", minTCFCore)
	}
	return nil
}

// checkGPP checks the shape of an IAB GPP string: a header section whose leading six bits carry
// type 3 and the next six version 1, then '~'-separated sections of base64url segments.
func checkGPP(s string) error {
	const field = "evidence.gpp"
	if len(s) > maxIABString {
		return problem.InvalidField(field, "must be at most %d characters", maxIABString)
	}
	sections := strings.Split(s, "~")
	for _, sec := range sections {
		for _, seg := range strings.Split(sec, ".") {
			if !isBase64URL(seg) {
				return problem.InvalidField(field, "is not a GPP string: sections must be non-empty base64url separated by '~'")
			}
		}
	}
	if !strings.HasPrefix(sections[0], "DB") || len(sections[0]) < 4 {
		return problem.InvalidField(field, "is not a GPP string: the header must start with type 3, version 1 (\"DB\")")
	}
	return nil
}

// isBase64URL reports whether s is a non-empty run of base64url characters. IAB strings encode
// bit fields, not bytes, so any length is valid and nothing is decoded.
func isBase64URL(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkChannel refuses channel names that are not short lower-case tokens, so they can be
// filtered on and never carry free text.
func checkChannel(s string) error {
	if s != "" && !channelPattern.MatchString(s) {
		return problem.InvalidField("channel", "must be 1 to %d lower-case letters, digits, '_', '.' or '-'", maxChannelLen)
	}
	return nil
}
