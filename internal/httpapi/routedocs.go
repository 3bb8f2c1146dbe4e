package httpapi

// summaries describe each route in /openapi.json, keyed "METHOD /path" as in the route table.
// A route without one fails the route table's test.
var summaries = map[string]string{
	"POST /v1/segments": "Create a segment: a name, a purpose and a rule (and/or/not over the fields the catalog declares for the " +
		"purpose, in generalised form for analytics; derived figures; events in a window; consent; contact status). A rule naming " +
		"something the purpose may not use is refused (422) naming the field and the purpose. Membership is filled in the background.",
	"GET /v1/segments":      "The segments of the purposes the caller's role acts for.",
	"GET /v1/segments/{id}": "One segment, with when its membership was last fully refreshed.",
	"GET /v1/segments/{id}/count": "How many customers are members now. For analytics segments a count under the minimum cohort " +
		"(10 by default) is withheld: {\"count_below\": 10}.",
	"GET /v1/segments/{id}/preview": "Up to limit members (20 by default, at most 100), masked as listings are; each one audited. " +
		"Analytics segments are counted, never listed (403).",
	"GET /v1/segments/{id}/history": "Who entered and left the segment, when and why (rule, not_allowed, gone), newest first.",
	"POST /v1/segments/{id}/exports": "Export the members allowed for the segment's purpose now, with the fields the catalog declares " +
		"for it, as CSV: a background job; the answer holds the download link, shown once, which works for 24 hours once done.",
	"GET /v1/segments/{id}/exports/{export}": "An export's progress and counts (members, allowed, denied).",
	"GET /v1/segment-exports/{id}/download": "Download an export's CSV with the link's token; the file is made from the vault now, " +
		"leaves out anyone erased since, and audits every customer in it. 409 while running, 410 once expired.",
	"GET /v1/trends": "A time series of a metric per day, week or month, broken down by age band, gender, region, country or " +
		"segment; cells of fewer than 10 customers are withheld. JSON, or CSV with format=csv; epsilon asks for Laplace noise " +
		"charged to the caller's daily privacy budget, stated in the answer. Needs a role acting for analytics.",
	"POST /v1/destinations": "Send a segment's members to a webhook (HMAC-SHA256 signed, retried, at least once with an " +
		"idempotency key) or to a Segment-compatible API (identify and track), for a purpose and with a field allow-list. " +
		"Entering sends the customer; leaving, withdrawing or erasure sends a removal. A webhook's signing secret is shown once.",
	"GET /v1/destinations":                 "Every destination (never its secret).",
	"GET /v1/destinations/{id}":            "One destination.",
	"GET /v1/destinations/{id}/deliveries": "A destination's deliveries, newest first; state=dead is the dead-letter list.",
	"POST /v1/destinations/{id}/deliveries/{delivery}/replay": "Send a delivery again with a fresh count of attempts (the " +
		"dead-letter list's replay).",
	"GET /healthz":      "Liveness: the process is serving.",
	"GET /readyz":       "Readiness: the database answers and its commits are not held up.",
	"GET /metrics":      "Prometheus metrics (no personal data, no customer ids).",
	"GET /openapi.json": "This document.",
	"GET /privacy": "The public privacy notice as a web page, generated from the data catalog and the policy in force: what is " +
		"collected, why, on which legal basis, for how long, from where, who receives it, your rights and the policy's versions.",
	"GET /privacy.json": "The public privacy notice as JSON, for machines.",
	"GET /consent.js": "The consent banner: add <script src=\"…/consent.js\" data-key=\"COLLECT_KEY\" defer></script> to a page. " +
		"Its choices go to the consent ledger through the collect key and out with analytics.js events.",
	"GET /forms/{name}": "A hosted form as a web page (no script needed): its fields, one unticked box per consent purpose the policy " +
		"in force covers, worded from the catalog.",
	"POST /forms/{name}": "Submit a hosted form (application/x-www-form-urlencoded). A submission that breaks a rule is shown again " +
		"(422) and stores nothing; one that succeeds answers 303 to the thank-you page or the form's redirect.",
	"GET /portal":                          "The customer's privacy page: with a session, their data, choices and requests; without, the sign-in page.",
	"POST /portal/link":                    "Ask for a sign-in link by e-mail (form field email); the same answer whether or not the address is a customer's.",
	"GET /portal/enter":                    "The page a sign-in link opens, with the button that signs in.",
	"POST /portal/enter":                   "Sign in with a link's token: sets the session cookie and answers 303 to /portal.",
	"POST /portal/choices":                 "Give or withdraw consent (or object, or lift an objection) for a purpose, as the signed-in customer.",
	"POST /portal/do-not-sell":             "Do not sell or share my personal information: withdraws every purpose a GPC signal covers.",
	"POST /portal/requests":                "Open a request (access, portability, rectification, erasure, restriction, objection) as the signed-in customer.",
	"POST /portal/sign-out":                "End the session.",
	"GET /console/login":                   "The staff console's sign-in page.",
	"POST /console/login":                  "Sign in with e-mail and password; the second factor follows (303 to /console/mfa).",
	"GET /console/mfa":                     "The second-factor page: the authenticator's code, or setting it up at a first sign-in.",
	"POST /console/mfa":                    "Finish signing in with the authenticator's code (a new session; 303 to /console/).",
	"GET /console":                         "The console's home, the dashboard: customers, events, consents and requests per day as charts the person's role may read, and the search box; with ?q= the search page.",
	"GET /console/console.js":              "The console's one script, search as you type; served from this origin under the pages' Content-Security-Policy.",
	"GET /console/search":                  "Search customers by name, town, postal code, e-mail, phone or number (masked results); a plain form that works without script.",
	"GET /console/search/live":             "The matches for the search box as the person types: the options of its list, as an HTML fragment.",
	"GET /console/customers/{id}/edit":     "The form that corrects a customer's data, each field with its current (masked) value.",
	"POST /console/customers/{id}/edit":    "Correct a customer through the API's validation: every bad value is named next to its field and nothing is written (422); a good change is written and the person sent back to the customer (303).",
	"GET /console/policies":                "The privacy-policy versions, what a version changed from the one before (text, purposes, material changes), the consent rates per purpose by week, and the publish form.",
	"POST /console/policies":               "Publish the next policy version from the form, as POST /v1/policies does (303); a refused version is shown again with the reason (422).",
	"GET /console/audit":                   "The audit trail, newest first, filtered by actor, customer, action and days.",
	"GET /console/audit/verify":            "Verify the whole audit trail and show the result: entries checked, or the first bad entry.",
	"GET /console/quality":                 "The quality of the customer base: completeness per field, contact status, duplicates waiting, stale contacts, with charts.",
	"GET /console/segments":                "The segments the person's role may see, with purpose and member count (withheld below the minimum cohort).",
	"GET /console/segments/{id}":           "A segment: its rule in words, count, who entered and left, and a trend chart of its members (metric, interval, breakdown).",
	"POST /console/segments/{id}/exports":  "Queue an export of the segment's members (form field csrf); the page shows its download link once.",
	"GET /console/admin":                   "Administration: staff and their roles, identity providers, API keys, the catalog in force.",
	"POST /console/admin/staff/disable":    "Disable a person (form field email): their sessions and keys stop working at once.",
	"POST /console/admin/keys":             "Make an API key (form fields name, role, expires); the page shows it once.",
	"POST /console/admin/keys/{id}/revoke": "Revoke an API key.",
	"GET /console/customers/{id}":          "A customer, masked, with a reveal for the purposes the person's role acts for.",
	"POST /console/customers/{id}/reveal":  "The customer shown for a purpose, as the signed-in person (audited as them).",
	"POST /console/sign-out":               "End the console session.",
	"GET /console/saml/metadata":           "Steward's SAML 2.0 service-provider metadata (entity id, assertion consumer service), for the identity provider.",
	"GET /console/saml/login":              "Start signing in through the SAML identity provider (302 to it with an AuthnRequest; its id travels in a sealed cookie).",
	"POST /console/saml/acs":               "The SAML provider's answer: signature, audience, recipient, validity window, request id and single use checked; the groups mapped to a role, the console session started.",
	"POST /console/ldap/login":             "Sign in with a directory account over LDAPS or StartTLS (bind as the person, groups searched and mapped to a role); the second factor follows for roles that may reveal.",
	"GET /console/reauth":                  "Confirm who you are again (password and code, a passkey, or the identity provider) before a reveal.",
	"POST /console/reauth":                 "Check the password and code again; back to the console page named by next.",
	"GET /console/account":                 "The signed-in person's own page: passkeys, sign-out everywhere, and invitations for people who manage staff.",
	"POST /console/sign-out-everywhere":    "End every session of the signed-in person, on every device.",
	"POST /console/invites":                "Make a one-time invitation link (72 hours) for an e-mail address and role; needs apikeys.manage.",
	"GET /console/invite/{token}":          "An invitation: the page to choose a password.",
	"POST /console/invite/{token}":         "Accept an invitation: the account is made and the second factor set up next, before any page.",
	"POST /console/passkeys/begin":         "Start adding a passkey: the WebAuthn creation options (the challenge kept on the session).",
	"POST /console/passkeys":               "The browser's new passkey (attestation response), checked and kept under the given name.",
	"POST /console/passkeys/{id}/remove":   "Remove one of the signed-in person's passkeys.",
	"POST /console/passkey/begin":          "Start proving who you are with a passkey: the WebAuthn request options.",
	"POST /console/passkey/finish":         "The passkey's signed answer: the second factor of a sign-in, or a re-authentication before a reveal.",
	"GET /console/passkey.js":              "The script of the passkey pages, served by Steward itself.",
	"POST /console/passkey/sign-in/begin":  "Start signing in with a passkey alone: WebAuthn request options for any passkey of this site (the challenge in a sealed two-minute cookie).",
	"POST /console/passkey/sign-in":        "A passkey's signed answer (user verification required): the person it names signed in, the challenge accepted once.",
	"GET /console/cas/login":               "Start signing in through the CAS server (302 to its login, with a state tied to this browser).",
	"GET /console/cas/callback":            "The CAS server's answer: the service ticket validated (CAS 3.0), the groups mapped to a role, the console session started.",
	"GET /console/oidc/login":              "Start signing in through the company's OpenID Connect provider (302 to it, with PKCE).",
	"GET /console/oidc/callback":           "The provider's answer: the ID token checked, the person's groups mapped to a role, the console session started.",
	"GET /console/requests":                "The open data-subject requests, overdue and due soon first, with their next steps.",
	"POST /console/requests/{id}/{step}":   "A step on a request as the signed-in person: verify, complete, reject (form field reason) or export (the package).",
	"GET /console/duplicates":              "The duplicate review queue with each pair's evidence (levels and weights, never values), and the merges lately made.",
	"POST /console/duplicates/{id}/{step}": "A decision on a pair as the signed-in person: merge, dismiss or undo.",
	"POST /portal/download":                "Download the export package of one of the signed-in customer's completed access or portability requests.",
	"GET /forms/{name}/thanks":             "The thank-you page of a hosted form.",
	"POST /forms/{name}/check":             "Check one field of a hosted form as it is typed (the page's script calls it): the same rules as a submission, storing nothing; at most 600 checks an hour per client address.",
	"GET /forms/confirm":                   "The page a confirmation e-mail links to, with the button that confirms (following the link alone changes nothing).",
	"POST /forms/confirm":                  "Confirm the consents a hosted form's e-mail asked to confirm (double opt-in); the link works once and for 7 days.",
	"GET /v1/processing-records":           "Records of processing (GDPR Art. 30), one per purpose, generated from the catalog; ?format=csv for a spreadsheet. Needs catalog.read.",
	"POST /v1/validate": "Check a form's e-mail, phone, names and address before it is submitted: validity, the normalised " +
		"value, flags (disposable, role, typo, risky …), suggestions and reasons per field. Stores nothing; needs customers.write.",
	"GET /v1/catalog":    "The data catalog in force.",
	"GET /v1/purposes":   "The purposes declared in the catalog.",
	"POST /v1/customers": "Create a customer; returns it masked. A customer who already has the email or phone given answers 409 with existing_id; with on_conflict=update that customer is changed instead (200).",
	"GET /v1/customers":  "List customers (masked), or look one up by an indexed field such as email or phone. Customers merged into another are never listed or found: their winner is.",
	"GET /v1/customers/search": "Search customers by what a person types into one box: names in any order, with typos and " +
		"nicknames, a town or postal code, a full or partial e-mail address, a phone number or its last digits, a customer, " +
		"member or order number. Best matches first with a score (0–1) and the fields that matched; always masked, as " +
		"listings are. Audited with the kinds of token used and the number of results, never the query.",
	"GET /v1/customers/{id}":   "One customer, masked unless revealed for a purpose. A customer merged into another answers 308 with Location and merged_into naming the winner.",
	"PATCH /v1/customers/{id}": "Change fields; null removes a field. A customer merged into another answers 308 to the winner, which a client following redirects changes instead.",
	"GET /v1/audit":            "Audit entries, newest first (roles with audit.read: owner, admin, dpo, auditor by default).",
	"GET /v1/audit/verify":     "Verify the hash chain and signed checkpoints of the whole trail.",
	"GET /v1/apikeys":          "List API keys (never their secrets).",
	"POST /v1/apikeys":         "Create an API key; the secret is in this response only.",
	"DELETE /v1/apikeys/{id}":  "Revoke an API key, at once and for good.",
	"POST /v1/keys/rotate":     "Rotate the master key and queue the rewrap of every customer's data key.",
	"POST /v1/requests": "Open a data-subject request for a customer, found by customer_id, email or phone (requests.manage). " +
		"The due date follows the jurisdiction.",
	"GET /v1/requests":                     "Data-subject requests by due date, with overdue and due_soon flags.",
	"GET /v1/requests/{id}":                "One request with its state, due date and result.",
	"POST /v1/requests/{id}/verify":        "Record that the requester's identity was verified (four-eyes rule: not by the key that opened the request).",
	"POST /v1/requests/{id}/reject":        "Close a request with a reason.",
	"GET /v1/erasures/{id}":                "The erasure report of an erased customer: what was deleted, what was kept and why.",
	"DELETE /v1/customers/{id}/legal-hold": "Release a legal hold.",
	"POST /v1/requests/{id}/complete": "Carry out a verified request: export, erasure (returns the erasure report), rectification " +
		"(body fields), restriction (lift to end it), objection or opt-out (purposes). An access or portability export needs " +
		"reveal rights for privacy_requests.",
	"GET /v1/requests/{id}/export": "Download the access or portability package (zip: export.json, report.html, CSV for " +
		"portability) with the download token, or with a requests.manage key that may reveal for privacy_requests. Expired packages are deleted and answer 410.",
	"POST /v1/privacy/requests": "Privacy portal: a customer makes a request by email or phone (JSON, or a plain HTML form); " +
		"a one-time verification link is e-mailed (or texted) to it. The answer is the same whether or not the address is " +
		"known. A browser asking for HTML is redirected (303) to a page saying what happens next. Requests by phone need a " +
		"text-message sender (422 without one).",
	"OPTIONS /v1/privacy/requests": "CORS preflight: origins listed in --privacy-origins may POST from a script; others get " +
		"no CORS headers.",
	"GET /v1/privacy/received": "Privacy portal: the page a browser lands on after posting a request form.",
	"GET /v1/privacy/confirm": "Privacy portal: the page the verification link opens; it asks the customer to confirm " +
		"(a GET never changes anything, so link scanners cannot confirm).",
	"POST /v1/privacy/confirm": "Privacy portal: confirm a request with its one-time token (JSON {\"token\"} or the form " +
		"of the confirmation page, answered with a page when the browser asks for HTML). Used or expired tokens answer 410.",
	"GET /v1/requests/confirm": "Confirmation links sent by earlier versions: redirects (301) to GET /v1/privacy/confirm " +
		"with the same token.",
	"GET /v1/suppression": "Whether an e-mail address or phone number belongs to an erased customer (keyed-hash suppression list).",
	"PUT /v1/customers/{id}/legal-hold": "Place a legal hold with a reason: retention purges and erasure leave the customer " +
		"alone until it is released.",
	"GET /v1/jobs/{id}": "A background job's state and progress (key rotation: keys.rotate; duplicate scans: customers.read " +
		"and customers.write).",
	"GET /v1/policies":           "Published privacy-policy versions, oldest first, and the one in force.",
	"POST /v1/policies":          "Publish a privacy-policy version; versions never change once published.",
	"GET /v1/policies/{version}": "One privacy-policy version, with its text.",
	"POST /v1/customers/{id}/consents": "Append a consent, withdrawal, objection or restriction to the customer's ledger; " +
		"returns it with its signed receipt.",
	"GET /v1/customers/{id}/consents":              "The customer's current decision for every purpose and the full ledger behind it.",
	"GET /v1/customers/{id}/permissions/{purpose}": "May this customer's data be used for this purpose? With the reason.",
	"POST /v1/permissions/check":                   "Decide one purpose for up to 100,000 customers at once (audited).",
	"POST /v1/suppressions": "Add an email address or phone number to the suppression list, which blocks marketing for " +
		"whoever holds it.",
	"POST /v1/consent-receipts/verify": "Check a consent receipt's signature against this installation's receipt key.",
	"GET /.well-known/jwks.json":       "The public key that consent receipts are signed with (JSON Web Key Set).",
	"GET /.well-known/gpc.json":        "Global Privacy Control support resource.",

	// Tracking and commerce (tracking.go); the tracking routes themselves are summarised per kind.
	"GET /v1/projects/{writeKey}/settings": "Settings analytics.js loads for a write key; points it at this server.",
	"GET /v1/customers/{id}/events": "The customer's events (and those of customers merged into it), newest first; personal " +
		"parts revealed for a purpose.",
	"GET /v1/customers/{id}/identities":  "The identifiers stitched to the customer (masked unless revealed for a purpose).",
	"GET /v1/customers/{id}/merges":      "Merges involving the customer, with their reasons.",
	"POST /v1/merges/{id}/undo":          "Undo a merge: both customers and their events are restored.",
	"GET /v1/customers/{id}/orders":      "The customer's orders with line items and refunds.",
	"POST /v1/orders":                    "Record an order from a till (idempotent by order_id).",
	"POST /v1/orders/{order_id}/refunds": "Record a refund or return of an order (idempotent by refund_id).",
	"POST /v1/orders/{order_id}/cancel":  "Record that an order was cancelled.",
	"GET /v1/carts/abandoned":            "Checkouts started with no order since (default older than the configured time).",
	"GET /v1/customers/{id}/loyalty": "A member's balance (the sum of their ledger), its value, tier and benefits, points expiring soon, " +
		"tier history and a page of the statement, newest first. Settles the member's pending orders first.",
	"POST /v1/customers/{id}/loyalty": "Enrol the customer in the loyalty programme; assigns a member number unless the profile holds one.",
	"POST /v1/customers/{id}/loyalty/redemptions": "Redeem points with an idempotency key: 201 for a new redemption, 200 with the " +
		"first one for the same key again, 409 when the balance does not cover it (also when another till spent it a moment before).",
	"POST /v1/customers/{id}/loyalty/adjustments": "A staff member adds or removes points by hand, with one of the programme's reasons; " +
		"the balance never goes below zero.",
	"POST /v1/customers/{id}/loyalty/events": "Credit the points of an event the programme rewards (a referral), once per ref.",
	"GET /v1/loyalty/members":                "Find members at the till by member number, phone or e-mail (exact look-ups, audited): balance, value and tier.",
	"POST /v1/offers": "Add an offer: code, description, reward, validity, eligibility (tier, min_spend), frequency cap, purpose, " +
		"products and hold-out share.",
	"GET /v1/offers":        "The offer catalogue.",
	"GET /v1/offers/report": "Each offer's uplift: customers shown it against its hold-out group, and who of each ordered afterwards.",
	"GET /v1/customers/{id}/offers": "The offers this customer may be shown now, after the permission decision, with the reasons " +
		"and recommendations; the offers withheld and why.",
	"POST /v1/customers/{id}/offers/{code}/redemptions": "Record an offer used against one of the customer's orders: the discount, or " +
		"the bonus points of a points multiplier.",
	"GET /v1/ingest/drops": "What minimisation dropped from a write key's messages (undeclared, invalid, PII, limits), by " +
		"name; never values.",

	// Connected platforms (sources.go).
	"POST /v1/sources": "Connect a platform (shopify, woocommerce, stripe, sendgrid, mailgun, twilio, meta_leads, trustpilot, zendesk): " +
		"its kind, name, signing secret (stored sealed; one is made and shown once for WooCommerce and Trustpilot) and write role. " +
		"Returns the endpoint to paste into the vendor's console (see docs/sources.md). Needs apikeys.manage.",
	"GET /v1/sources":      "Connected platforms with their delivery counters (received, stored, refused, duplicates, ignored) and last error; never their secrets.",
	"GET /v1/sources/{id}": "One connected platform with its counters and last error.",
	"POST /v1/sources/{id}/webhook": "A vendor's webhook delivery, verified by the vendor's own signature scheme (no API key). 200 once " +
		"stored or recognised as a duplicate; 401 for a signature that does not verify (nothing stored, counted and audited); " +
		"400/422/413 for a body that cannot be read; 409 for a refund of an order not recorded yet (the vendor retries); " +
		"503 when a Meta lead's answers cannot be read from the Graph API (nothing stored; Meta retries).",
	"GET /v1/sources/{id}/webhook": "Meta's subscription handshake: answers hub.challenge as text/plain when hub.verify_token matches.",
	// Imports (imports.go).
	"POST /v1/imports": "Upload a CSV file (the raw body, streamed; text/csv) to import customers as a background job, with " +
		"the mapping of the command line's steward import. The file is checked through to its last row first: an empty, " +
		"UTF-16 or badly quoted file, an unknown column, field or purpose, or a policy version that does not fit are refused " +
		"with nothing stored. Answers 202 with the job's status and a Location. Needs customers.write (and consents.write " +
		"with consent columns).",
	"GET /v1/imports": "Import jobs, newest first: uploads and steward import runs alike, each with its state and counts as " +
		"GET /v1/imports/{id} shows them. Needs customers.write.",
	"GET /v1/imports/{id}": "An import's state and progress: rows read, imported, rejected, consents recorded and the resume point.",
	"GET /v1/imports/{id}/rejects": "An import's rejected rows: row number (the header is row 1) and reason, which names " +
		"the column and rule, never the value.",

	// Duplicates and quality (duplicates.go).
	"POST /v1/duplicates/scan": "Scan for duplicate customers: queues a scan job (202, follow it at /v1/jobs/{id}), or with " +
		"wait=true runs it now and returns its counts (200). Pairs from the review threshold up are queued; from the merge " +
		"threshold up they are merged.",
	"GET /v1/duplicates": "Pairs of customers that are likely one person, highest match probability first, with " +
		"per-comparison evidence (agreement levels and weights, with the part of a weight that comes from how common " +
		"the agreed value is, and the household rule's line when it held a pair down; never values).",
	"GET /v1/duplicates/{id}": "One duplicate pair with its evidence and state.",
	"POST /v1/duplicates/{id}/merge": "Merge a pending pair: the older customer absorbs the other, fields survive by the " +
		"survivorship rules, every opt-out survives; recorded with the evidence and reversible.",
	"POST /v1/duplicates/{id}/dismiss": "Record that a pending pair are different people; the pair is never proposed again.",
	"POST /v1/duplicates/{id}/undo": "Undo the merge of a merged pair (the same as POST /v1/merges/{merge_id}/undo): both " +
		"customers, the winner's values and the consents the merge withdrew come back; the pair is not proposed again.",
	"GET /v1/quality": "The quality report: completeness per catalog field, customers by contact status, duplicates pending, " +
		"stale contacts. Counts only.",
}

// The documented request headers and query parameters.
var (
	purposeHeader = param{Name: "Steward-Purpose", Type: "string",
		Description: "Purpose of this read. Fields the catalog declares for it, and that the caller's role may act for, " +
			"are revealed; everything else stays masked."}
	gpcHeader = param{Name: "Sec-GPC", Type: "string",
		Description: "\"1\" relays the customer's Global Privacy Control signal: Steward records an opt-out of the " +
			"GPC-sensitive purposes for the customer the request identifies, once."}

	cursorParam = param{Name: "cursor", Type: "string", Description: "The next_cursor of the previous page."}
	sinceParam  = param{Name: "since", Type: "string", Description: "RFC 3339 time, inclusive."}
	untilParam  = param{Name: "until", Type: "string", Description: "RFC 3339 time, exclusive."}
	limit500    = param{Name: "limit", Type: "integer", Description: "Page size, 1 to 500 (default 50)."}
	limit1000   = param{Name: "limit", Type: "integer", Description: "Page size, 1 to 1000 (default 100)."}

	createQuery = []param{{Name: "on_conflict", Type: "string", Description: "fail (default): a customer who already has " +
		"the email or phone given answers 409 with existing_id. update: that customer is changed with the given fields " +
		"instead, as PATCH would, and answered with 200."}}
	customerQuery = []param{
		{Name: "email", Type: "string", Description: "Exact look-up by email (normalised)."},
		{Name: "phone", Type: "string", Description: "Exact look-up by phone (normalised to E.164)."},
		limit500, cursorParam,
	}
	searchQuery = []param{
		{Name: "q", Type: "string", Required: true, Description: "What to look for, 1 to 200 characters."},
		{Name: "limit", Type: "integer", Description: "Results, 1 to 50 (default 10)."},
		{Name: "country", Type: "string", Description: "Only customers in this country (ISO 3166 code or name)."},
		{Name: "contact_status", Type: "string", Description: "Only customers whose contact status is this (valid, risky, invalid, inactive, bounced, complained, unsubscribed, none)."},
		{Name: "loyalty_tier", Type: "string", Description: "Only customers in this loyalty tier."},
		{Name: "created_after", Type: "string", Description: "Only customers created at or after this RFC 3339 time."},
		{Name: "created_before", Type: "string", Description: "Only customers created before this RFC 3339 time."},
	}
	auditQuery = []param{
		{Name: "customer_id", Type: "string", Description: "Only entries about this customer."},
		{Name: "actor_id", Type: "string", Description: "Only entries by this actor (e.g. key:abcd1234)."},
		{Name: "action", Type: "string", Description: "Only this action (e.g. customer.reveal)."},
		sinceParam, untilParam, limit1000, cursorParam,
	}
	requestQuery = []param{
		{Name: "state", Type: "string", Description: "received, verified, in_progress, completed or rejected."},
		{Name: "type", Type: "string", Description: "access, portability, erasure, rectification, restriction, objection or opt_out."},
		{Name: "customer_id", Type: "string", Description: "Only this customer's requests."},
		{Name: "due", Type: "string", Description: "overdue, or soon (open and due within the due-soon window)."},
		limit1000,
	}
	tokenParam       = param{Name: "token", Type: "string", Description: "The download token from the completed request."}
	emailTokenParam  = param{Name: "token", Type: "string", Description: "The one-time token from the e-mail.", Required: true}
	suppressionQuery = []param{
		{Name: "email", Type: "string", Description: "Address to check."},
		{Name: "phone", Type: "string", Description: "Number to check."},
	}
	eventQuery = []param{
		{Name: "type", Type: "string", Description: "Only this message type (track, page …)."},
		{Name: "name", Type: "string", Description: "Only events with this name."},
		{Name: "category", Type: "string", Description: "Only this catalog category."},
		sinceParam, untilParam, limit500, cursorParam,
	}
	orderQuery = []param{{Name: "limit", Type: "integer", Description: "1 to 500 (default 50)."}}
	cartQuery  = []param{
		{Name: "older_than", Type: "string", Description: "A Go duration such as 1h or 30m."},
		{Name: "limit", Type: "integer", Description: "1 to 1000 (default 100)."},
	}
	dropQuery   = []param{{Name: "key_id", Type: "string", Description: "The write key's id.", Required: true}}
	importQuery = []param{
		{Name: "map", Type: "string", Required: true, Description: "COLUMN=FIELD, repeatable: the column fills the catalog " +
			"field; several columns for one field are joined with a space, in order."},
		{Name: "consent", Type: "string", Description: "COLUMN=PURPOSE, repeatable: the column holds yes/no (y/n, true/false, " +
			"1/0) for a consent purpose; empty cells record nothing."},
		{Name: "policy_version", Type: "string", Description: "The privacy-policy version the list's consents were collected " +
			"under; required with consent."},
	}
	importListQuery = []param{{Name: "limit", Type: "integer", Description: "1 to 100 (default 20)."}}
	rejectQuery     = []param{
		{Name: "limit", Type: "integer", Description: "1 to 10000 (default 1000)."},
		cursorParam,
		{Name: "format", Type: "string", Description: "csv for a row,reason file to open next to the spreadsheet (the same " +
			"rows; the next page's cursor in the Steward-Next-Cursor header)."},
	}
	scanQuery = []param{{Name: "wait", Type: "boolean", Description: "true runs the scan within the request and returns its " +
		"result (small bases; a large one may outlast the request timeout)."}}
	duplicateQuery = []param{
		{Name: "state", Type: "string", Description: "pending (default), merged, dismissed or undone."},
		limit500, cursorParam,
	}
)
