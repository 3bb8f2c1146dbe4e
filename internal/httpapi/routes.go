package httpapi

import "net/http"

// route is one line of the API map. The documentation fields feed /openapi.json, so a route
// cannot exist undocumented.
type route struct {
	Method  string
	Path    string
	Summary string
	Public  bool    // no API key needed
	Query   []param // documented query parameters
	Headers []param // documented request headers
	Body    string  // request schema name, if any
	Returns string  // success schema name
	Status  int     // success status
	Errors  []int   // documented error statuses
	MaxBody int64   // body limit when it must exceed the server's (--max-body)
	handle  handlerFunc
}

type param struct {
	Name, Description, Type string
	Required                bool
}

var purposeHeader = param{Name: "Steward-Purpose", Type: "string",
	Description: "Purpose of this read. Fields the catalog declares for it, and that the caller's role may act for, are revealed; everything else stays masked."}

// routes is the API map.
func (s *Server) routes() []route {
	return append([]route{
		{Method: "GET", Path: "/healthz", Summary: "Liveness: the process is serving.", Public: true, Returns: "Health", Status: 200, handle: s.health},
		{Method: "GET", Path: "/readyz", Summary: "Readiness: the database answers.", Public: true, Returns: "Health", Status: 200, Errors: []int{503}, handle: s.ready},
		{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics (no personal data, no customer ids).", Public: true, Returns: "text", Status: 200, handle: s.metrics},
		{Method: "GET", Path: "/openapi.json", Summary: "This document.", Public: true, Returns: "object", Status: 200, handle: s.openAPI},
		{Method: "POST", Path: "/v1/validate", Summary: "Check a form's e-mail, phone, names and address before it is submitted: validity, the normalised value, flags (disposable, role, typo, risky …), suggestions and reasons per field. Stores nothing; needs customers.write.",
			Body: "ValidateInput", Returns: "ValidationReport", Status: 200, Errors: []int{400, 403, 413, 422}, handle: s.validate},
		{Method: "GET", Path: "/v1/catalog", Summary: "The data catalog in force.", Returns: "Catalog", Status: 200, Errors: []int{403}, handle: s.getCatalog},
		{Method: "GET", Path: "/v1/purposes", Summary: "The purposes declared in the catalog.", Returns: "PurposeList", Status: 200, Errors: []int{403}, handle: s.listPurposes},
		{Method: "POST", Path: "/v1/customers", Summary: "Create a customer; returns it masked.", Body: "CustomerInput", Returns: "Customer", Status: 201, Errors: []int{400, 413, 422}, handle: s.createCustomer},
		{Method: "GET", Path: "/v1/customers", Summary: "List customers (masked), or look one up by an indexed field such as email or phone.",
			Query: []param{
				{Name: "email", Type: "string", Description: "Exact look-up by email (normalised)."},
				{Name: "phone", Type: "string", Description: "Exact look-up by phone (normalised to E.164)."},
				{Name: "limit", Type: "integer", Description: "Page size, 1 to 500 (default 50)."},
				{Name: "cursor", Type: "string", Description: "The next_cursor of the previous page."},
			}, Headers: []param{purposeHeader}, Returns: "CustomerList", Status: 200, Errors: []int{403, 422}, handle: s.listCustomers},
		{Method: "GET", Path: "/v1/customers/{id}", Summary: "One customer, masked unless revealed for a purpose.", Headers: []param{purposeHeader},
			Returns: "Customer", Status: 200, Errors: []int{403, 404, 422}, handle: s.getCustomer},
		{Method: "PATCH", Path: "/v1/customers/{id}", Summary: "Change fields; null removes a field.", Body: "CustomerInput", Returns: "Customer", Status: 200,
			Errors: []int{400, 404, 409, 413, 422}, handle: s.patchCustomer},
		{Method: "GET", Path: "/v1/audit", Summary: "Audit entries, newest first (roles with audit.read: owner, admin, dpo, auditor by default).",
			Query: []param{
				{Name: "customer_id", Type: "string", Description: "Only entries about this customer."},
				{Name: "actor_id", Type: "string", Description: "Only entries by this actor (e.g. key:abcd1234)."},
				{Name: "action", Type: "string", Description: "Only this action (e.g. customer.reveal)."},
				{Name: "since", Type: "string", Description: "RFC 3339 time, inclusive."},
				{Name: "until", Type: "string", Description: "RFC 3339 time, exclusive."},
				{Name: "limit", Type: "integer", Description: "Page size, 1 to 1000 (default 100)."},
				{Name: "cursor", Type: "string", Description: "The next_cursor of the previous page."},
			}, Returns: "AuditList", Status: 200, Errors: []int{403, 422}, handle: s.listAudit},
		{Method: "GET", Path: "/v1/audit/verify", Summary: "Verify the hash chain and signed checkpoints of the whole trail.", Returns: "AuditVerification", Status: 200, Errors: []int{403}, handle: s.verifyAudit},
		{Method: "GET", Path: "/v1/apikeys", Summary: "List API keys (never their secrets).", Returns: "APIKeyList", Status: 200, Errors: []int{403}, handle: s.listAPIKeys},
		{Method: "POST", Path: "/v1/apikeys", Summary: "Create an API key; the secret is in this response only.", Body: "APIKeyInput", Returns: "NewAPIKey", Status: 201, Errors: []int{400, 403, 422}, handle: s.createAPIKey},
		{Method: "DELETE", Path: "/v1/apikeys/{id}", Summary: "Revoke an API key, at once and for good.", Status: 204, Errors: []int{403, 404, 422}, handle: s.revokeAPIKey},
		{Method: "POST", Path: "/v1/keys/rotate", Summary: "Rotate the master key and queue the rewrap of every customer's data key.", Returns: "Job", Status: 202, Errors: []int{403, 409}, handle: s.rotateKeys},
		// Data-subject requests, erasure and legal holds (handlers in requests.go).
		{Method: "POST", Path: "/v1/requests", Summary: "Open a data-subject request for a customer, found by customer_id, email or phone (requests.manage). The due date follows the jurisdiction.",
			Body: "RequestInput", Returns: "Request", Status: 201, Errors: []int{400, 403, 404, 409, 410, 422}, handle: s.createRequest},
		{Method: "GET", Path: "/v1/requests", Summary: "Data-subject requests by due date, with overdue and due_soon flags.",
			Query: []param{
				{Name: "state", Type: "string", Description: "received, verified, in_progress, completed or rejected."},
				{Name: "type", Type: "string", Description: "access, portability, erasure, rectification, restriction, objection or opt_out."},
				{Name: "customer_id", Type: "string", Description: "Only this customer's requests."},
				{Name: "due", Type: "string", Description: "overdue, or soon (open and due within the due-soon window)."},
				{Name: "limit", Type: "integer", Description: "Page size, 1 to 1000 (default 100)."},
			}, Returns: "RequestList", Status: 200, Errors: []int{403, 422}, handle: s.listRequests},
		{Method: "GET", Path: "/v1/requests/{id}", Summary: "One request with its state, due date and result.", Returns: "Request", Status: 200, Errors: []int{403, 404, 422}, handle: s.getRequest},
		{Method: "POST", Path: "/v1/requests/{id}/verify", Summary: "Record that the requester's identity was verified.", Returns: "Request", Status: 200, Errors: []int{403, 404, 409, 422}, handle: s.verifyRequest},
		{Method: "POST", Path: "/v1/requests/{id}/complete", Summary: "Carry out a verified request: export, erasure (returns the erasure report), rectification (body fields), restriction (lift to end it), objection or opt-out (purposes).",
			Body: "Completion", Returns: "Request", Status: 200, Errors: []int{400, 403, 404, 409, 410, 422}, handle: s.completeRequest},
		{Method: "POST", Path: "/v1/requests/{id}/reject", Summary: "Close a request with a reason.", Body: "Rejection", Returns: "Request", Status: 200, Errors: []int{400, 403, 404, 409, 422}, handle: s.rejectRequest},
		{Method: "GET", Path: "/v1/requests/{id}/export", Summary: "Download the access or portability package (zip: export.json, report.html, CSV for portability) with the download token, or with a requests.manage key. Expired packages are deleted and answer 410.",
			Public: true, Query: []param{{Name: "token", Type: "string", Description: "The download token from the completed request."}},
			Returns: "zip", Status: 200, Errors: []int{401, 403, 404, 410}, handle: s.downloadExport},
		{Method: "POST", Path: "/v1/privacy/requests", Summary: "Privacy portal: a customer makes a request; a one-time verification link is e-mailed to the address given. The answer is the same whether or not the address is known.",
			Public: true, Body: "SelfRequestInput", Returns: "Accepted", Status: 202, Errors: []int{400, 422, 503}, handle: s.selfRequest},
		{Method: "GET", Path: "/v1/privacy/confirm", Summary: "Privacy portal: the page the verification link opens; it asks the customer to confirm (a GET never changes anything, so link scanners cannot confirm).",
			Public: true, Query: []param{{Name: "token", Type: "string", Description: "The one-time token from the e-mail.", Required: true}}, Returns: "html", Status: 200, Errors: []int{422}, handle: s.confirmPage},
		{Method: "POST", Path: "/v1/privacy/confirm", Summary: "Privacy portal: confirm a request with its one-time token (JSON {\"token\"} or a form field). Used or expired tokens answer 410.",
			Public: true, Body: "Confirmation", Returns: "Request", Status: 200, Errors: []int{400, 410, 422}, handle: s.confirmRequest},
		{Method: "GET", Path: "/v1/erasures/{id}", Summary: "The erasure report of an erased customer: what was deleted, what was kept and why.", Returns: "ErasureReport", Status: 200, Errors: []int{403, 404, 422}, handle: s.getErasure},
		{Method: "GET", Path: "/v1/suppression", Summary: "Whether an e-mail address or phone number belongs to an erased customer (keyed-hash suppression list).",
			Query:   []param{{Name: "email", Type: "string", Description: "Address to check."}, {Name: "phone", Type: "string", Description: "Number to check."}},
			Returns: "Suppression", Status: 200, Errors: []int{403, 422}, handle: s.checkSuppression},
		{Method: "PUT", Path: "/v1/customers/{id}/legal-hold", Summary: "Place a legal hold with a reason: retention purges and erasure leave the customer alone until it is released.",
			Body: "HoldInput", Returns: "Hold", Status: 200, Errors: []int{400, 403, 404, 410, 422}, handle: s.setHold},
		{Method: "DELETE", Path: "/v1/customers/{id}/legal-hold", Summary: "Release a legal hold.", Status: 204, Errors: []int{403, 404, 422}, handle: s.releaseHold},
		{Method: "GET", Path: "/v1/jobs/{id}", Summary: "A background job's state and progress (key rotation: keys.rotate; duplicate scans: customers.read and customers.write).", Returns: "Job", Status: 200, Errors: []int{403, 404}, handle: s.getJob},
		{Method: "GET", Path: "/v1/policies", Summary: "Published privacy-policy versions, oldest first, and the one in force.", Returns: "PolicyList", Status: 200, Errors: []int{403}, handle: s.listPolicies},
		{Method: "POST", Path: "/v1/policies", Summary: "Publish a privacy-policy version; versions never change once published.", Body: "PolicyInput", Returns: "Policy", Status: 201,
			Errors: []int{400, 403, 409, 413, 422}, handle: s.publishPolicy},
		{Method: "GET", Path: "/v1/policies/{version}", Summary: "One privacy-policy version, with its text.", Returns: "Policy", Status: 200, Errors: []int{403, 404}, handle: s.getPolicy},
		{Method: "POST", Path: "/v1/customers/{id}/consents", Summary: "Append a consent, withdrawal, objection or restriction to the customer's ledger; returns it with its signed receipt.",
			Headers: []param{gpcHeader}, Body: "ConsentInput", Returns: "ConsentRecord", Status: 201, Errors: []int{400, 403, 404, 413, 422}, handle: s.recordConsent},
		{Method: "GET", Path: "/v1/customers/{id}/consents", Summary: "The customer's current decision for every purpose and the full ledger behind it.",
			Headers: []param{gpcHeader}, Returns: "ConsentHistory", Status: 200, Errors: []int{403, 404, 422}, handle: s.consentHistory},
		{Method: "GET", Path: "/v1/customers/{id}/permissions/{purpose}", Summary: "May this customer's data be used for this purpose? With the reason.",
			Headers: []param{gpcHeader}, Returns: "Decision", Status: 200, Errors: []int{403, 422}, handle: s.permission},
		{Method: "POST", Path: "/v1/permissions/check", Summary: "Decide one purpose for up to 100,000 customers at once (audited).", Body: "CheckInput", Returns: "CheckResult", Status: 200,
			Errors: []int{400, 403, 413, 422}, MaxBody: checkMaxBody, handle: s.checkPermissions},
		{Method: "POST", Path: "/v1/suppressions", Summary: "Add an email address or phone number to the suppression list, which blocks marketing for whoever holds it.",
			Body: "SuppressionInput", Returns: "SuppressionResult", Status: 201, Errors: []int{400, 403, 413, 422}, handle: s.suppress},
		{Method: "POST", Path: "/v1/consent-receipts/verify", Summary: "Check a consent receipt's signature against this installation's receipt key.", Public: true,
			Body: "ReceiptInput", Returns: "ReceiptVerification", Status: 200, Errors: []int{400, 413}, handle: s.verifyReceipt},
		{Method: "GET", Path: "/.well-known/jwks.json", Summary: "The public key that consent receipts are signed with (JSON Web Key Set).", Public: true, Returns: "JWKS", Status: 200, handle: s.jwks},
		{Method: "GET", Path: "/.well-known/gpc.json", Summary: "Global Privacy Control support resource.", Public: true, Returns: "GPCSupport", Status: 200, handle: s.gpcSupport},
	}, append(append(s.ingestRoutes(), s.importRoutes()...), s.duplicateRoutes()...)...)
}

var gpcHeader = param{Name: "Sec-GPC", Type: "string",
	Description: "\"1\" relays the customer's Global Privacy Control signal: Steward records an opt-out of the GPC-sensitive purposes for the customer the request identifies, once."}

// commonErrors are documented on every authenticated route.
var commonErrors = []int{http.StatusUnauthorized, http.StatusInternalServerError}

// Routes lists every served method and pattern, for tests that hold the API map to its
// documentation.
func (s *Server) Routes() [][2]string {
	var out [][2]string
	for _, rt := range s.routes() {
		out = append(out, [2]string{rt.Method, rt.Path})
	}
	return out
}
