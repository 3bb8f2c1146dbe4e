package consent

import (
	"context"
	"encoding/json"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
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
	// RequestedAt is when the choice was made, where it took effect only later: a double
	// opt-in records the consent when the confirmation link is followed (the record's At),
	// and keeps the moment the form was sent here, so the ledger holds both.
	RequestedAt *time.Time `json:"requested_at,omitempty"`
}

// EvidenceInput is evidence as a caller sends it: with the raw IP, which is hashed and dropped.
type EvidenceInput struct {
	// RequestedAt is set by Steward itself (hosted forms' double opt-in), never from a body.
	RequestedAt *time.Time `json:"-"`
	FormID      string     `json:"form_id"`
	UserAgent   string     `json:"user_agent"`
	IP          string     `json:"ip"`
	TCF         string     `json:"tcf"`
	GPP         string     `json:"gpp"`
}

// Bounds on evidence. TC and GPP strings grow with the number of vendors a site lists, to a few
// kilobytes at most.
const (
	maxFormID     = 128
	maxUserAgent  = 512
	maxIABString  = 10000
	minTCFCore    = 36 // the fixed fields of a TCF v2 core segment take 213 bits
	ipHashLabel   = "consent.ip"
	formHashLabel = "consent.form"
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
	ev.FormID, ev.UserAgent, ev.RequestedAt = in.FormID, in.UserAgent, in.RequestedAt
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

// EvidenceTable is the table name sealed evidence is bound to (with the field "evidence/" and
// the record id, and the customer id), so a ciphertext moved to another record, customer or
// column does not open.
const EvidenceTable = "consent_records"

// EvidenceMask stands in for each piece of sealed evidence shown to a role that may not reveal
// it: a fixed placeholder that says evidence exists but nothing of it, not even its length.
const EvidenceMask = "********"

// DataKeys opens a customer's own data key; the customer vault implements it. Evidence that can
// identify a person (user agent, form id, TCF and GPP strings) is sealed under it, so erasing
// the customer, which destroys the key, leaves the evidence unreadable everywhere it was copied.
type DataKeys interface {
	CustomerDataKey(ctx context.Context, customerID string) (*vault.DataKey, error)
}

// sealedEvidence is the plaintext of a record's sealed evidence.
type sealedEvidence struct {
	FormID    string `json:"form_id,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	TCF       string `json:"tcf,omitempty"`
	GPP       string `json:"gpp,omitempty"`
}

// systemSource reports whether records of source are made by Steward itself, whose form id is
// a reference it wrote ("event:Unsubscribed:…", "request:…"), not something the customer's
// browser or a caller sent. Those references stay in clear: a decision reads them to tell an
// unsubscribe from a complaint.
func systemSource(source string) bool {
	return source == SourceEvent || source == SourceMerge || source == SourceRequest
}

func evidenceField(recordID string) string { return "evidence/" + recordID }

// personal returns the part of r's evidence that must be sealed, and the part that may be
// stored as it is.
func personal(r *Record) (sealedEvidence, Evidence) {
	ev := r.Evidence
	p := sealedEvidence{UserAgent: ev.UserAgent, TCF: ev.TCF, GPP: ev.GPP}
	clear := Evidence{IPHash: ev.IPHash, RequestedAt: ev.RequestedAt}
	if systemSource(r.Source) {
		clear.FormID = ev.FormID
	} else {
		p.FormID = ev.FormID
	}
	return p, clear
}

// ClearEvidence reports whether r's evidence may be stored as it is: it holds nothing but a
// system reference and the keyed hash of the IP address. Engines refuse records for which it
// is false, so evidence that identifies a person never reaches the database unsealed.
func ClearEvidence(r *Record) bool {
	p, _ := personal(r)
	return p == sealedEvidence{}
}

// SealEvidence moves the evidence of r that can identify a person into r.SealedEvidence, sealed
// under dk (the data key of r's customer) and bound to the record's id. What stays in
// r.Evidence is only the IP hash and a system reference. A nil dk drops that evidence
// instead: it is a courtesy, and never worth storing in clear.
func SealEvidence(dk *vault.DataKey, r *Record) error {
	p, clear := personal(r)
	r.Evidence = clear
	if p == (sealedEvidence{}) {
		return nil
	}
	if dk == nil {
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ct, err := dk.Seal(EvidenceTable, evidenceField(r.ID), r.CustomerID, b)
	if err != nil {
		return problem.Wrap(problem.Internal, err, "sealing evidence failed")
	}
	r.SealedEvidence = ct
	return nil
}

// openEvidence fills r.Evidence from r.SealedEvidence under dk. With mask set, each piece
// present is replaced by EvidenceMask. It reports false when the evidence does not open (the
// key is gone: the customer was erased).
func openEvidence(dk *vault.DataKey, r *Record, mask bool) bool {
	if len(r.SealedEvidence) == 0 {
		return true
	}
	if dk == nil {
		return false
	}
	b, err := dk.Open(EvidenceTable, evidenceField(r.ID), r.CustomerID, r.SealedEvidence)
	if err != nil {
		return false
	}
	var p sealedEvidence
	if json.Unmarshal(b, &p) != nil {
		return false
	}
	if mask {
		for _, s := range []*string{&p.FormID, &p.UserAgent, &p.TCF, &p.GPP} {
			if *s != "" {
				*s = EvidenceMask
			}
		}
	}
	if p.FormID != "" {
		r.Evidence.FormID = p.FormID
	}
	r.Evidence.UserAgent, r.Evidence.TCF, r.Evidence.GPP = p.UserAgent, p.TCF, p.GPP
	return true
}

// maskClear masks the personal evidence of a record stored before evidence was sealed.
func maskClear(r *Record) {
	p, _ := personal(r)
	for _, f := range []struct {
		had string
		to  *string
	}{{p.FormID, &r.Evidence.FormID}, {p.UserAgent, &r.Evidence.UserAgent}, {p.TCF, &r.Evidence.TCF}, {p.GPP, &r.Evidence.GPP}} {
		if f.had != "" {
			*f.to = EvidenceMask
		}
	}
}
