package httpapi

import (
	"reflect"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/auth"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/notice"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/rights"
)

// The bodies this package defines itself: envelopes around the domains' types, and answers
// that no domain type already is. Their fields are in the order of their JSON names, so the
// bytes are those clients have always received. A list whose next_cursor is absent is the
// last page.

// Health is the answer of /healthz.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// Readiness is the answer of /readyz.
type Readiness struct {
	Status string `json:"status" enum:"ready"`
}

// PurposeList holds the catalog's purposes.
type PurposeList struct {
	Data []catalog.Purpose `json:"data"`
}

// CustomerInput is the body that creates or changes a customer.
type CustomerInput struct {
	Fields map[string]any `json:"fields" required:"true" doc:"Catalog field name to value; in PATCH, null removes the field."`
}

// CustomerList is a page of customers, or the matches of a look-up (which has no next page).
type CustomerList struct {
	Data       []customer.View `json:"data"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// AuditList is a page of audit entries, newest first.
type AuditList struct {
	Data       []audit.Entry `json:"data"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// AuditVerification is the verdict on the trail: intact with its report, or the first break.
type AuditVerification struct {
	Chain  *int          `json:"chain,omitempty" doc:"The chain of the first break."`
	Intact bool          `json:"intact"`
	Reason *string       `json:"reason,omitempty" doc:"Why the first break does not verify."`
	Report *audit.Report `json:"report,omitempty"`
	Seq    *int64        `json:"seq,omitempty" doc:"The position of the first break in its chain."`
}

// APIKeyInput is the body that creates an API key.
type APIKeyInput struct {
	Name string `json:"name" required:"true"`
	Role string `json:"role" required:"true"`
	// ExpiresAt, when given, is when the key stops working by itself.
	ExpiresAt *time.Time `json:"expires_at,omitempty" doc:"When the key stops working by itself (RFC 3339), in the future and at most ten years on; none: until revoked."`
}

// APIKeyList lists API keys without their secrets.
type APIKeyList struct {
	Data []auth.Key `json:"data"`
}

// NewAPIKey is a created key with its secret, shown this once.
type NewAPIKey struct {
	APIKey auth.Key `json:"api_key"`
	Key    string   `json:"key" doc:"The secret, shown only here."`
}

// RequestList lists data-subject requests.
type RequestList struct {
	Data []*rights.Request `json:"data"`
}

// Rejection closes a request with a reason.
type Rejection struct {
	Reason string `json:"reason" required:"true"`
}

// Accepted answers a privacy-portal request the same whether or not the address is known.
type Accepted struct {
	Detail string `json:"detail"`
	Status string `json:"status" enum:"received"`
}

// Confirmation confirms a privacy-portal request.
type Confirmation struct {
	Token string `json:"token" required:"true"`
}

// ConfirmedRequest is what a confirmed privacy-portal request shows its requester: no
// customer id, no result.
type ConfirmedRequest struct {
	DueAt time.Time `json:"due_at"`
	ID    string    `json:"id"`
	State string    `json:"state"`
	Type  string    `json:"type"`
}

// ErasureReport is an erasure ledger entry without its keyed hashes, which are for matching,
// not for reading.
type ErasureReport struct {
	CustomerID  string        `json:"customer_id"`
	ErasedAt    time.Time     `json:"erased_at"`
	RequestID   string        `json:"request_id,omitempty"`
	Reason      string        `json:"reason"`
	Marketing   []string      `json:"marketing,omitempty"`
	State       string        `json:"state,omitempty" enum:"erasing,erased"`
	Report      rights.Report `json:"report"`
	CompletedAt time.Time     `json:"completed_at,omitzero"`
}

func erasureReport(e rights.LedgerEntry) ErasureReport {
	return ErasureReport{CustomerID: e.CustomerID, ErasedAt: e.ErasedAt, RequestID: e.RequestID, Reason: e.Reason,
		Marketing: e.Marketing, State: e.State, Report: e.Report, CompletedAt: e.CompletedAt}
}

// Suppression says whether a contact belongs to an erased customer.
type Suppression struct {
	Suppressed bool `json:"suppressed"`
}

// HoldInput places a legal hold.
type HoldInput struct {
	Reason string `json:"reason" required:"true"`
}

// CheckInput asks one purpose for many customers.
type CheckInput struct {
	Purpose     string   `json:"purpose" required:"true"`
	CustomerIDs []string `json:"customer_ids" required:"true" doc:"At most 100,000 ids."`
}

// ReceiptInput is a consent receipt to verify.
type ReceiptInput struct {
	Receipt string `json:"receipt" required:"true"`
}

// ReceiptVerification is the verdict on a receipt: valid with its claims, or why not.
type ReceiptVerification struct {
	Reason  *string          `json:"reason,omitempty" doc:"Why the receipt does not verify."`
	Receipt *consent.Receipt `json:"receipt,omitempty"`
	Valid   bool             `json:"valid"`
}

// GPCSupport is the Global Privacy Control support resource.
type GPCSupport struct {
	GPC        bool   `json:"gpc"`
	LastUpdate string `json:"lastUpdate,omitempty" doc:"The date (YYYY-MM-DD) the GPC-sensitive purposes last changed."`
}

// DuplicateList is a page of duplicate pairs.
type DuplicateList struct {
	Data       []duplicate.Pair `json:"data"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// DuplicateMerge is a merged pair and the merge it made.
type DuplicateMerge struct {
	Duplicate duplicate.Pair `json:"duplicate"`
	Merge     ingest.Merge   `json:"merge"`
}

// ImportList is the import jobs, newest first.
type ImportList struct {
	Data []importer.Status `json:"data"`
}

// RejectList is a page of an import's rejected rows.
type RejectList struct {
	Data       []importer.Reject `json:"data"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// TrackingResult answers a stored tracking message or till record.
type TrackingResult struct {
	Duplicates int  `json:"duplicates"`
	Stored     int  `json:"stored"`
	Success    bool `json:"success"`
}

func trackingResult(r ingest.Result) TrackingResult {
	return TrackingResult{Duplicates: r.Duplicates, Stored: r.Stored, Success: true}
}

// EventList is a page of a customer's events.
type EventList struct {
	Data       []ingest.EventView `json:"data"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// IdentityList holds the identifiers stitched to a customer and the customer they resolve to.
type IdentityList struct {
	Data   []ingest.IdentityView `json:"data"`
	RootID string                `json:"root_id"`
}

// MergeList lists merges.
type MergeList struct {
	Data []ingest.Merge `json:"data"`
}

// OrderList lists a customer's orders.
type OrderList struct {
	Data []ingest.Order `json:"data"`
}

// CartList lists abandoned checkouts.
type CartList struct {
	Data []ingest.AbandonedCart `json:"data"`
}

// DropCounts counts what minimisation dropped from a write key's messages, by name.
type DropCounts struct {
	Dropped map[string]int64 `json:"dropped"`
	KeyID   string           `json:"key_id"`
}

// The domains' types under the names clients know from the document.
func init() {
	for t, name := range map[reflect.Type]string{
		reflect.TypeFor[customer.View]():             "Customer",
		reflect.TypeFor[customer.Merged]():           "MergedCustomer",
		reflect.TypeFor[quality.Status]():            "ContactStatus",
		reflect.TypeFor[quality.Report]():            "ValidationReport",
		reflect.TypeFor[quality.Field]():             "FieldReport",
		reflect.TypeFor[quality.BaseReport]():        "QualityReport",
		reflect.TypeFor[audit.Entry]():               "AuditEntry",
		reflect.TypeFor[notice.Notice]():             "PrivacyNotice",
		reflect.TypeFor[notice.Field]():              "NoticeField",
		reflect.TypeFor[notice.Purpose]():            "NoticePurpose",
		reflect.TypeFor[notice.Category]():           "NoticeCategory",
		reflect.TypeFor[notice.Version]():            "PolicyChange",
		reflect.TypeFor[notice.Record]():             "ProcessingRecord",
		reflect.TypeFor[notice.Source]():             "NoticeSource",
		reflect.TypeFor[notice.Recipient]():          "NoticeRecipient",
		reflect.TypeFor[audit.Report]():              "AuditReport",
		reflect.TypeFor[auth.Key]():                  "APIKey",
		reflect.TypeFor[job.Job]():                   "Job",
		reflect.TypeFor[rights.Request]():            "Request",
		reflect.TypeFor[rights.Report]():             "ErasureDetail",
		reflect.TypeFor[rights.MergedReport]():       "MergedErasure",
		reflect.TypeFor[consent.Record]():            "ConsentRecord",
		reflect.TypeFor[consent.History]():           "ConsentHistory",
		reflect.TypeFor[consent.Bulk]():              "CheckResult",
		reflect.TypeFor[consent.KeySet]():            "JWKS",
		reflect.TypeFor[duplicate.Pair]():            "Duplicate",
		reflect.TypeFor[duplicate.Result]():          "ScanResult",
		reflect.TypeFor[duplicate.Evidence]():        "DuplicateEvidence",
		reflect.TypeFor[ingest.EventView]():          "Event",
		reflect.TypeFor[ingest.IdentityView]():       "Identity",
		reflect.TypeFor[ingest.AbandonedCart]():      "Cart",
		reflect.TypeFor[importer.Status]():           "ImportStatus",
		reflect.TypeFor[importer.Reject]():           "Reject",
		reflect.TypeFor[consent.SuppressionResult](): "SuppressionResult",
	} {
		schemaNames[t] = name
	}
	for t, names := range map[reflect.Type][]string{
		reflect.TypeFor[rights.NewRequest]():   {"type"},
		reflect.TypeFor[rights.SelfRequest]():  {"type"},
		reflect.TypeFor[consent.PolicyInput](): {"version", "purposes"},
		reflect.TypeFor[consent.Input]():       {"granted", "source"},
		reflect.TypeFor[ingest.TillOrder]():    {"order_id", "currency"},
		reflect.TypeFor[ingest.TillRefund]():   {"refund_id"},
	} {
		requiredInputs[t] = names
	}
	states := []string{"queued", "running", "done", "failed"}
	for k, v := range map[string][]string{
		"Job.state":            states,
		"ImportStatus.state":   states,
		"Request.state":        {"received", "verified", "in_progress", "completed", "rejected"},
		"Request.type":         rights.Types,
		"NewRequest.type":      rights.Types,
		"SelfRequest.type":     rights.Types,
		"Input.kind":           {"consent", "objection", "restriction"},
		"Input.source":         consent.Sources(),
		"TillRefund.kind":      {"refund", "return"},
		"Duplicate.state":      {"pending", "merged", "dismissed", "undone"},
		"Duplicate.decision":   {"merge", "review", ingest.PairSharedIdentifier},
		"ContactStatus.status": {"valid", "invalid", "risky", "bounced", "complained", "unsubscribed", "inactive", "none"},
		"FieldReport.flags": {quality.FlagRisky, quality.FlagDisposable, quality.FlagRole, quality.FlagTypo, quality.FlagNoMX,
			quality.FlagMXUnchecked, quality.FlagPlaceholder, quality.FlagDigits, quality.FlagInitials, quality.FlagUnchecked,
			quality.FlagPremiumRate},
	} {
		fieldEnums[k] = v
	}
	for k, v := range map[string]string{
		"Customer.fields":   "Catalog field name to value; masked unless listed in revealed.",
		"Customer.revealed": "The fields shown in clear for purpose.",
		"Customer.generalized": "Revealed fields shown only in generalised form (age band, network prefix, keyed token), " +
			"as purposes such as analytics require.",
		"Customer.denied":            "Why nothing was revealed for purpose to this customer in a look-up (a withdrawn consent, say).",
		"MergedCustomer.id":          "The customer asked for, merged into another.",
		"ErasureDetail.merged":       "The customers merged into this one, erased with it (each has its own erasure report).",
		"ErasureDetail.erased_with":  "The customer this one had been merged into, whose erasure erased it too.",
		"MergedCustomer.merged_into": "The customer it was merged into, which answers for it (also the Location).",
		"ConsentRecord.receipt":      "The consent receipt, a JWS (EdDSA) verifiable with /.well-known/jwks.json.",
		"PolicyInput.content_hash":   "sha256: and 64 hexadecimal digits.",
		"ValidationReport.valid":     "Every field sent is valid; flags do not make a form invalid.",
		"ValidationReport.fields": "One entry per field sent, keyed email, phone, first_name, last_name, full_name, address.line1, " +
			"address.line2, address.city, address.region, address.postal_code, address.country.",
		"FieldReport.normalized": "The value as Steward would store it (e-mail look-up form, E.164, alpha-2 country, " +
			"the post office's spelling of a postal code, cleaned text).",
		"FieldReport.display": "A form for showing to a person: phone grouped internationally, country name, " +
			"name with its casing fixed when typed all in one case.",
		"FieldReport.suggestion": "What the person probably meant (john@gmail.com for john@gmial.com).",
		"FieldReport.category": "E-mail only: strict RFC 5321/5322 category (is_email): valid, dns_warning, rfc5321, cfws, " +
			"deprecated, rfc5322, error.",
		"FieldReport.diagnosis": "E-mail only: strict diagnosis, e.g. VALID, RFC5321_TLD, ERR_NODOMAIN.",
		"FieldReport.type": "Phone only: mobile, fixed_line, fixed_line_or_mobile, toll_free, premium_rate, voip, " +
			"personal_number, pager, uan, voicemail, shared_cost.",
		"FieldReport.region": "Phone only: the number's region (ISO 3166-1 alpha-2, 001 for non-geographic).",
		"FieldReport.format": "Postal code only: the format it was checked against, e.g. UK postcode.",
	} {
		fieldDocs[k] = v
	}
	typeDocs["Catalog"] = "The data catalog: purposes, categories, fields and roles."
}
